#!/usr/bin/env bash
# cluster.sh starts, stops and inspects a RabbitMQ cluster of three private
# nodes (scripts/broker.sh nodes on 127.0.0.1, sharing one Erlang cookie) for
# development and tests. It forms in about 20 s on a small machine: the nodes
# boot side by side, then nodes 2 and 3 join node 1.
#
#   scripts/cluster.sh start          boot and join the nodes, or find them up; prints
#                                     eval-able export lines: TOPICRPC_TEST_CLUSTER_URLS
#                                     (the three AMQP URLs, comma-separated) and
#                                     TOPICRPC_TEST_CLUSTER_MANAGEMENT_URL (node 1's)
#   scripts/cluster.sh stop           stop every node and delete the cluster's state
#   scripts/cluster.sh kill           the same without the grace period (for throwaway clusters)
#   scripts/cluster.sh status         the nodes' states and rabbitmqctl cluster_status;
#                                     exit 0 when all three run, 3 otherwise
#   scripts/cluster.sh urls           print the AMQP URLs, comma-separated
#   scripts/cluster.sh stop-node N    stop node N (1-3) gracefully, keeping its data
#   scripts/cluster.sh kill-node N    kill node N at once (SIGKILL), keeping its data
#   scripts/cluster.sh start-node N   start node N again on its data and ports: it rejoins
#   scripts/cluster.sh node-url N     print node N's AMQP URL
#
# Settings (environment):
#   TOPICRPC_CLUSTER_NAME       cluster name; default topicrpc-cluster-<user>. Node N is
#                               <name>-cN@localhost
#   TOPICRPC_CLUSTER_DIR        state directory; default ${TMPDIR:-/tmp}/topicrpc-cluster-<name>;
#                               node N keeps its state in <dir>/cN
#   TOPICRPC_CLUSTER_OWNER_PID  stop every node once this process has exited (the nodes
#                               started later by start-node too)
#   TOPICRPC_BROKER_TIMEOUT     seconds each node may take to boot; default 60
set -euo pipefail

prog=cluster.sh
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
broker="$here/broker.sh"

die() {
	echo "$prog: $*" >&2
	exit 1
}
say() { echo "$prog: $*" >&2; }

name="${TOPICRPC_CLUSTER_NAME:-topicrpc-cluster-$(id -un)}"
[[ "$name" =~ ^[A-Za-z0-9_-]+$ ]] ||
	die "TOPICRPC_CLUSTER_NAME=$name: use letters, digits, '-' and '_' only"
dir="${TOPICRPC_CLUSTER_DIR:-${TMPDIR:-/tmp}/topicrpc-cluster-$name}"
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
nodes=(1 2 3)

# node runs broker.sh for node N with the cluster's settings.
node() {
	local n="$1"
	shift
	env -u TOPICRPC_BROKER_PORT -u TOPICRPC_BROKER_DIST_PORT -u TOPICRPC_BROKER_MANAGEMENT_PORT \
		-u TOPICRPC_BROKER_TLS_PORT -u TOPICRPC_BROKER_KEEP -u TOPICRPC_BROKER_KEEP_DATA \
		TOPICRPC_BROKER_NAME="$name-c$n" TOPICRPC_BROKER_DIR="$dir/c$n" \
		TOPICRPC_BROKER_COOKIE="$(cat "$dir/cookie")" \
		TOPICRPC_BROKER_OWNER_PID="$(cat "$dir/owner" 2>/dev/null || true)" \
		"$@"
}

check_n() {
	[[ "${1:-}" =~ ^[123]$ ]] || die "want a node number, 1, 2 or 3 (got '${1:-}')"
}

node_url() { cat "$dir/c$1/url" 2>/dev/null; }

urls() {
	local n out=""
	for n in "${nodes[@]}"; do
		out="${out:+$out,}$(cat "$dir/c$n/url.kept")"
	done
	echo "$out"
}

print_exports() {
	printf "export TOPICRPC_TEST_CLUSTER_URLS='%s'\n" "$(urls)"
	printf "export TOPICRPC_TEST_CLUSTER_MANAGEMENT_URL='%s'\n" "$(cat "$dir/c1/management-url.kept")"
}

# start_node boots node N; with keep, on its earlier data and ports.
start_node() {
	local n="$1" keep="${2:-}" port mgmt
	if [ -n "$keep" ]; then
		port="$(sed -n 's|.*:\([0-9][0-9]*\)/$|\1|p' "$dir/c$n/url.kept")"
		mgmt="$(sed -n 's|.*:\([0-9][0-9]*\)$|\1|p' "$dir/c$n/management-url.kept")"
		node "$n" env TOPICRPC_BROKER_KEEP_DATA=1 TOPICRPC_BROKER_PORT="$port" \
			TOPICRPC_BROKER_MANAGEMENT_PORT="$mgmt" "$broker" start >/dev/null
	else
		node "$n" "$broker" start >/dev/null
	fi
	cp "$dir/c$n/url" "$dir/c$n/url.kept"
	cp "$dir/c$n/management-url" "$dir/c$n/management-url.kept"
}

all_running() {
	local n
	for n in "${nodes[@]}"; do
		node "$n" "$broker" status >/dev/null 2>&1 || return 1
	done
}

# start_watchdog deletes the cluster (every node, its data kept by stop-node
# included) once TOPICRPC_CLUSTER_OWNER_PID has exited; each node's own
# watchdog only kills a running node.
start_watchdog() {
	local owner
	owner="$(cat "$dir/owner" 2>/dev/null || true)"
	[ -n "$owner" ] || return 0
	# shellcheck disable=SC2016 # expanded by the inner shell
	TOPICRPC_CLUSTER_NAME="$name" TOPICRPC_CLUSTER_DIR="$dir" setsid nohup bash -c '
		while kill -0 "$1" 2>/dev/null; do sleep 1; done
		[ -e "$3/.topicrpc-cluster" ] && exec "$2" kill
		exit 0' watchdog "$owner" "$here/cluster.sh" "$dir" </dev/null >/dev/null 2>&1 &
	echo $! >"$dir/watchdog.pid"
}

cmd_start() {
	"$broker" installed || die "rabbitmq-server is not installed; install it with: apt-get install -y rabbitmq-server"
	if [ -s "$dir/formed" ] && all_running; then
		say "$name is already running"
		print_exports
		return 0
	fi
	if [ -e "$dir" ]; then
		[ -e "$dir/.topicrpc-cluster" ] || die "$dir exists and is not a cluster directory; set TOPICRPC_CLUSTER_DIR"
		cmd_stop 0 >/dev/null 2>&1 || true
	fi
	mkdir -p "$dir"
	: >"$dir/.topicrpc-cluster"
	od -An -N20 -tx1 /dev/urandom | tr -d ' \n' >"$dir/cookie"
	chmod 600 "$dir/cookie"
	if [ -n "${TOPICRPC_CLUSTER_OWNER_PID:-}" ]; then
		[[ "$TOPICRPC_CLUSTER_OWNER_PID" =~ ^[0-9]+$ ]] || die "TOPICRPC_CLUSTER_OWNER_PID: want a process id"
		echo "$TOPICRPC_CLUSTER_OWNER_PID" >"$dir/owner"
	fi
	local began=$SECONDS n pids=() failed=0
	say "starting $name: 3 nodes in $dir"
	for n in "${nodes[@]}"; do
		start_node "$n" &
		pids+=($!)
	done
	for n in "${pids[@]}"; do wait "$n" || failed=1; done
	if [ "$failed" = 1 ]; then
		cmd_stop 0 >/dev/null 2>&1 || true
		die "a node did not start; see the logs above"
	fi
	for n in 2 3; do
		node "$n" "$broker" ctl stop_app >/dev/null
		node "$n" "$broker" ctl join_cluster "$name-c1@localhost" >/dev/null ||
			{ cmd_stop 0 >/dev/null 2>&1 || true; die "node $n could not join node 1"; }
		node "$n" "$broker" ctl start_app >/dev/null
	done
	date -u +%FT%TZ >"$dir/formed"
	start_watchdog
	say "$name is up after $((SECONDS - began))s; stop it with: TOPICRPC_CLUSTER_NAME=$name $0 stop"
	print_exports
}

cmd_stop() {
	local grace="$1" n
	if [ ! -e "$dir/.topicrpc-cluster" ]; then
		say "$name is not running (no $dir)"
		return 0
	fi
	local w
	w="$(cat "$dir/watchdog.pid" 2>/dev/null || true)"
	if [ -n "$w" ] && [ "$w" != "$$" ] && [ "$w" != "$PPID" ]; then kill "$w" 2>/dev/null || true; fi
	for n in "${nodes[@]}"; do
		if [ -e "$dir/c$n" ]; then
			node "$n" env TOPICRPC_BROKER_STOP_GRACE="$grace" "$broker" stop >/dev/null 2>&1 &
		fi
	done
	wait
	rm -rf "$dir"
	say "stopped $name"
}

cmd_status() {
	local n rc=0
	[ -e "$dir/.topicrpc-cluster" ] || { echo "$name is not running"; return 3; }
	for n in "${nodes[@]}"; do
		node "$n" "$broker" status || rc=3
	done
	for n in "${nodes[@]}"; do
		if node "$n" "$broker" status >/dev/null 2>&1; then
			node "$n" "$broker" ctl cluster_status || true
			break
		fi
	done
	return "$rc"
}

cmd_stop_node() {
	local n="$1" grace="$2"
	check_n "$n"
	[ -e "$dir/c$n/url.kept" ] || die "$name has no node $n (start the cluster first)"
	node "$n" env TOPICRPC_BROKER_KEEP=1 TOPICRPC_BROKER_STOP_GRACE="$grace" "$broker" stop
}

cmd_start_node() {
	local n="$1"
	check_n "$n"
	[ -e "$dir/c$n/url.kept" ] || die "$name has no node $n (start the cluster first)"
	start_node "$n" keep
	say "node $n is up again: $(node_url "$n")"
}

case "${1:-}" in
start) cmd_start ;;
stop) cmd_stop "${TOPICRPC_BROKER_STOP_GRACE:-20}" ;;
kill) cmd_stop 0 ;;
status) cmd_status ;;
urls) [ -e "$dir/c1/url.kept" ] || die "$name is not running; start it with: $0 start"; urls ;;
stop-node) cmd_stop_node "${2:-}" "${TOPICRPC_BROKER_STOP_GRACE:-20}" ;;
kill-node) cmd_stop_node "${2:-}" 0 ;;
start-node) cmd_start_node "${2:-}" ;;
node-url) check_n "${2:-}"; node_url "$2" || die "node $2 is not running" ;;
*)
	echo "usage: $prog start|stop|kill|status|urls|stop-node N|kill-node N|start-node N|node-url N" >&2
	exit 2
	;;
esac
