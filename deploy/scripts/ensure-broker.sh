#!/usr/bin/env bash
# Make sure a RabbitMQ answers on AMQP_URI; install and start Debian's when not.
set -euo pipefail
uri="${AMQP_URI:-amqp://guest:guest@localhost:5672/}"
hostport="${uri#*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$host" ] && port=5672
answers() { timeout 2 bash -c ">/dev/tcp/$host/$port" 2>/dev/null; }
local_broker=false
case "$host" in localhost|127.0.0.1) local_broker=true ;; esac

if ! answers; then
  if ! $local_broker; then
    echo "no broker answers at $host:$port" >&2; exit 1
  fi
  if ! command -v rabbitmq-server >/dev/null; then
    echo "installing rabbitmq-server"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
  fi
  answers || { echo "starting rabbitmq-server"; rabbitmq-server -detached || true; }
  for _ in $(seq 1 90); do answers && break; sleep 1; done
  answers || { echo "RabbitMQ did not start" >&2; exit 1; }
fi

# The management API (per-test vhosts) and the Prometheus endpoint.
if $local_broker && command -v rabbitmq-plugins >/dev/null; then
  if ! timeout 2 bash -c ">/dev/tcp/$host/15672" 2>/dev/null; then
    rabbitmq-plugins enable rabbitmq_management rabbitmq_prometheus >/dev/null
    for _ in $(seq 1 60); do timeout 2 bash -c ">/dev/tcp/$host/15672" 2>/dev/null && break; sleep 1; done
  fi
fi
