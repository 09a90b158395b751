"""Does the complaints SLA sweep cost what falls due, or what is stored?

The same few hundred open cases with clocks falling due are swept, in process
through the service's own sweep and outbox as its timer's worker runs them
(``complaints.sweeping.sweep``: one read of the due cases, the domain, and per
unit of work one bulk compare-and-set write of its cases and one outbox
write; then ``Outbox.publish``: every event sent to the broker in one batch,
awaited once for its confirms), once with 1,000 closed cases stored beside
them and once with 100,000. If the due query walks its index the two times match; the
explain of the query is reported with them, and every command the sweep sent
to the database is counted per due case. Then 1,000 cases falling due at once
are swept: with the timer's interval that bounds how long a due case waits.
With ``scan=True`` (``--scan``) one unindexed scan of the 100,000-case
collection is timed too, to show what a sweep reading every case
would pay instead (about 30 s here; left out by default to keep the bench
under two minutes).

Setup loads closed cases with ``insert_many`` straight through the store and
builds indexes after loading: SecantusDB spends about 0.1 ms per index entry,
so the bench database carries only the indexes the sweep reads and writes
(``due`` and ``status``) besides ``_id``. The sweep never changes the other
indexed fields, so they would not change its cost.

Both sizes are timed with the same recent writes behind them. SecantusDB
keeps a change log of its last 100,000 writes (or hour); once it is full,
every write also prunes the oldest entry, reading it first. Timed straight
after the loads, the small size would run on a log still filling and the
large one on a log full of the 99,000 cases just loaded, each read as it is
pruned — the comparison would measure the load, not the stored cases (in
service the cases were written long before the last hour). So before each
size is timed, 100,000 tiny documents are written to a scratch collection:
the log is full, and full of the same thing, both times.

The events go to ``complaints.events`` in the bench's vhost, where a durable
queue bound to every event stands for the consumers: the broker writes each
event to it before confirming, as in the suite. Each sweep's events are
counted there and the queue emptied before the next.

    python -m bench.complaints_sweep [--scan]   # a vhost and a database of its own
"""
import eventlet

eventlet.monkey_patch()

import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402

from complaints import sweeping  # noqa: E402
from complaints.domain import ComplaintRules  # noqa: E402
from complaints.handling import Handling  # noqa: E402
from complaints.policy import load_policy  # noqa: E402
from complaints.store import ComplaintsStore  # noqa: E402
from kombu import Connection, Queue  # noqa: E402
from nameko.standalone.events import get_event_exchange  # noqa: E402
from pymongo import monitoring  # noqa: E402
from zhidu.calendar import load_calendar  # noqa: E402
from zhidu.events import BatchPublisher, Outbox, PendingEvents, publish_identity  # noqa: E402
from zhidu.mongo import connect  # noqa: E402
from zhidu.times import parse_time  # noqa: E402

DATABASE = "zhidu_bench_complaints_sweep"
SWEPT_INDEXES = ("due", "status")
STAFF = {"id": "bench", "role": "staff"}
INTAKE = {"channel": "phone", "kind": "external", "category": "service",
          "complainant": {"name": "王女士", "phone": "13812345678",
                          "email": "wang@example.com"},
          "subject": "维修人员态度差", "description": "电话里被挂断两次",
          "target_department": "service"}
HANDLED = [("decide_validity", "10:10", {"valid": True, "reason": "成立",
                                          "reply": "已受理，今日内联系您"}),
           ("assign", "10:20", {"department": "service", "owner_id": "emp-7"})]
CLOSING = [("agree_plan", "11:00", {"plan": "上门道歉"}),
           ("submit_report", "13:00", {"root_cause": "培训不足"}),
           ("resolve", "14:00", {"resolution": "已道歉"})]
SWEEP_AT = "2026-11-16T10:30"    # the open cases' plan clocks fall due at 10:20


class Commands(monitoring.CommandListener):
    """Every command sent to the database, by name, while ``counting``."""

    def __init__(self):
        self.counts, self.counting = Counter(), False

    def started(self, event):
        if self.counting:
            self.counts[event.command_name] += 1

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


class BenchOutbox(Outbox):
    """The service's outbox outside a container: the store and the publisher
    its ``setup`` would take from the container, to the bench's vhost."""

    def __init__(self, store, amqp_uri: str):
        super().__init__()
        config = {"AMQP_URI": amqp_uri}
        self._store = store
        self.exchange = get_event_exchange("complaints", config)
        self.publisher = BatchPublisher(amqp_uri, **publish_identity(config))
        self.contracts = None
        with Connection(amqp_uri) as conn:
            channel = conn.default_channel
            self.exchange(channel).declare()
            self.consumers = Queue("bench.complaints_sweep.consumers", exchange=self.exchange,
                                   routing_key="#", durable=True)(channel)
            self.consumers.declare()
        self.amqp_uri = amqp_uri

    @property
    def store(self):
        return self._store

    def worker(self) -> PendingEvents:
        """What the sweep's timer worker is given (no cause: a timer's)."""
        return PendingEvents(self, "complaints", self._store, None)

    def after_worker(self, pending: PendingEvents) -> None:
        """What ``worker_result`` does once the worker returned: one confirmed batch."""
        self.publish(pending.envelopes[:pending.persisted])

    def drain(self) -> int:
        """How many events reached the consumers' queue; it is emptied."""
        self.published.clear()
        with Connection(self.amqp_uri) as conn:
            return self.consumers(conn.default_channel).purge() or 0


def _walk(rules, case, day, steps):
    for name, clock, kwargs in steps:
        case = getattr(rules, name)(case, at=parse_time(f"{day}T{clock}"), actor=STAFF,
                                    **kwargs).case
    return case


def templates(rules) -> tuple[dict, dict]:
    """A closed case (every clock met, history kept) and an open one falling due."""
    closed = rules.file({**INTAKE, "received_at": parse_time("2026-10-12T10:00")},
                        number="2610-0001", actor=STAFF).case
    closed = _walk(rules, closed, "2026-10-12", HANDLED + CLOSING)
    closed = _walk(rules, closed, "2026-10-13", [("follow_up", "10:00", {"satisfied": True})])
    open_ = rules.file({**INTAKE, "received_at": parse_time("2026-11-13T10:00")},
                       number="2611-0001", actor=STAFF).case
    return closed, _walk(rules, open_, "2026-11-13", HANDLED)


def load_closed(store, template, start, stop, batch=2000):
    """Closed cases ``start``..``stop`` (serials), indexes rebuilt after loading."""
    cases = store.db.cases
    for name in SWEPT_INDEXES:
        if name in cases.index_information():
            cases.drop_index(name)
    for first in range(start, stop, batch):
        store.insert_many([dict(template, number=f"2610-{n:06d}")
                           for n in range(first, min(first + batch, stop))])
    cases.create_indexes([m for m in ComplaintsStore.INDEXES["cases"]
                          if m.document["name"] in SWEPT_INDEXES])
    # Checkpoint the load now, so the timed sweeps after the big one do not
    # pay for flushing it and both sizes start from a settled database.
    store.db.client.admin.command("fsync")


def swept(store, rules, outbox, now):
    """One sweep as the timer's worker runs it, and the seconds it took: the
    sweep's units of work, then the worker's events published."""
    started = time.perf_counter()
    pending = outbox.worker()
    report = sweeping.sweep(Handling(store, rules, pending), now)
    outbox.after_worker(pending)
    return report, time.perf_counter() - started


def write_history(store, first: int, count: int = 100_000, batch: int = 5000) -> None:
    """``count`` writes of tiny documents (ids from ``first``): the change log full of them."""
    for start in range(first, first + count, batch):
        store.db.history_ballast.insert_many(
            [{"_id": n} for n in range(start, min(start + batch, first + count))],
            ordered=False)
    store.db.client.admin.command("fsync")


def time_sweeps(store, rules, outbox, template, due_cases, repeats, now, commands) -> dict:
    """Median sweep time over ``repeats`` runs, each on fresh cases falling due,
    and the median time of the scrape-time gauge aggregation over the open cases.
    A first, untimed run lets the database settle after the index build."""
    seconds, gauges, events, units = [], [], 0, 0
    for repeat in range(repeats + 1):
        numbers = [f"2611-{repeat:02d}{i:04d}" for i in range(due_cases)]
        store.insert_many([dict(template, number=n) for n in numbers])
        started = time.perf_counter()
        store.open_clocks()
        gauges.append(time.perf_counter() - started)
        commands.counts.clear()
        commands.counting = True
        report, took = swept(store, rules, outbox, now)
        seconds.append(took)
        commands.counting = False
        assert report.updated == due_cases, report.as_dict()
        events, units = sum(report.events.values()), report.units
        delivered = outbox.drain()
        assert delivered == events, (delivered, events)
        store.db.cases.delete_many({"_id": {"$in": numbers}})
        store.db.outbox.delete_many({})
    seconds, gauges = seconds[1:], gauges[1:]
    return {"seconds": statistics.median(seconds), "runs": [round(s, 3) for s in seconds],
            "events": events, "units": units, "commands": dict(commands.counts),
            "gauges": statistics.median(gauges)}


def time_falling_due(store, rules, outbox, template, count, now) -> float:
    """One sweep of ``count`` cases that fell due at the same moment."""
    numbers = [f"2611-98{i:04d}" for i in range(count)]
    store.insert_many([dict(template, number=n) for n in numbers])
    report, seconds = swept(store, rules, outbox, now)
    assert report.updated == count, report.as_dict()
    outbox.drain()
    store.db.cases.delete_many({"_id": {"$in": numbers}})
    store.db.outbox.delete_many({})
    return seconds


def _plan(stage: dict) -> str:
    parts = []
    while stage:
        name = stage.get("stage", "?")
        if name == "IXSCAN":
            name += f"({stage.get('indexName')})"
        parts.append(name)
        stage = stage.get("inputStage")
    return " > ".join(parts)


def run(mongo_uri: str, amqp_uri: str, *, small: int = 1_000,
        large: int = 100_000, due_cases: int = 300, repeats: int = 3,
        scan: bool = False, falling_due: int = 1_000) -> dict:
    commands = Commands()
    client = connect(mongo_uri, timeout_ms=20000, event_listeners=[commands])
    client.drop_database(DATABASE)
    store = ComplaintsStore(client[DATABASE])
    rules = ComplaintRules(load_policy(), load_calendar())
    closed, open_ = templates(rules)
    now = parse_time(SWEEP_AT)
    outbox = BenchOutbox(store, amqp_uri)
    try:
        started = time.perf_counter()
        load_closed(store, closed, 0, small)
        write_history(store, 0)
        with_small = time_sweeps(store, rules, outbox, open_, due_cases, repeats, now,
                                 commands)
        loading = time.perf_counter()
        load_closed(store, closed, small, large)
        load_seconds = time.perf_counter() - loading
        write_history(store, 100_000)
        with_large = time_sweeps(store, rules, outbox, open_, due_cases, repeats, now,
                                 commands)
        burst = time_falling_due(store, rules, outbox, open_, falling_due, now)
        store.insert_many([dict(open_, number=f"2611-99{i:04d}") for i in range(due_cases)])
        explain = store.explain_due(now)
        stats = explain.get("executionStats", {})
        result = {
            "closed_small": small, "closed_large": large, "due_cases": due_cases,
            "events_per_sweep": with_large["events"],
            "sweep_seconds_small": round(with_small["seconds"], 3),
            "sweep_seconds_large": round(with_large["seconds"], 3),
            "sweep_runs_small": with_small["runs"], "sweep_runs_large": with_large["runs"],
            "ratio_large_to_small": round(with_large["seconds"] / with_small["seconds"], 2),
            "ms_per_due_case_large": round(1000 * with_large["seconds"] / due_cases, 2),
            "units_per_sweep": with_large["units"],
            "db_commands_per_sweep": with_large["commands"],
            "db_commands_per_due_case": round(
                sum(with_large["commands"].values()) / due_cases, 2),
            "falling_due_at_once": falling_due,
            "falling_due_sweep_seconds": round(burst, 3),
            # Due just after a sweep read: the next tick, then that sweep.
            "sweep_interval_seconds": sweeping.INTERVAL_SECONDS,
            "longest_wait_seconds": round(sweeping.INTERVAL_SECONDS + burst, 1),
            "gauge_aggregation_seconds_small": round(with_small["gauges"], 3),
            "gauge_aggregation_seconds_large": round(with_large["gauges"], 3),
            "due_query_plan": _plan(explain["queryPlanner"]["winningPlan"]),
            "due_query_keys_examined": stats.get("totalKeysExamined"),
            "due_query_docs_examined": stats.get("totalDocsExamined"),
            "closed_load_docs_per_s": round((large - small) / load_seconds),
        }
        if scan:
            scan_started = time.perf_counter()
            store.db.cases.count_documents({"clocks.state": "running"})
            result["unindexed_scan_seconds"] = round(time.perf_counter() - scan_started, 3)
        result["total_seconds"] = round(time.perf_counter() - started, 1)
        return result
    finally:
        client.drop_database(DATABASE)
        client.close()
        with Connection(amqp_uri) as conn:
            outbox.consumers(conn.default_channel).delete()


def main() -> None:
    from bench.__main__ import on_its_own

    with on_its_own() as (amqp_uri, mongo_uri):
        result = run(mongo_uri, amqp_uri, scan="--scan" in sys.argv)
    print(f"sweep of {result['due_cases']} cases falling due "
          f"({result['events_per_sweep']} events):")
    print(f"  with {result['closed_small']:>7,} closed cases stored: "
          f"{result['sweep_seconds_small']:.3f} s  runs {result['sweep_runs_small']}")
    print(f"  with {result['closed_large']:>7,} closed cases stored: "
          f"{result['sweep_seconds_large']:.3f} s  runs {result['sweep_runs_large']}")
    print(f"  ratio {result['ratio_large_to_small']}, "
          f"{result['ms_per_due_case_large']} ms per due case")
    print(f"  database: {result['db_commands_per_due_case']} commands per due case "
          f"({result['db_commands_per_sweep']}, {result['units_per_sweep']} units)")
    print(f"  {result['falling_due_at_once']:,} falling due at once: swept in "
          f"{result['falling_due_sweep_seconds']:.3f} s; every "
          f"{result['sweep_interval_seconds']:.0f} s a due case waits at most "
          f"{result['longest_wait_seconds']} s")
    print(f"  open-clock gauge aggregation: {result['gauge_aggregation_seconds_small']:.3f} s"
          f" vs {result['gauge_aggregation_seconds_large']:.3f} s")
    print(f"  due query: {result['due_query_plan']}, keys examined "
          f"{result['due_query_keys_examined']}, docs examined "
          f"{result['due_query_docs_examined']}")
    if "unindexed_scan_seconds" in result:
        print(f"  one unindexed scan of the collection instead: "
              f"{result['unindexed_scan_seconds']:.3f} s")
    print(f"  closed cases loaded at {result['closed_load_docs_per_s']:,} docs/s; "
          f"total {result['total_seconds']} s")


if __name__ == "__main__":
    main()
