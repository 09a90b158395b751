"""End to end: inspection → violation → penalty → inbox, at a steady offered load.

Directory, dormitory, penalties and notifications run as their own processes,
as deployed. The driver records when each inspection was sent; a tap on
``penalties.events`` maps each penalty event back to its violation; the inbox
item's ``created_at`` in the notifications database closes the chain. All
clocks are this machine's.
"""
from __future__ import annotations

import os
import statistics
import time
from contextlib import contextmanager
from datetime import datetime, timedelta

import eventlet
import eventlet.event
import eventlet.pools
from nameko.standalone.rpc import ClusterRpcProxy
from zhidu.identity import issue_token
from zhidu.testing import EventTap, ServiceProcess, service_db, wait_for
from zhidu.times import UTC, as_utc

SERVICES = ("directory", "dormitory", "penalties", "notifications")
ROOMS = 25
BEDS = 4


def _proxy(config: dict) -> ClusterRpcProxy:
    """An operator's service account: it sets the scene and inspects, with real tokens."""
    token = issue_token(None, "svc:bench", roles=["hr", "dorm_admin", "inspector"],
                        scopes=["*"])
    return ClusterRpcProxy(config, timeout=60,
                           context_data={"authorization": f"Bearer {token}"})


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


def run(config: dict, steady_rate: float = 10.0, steady_s: float = 20.0,
        flood_rate: float = 150.0, flood_s: float = 12.0) -> dict:
    """Two loads on one running suite.

    The steady load stays below saturation (the embedded database gives out at
    roughly 15-20 chains/s on a 2-core machine), so its latency is the chain's
    own. The flood offers more than the suite can take; what it completes per
    second is the chain's ceiling, set beside the broker's.
    """
    procs = [ServiceProcess(name, config).start() for name in SERVICES]
    try:
        residents = _setup(config)
        # CPU of each local process the chain runs through, per chain: where
        # the two cores go, beside the database-bound ceiling.
        pids = {proc.service: proc.proc.pid for proc in procs}
        pids.update(_local_servers(config))
        pids["load generator"] = os.getpid()
        steady = _load(config, residents, steady_rate, steady_s, first=0)
        # The same steady load while Prometheus-style scrapes hit every service's
        # /metrics every 5 s: what on-call's monitoring costs the chain.
        with _scraping([p.port for p in procs], every_s=5.0) as scrapes:
            scraped = _load(config, residents, steady_rate, steady_s, first=50000)
        scraped["scrapes"] = scrapes["count"]
        scraped["scrape_p99_ms"] = scrapes["p99_ms"]()
        flood = _load(config, residents, flood_rate, flood_s, first=100000, pids=pids)
    finally:
        for proc in procs:
            proc.stop()
    return {"steady": steady, "steady_with_5s_scrapes": scraped, "flood": flood}


@contextmanager
def _scraping(ports: list[int], every_s: float):
    """GET /metrics of every service every ``every_s`` seconds while the block runs."""
    import requests

    figures = {"count": 0, "latencies": []}
    figures["p99_ms"] = lambda: (round(1000 * _percentile(figures["latencies"], 0.99))
                                 if figures["latencies"] else None)
    stop = eventlet.event.Event()

    def scrape():
        while not stop.ready():
            for port in ports:
                started = time.perf_counter()
                requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
                figures["latencies"].append(time.perf_counter() - started)
                figures["count"] += 1
            stop.wait(every_s)

    thread = eventlet.spawn(scrape)
    try:
        yield figures
    finally:
        stop.send(True)
        thread.wait()


def _setup(config: dict) -> list[str]:
    residents = [f"R{i:03d}" for i in range(ROOMS * BEDS)]
    with _proxy(config) as rpc:
        for i, resident in enumerate(residents):
            rpc.directory.upsert_employee({
                "employee_id": resident, "name": f"住户{i}", "gender": "M",
                "department": "property", "unit": "north", "manager_id": "M1"})
        for room in range(ROOMS):
            rpc.dormitory.add_room({"building": "A", "room_no": f"{100 + room}",
                                    "capacity": BEDS, "gender": "M"})
        for i, resident in enumerate(residents):
            wait_for(lambda r=resident, n=i: _assign(rpc, r, n), timeout=60,
                     message=f"{resident} known to the dormitory")
    return residents


def _local_servers(config: dict) -> dict[str, list[int]]:
    """The embedded database serving ``MONGO_URI`` and every RabbitMQ VM on
    this machine, found by their command lines (nothing when remote)."""
    from urllib.parse import urlparse

    port = str(urlparse(config["MONGO_URI"]).port or 27017)
    found: dict[str, list[int]] = {"database": [], "broker": []}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                words = handle.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if any(w.endswith("secantus") for w in words) and port in words:
            found["database"].append(int(entry))
        elif words and words[0].endswith("beam.smp"):
            found["broker"].append(int(entry))
    return {name: pids for name, pids in found.items() if pids}


def _cpu_seconds(pids) -> float:
    """User and system CPU of the processes, from /proc (0 for one gone)."""
    total = 0.0
    for pid in pids if isinstance(pids, list) else [pids]:
        try:
            with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _load(config: dict, residents: list[str], rate: float, seconds: float,
          first: int, pids: dict | None = None) -> dict:
    total = int(rate * seconds)
    cpu_before = {name: _cpu_seconds(p) for name, p in (pids or {}).items()}
    sent: dict[str, float] = {}
    inbox = service_db(config, "notifications").inbox
    ops_before = _ops(config)
    with EventTap(config["AMQP_URI"], ["penalties"]) as tap, rpc_pool(config, 20) as proxies:
        pool = eventlet.GreenPool(400)
        started = time.time()
        base = datetime(2026, 11, 12, 20, 0, tzinfo=UTC)

        def inspect(n: int):
            resident = residents[n % len(residents)]
            room = (n % len(residents)) // BEDS
            before = time.time()
            with proxies.item() as rpc:
                reply = rpc.dormitory.record_inspection({
                    "building": "A", "room_no": f"{100 + room}", "inspector_id": "INS",
                    # One inspector, one room, one moment is one inspection.
                    "at": (base + timedelta(seconds=first + n)).isoformat(),
                    # The inspection device's service account relays the inspector.
                    "findings": [{"code": "D16", "employee_ids": [resident]}]})
            for v in reply["violations"]:
                sent[v["violation_id"]] = before

        for n in range(total):
            # Offered load at a fixed pace: the n-th call leaves at n / rate.
            delay = started + n / rate - time.time()
            if delay > 0:
                eventlet.sleep(delay)
            pool.spawn(inspect, n)
        offered_s = time.time() - started
        pool.waitall()

        # Waiting must not load the database it measures: counting the inbox
        # reads every item (50 ms at 5,000 on the embedded server), so asked
        # every 50 ms it took half the server away from the chain. The tap
        # says which penalties to look for; only those not yet seen are looked
        # up, by their index, twice a second.
        issued: dict[str, str] = {}

        def all_issued():
            issued.update((e["id"], e["data"]["incident_id"])
                          for e in tap.of_type("penalties.penalty_issued"))
            return len(issued) >= total
        wait_for(all_issued, timeout=600, interval=0.5, message="every penalty issued")
        unseen = set(issued)

        def all_delivered():
            unseen.difference_update(item["event_id"] for item in inbox.find(
                {"event_id": {"$in": list(unseen)}}, {"event_id": 1}))
            return not unseen
        wait_for(all_delivered, timeout=600, interval=0.5, message="every chain reached an inbox")
    ops_after = _ops(config)
    cpu_ms = {name: round(1000 * (_cpu_seconds(pids[name]) - before) / total, 2)
              for name, before in cpu_before.items()}
    writes = sum(ops_after[k] - ops_before[k] for k in ("insert", "update", "delete"))
    reads = sum(ops_after[k] - ops_before[k] for k in ("query", "getmore", "command"))
    latencies, finished = [], []
    for item in inbox.find({"event_id": {"$in": list(issued)}},
                           {"event_id": 1, "created_at": 1}):
        violation = issued.get(item["event_id"])
        if violation in sent:
            done = as_utc(item["created_at"]).timestamp()
            latencies.append(done - sent[violation])
            finished.append(done)
    elapsed = max(finished) - started
    return {
        "chains": len(latencies),
        "offered_per_s": round(total / offered_s, 1),
        "completed_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(1000 * statistics.median(latencies)),
        "p99_ms": round(1000 * _percentile(latencies, 0.99)),
        # Every insert, update and delete the four services made, per chain:
        # the chain's cost against the database's single-write ceiling.
        "db_writes_per_chain": round(writes / total, 1),
        "db_reads_and_commands_per_chain": round(reads / total, 1),
        **({"cpu_ms_per_chain": cpu_ms,
            "cpu_ms_per_chain_all": round(sum(cpu_ms.values()), 1)} if cpu_ms else {}),
    }


def _ops(config: dict) -> dict:
    from zhidu.mongo import connect

    client = connect(config["MONGO_URI"])
    try:
        return dict(client.admin.command("serverStatus")["opcounters"])
    finally:
        client.close()


@contextmanager
def rpc_pool(config: dict, size: int):
    """Standalone RPC proxies are not safe to share between greenthreads."""
    proxies = []

    def create():
        proxy = _proxy(config)
        proxies.append(proxy)
        return proxy.start()

    try:
        yield eventlet.pools.Pool(max_size=size, create=create)
    finally:
        for proxy in proxies:
            proxy.stop()


def _assign(rpc, resident: str, n: int) -> bool:
    from nameko.exceptions import RemoteError

    try:
        rpc.dormitory.assign_bed({"employee_id": resident, "building": "A",
                                  "room_no": f"{100 + n // BEDS}",
                                  "at": "2026-11-01T09:00"})
        return True
    except RemoteError as exc:
        if exc.exc_type == "NotFound":
            return False
        raise
