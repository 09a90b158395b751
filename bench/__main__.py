"""``make bench``: the suite's figures, with the raw ceilings beside them.

Everything runs on this machine in one go: a dedicated RabbitMQ vhost (through
the management API) and a fresh embedded database unless ``MONGO_URI`` is set.
Figures go to stdout and, as JSON, to ``var/bench.json``.
"""
import eventlet

eventlet.monkey_patch()

import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import uuid  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import quote, urlparse  # noqa: E402

import requests  # noqa: E402
from zhidu.config import setting  # noqa: E402
from zhidu.testing import mongo_server, stand_in_broker  # noqa: E402

from bench import ceilings, chain, hub_latency  # noqa: E402


@contextmanager
def bench_vhost(amqp_uri: str):
    parts = urlparse(amqp_uri)
    user, password = parts.username or "guest", parts.password or "guest"
    api = os.environ.get("RABBIT_API_URI", f"http://{parts.hostname or 'localhost'}:15672")
    vhost = f"zhidu_bench_{uuid.uuid4().hex[:6]}"
    auth = (user, password)
    requests.put(f"{api}/api/vhosts/{vhost}", auth=auth, timeout=10).raise_for_status()
    requests.put(f"{api}/api/permissions/{vhost}/{quote(user)}", auth=auth, timeout=10,
                 json={"configure": ".*", "write": ".*", "read": ".*"}).raise_for_status()
    try:
        yield f"{parts.scheme}://{user}:{password}@{parts.hostname}:{parts.port or 5672}/{vhost}"
    finally:
        requests.delete(f"{api}/api/vhosts/{vhost}", auth=auth, timeout=30)


def database_bound(db: dict, flood: dict) -> dict:
    """The chains per second the database alone would allow, and the flood beside it.

    Two ceilings: the writes' alone (a lower bound on the database's work per
    chain), and the writes' and the reads' and commands' together, each
    request at the raw single-request rate measured in the same run.
    """
    writes, reads = flood["db_writes_per_chain"], flood["db_reads_and_commands_per_chain"]
    by_writes = db["insert_one_per_s"] / writes
    by_all = 1 / (writes / db["insert_one_per_s"] + reads / db["find_one_per_s"])
    done = flood["completed_per_s"]
    figures = {"database_bound_chains_per_s": round(by_all, 1),
               "flood_vs_database_bound": f"{done / by_all:.0%}",
               "database_bound_by_writes_alone_per_s": round(by_writes, 1),
               "flood_vs_writes_alone_bound": f"{done / by_writes:.0%}"}
    cpu = flood.get("cpu_ms_per_chain") or {}
    if cpu.get("database"):
        # The embedded server answers on threads under one interpreter lock:
        # one core at most, whatever the requests' single-client rates say.
        figures["database_one_core_bound_chains_per_s"] = round(1000 / cpu["database"], 1)
    if flood.get("cpu_ms_per_chain_all"):
        figures["all_cores_bound_chains_per_s"] = round(
            1000 * (os.cpu_count() or 1) / flood["cpu_ms_per_chain_all"], 1)
    return figures


def show(title: str, figures: dict) -> None:
    print(f"\n== {title}")
    for key, value in figures.items():
        print(f"  {key:28} {value}")
    sys.stdout.flush()


def main() -> int:
    results = {}
    # Every call carries a real token, verified by the services as in
    # production; the bench signs with a key of its own, never the installation's.
    with on_its_own() as (vhost_uri, mongo_uri):
        run_all(vhost_uri, mongo_uri, results)
    Path("var").mkdir(exist_ok=True)
    Path("var/bench.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


def run_all(vhost_uri: str, mongo_uri: str, results: dict) -> None:
    results["broker_ceiling"] = ceilings.broker_ceiling(vhost_uri)
    show("raw broker ceiling (plain kombu publish, then consume)", results["broker_ceiling"])
    results["database_ceiling"] = ceilings.database_ceiling(mongo_uri)
    show("raw database ceiling", results["database_ceiling"])
    results["eventlet_hub"] = hub_latency.measure(mongo_uri)
    show("pymongo under eventlet: does a slow query stall the hub?",
         results["eventlet_hub"])

    config = {"AMQP_URI": vhost_uri, "MONGO_URI": mongo_uri,
              "ZHIDU_DB_PREFIX": f"bench{uuid.uuid4().hex[:6]}_",
              "ZHIDU_OUTBOX_INTERVAL": "1.0", "ZHIDU_SWEEP_INTERVAL": "3600"}
    figures = chain.run(config)
    broker = results["broker_ceiling"]["round_trip_per_s"]
    flood = figures["flood"]
    results["chain"] = {
        **{f"steady_{k}": v for k, v in figures["steady"].items()},
        **{f"scraped_{k}": v for k, v in figures["steady_with_5s_scrapes"].items()
           if k in ("p50_ms", "p99_ms", "scrapes", "scrape_p99_ms")},
        **{f"flood_{k}": v for k, v in flood.items()},
        "chain_ceiling_vs_broker_ceiling": f"{flood['completed_per_s'] / broker:.2%}",
        **database_bound(results["database_ceiling"], flood),
    }
    show("inspection → penalty → inbox chain (steady load, then a flood)",
         results["chain"])

    for name in ("auth", "auth_cost", "attendance_burst", "complaints_sweep", "console",
                 "footprint"):
        try:
            module = __import__(f"bench.{name}", fromlist=["run"])
        except ImportError:
            continue
        results[name] = module.run(amqp_uri=vhost_uri, mongo_uri=mongo_uri)
        show(name.replace("_", " "), results[name])
        if name == "attendance_burst":
            # Twice the offered rate, to show where the burst bends.
            results["attendance_burst_2x"] = module.run(
                amqp_uri=vhost_uri, mongo_uri=mongo_uri, speedup=2 * module.SPEEDUP)
            show("attendance burst at twice the rate",
                 results["attendance_burst_2x"])


@contextmanager
def on_its_own():
    """``(amqp_uri, mongo_uri)`` for the whole bench or one part run by itself:
    a signing key of its own, a broker vhost (on a node of the run's own when
    the machine's broker has no management API) and a fresh embedded database
    unless ``MONGO_URI`` is set."""
    from zhidu.identity import KeyRing
    from zhidu.secretbox import ensure_key_file

    os.environ["ZHIDU_KEY_DIR"] = tempfile.mkdtemp(prefix="zhidu-bench-keys-")
    KeyRing(os.environ["ZHIDU_KEY_DIR"]).ensure()
    ensure_key_file(os.environ["ZHIDU_KEY_DIR"])
    amqp = setting(None, "AMQP_URI")
    host = urlparse(amqp).hostname or "localhost"
    node = stand_in_broker(amqp, os.environ.get("RABBIT_API_URI", f"http://{host}:15672"))
    try:
        with bench_vhost(node.amqp_uri if node else amqp) as vhost_uri, \
                mongo_server() as mongo_uri:
            yield vhost_uri, mongo_uri
    finally:
        if node is not None:
            node.close()
        shutil.rmtree(os.environ["ZHIDU_KEY_DIR"], ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
