"""The SLA sweep: warnings, breaches, reminders and escalations falling due.

Only cases whose ``next_check_at`` has come are read (index ``due``), a batch
at a time, earliest first, so a sweep costs what falls due, not what is
stored. Each case is decided by the domain and written compare-and-set on its
``version``: when two replicas sweep at once, one write lands and the other
re-reads a case with nothing left to emit — each warning, breach, reminder and
rung is emitted exactly once per clock and round.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from .handling import CAS_ATTEMPTS, Handling, backoff, pending_batches

DEFAULT_BATCH = 200
# A sweep stops after this many cases and leaves the rest to the next tick,
# so one run after a long outage cannot hold a worker for ever.
DEFAULT_MAX_CASES = 5000


@dataclass
class SweepReport:
    now: datetime
    cases: int = 0
    updated: int = 0
    events: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    republished: int = 0  # cases whose events a dead writer had left unpublished

    def as_dict(self) -> dict:
        out = {"now": self.now, "cases": self.cases, "updated": self.updated,
               "events": dict(sorted(self.events.items())),
               "seconds": round(self.seconds, 6)}
        if self.republished:
            out["republished"] = self.republished
        return out


def sweep(handling: Handling, now: datetime, *, batch: int = DEFAULT_BATCH,
          max_cases: int = DEFAULT_MAX_CASES, persist=None) -> SweepReport:
    """Sweep every case due by ``now``; ``persist()`` is called after each written case
    so a crash mid-sweep loses no event of a case already written."""
    started = time.perf_counter()
    report = SweepReport(now=now)
    # First what writers that died left unpublished (index ``announce``).
    for case in handling.store.unannounced(now, batch):
        handling.announce(case, case["_announce"])
        report.republished += 1
    while report.cases < max_cases:
        due = handling.store.due(now, min(batch, max_cases - report.cases))
        progressed = False
        for case in due:
            report.cases += 1
            events = _sweep_case(handling, case, now)
            if events is not None:
                progressed = True
            if events:
                report.updated += 1
                report.events.update(e["type"] for e in events)
                if persist is not None:
                    persist()
        if len(due) < batch or not progressed:
            break
    report.seconds = time.perf_counter() - started
    metrics = handling.metrics
    if metrics is not None:
        metrics["sweep_duration"].observe(report.seconds)
        metrics["sweep_last_success"].set(time.time())
        metrics["sweep_cases"].inc(report.cases)
    return report


def _sweep_case(handling: Handling, case: dict, now: datetime) -> list[dict] | None:
    """The events written for ``case``; ``[]`` when nothing was due; None if it kept moving."""
    store, rules, number = handling.store, handling.rules, case["number"]
    for attempt in range(CAS_ATTEMPTS):
        if attempt:
            backoff(attempt)
            case = store.get(number)
            if case is None:
                return []
        outcome = rules.sweep(case, now=now)
        if not outcome.events:
            if outcome.case["next_check_at"] != case.get("next_check_at"):
                # A stale due time would bring the case back every sweep.
                store.set_next_check(number, case["version"], outcome.case["next_check_at"])
            return []
        batches = pending_batches(case, outcome, now)
        if store.replace(outcome.case, expected_version=case["version"], announce=batches):
            handling.emit(outcome.case, outcome.events, now)
            handling.announce(outcome.case, case.get("_announce") or [])
            return outcome.events
    return None
