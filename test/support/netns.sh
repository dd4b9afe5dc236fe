#!/bin/bash
# Run a command inside a private network namespace with its own DNS.
#
#   test/support/netns.sh COMMAND [ARGS...]
#
# Nothing a test does may leave the machine (DESIGN.md): the command runs in new
# network, mount and PID namespaces (root required). Only `lo` exists, /etc/resolv.conf
# is bind-mounted (in the private mount namespace only) to `nameserver 127.0.0.1`, and a
# BIND on 127.0.0.1:53 / [::1]:53 (recursion off) is authoritative for example.com
# (MX mail.example.com, A 127.0.0.1), example.org, example.net (client.example.net A
# 127.0.0.2) and 0.0.127.in-addr.arpa (127.0.0.2 PTR client.example.net). Dynamic
# updates are allowed on all of them with a generated TSIG key.
#
# Exported to COMMAND:
#   TEST_NETNS=1               marks "inside the test namespace"
#   TEST_DNS=127.0.0.1         the test resolver
#   TEST_TSIG_KEYFILE=<path>   named.conf-style key file, usable with `nsupdate -k`
#   TEST_TSIG_KEYNAME=tsig-test
#   TEST_TSIG_ALGORITHM=hmac-sha256
#   TEST_DNS_ZONEDIR=<path>    zone files (db.<zone>) and their journals
#
# Because the PID namespace ends with this script, every process the command leaves
# behind (postfix master, dovecot, ...) is killed when it exits.
# Set TEST_KEEP_DNS=1 to keep the temp dir (named.log, zone journals) for debugging.
set -euo pipefail

if [[ "${1:-}" != "--inside" ]]; then
    if [[ $# -eq 0 ]]; then
        echo "usage: $0 COMMAND [ARGS...]" >&2
        exit 2
    fi
    if [[ $(id -u) -ne 0 ]]; then
        echo "netns.sh: must run as root (unshare --net and named on port 53)" >&2
        exit 1
    fi
    exec unshare --net --mount --pid --fork --kill-child --mount-proc \
        --propagation private -- bash "$0" --inside "$@"
fi
shift # --inside

export PATH="$PATH:/usr/sbin:/sbin"
ip link set lo up

work=$(mktemp -d /tmp/mailtest-netns.XXXXXX)
chmod 0755 "$work"
named_pid=""

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n "$named_pid" ]] && kill -0 "$named_pid" 2>/dev/null; then
        kill "$named_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 "$named_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$named_pid" 2>/dev/null || true
    fi
    if [[ "${TEST_KEEP_DNS:-}" == 1 ]]; then
        echo "netns.sh: kept $work" >&2
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# --- resolver: only the local BIND -------------------------------------------------
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$work/resolv.conf"
chmod 0644 "$work/resolv.conf"
mount --bind "$work/resolv.conf" /etc/resolv.conf

# --- BIND configuration --------------------------------------------------------------
mkdir -m 0755 "$work/zones"
tsig-keygen -a hmac-sha256 tsig-test >"$work/tsig-test.key"
chmod 0600 "$work/tsig-test.key"

zones="example.com example.org example.net"
for zone in $zones; do
    cat >"$work/zones/db.$zone" <<EOF
\$TTL 300
@       IN SOA  ns.$zone. hostmaster.$zone. ( 1 3600 600 86400 60 )
        IN NS   ns.$zone.
ns      IN A    127.0.0.1
EOF
done
# example.com is the default mail domain of the tests: give it a mail host.
cat >>"$work/zones/db.example.com" <<EOF
@       IN MX   10 mail.example.com.
@       IN A    127.0.0.1
mail    IN A    127.0.0.1
EOF
# The test clients (mail.py) connect from 127.0.0.2 and say EHLO client.example.net:
# forward and reverse DNS agree for them.
echo "client  IN A    127.0.0.2" >>"$work/zones/db.example.net"
zones="$zones 0.0.127.in-addr.arpa"
cat >"$work/zones/db.0.0.127.in-addr.arpa" <<EOF
\$TTL 300
@       IN SOA  ns.example.net. hostmaster.example.net. ( 1 3600 600 86400 60 )
        IN NS   ns.example.net.
2       IN PTR  client.example.net.
EOF

{
    cat <<EOF
options {
    directory "$work";
    pid-file "$work/named.pid";
    session-keyfile "$work/session.key";
    managed-keys-directory "$work";
    listen-on port 53 { 127.0.0.1; };
    listen-on-v6 port 53 { ::1; };
    recursion no;
    allow-query { any; };
    dnssec-validation no;
    notify no;
    minimal-responses no;
};
controls { };
include "$work/tsig-test.key";
EOF
    for zone in $zones; do
        cat <<EOF
zone "$zone" {
    type primary;
    file "$work/zones/db.$zone";
    allow-update { key tsig-test; };
};
EOF
    done
} >"$work/named.conf"

named-checkconf "$work/named.conf"

named -g -c "$work/named.conf" >"$work/named.log" 2>&1 &
named_pid=$!

ready=""
for _ in $(seq 1 100); do
    if ! kill -0 "$named_pid" 2>/dev/null; then
        break
    fi
    if [[ -n "$(dig +short +time=1 +tries=1 @127.0.0.1 example.com SOA 2>/dev/null)" ]]; then
        ready=1
        break
    fi
    sleep 0.1
done
if [[ -z "$ready" ]]; then
    echo "netns.sh: the test BIND did not answer for example.com SOA; named.log:" >&2
    sed 's/^/  named: /' "$work/named.log" >&2 || true
    if [[ -r /sys/module/apparmor/parameters/enabled ]] &&
        grep -q Y /sys/module/apparmor/parameters/enabled; then
        echo "netns.sh: AppArmor is enabled; its usr.sbin.named profile forbids $work" \
            "(disable it: apparmor_parser -R /etc/apparmor.d/usr.sbin.named)" >&2
    fi
    exit 1
fi

export TEST_NETNS=1
export TEST_DNS=127.0.0.1
export TEST_TSIG_KEYFILE="$work/tsig-test.key"
export TEST_TSIG_KEYNAME=tsig-test
export TEST_TSIG_ALGORITHM=hmac-sha256
export TEST_DNS_ZONEDIR="$work/zones"

# Run the command as a child (not exec) so the trap stops named afterwards.
set +e
"$@"
rc=$?
set -e
exit "$rc"
