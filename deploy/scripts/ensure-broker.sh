#!/usr/bin/env bash
# Make sure a RabbitMQ answers on AMQP_URI; install and start Debian's when not.
#
# A broker this script starts is the suite's: it enables the management API
# (per-test vhosts, the broker users of `zhidu run`) and the Prometheus
# endpoint, and marks the start under the data directory, so that `zhidu run`
# knows it may load its users into it. A broker that was already answering is
# someone else's and is not changed; when it has no management API, the tests
# and the bench start a node of their own beside it (zhidu.rabbit_node). On a
# broker with the API they create nothing but their own vhosts and users,
# which they remove.
set -euo pipefail
uri="${AMQP_URI:-amqp://guest:guest@localhost:5672/}"
rest="${uri#*://}"
case "$rest" in *@*) creds="${rest%%@*}"; hostport="${rest#*@}" ;; *) creds="guest:guest"; hostport="$rest" ;; esac
hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"; [ "$port" = "$host" ] && port=5672
mark="${ZHIDU_DATA_DIR:-var/data}/broker-started"
answers() { timeout 2 bash -c ">/dev/tcp/$host/$1" 2>/dev/null; }
local_broker=false
case "$host" in localhost|127.0.0.1) local_broker=true ;; esac

if answers "$port"; then
  if ! answers 15672; then
    echo "note: the broker on $host:$port has no management API; the tests" \
         "and the bench will start a RabbitMQ node of their own beside it" >&2
  fi
  exit 0
fi

if ! $local_broker; then
  echo "no broker answers at $host:$port" >&2; exit 1
fi
if ! command -v rabbitmq-server >/dev/null; then
  echo "installing rabbitmq-server"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
fi
# The package may have started it already: then it is the suite's too.
answers "$port" || { echo "starting rabbitmq-server"; rabbitmq-server -detached || true; }
for _ in $(seq 1 90); do answers "$port" && break; sleep 1; done
answers "$port" || { echo "RabbitMQ did not start" >&2; exit 1; }

# The management API (per-test vhosts, broker users) and the Prometheus endpoint.
if ! answers 15672 && command -v rabbitmq-plugins >/dev/null; then
  rabbitmq-plugins enable rabbitmq_management rabbitmq_prometheus >/dev/null
fi
for _ in $(seq 1 60); do answers 15672 && break; sleep 1; done

# Who it is (node and process), for `zhidu run` to recognise it by.
who() {
  BROKER_CREDS="$creds" BROKER_HOST="$host" python3 - <<'EOF'
import base64, json, os, urllib.parse, urllib.request
user, _, password = os.environ["BROKER_CREDS"].partition(":")
auth = base64.b64encode(f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}"
                        .encode()).decode()
request = urllib.request.Request(f"http://{os.environ['BROKER_HOST']}:15672/api/nodes",
                                 headers={"Authorization": f"Basic {auth}"})
with urllib.request.urlopen(request, timeout=10) as response:
    nodes = json.load(response)
print("\n".join(sorted(f"{n['name']} {n.get('os_pid')}" for n in nodes)))
EOF
}
mkdir -p "$(dirname "$mark")"
who >"$mark" || { rm -f "$mark"; echo "note: could not ask the new broker who it is" >&2; }
