"""``zhidu run``: the whole suite on one machine, on its embedded defaults.

Starts what is missing — a local RabbitMQ when none answers on ``AMQP_URI``
(if one is installed), the embedded MongoDB-wire server when ``MONGO_URI`` is
unset — then one process per discovered service, and Prometheus and
Alertmanager watching them when those are installed (``monitoring_stack``).

On a broker the suite started itself (now, or earlier through
``deploy/scripts/ensure-broker.sh``, which leaves the same mark under the data
directory), each service connects as its own user, as deployed: the broker
definitions (``zhidu.broker``) are loaded with fresh passwords at every run.
A broker someone else started is not changed: the services share
``AMQP_URI``'s user and consumers check no sender (``ZHIDU_BROKER_USERS=off``).
Ctrl-C (or SIGTERM) stops the monitoring and the services first, then what
the launcher started, and nothing is left running.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from . import monitoring_stack
from .config import DEFAULTS, setting
from .plugins import discover
from .processes import die_with_parent

EMBEDDED_MONGO_PORT = 27017
DEFAULT_DATA_DIR = DEFAULTS["ZHIDU_DATA_DIR"]


def answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise SystemExit(f"gave up waiting for {what} after {timeout:.0f}s")


BROKER_MARK = "broker-started"


def ensure_broker(amqp_uri: str, data_dir: Path | None = None) -> bool:
    """A broker answering on ``amqp_uri``; True when the suite started it."""
    parts = urlparse(amqp_uri)
    host, port = parts.hostname or "localhost", parts.port or 5672
    if answers(host, port):
        return data_dir is not None and started_by_suite(amqp_uri, data_dir)
    if host not in ("localhost", "127.0.0.1") or not shutil.which("rabbitmq-server"):
        raise SystemExit(f"no broker answers at {host}:{port} and none can be started "
                         "here; install rabbitmq-server or set AMQP_URI")
    print(f"starting RabbitMQ (nothing answered on {host}:{port})", flush=True)
    subprocess.run(["rabbitmq-server", "-detached"], check=False)
    wait_until(lambda: answers(host, port), 90, "RabbitMQ")
    if data_dir is None:
        return False
    # Ours: its management API loads the broker users, its Prometheus
    # endpoint is what the monitoring scrapes.
    if not answers(host, 15672) and shutil.which("rabbitmq-plugins"):
        subprocess.run(["rabbitmq-plugins", "enable", "rabbitmq_management",
                        "rabbitmq_prometheus"], check=False, stdout=subprocess.DEVNULL)
    wait_until(lambda: answers(host, 15672), 60, "RabbitMQ's management API")
    from .broker import Management

    mark = Path(data_dir) / BROKER_MARK
    mark.parent.mkdir(parents=True, exist_ok=True)
    mark.write_text("\n".join(Management.for_broker(amqp_uri).nodes()) + "\n")
    return True


def started_by_suite(amqp_uri: str, data_dir: Path) -> bool:
    """Whether the broker answering is the one whose start the suite marked:
    the same node, with the same operating-system process, is running."""
    from .broker import Management

    mark = Path(data_dir) / BROKER_MARK
    if not mark.exists():
        return False
    try:
        running = Management.for_broker(amqp_uri, timeout=5).nodes()
    except Exception:  # no management API, or not ours to ask
        return False
    return running == sorted(line for line in mark.read_text().splitlines() if line.strip())


def broker_identities(amqp_uri: str, services: list[str], ours: bool) -> dict[str, dict]:
    """Environment for each service: its own broker user on a broker the suite
    started (the definitions loaded with fresh passwords); on another, none,
    and no sender checks."""
    import secrets

    from .broker import (
        Management,
        broker_user,
        suite_definitions,
        users_pattern,
        vhost_of,
        with_user,
    )

    pattern = users_pattern(None)
    if pattern is None:
        return {}
    if not ours:
        print("the broker was not started by the suite, so it is left as it is: the "
              "services share AMQP_URI's user and do not check who sent an event "
              "(ZHIDU_BROKER_USERS=off)", flush=True)
        return {name: {"ZHIDU_BROKER_USERS": "off"} for name in services}
    plugins = discover()
    passwords = {name: secrets.token_hex(24) for name in plugins}
    Management.for_broker(amqp_uri).load(suite_definitions(
        plugins, vhost=vhost_of(amqp_uri), pattern=pattern, passwords=passwords))
    print(f"each service connects to the broker as its own user ({pattern}), as "
          "deployed (deploy/rabbitmq/)", flush=True)
    return {name: {"AMQP_URI": with_user(amqp_uri, broker_user(pattern, name),
                                         passwords[name])} for name in services}


def start_embedded_mongo(data_dir: Path, port: int) -> subprocess.Popen:
    data_dir.mkdir(parents=True, exist_ok=True)
    print(f"starting the embedded MongoDB-wire server on 127.0.0.1:{port} "
          f"(data in {data_dir})", flush=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "secantus", "--host", "127.0.0.1", "--port", str(port),
         "--storage-path", str(data_dir), "--log-level", "WARNING"],
        start_new_session=True, preexec_fn=die_with_parent(signal.SIGTERM))
    wait_until(lambda: answers("127.0.0.1", port) or proc.poll() is not None, 60,
               "the embedded database")
    if proc.poll() is not None:
        raise SystemExit("the embedded database exited at start-up")
    return proc


def stop(procs: list[subprocess.Popen], timeout: float = 20) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def print_first_steps(plugins, keys: Path | None = None) -> None:
    """How a new user gets in: every call needs a token (contract § Authentication)."""
    directory = plugins.get("directory")
    port = directory.port if directory else 8100
    # `zhidu token issue` signs with the keys the services trust: named when
    # they are not where the command looks by default.
    default = Path(DEFAULT_DATA_DIR) / "keys"
    where = "" if keys is None or Path(keys) == default else f"ZHIDU_KEY_DIR={keys} "
    print(f"""
Every call needs a bearer token. To get going on a new installation:
  export TOKEN=$({where}.venv/bin/zhidu token issue svc:setup --role hr --role it_admin --scope '*')
  curl -X PUT localhost:{port}/api/v1/directory/employees/E0001 -H "Authorization: Bearer $TOKEN" \\
       -H 'content-type: application/json' \\
       -d '{{"name": "管理员", "gender": "F", "department": "it", "unit": "hq",
           "role": "it_admin"}}'
  curl -X PUT localhost:{port}/api/v1/directory/employees/E0001/password \\
       -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \\
       -d '{{"password": "choose a long one"}}'
Then people log in: POST localhost:{port}/api/v1/directory/login {{"employee_id", "password"}}.
""", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="zhidu run", description=__doc__)
    parser.add_argument("services", nargs="*", help="only these services (default: all)")
    parser.add_argument("--data-dir", default=setting(None, "ZHIDU_DATA_DIR"),
                        help="where the suite keeps its database files, marks and, unless "
                             "ZHIDU_KEY_DIR says otherwise, the token issuer's keys "
                             "(default: ZHIDU_DATA_DIR, var/data)")
    args = parser.parse_args(argv)
    # The services, and the key set up below, follow the data directory given.
    os.environ["ZHIDU_DATA_DIR"] = args.data_dir

    plugins = discover()
    chosen = args.services or list(plugins)
    unknown = sorted(set(chosen) - set(plugins))
    if unknown:
        parser.error(f"unknown services {unknown}; installed: {', '.join(plugins)}")

    amqp_uri = setting(None, "AMQP_URI")
    identities = broker_identities(amqp_uri, chosen,
                                   ensure_broker(amqp_uri, Path(args.data_dir)))
    env = dict(os.environ)
    # On a developer's machine the suite answers this machine only, unless told.
    env["ZHIDU_BIND_ADDRESS"] = os.environ.get("ZHIDU_BIND_ADDRESS") or "127.0.0.1"
    infrastructure = []
    if not os.environ.get("MONGO_URI"):
        port = int(os.environ.get("ZHIDU_EMBEDDED_MONGO_PORT", EMBEDDED_MONGO_PORT))
        if answers("127.0.0.1", port):
            print(f"using the database already answering on 127.0.0.1:{port}", flush=True)
        else:
            infrastructure.append(start_embedded_mongo(Path(args.data_dir) / "mongo", port))
        env["MONGO_URI"] = f"mongodb://127.0.0.1:{port}/"

    # The suite's own token issuer: its key is made once, under the data
    # directory (<data dir>/keys unless ZHIDU_KEY_DIR is set; never committed),
    # before any service reads it.
    from .identity import KeyRing, key_dir
    from .secretbox import ensure_key_file
    keys = key_dir(None)
    KeyRing(keys).ensure()
    ensure_key_file(keys)  # seals stored secrets, unless ZHIDU_SECRET_KEY gives one
    env["ZHIDU_KEY_DIR"] = str(keys)

    services = []
    for name in chosen:
        plugin = plugins[name]
        print(f"starting {name} on {env['ZHIDU_BIND_ADDRESS']}:{plugin.port}", flush=True)
        services.append(subprocess.Popen(
            [sys.executable, "-m", "zhidu.serve", name], env=dict(env, **identities.get(name, {})),
            # A launcher killed outright runs no clean-up: the suite stops with it.
            start_new_session=True, preexec_fn=die_with_parent(signal.SIGTERM)))

    def on_signal(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    print_first_steps(plugins, keys)
    code = 0
    monitoring = None
    try:
        monitoring = monitoring_stack.start_for_suite(
            {name: plugins[name].port for name in chosen}, data_dir=args.data_dir,
            amqp_uri=setting(None, "AMQP_URI"))
        while True:
            for name, proc in zip(chosen, services, strict=True):
                if proc.poll() is not None:
                    print(f"{name} exited with {proc.returncode}; stopping the suite",
                          flush=True)
                    code = 1
                    raise KeyboardInterrupt
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("stopping the suite", flush=True)
    finally:
        # A second Ctrl-C must not leave the database or a service behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if monitoring is not None:
            monitoring.stop()
        stop(services)
        stop(infrastructure)
    return code


if __name__ == "__main__":
    sys.exit(main())
