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

# Odd method names stay cold: the door speaks names of 1 to 64 characters [a-z0-9_].
if [ "$1" = call ] && [ "${#2}" -le 64 ] && [ -p "$W/door-v2" ] && read -r P 2>/dev/null <"$W/pid" && alive "$P"; then
	case "$2" in
	'' | *[!a-z0-9_]*) ;;
	*)
		R="$W/calls/$$"
		# Up to 1 MiB + 1 byte, as the cold path reads: a larger (or endless) stdin is refused by
		# the worker as it would be cold, instead of waiting for its end (busybox: FANCY_HEAD, on
		# in OpenWrt's defaults).
		if head -c 1048577 >"$R.in" 2>/dev/null; then
			# The answer comes through the pipe of this command substitution. Its subshell names
			# itself at the door and waits; the worker opens the pipe (the subshell's fd 4) through
			# /proc, kills the subshell and writes the answer; the pipe ends when the worker closes
			# it, or dies. If the worker dies before, the watcher ends the wait (and when rpcd's
			# timeout kills this front, which is all it kills). Meanwhile stderr goes nowhere: the
			# shell reports the subshell's SIGKILL there. The watcher, which outlives this front by
			# up to a second, keeps neither stdout nor stderr: rpcd answers once both are closed.
			exec 3>&2 2>/dev/null
			answer=$(
				read -r self _ </proc/self/stat
				(
					while alive "$P" && alive "$$"; do sleep 1; done
				) </dev/null >/dev/null 2>&1 3>&- &
				exec 4>&1 # the pipe as the worker opens it (fd 1 is the door while printf writes)
				printf '%s %s %s\n' "$$" "$2" "$self" 2>/dev/null 1<>"$W/door-v2"
				wait
			)
			exec 2>&3 3>&-
			case $answer in
			=*) # a short reply comes in the answer itself (the worker removed our file)
				printf '%s' "${answer#=}"
				exit 0
				;;
			ok)
				if cat "$R.out" 2>/dev/null; then
					rm -f "$R.in" "$R.out"
					exit 0
				fi
				;;
			esac
		fi
		[ -f "$R.in" ] && exec <"$R.in"
		rm -f "$R.in" "$R.out"
		;;
	esac
fi
exec node "$LIB/luci.mailserver.js" "$@"
