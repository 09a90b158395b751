"""Does the complaints SLA sweep cost what falls due, or what is stored?

The same few hundred open cases with clocks falling due are swept, in process
through the service's own sweep (``complaints.sweeping.sweep``: the due query,
the domain, and per unit of work one bulk compare-and-set write of its cases
and one outbox insert), once with 1,000 closed cases stored beside them and
once with 100,000. If the due query walks its index the two times match; the
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

The sweep is called in process, so the broker is not involved; ``amqp_uri``
is accepted for the bench runner's uniform signature.

    python bench/complaints_sweep.py [--scan]   # MONGO_URI, or a temporary SecantusDB
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from collections import Counter

from complaints import sweeping
from complaints.domain import ComplaintRules
from complaints.handling import Handling
from complaints.policy import load_policy
from complaints.store import ComplaintsStore
from pymongo import monitoring
from zhidu.calendar import load_calendar
from zhidu.envelope import make_envelope
from zhidu.mongo import connect
from zhidu.times import parse_time, utcnow

DATABASE = "zhidu_bench_complaints_sweep"
SWEPT_INDEXES = ("due", "status")
STAFF = {"id": "bench", "role": "staff"}
INTAKE = {"channel": "phone", "kind": "external", "category": "service",
          "complainant": {"name": "王女士", "phone": "13812345678",
                          "email": "wang@example.com"},
          "subject": "维修人员态度差", "description": "电话里被挂断两次",
          "target_department": "service"}
HANDLED = [("decide_validity", "10:10", {"valid": True, "reason": "成立"}),
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


class BenchOutbox:
    """The worker outbox's writes without a broker: envelopes written in each case's unit."""

    def __init__(self, store):
        self.store, self.envelopes, self.persisted = store, [], 0

    def emit(self, event_type, data, *, key=None, at=None):
        self.envelopes.append(make_envelope("complaints", event_type, data, at=at))

    def persist(self):
        fresh = self.envelopes[self.persisted:]
        if fresh:
            # store.db is the running unit's session, as the real outbox's is.
            self.store.db.outbox.insert_many([{"_id": e["id"], "envelope": e,
                                               "created_at": utcnow()} for e in fresh])
        self.persisted = len(self.envelopes)

    def mark(self):
        return len(self.envelopes), self.persisted

    def rollback(self, mark):
        del self.envelopes[mark[0]:]
        self.persisted = mark[1]


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


def time_sweeps(store, rules, template, due_cases, repeats, now, commands) -> dict:
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
        outbox = BenchOutbox(store)
        commands.counts.clear()
        commands.counting = True
        started = time.perf_counter()
        report = sweeping.sweep(Handling(store, rules, outbox), now)
        seconds.append(time.perf_counter() - started)
        commands.counting = False
        assert report.updated == due_cases, report.as_dict()
        events, units = sum(report.events.values()), report.units
        store.db.cases.delete_many({"_id": {"$in": numbers}})
        store.db.outbox.delete_many({})
    seconds, gauges = seconds[1:], gauges[1:]
    return {"seconds": statistics.median(seconds), "runs": [round(s, 3) for s in seconds],
            "events": events, "units": units, "commands": dict(commands.counts),
            "gauges": statistics.median(gauges)}


def time_falling_due(store, rules, template, count, now) -> float:
    """One sweep of ``count`` cases that fell due at the same moment."""
    numbers = [f"2611-98{i:04d}" for i in range(count)]
    store.insert_many([dict(template, number=n) for n in numbers])
    started = time.perf_counter()
    report = sweeping.sweep(Handling(store, rules, BenchOutbox(store)), now)
    seconds = time.perf_counter() - started
    assert report.updated == count, report.as_dict()
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


def run(mongo_uri: str, amqp_uri: str | None = None, *, small: int = 1_000,
        large: int = 100_000, due_cases: int = 300, repeats: int = 3,
        scan: bool = False, falling_due: int = 1_000) -> dict:
    commands = Commands()
    client = connect(mongo_uri, timeout_ms=20000, event_listeners=[commands])
    client.drop_database(DATABASE)
    store = ComplaintsStore(client[DATABASE])
    rules = ComplaintRules(load_policy(), load_calendar())
    closed, open_ = templates(rules)
    now = parse_time(SWEEP_AT)
    try:
        started = time.perf_counter()
        load_closed(store, closed, 0, small)
        with_small = time_sweeps(store, rules, open_, due_cases, repeats, now, commands)
        loading = time.perf_counter()
        load_closed(store, closed, small, large)
        load_seconds = time.perf_counter() - loading
        with_large = time_sweeps(store, rules, open_, due_cases, repeats, now, commands)
        burst = time_falling_due(store, rules, open_, falling_due, now)
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


def main() -> None:
    from zhidu.testing import mongo_server

    with mongo_server() as uri:
        result = run(uri, os.environ.get("AMQP_URI"), scan="--scan" in sys.argv)
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
