#!/bin/bash
# Start the procd double: its own mount namespace in which /etc and /usr/sbin look as on a
# router (an overlay adds rc.common, the package's /etc/init.d/mailserver, /etc/config from the
# sandbox root, and /usr/sbin/mailctl), /var/lock is fresh, and procd.ts serves `ubus call
# service ...`. Run as root inside the test network namespace.
#
#   start.sh WORKDIR ROOT     (ROOT: the sandbox MAILSERVER_ROOT; blocks: run it in the background)
#
# Writes WORKDIR/env (the variables the init scripts and ubus.mjs need) and, in ROOT, the two
# things mailctl looks for on a router: ROOT/sbin/procd and an executable
# ROOT/etc/init.d/mailserver (which runs the real one inside this namespace).
set -euo pipefail
work=$1
root=$2
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
node=$(command -v node)

mkdir -p "$work/etc/init.d" "$work/sbin" "$root/etc/init.d" "$root/sbin"
cp "$here/rc.common" "$work/etc/rc.common"
ln -sfn "$repo/files/etc/init.d/mailserver" "$work/etc/init.d/mailserver"
ln -sfn "$root/etc/config" "$work/etc/config"
# netns.sh bind-mounts the test resolver's resolv.conf: the overlay would show the host's.
cp /etc/resolv.conf "$work/etc/resolv.conf"
printf '#!/bin/sh\nexec %s %s "$@"\n' "$node" "$repo/rpcd/mailctl" >"$work/sbin/mailctl"
chmod 755 "$work/sbin/mailctl"

cat >"$work/env" <<EOF
export PROCD_DOUBLE_DIR=$here
export PROCD_DOUBLE_SOCKET=$work/ubus.sock
export PROCD_DOUBLE_TSX=file://$repo/node_modules/tsx/dist/loader.mjs
export MAILSERVER_ROOT=$root
EOF
# shellcheck disable=SC1091
. "$work/env"

# What mailctl finds on a router: procd, and the init script (here: the real one, run by this
# double's rc.common inside the namespace, as `#!/bin/sh /etc/rc.common` would run it).
printf '#!/bin/sh\n# procd test double: see %s/README.md\n' "$here" >"$root/sbin/procd"
cat >"$root/etc/init.d/mailserver" <<EOF
#!/bin/sh
. $work/env
exec nsenter --mount --target "\$(cat $work/pid)" -- busybox sh /etc/rc.common /etc/init.d/mailserver "\$@"
EOF
chmod 755 "$root/sbin/procd" "$root/etc/init.d/mailserver"

cd "$repo"
exec unshare --mount --propagation private -- bash -c '
	set -e
	mount -t overlay overlay -o "lowerdir=$1/etc:/etc" /etc
	mount -t overlay overlay -o "lowerdir=$1/sbin:/usr/sbin" /usr/sbin
	mount -t tmpfs -o mode=0755 tmpfs /run/lock
	echo $$ >"$1/pid"
	exec "$2" --import "$PROCD_DOUBLE_TSX" "$3/procd.ts" "$PROCD_DOUBLE_SOCKET" "$1/procd.log"
' start.sh "$work" "$node" "$here"
