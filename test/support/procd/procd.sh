# shellcheck shell=sh
# OpenWrt's /lib/functions/procd.sh for this double: the same functions with the same effects,
# building the same JSON messages for `ubus call service set|delete` (jshn is not available: the
# JSON is assembled here by string). procd_lock and _procd_wrapper are procd.sh's own: sourcing
# this file takes the service lock on descriptor 1000 (/var/lock/procd_NAME.lock), held until
# the init script exits. README.md lists what is left out.

PROCD_RELOAD_DELAY=1000
_PROCD_SERVICE=

procd_lock() {
	local basescript=$(readlink "$initscript")
	local service_name="$(basename ${basescript:-$initscript})"

	flock -n 1000 &> /dev/null
	if [ "$?" != "0" ]; then
		exec 1000>"$IPKG_INSTROOT/var/lock/procd_${service_name}.lock"
		flock 1000
		if [ "$?" != "0" ]; then
			logger "warning: procd flock for $service_name failed"
		fi
	fi
}

# A JSON string of $1 (what jshn's json_add_string writes).
_procd_json_str() {
	printf '"'
	printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/	/\\t/g' | awk 'BEGIN { ORS = "" } NR > 1 { print "\\n" } { print }'
	printf '"'
}

_procd_json_array() {
	local out="[" sep=""
	for a in "$@"; do
		out="$out$sep$(_procd_json_str "$a")"
		sep=","
	done
	printf '%s]' "$out"
}

_procd_add() {
	_PROCD_JSON="$_PROCD_JSON$_PROCD_SEP$1"
	_PROCD_SEP=","
}

_procd_ubus_call() {
	local cmd="$1"

	[ -n "$PROCD_DEBUG" ] && echo "$_PROCD_JSON" >&2
	"$PROCD_DOUBLE_DIR/ubus.mjs" call service "$cmd" "$_PROCD_JSON"
	_PROCD_JSON=
}

procd_open_service() {
	local name="$1"
	local script="$2"

	_PROCD_SERVICE="$name"
	_PROCD_INSTANCE_SEQ=0
	_PROCD_INSTANCE_OPEN=
	_PROCD_JSON="{\"name\":$(_procd_json_str "$name")"
	_PROCD_SEP=","
	[ -n "$script" ] && _procd_add "\"script\":$(_procd_json_str "$script")"
	_procd_add "\"instances\":{"
	_PROCD_SEP=
}

procd_close_service() {
	_PROCD_JSON="$_PROCD_JSON}"
	_PROCD_SEP=","
	_PROCD_TRIGGERS=
	service_triggers
	[ -n "$_PROCD_TRIGGERS" ] && _procd_add "\"triggers\":[$_PROCD_TRIGGERS]"
	_PROCD_JSON="$_PROCD_JSON}"
	_procd_ubus_call ${1:-set}
}

procd_open_instance() {
	local name="$1"; shift

	_PROCD_INSTANCE_SEQ="$(($_PROCD_INSTANCE_SEQ + 1))"
	name="${name:-instance$_PROCD_INSTANCE_SEQ}"
	_procd_add "$(_procd_json_str "$name"):{"
	_PROCD_SEP=
	_PROCD_RESPAWN_EMPTY=
}

procd_set_param() {
	local type="$1"; shift

	case "$type" in
		env|data|limits)
			local out="{" sep="" kv
			for kv in "$@"; do
				local var="${kv%%=*}"
				local val="${kv#*=}"
				[ "$kv" = "$val" ] && val=
				out="$out$sep$(_procd_json_str "$var"):$(_procd_json_str "$val")"
				sep=","
			done
			_procd_add "\"$type\":$out}"
		;;
		respawn)
			# _procd_close_instance fills an empty respawn with 3600 5 5 (system.@service[0]
			# has none here).
			if [ "$#" = 0 ]; then _PROCD_RESPAWN_EMPTY=1; else _procd_add "\"$type\":$(_procd_json_array "$@")"; fi
		;;
		command|netdev|file|watch|watchdog)
			_procd_add "\"$type\":$(_procd_json_array "$@")"
		;;
		error)
			_procd_add "\"$type\":[$(_procd_json_str "$*")]"
		;;
		nice|term_timeout)
			_procd_add "\"$type\":$(($1))"
		;;
		reload_signal)
			_procd_add "\"$type\":$(kill -l "$1")"
		;;
		pidfile|user|group|seccomp|capabilities|facility|\
		extroot|overlaydir|tmpoverlaysize)
			_procd_add "\"$type\":$(_procd_json_str "$1")"
		;;
		stdout|stderr|no_new_privs)
			if [ "$1" = 1 ] || [ "$1" = true ]; then _procd_add "\"$type\":true"; else _procd_add "\"$type\":false"; fi
		;;
	esac
}

procd_close_instance() {
	[ -n "$_PROCD_RESPAWN_EMPTY" ] && _procd_add "\"respawn\":$(_procd_json_array 3600 5 5)"
	_PROCD_JSON="$_PROCD_JSON}"
	_PROCD_SEP=","
}

procd_add_instance() {
	procd_open_instance
	procd_set_param command "$@"
	procd_close_instance
}

# _procd_add_config_trigger: ["config.change", ["if", ["eq", "package", P], ["run_script", ...]], delay]
procd_add_config_trigger() {
	local type="$1"; shift
	local package="$1"; shift
	_PROCD_TRIGGERS="$_PROCD_TRIGGERS${_PROCD_TRIGGERS:+,}[$(_procd_json_str "$type"),[\"if\",[\"eq\",\"package\",$(_procd_json_str "$package")],$(_procd_json_array run_script "$@")],$PROCD_RELOAD_DELAY]"
}

procd_add_reload_trigger() {
	local script=$(readlink "$initscript")
	local name=$(basename ${script:-$initscript})
	local file

	for file in "$@"; do
		procd_add_config_trigger "config.change" "$file" /etc/init.d/$name reload
	done
}

procd_kill() {
	local service="$1"
	local instance="$2"

	_PROCD_JSON="{"
	_PROCD_SEP=
	[ -n "$service" ] && _procd_add "\"name\":$(_procd_json_str "$service")"
	[ -n "$instance" ] && _procd_add "\"instance\":$(_procd_json_str "$instance")"
	_PROCD_JSON="$_PROCD_JSON}"
	_procd_ubus_call delete
}

procd_running() {
	local service="$1"
	local instance="${2:-*}"
	"$PROCD_DOUBLE_DIR/ubus.mjs" call service list "{\"name\":$(_procd_json_str "$service")}" | grep -q '"running": true'
}

# procd.sh's _procd_wrapper: every procd_* function goes through procd_lock, so sourcing this
# file takes the lock.
procd_lock
