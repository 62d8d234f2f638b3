#!/usr/bin/env bash
# with-broker.sh CMD [ARG...] runs CMD with TOPICRPC_TEST_AMQP_URL (and
# TOPICRPC_TEST_MANAGEMENT_URL) naming a RabbitMQ:
#   - the broker already named by TOPICRPC_TEST_AMQP_URL, if it is set;
#   - else a throwaway private node (scripts/broker.sh, unique name, free ports)
#     that is killed and deleted when CMD ends, fails or is interrupted;
#   - else, when rabbitmq-server is not installed, none: CMD runs as is and the
#     Go tests try testcontainers or skip (fail under TOPICRPC_REQUIRE_BROKER=1).
# It exits with CMD's status, or 1 if the private node does not start.
set -euo pipefail

if [ $# -eq 0 ]; then
	echo "usage: with-broker.sh CMD [ARG...]" >&2
	exit 2
fi
if [ -n "${TOPICRPC_TEST_AMQP_URL:-}" ]; then
	exec "$@"
fi

broker="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/broker.sh"
if ! "$broker" installed; then
	echo "with-broker.sh: rabbitmq-server is not installed (apt-get install -y rabbitmq-server); running without a private broker" >&2
	exec "$@"
fi

name="topicrpc-run-$$-$RANDOM"
export TOPICRPC_BROKER_NAME="$name"
unset TOPICRPC_BROKER_DIR TOPICRPC_BROKER_PORT TOPICRPC_BROKER_DIST_PORT TOPICRPC_BROKER_MANAGEMENT_PORT
# If this script is killed outright, broker.sh's watchdog removes the node.
export TOPICRPC_BROKER_OWNER_PID=$$

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() { TOPICRPC_BROKER_NAME="$name" "$broker" kill >/dev/null || true; }
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

exports="$("$broker" start)" || exit 1
eval "$exports"
unset TOPICRPC_BROKER_NAME TOPICRPC_BROKER_OWNER_PID

status=0
"$@" || status=$?
exit "$status"
