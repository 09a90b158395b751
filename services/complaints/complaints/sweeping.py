"""The SLA sweep: warnings, breaches, reminders and escalations falling due.

Only cases whose ``next_check_at`` has come are read (index ``due``), a batch
at a time, earliest first, so a sweep costs what falls due, not what is
stored. Each case is decided and written in a unit of work of its own — the
case's new version and the outbox entries of its events commit together — so
a sweep that dies half-way keeps every case it finished and leaves the rest
due for the next one, and no transaction spans the whole sweep.

Writes are compare-and-set on ``version``: when two replicas sweep at once,
one write lands and the other's unit runs again on the case it now reads,
which has nothing left to emit — each warning, breach, reminder and rung is
emitted exactly once per clock and round.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from zhidu.uow import StaleWrite

from . import monitoring

if TYPE_CHECKING:
    from .handling import Handling

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

    def as_dict(self) -> dict:
        return {"now": self.now, "cases": self.cases, "updated": self.updated,
                "events": dict(sorted(self.events.items())),
                "seconds": round(self.seconds, 6)}


def sweep(handling: Handling, now: datetime, *, batch: int = DEFAULT_BATCH,
          max_cases: int = DEFAULT_MAX_CASES) -> SweepReport:
    """Sweep every case due by ``now``."""
    started = time.perf_counter()
    report = SweepReport(now=now)
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
    """The events written for ``case``; ``[]`` when nothing was due; None if it kept moving.

    The first run decides on ``case`` as the due query read it; a run after a
    conflict reads the case afresh.
    """
    store, outbox, number = handling.store, handling.outbox, case["number"]
    listed = [case]

    def unit():
        current = listed.pop() if listed else store.get(number)
        if current is None:
            return None
        outcome = handling.rules.sweep(current, now=now)
        if not outcome.events:
            if outcome.case["next_check_at"] != current.get("next_check_at"):
                # A stale due time would bring the case back every sweep.
                store.set_next_check(number, current["version"],
                                     outcome.case["next_check_at"])
            return None
        handling.write(current, outcome, now)
        outbox.persist()
        return outcome

    mark = outbox.mark()
    try:
        outcome = store.unit(unit, on_retry=lambda: outbox.rollback(mark))
    except StaleWrite:
        return None
    if outcome is None:
        return []
    # Counted once the unit committed: a run that conflicted counts nothing.
    monitoring.count_events(handling.metrics, outcome.case, outcome.events)
    return outcome.events
