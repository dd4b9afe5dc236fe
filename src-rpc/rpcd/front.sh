#!/bin/sh
# luci.mailserver, the rpcd exec plugin as rpcd runs it (POSIX sh: busybox ash on OpenWrt).
# `list` is a file made at build time. `call` goes to the warm worker when one runs
# (src-rpc/rpcd/worker.ts describes the door), else to Node cold, which then starts the worker.
# Whatever goes wrong on the warm path (no worker, worker starting, killed mid-call), the call
# runs cold with the same stdin. Nothing here writes to stderr: rpcd's reply is stdout only.
LIB="${0%/*}"
[ "$1" = list ] && exec cat "$LIB/luci.mailserver.list.json"
W="${MAILSERVER_ROOT%/}/var/run/mailserver/worker"

# A live process (a dead one nobody reaped yet is a zombie: kill -0 would still find it).
alive() {
	read -r _ _ state _ 2>/dev/null <"/proc/$1/stat" && [ "$state" != Z ]
}

if [ "$1" = call ] && [ -p "$W/door" ] && read -r P 2>/dev/null <"$W/pid" && alive "$P"; then
	case "$2" in
	'' | *[!a-z0-9_]*) ;; # odd names stay cold: the door speaks lines of [a-z0-9_]
	*)
		R="$W/calls/$$"
		# Up to 1 MiB + 1 byte, as the cold path reads: a larger (or endless) stdin is refused by
		# the worker as it would be cold, instead of waiting for its end (busybox: FANCY_HEAD, on
		# in OpenWrt's defaults).
		if head -c 1048577 >"$R.in" 2>/dev/null && mkfifo -m 600 "$R.done" 2>/dev/null; then
			# Read-write opens of a FIFO never block; the watcher answers "lost" if the worker dies
			# (and leaves when this front is killed: rpcd's timeout kills only our pid).
			exec 3<>"$R.done"
			(
				while alive "$P" && alive $$; do sleep 1; done
				echo lost >&3
			) </dev/null >/dev/null 2>&1 &
			printf '%s %s\n' "$$" "$2" 2>/dev/null 1<>"$W/door"
			read -r answer <&3
			kill $! 2>/dev/null
			exec 3<&-
			case $answer in
			=*) # a short reply comes in the line itself (the worker removed our files)
				printf '%s' "${answer#=}"
				exit 0
				;;
			ok)
				if cat "$R.out" 2>/dev/null; then
					rm -f "$R.in" "$R.out" "$R.done"
					exit 0
				fi
				;;
			esac
		fi
		[ -f "$R.in" ] && exec <"$R.in"
		rm -f "$R.in" "$R.out" "$R.done"
		;;
	esac
fi
exec node "$LIB/luci.mailserver.js" "$@"
