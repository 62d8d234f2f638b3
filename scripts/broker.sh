#!/usr/bin/env bash
# broker.sh starts, stops and inspects a private RabbitMQ node for development
# and tests. The node listens on 127.0.0.1 only, runs as the invoking user (root
# included) with its own Erlang cookie, and keeps all of its state in one
# directory, so several nodes can run side by side.
#
#   scripts/broker.sh start           boot the node, or find it already up; prints
#                                     eval-able `export TOPICRPC_TEST_...=` lines
#   scripts/broker.sh stop            stop the node gracefully (SIGTERM, SIGKILL after
#                                     TOPICRPC_BROKER_STOP_GRACE=20 seconds) and delete
#                                     its state directory
#   scripts/broker.sh kill            the same without the grace period (for throwaway nodes)
#   scripts/broker.sh status          exit 0 if the node is up, 3 if it is not
#   scripts/broker.sh url             print the AMQP URL of the running node
#   scripts/broker.sh management-url  print the management HTTP URL
#   scripts/broker.sh installed       exit 0 if rabbitmq-server is installed, 1 if not
#   scripts/broker.sh ctl ARG...      run rabbitmqctl ARG... against the node (60 s at most)
#
# Settings (environment):
#   TOPICRPC_BROKER_NAME             node name; default topicrpc-<user> (@localhost is implied)
#   TOPICRPC_BROKER_DIR              state directory; default ${TMPDIR:-/tmp}/topicrpc-broker-<name>
#   TOPICRPC_BROKER_PORT             AMQP port; default a free port
#   TOPICRPC_BROKER_DIST_PORT        Erlang distribution port; default a free port
#   TOPICRPC_BROKER_MANAGEMENT_PORT  management HTTP port; default a free port
#   TOPICRPC_BROKER_TLS_PORT         AMQPS (TLS) port, or "free" for a free one; default none
#                                    (no TLS listener). Give the certificates with
#                                    TOPICRPC_BROKER_EXTRA_CONF (ssl_options.*); the URL is
#                                    written to amqps-url and exported as TOPICRPC_TEST_AMQPS_URL
#   TOPICRPC_BROKER_EXTRA_CONF       lines appended to the node's rabbitmq.conf (new-style
#                                    format), e.g. "ssl_options.cacertfile = /path/ca.pem"
#   TOPICRPC_BROKER_TIMEOUT          seconds `start` may take; default 60
#   TOPICRPC_BROKER_OWNER_PID        stop the node once this process has exited
#   TOPICRPC_BROKER_KEEP=1           `stop` keeps the state directory (logs)
#   TOPICRPC_BROKER_KEEP_DATA=1      `start` boots on the node's earlier data (a restart)
#   TOPICRPC_BROKER_COOKIE           the Erlang cookie; default a random one per start
#                                    (nodes of one cluster share theirs: scripts/cluster.sh)
#   TOPICRPC_RABBITMQ_SBIN           directory holding rabbitmq-server and rabbitmqctl
#                                    (default: found in /usr/lib/rabbitmq/bin, Homebrew, PATH)
#
# Files in the state directory: url and management-url (written once the node is
# up), log/<node>.log (the node's log), console.log (its stdout and stderr).
#
# Every command is bounded in time: `start` gives up after TOPICRPC_BROKER_TIMEOUT
# seconds, prints the end of the node's log and exits 1; `stop` escalates from
# SIGTERM to SIGKILL.
set -euo pipefail

prog=broker.sh
self="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"

die() {
	echo "$prog: $*" >&2
	exit 1
}
say() { echo "$prog: $*" >&2; }

# --- settings -----------------------------------------------------------------

name="${TOPICRPC_BROKER_NAME:-topicrpc-$(id -un)}"
name="${name%@localhost}"
[[ "$name" =~ ^[A-Za-z0-9_-]+$ ]] ||
	die "TOPICRPC_BROKER_NAME=$name: use letters, digits, '-' and '_' only (the host is always localhost)"
node="$name@localhost"
dir="${TOPICRPC_BROKER_DIR:-${TMPDIR:-/tmp}/topicrpc-broker-$name}"
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
timeout_s="${TOPICRPC_BROKER_TIMEOUT:-60}"
[[ "$timeout_s" =~ ^[0-9]+$ ]] || die "TOPICRPC_BROKER_TIMEOUT=$timeout_s: want whole seconds"
marker="$dir/.topicrpc-broker"
node_log="$dir/log/$node.log"
console_log="$dir/console.log"

# --- helpers ------------------------------------------------------------------

# find_sbin prints the directory holding the real (not Debian's su-wrapping)
# rabbitmq-server and rabbitmqctl scripts.
find_sbin() {
	local d p
	if [ -n "${TOPICRPC_RABBITMQ_SBIN:-}" ]; then
		d="$TOPICRPC_RABBITMQ_SBIN"
		[ -x "$d/rabbitmq-server" ] && [ -x "$d/rabbitmqctl" ] && echo "$d"
		return
	fi
	for d in /usr/lib/rabbitmq/bin /usr/local/opt/rabbitmq/sbin /opt/homebrew/opt/rabbitmq/sbin; do
		if [ -x "$d/rabbitmq-server" ] && [ -x "$d/rabbitmqctl" ]; then
			echo "$d"
			return 0
		fi
	done
	p="$(PATH="$PATH:/usr/sbin:/usr/local/sbin" command -v rabbitmq-server || true)"
	if [ -n "$p" ] && [ -x "$(dirname "$p")/rabbitmqctl" ]; then
		dirname "$p"
		return 0
	fi
	return 1
}

# rabbit_env exports the environment shared by the server and rabbitmqctl. HOME
# points at the state directory so both use the node's own Erlang cookie; the
# other settings keep the node away from /etc/rabbitmq and /var/lib/rabbitmq.
rabbit_env() {
	local v
	for v in $(compgen -e); do
		case "$v" in RABBITMQ_*) unset "$v" ;; esac
	done
	export HOME="$dir/home"
	export RABBITMQ_NODENAME="$node"
	export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
	export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
	export RABBITMQ_CONFIG_FILES="$dir/conf.d"
	export RABBITMQ_ADVANCED_CONFIG_FILE="$dir/advanced.config"
	export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
	export RABBITMQ_MNESIA_BASE="$dir/mnesia"
	export RABBITMQ_LOG_BASE="$dir/log"
	export RABBITMQ_PID_FILE="$dir/beam.pid"
}

ctl() {
	local secs="$1"
	shift
	(rabbit_env && cd "$dir" && timeout -k 2 "$secs" "$sbin/rabbitmqctl" -n "$node" -q "$@" 9>&-)
}

# session_pids lists the processes of the node's session (setsid makes the
# launcher the leader of a new session; beam and its helpers stay in it).
session_pids() {
	local sid
	sid="$(cat "$dir/server.pid" 2>/dev/null || true)"
	[[ "$sid" =~ ^[0-9]+$ ]] || return 0
	ps -e -o pid=,sid= | awk -v sid="$sid" '$2 == sid { print $1 }'
}

running() { [ -n "$(session_pids)" ]; }

# kill_session SIGKILLs every process of the node's session and waits for them.
kill_session() {
	running || return 0
	# shellcheck disable=SC2046 # word splitting of the pid list is wanted
	kill -KILL $(session_pids) 2>/dev/null || true
	for _ in $(seq 1 50); do
		running || return 0
		sleep 0.1
	done
	return 1
}

port_listening() {
	local p="$1"
	if command -v ss >/dev/null 2>&1; then
		[ -n "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] && return 0
	fi
	timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p" 2>/dev/null
}

# free_port prints a port in 20000-31999 (below Linux's ephemeral range) that
# nothing listens on and that is not among its arguments.
free_port() {
	local p q taken
	for _ in $(seq 1 100); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
		taken=0
		for q in "$@"; do [ "$p" = "$q" ] && taken=1; done
		if [ "$taken" = 0 ] && ! port_listening "$p"; then
			echo "$p"
			return 0
		fi
	done
	die "no free TCP port found in 20000-31999"
}

print_exports() {
	printf "export TOPICRPC_TEST_AMQP_URL='%s'\n" "$(cat "$dir/url")"
	printf "export TOPICRPC_TEST_MANAGEMENT_URL='%s'\n" "$(cat "$dir/management-url")"
	if [ -s "$dir/amqps-url" ]; then
		printf "export TOPICRPC_TEST_AMQPS_URL='%s'\n" "$(cat "$dir/amqps-url")"
	fi
}

show_logs() {
	local f
	for f in "$node_log" "$console_log"; do
		if [ -s "$f" ]; then
			echo "--- last 30 lines of $f" >&2
			tail -n 30 "$f" >&2
		fi
	done
}

lock() {
	if command -v flock >/dev/null 2>&1; then
		exec 9>>"$dir/.lock"
		flock -w "$timeout_s" 9 || die "$dir is locked by another broker.sh for over ${timeout_s}s"
	fi
}

# --- commands -----------------------------------------------------------------

# launch starts the node in its own session and records the session leader.
launch() {
	rm -f "$dir/server.pid" "$dir/beam.pid"
	(
		rabbit_env
		export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
		export RABBITMQ_NODE_PORT="$amqp_port"
		export RABBITMQ_DIST_PORT="$dist_port"
		export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
		cd "$dir"
		# shellcheck disable=SC2016 # expanded by the inner shell
		setsid bash -c 'echo $$ >"$1.tmp" && mv "$1.tmp" "$1" && exec "$2"' \
			launch "$dir/server.pid" "$sbin/rabbitmq-server" </dev/null >"$console_log" 2>&1 9>&- &
	)
	for _ in $(seq 1 50); do
		[ -s "$dir/server.pid" ] && return 0
		sleep 0.1
	done
	die "the node's launcher did not start (see $console_log)"
}

# await_boot waits until the node answers or dies; 0 up, 1 died, 2 timed out.
await_boot() {
	local left
	while :; do
		left=$((deadline - SECONDS))
		[ "$left" -gt 0 ] || return 2
		running || return 1
		if port_listening "$amqp_port" && port_listening "$mgmt_port"; then
			ctl "$left" await_startup --timeout "$left" >/dev/null 2>&1 && return 0
		fi
		sleep 0.5
	done
}

start_watchdog() {
	local owner="${TOPICRPC_BROKER_OWNER_PID:-}"
	[ -n "$owner" ] || return 0
	[[ "$owner" =~ ^[0-9]+$ ]] || die "TOPICRPC_BROKER_OWNER_PID=$owner: want a process id"
	local leader
	leader="$(cat "$dir/server.pid")"
	# shellcheck disable=SC2016 # expanded by the inner shell
	TOPICRPC_BROKER_NAME="$name" TOPICRPC_BROKER_DIR="$dir" setsid nohup bash -c '
		while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done
		kill -0 "$2" 2>/dev/null && exec "$3" kill
		exit 0' watchdog "$owner" "$leader" "$self" </dev/null >/dev/null 2>&1 9>&- &
	echo $! >"$dir/watchdog.pid"
}

cmd_start() {
	sbin="$(find_sbin)" ||
		die "rabbitmq-server is not installed; install it with: apt-get install -y rabbitmq-server"
	local tool
	for tool in timeout setsid ps awk; do
		command -v "$tool" >/dev/null 2>&1 || die "$tool is missing; install coreutils, util-linux and procps"
	done

	if [ -e "$dir" ] && [ ! -e "$marker" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
		die "$dir exists and is not a broker directory; set TOPICRPC_BROKER_DIR to an empty or new directory"
	fi
	mkdir -p "$dir"
	: >"$marker"
	deadline=$((SECONDS + timeout_s))
	lock

	if running; then
		local up_port
		up_port="$(sed -n 's|.*:\([0-9][0-9]*\)/$|\1|p' "$dir/url" 2>/dev/null || true)"
		if [ -n "$up_port" ] && port_listening "$up_port"; then
			say "$node is already running"
			print_exports
			return 0
		fi
		say "$node has processes but does not answer; killing them and starting afresh"
		kill_session || true
	fi

	if command -v epmd >/dev/null 2>&1 && epmd -names 2>/dev/null | grep -q "^name $name at "; then
		die "node name $name is already taken by a node outside $dir; pick another TOPICRPC_BROKER_NAME"
	fi

	trap 'kill_session; exit 130' INT TERM HUP
	local attempt attempts=1 rc
	[ -z "${TOPICRPC_BROKER_PORT:-}${TOPICRPC_BROKER_DIST_PORT:-}${TOPICRPC_BROKER_MANAGEMENT_PORT:-}" ] && attempts=3
	for attempt in $(seq 1 "$attempts"); do
		amqp_port="${TOPICRPC_BROKER_PORT:-$(free_port)}"
		dist_port="${TOPICRPC_BROKER_DIST_PORT:-$(free_port "$amqp_port")}"
		mgmt_port="${TOPICRPC_BROKER_MANAGEMENT_PORT:-$(free_port "$amqp_port" "$dist_port")}"
		tls_port="${TOPICRPC_BROKER_TLS_PORT:-}"
		[ "$tls_port" = free ] && tls_port="$(free_port "$amqp_port" "$dist_port" "$mgmt_port")"
		[[ "$tls_port" =~ ^[0-9]*$ ]] || die "TOPICRPC_BROKER_TLS_PORT=$tls_port: want a port number or free"
		for p in "$amqp_port" "$dist_port" "$mgmt_port" ${tls_port:+"$tls_port"}; do
			port_listening "$p" && die "port $p is already in use; pick another or unset the TOPICRPC_BROKER_*PORT variables"
		done

		# TOPICRPC_BROKER_KEEP_DATA=1 boots on the node's earlier data (durable
		# queues, persistent messages), as a broker restart does.
		if [ "${TOPICRPC_BROKER_KEEP_DATA:-}" = 1 ]; then
			rm -rf "${dir:?}/log" "${dir:?}/home" "$dir/url" "$dir/management-url" "$dir/amqps-url" "$console_log"
		else
			rm -rf "${dir:?}/mnesia" "${dir:?}/log" "${dir:?}/home" "$dir/url" "$dir/management-url" "$dir/amqps-url" "$console_log"
		fi
		mkdir -p "$dir/mnesia" "$dir/log" "$dir/home"
		if [ -n "${TOPICRPC_BROKER_COOKIE:-}" ]; then
			printf '%s' "$TOPICRPC_BROKER_COOKIE" >"$dir/home/.erlang.cookie"
		else
			od -An -N20 -tx1 /dev/urandom | tr -d ' \n' >"$dir/home/.erlang.cookie"
		fi
		chmod 400 "$dir/home/.erlang.cookie"
		: >"$dir/rabbitmq-env.conf"
		echo '[rabbitmq_management].' >"$dir/enabled_plugins"
		cat >"$dir/rabbitmq.conf" <<-EOF
			management.tcp.ip = 127.0.0.1
			management.tcp.port = $mgmt_port
			log.file.level = info
		EOF
		if [ -n "$tls_port" ]; then
			echo "listeners.ssl.default = 127.0.0.1:$tls_port" >>"$dir/rabbitmq.conf"
		fi
		if [ -n "${TOPICRPC_BROKER_EXTRA_CONF:-}" ]; then
			printf '%s\n' "$TOPICRPC_BROKER_EXTRA_CONF" >>"$dir/rabbitmq.conf"
		fi

		say "starting $node (amqp $amqp_port, management $mgmt_port, dist $dist_port) in $dir"
		launch
		start_watchdog
		rc=0
		await_boot || rc=$?
		if [ "$rc" = 0 ]; then
			echo "amqp://guest:guest@127.0.0.1:$amqp_port/" >"$dir/url"
			echo "http://guest:guest@127.0.0.1:$mgmt_port" >"$dir/management-url"
			if [ -n "$tls_port" ]; then
				echo "amqps://guest:guest@127.0.0.1:$tls_port/" >"$dir/amqps-url"
			fi
			trap - INT TERM HUP
			say "$node is up after $((SECONDS - deadline + timeout_s))s; stop it with: TOPICRPC_BROKER_NAME=$name $self stop"
			print_exports
			return 0
		fi
		kill_session || true
		if [ "$rc" = 1 ] && [ "$attempt" -lt "$attempts" ] && [ $((deadline - SECONDS)) -gt 10 ] &&
			grep -qsiE 'eaddrinuse|already in use|could not start distribution' "$node_log" "$console_log"; then
			say "a port was taken while $node booted; retrying with other ports"
			continue
		fi
		break
	done
	trap - INT TERM HUP
	if [ "$rc" = 2 ]; then
		say "$node did not start within ${timeout_s}s; killed it (state kept in $dir)"
	else
		say "$node exited while starting (state kept in $dir)"
	fi
	show_logs
	exit 1
}

# cmd_stop stops the node: SIGTERM to its launcher, which RabbitMQ handles as a
# graceful shutdown (no Erlang distribution client needed), then SIGKILL once
# the grace period (seconds) has passed. A grace period of 0 kills at once.
cmd_stop() {
	local grace="$1"
	if [ ! -e "$marker" ]; then
		say "$node is not running (no $dir)"
		return 0
	fi
	lock
	local w
	w="$(cat "$dir/watchdog.pid" 2>/dev/null || true)"
	if [ -n "$w" ] && [ "$w" != "$$" ]; then kill "$w" 2>/dev/null || true; fi
	if running; then
		if [ "$grace" -gt 0 ]; then
			kill -TERM "$(cat "$dir/server.pid")" 2>/dev/null || true
			for _ in $(seq 1 $((grace * 5))); do
				running || break
				sleep 0.2
			done
			running && say "$node did not stop within ${grace}s; killing it"
		fi
		kill_session || die "could not kill $node (session $(cat "$dir/server.pid"))"
		say "stopped $node"
	else
		say "$node is not running; removing its state directory"
	fi
	if [ "${TOPICRPC_BROKER_KEEP:-}" = 1 ]; then
		rm -f "$dir/url" "$dir/management-url" "$dir/amqps-url" "$dir/server.pid" "$dir/watchdog.pid"
	else
		rm -rf "$dir"
	fi
}

cmd_status() {
	if running && [ -s "$dir/url" ]; then
		echo "$node is running (session $(cat "$dir/server.pid")): $(cat "$dir/url") $(cat "$dir/management-url"); log $node_log"
		return 0
	fi
	if running; then
		echo "$node is starting or stuck (session $(cat "$dir/server.pid")); log $node_log"
		return 1
	fi
	echo "$node is not running"
	return 3
}

cmd_url() {
	local file="$1"
	if running && [ -s "$dir/$file" ]; then
		cat "$dir/$file"
		return 0
	fi
	say "$node is not running; start it with: $self start"
	return 3
}

case "${1:-}" in
start) cmd_start ;;
stop)
	grace="${TOPICRPC_BROKER_STOP_GRACE:-20}"
	[[ "$grace" =~ ^[0-9]+$ ]] || die "TOPICRPC_BROKER_STOP_GRACE=$grace: want whole seconds"
	cmd_stop "$grace"
	;;
kill) cmd_stop 0 ;;
status) cmd_status ;;
url) cmd_url url ;;
management-url) cmd_url management-url ;;
installed) find_sbin >/dev/null ;;
ctl)
	shift
	sbin="$(find_sbin)" || die "rabbitmq-server is not installed"
	ctl 60 "$@"
	;;
*)
	echo "usage: $prog start|stop|kill|status|url|management-url|installed|ctl" >&2
	exit 2
	;;
esac
