"""Carrying out a decision of the domain: read, decide, compare-and-set, emit.

The domain decides on the case as read; the write only lands if the stored
case is still at the version read. When another worker got there first the
command is decided again on the fresh case (which may now refuse it with a
``Conflict``); a case that keeps moving is reported as a ``Conflict``.

Events are emitted only after the write landed, with ids derived from
``number:version:position``: version N of a case is written once, so its
events have one set of ids however often a caller or a replica retries.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import datetime

from zhidu.errors import Conflict, NotFound

from . import intake, monitoring
from .domain import ComplaintRules
from .store import ComplaintsStore

# A writer that lost the race waits a random few milliseconds before deciding
# again, so contenders spread out instead of colliding in lockstep; with N
# writers on one case the last one needs N attempts at worst.
CAS_ATTEMPTS = 12
CAS_BACKOFF_SECONDS = 0.005


def backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, CAS_BACKOFF_SECONDS * (attempt + 1)))


@dataclass
class Handling:
    store: ComplaintsStore
    rules: ComplaintRules
    outbox: object           # the worker's PendingEvents
    metrics: object = None   # the service's Metrics; None outside a container

    def file(self, data: dict, actor: dict) -> dict:
        """A new case with the next number of its month.

        The intake is decided once with a stand-in number before a serial is
        drawn, so a refused intake never burns a number.
        """
        received_at = data["received_at"]
        policy = self.rules.policy
        self.rules.file(data, number=intake.number_for(received_at, 1, policy), actor=actor)
        request_id = data.get("request_id")
        number = self.store.number_for_request(request_id) if request_id else None
        if number is None:
            serial = self.store.next_serial(intake.counter_key(received_at))
            number = intake.number_for(received_at, serial, policy)
            if request_id:
                # Bound to the request before the case exists: a retry after a
                # crash finishes this number instead of drawing another.
                number = self.store.bind_request(request_id, number)
        outcome = self.rules.file(data, number=number, actor=actor)
        stored = self.store.get(number)
        if stored is None:
            batches = pending_batches({}, outcome, received_at)
            self.store.insert(outcome.case, announce=batches)
            stored = outcome.case
        # The filing's events have ids fixed by number and version, so emitting
        # them again on a retry publishes nothing new downstream.
        self.emit(outcome.case, outcome.events, received_at)
        self.announce(outcome.case, [])
        return stored

    def change(self, number: str, command: str, **kwargs) -> dict:
        """Apply ``rules.<command>(case, **kwargs)`` to case ``number``."""
        decide = getattr(self.rules, command)
        for attempt in range(CAS_ATTEMPTS):
            if attempt:
                backoff(attempt)
            case = self.store.get(number)
            if case is None:
                raise NotFound(f"complaint {number} not found")
            outcome = decide(case, **kwargs)
            batches = pending_batches(case, outcome, kwargs.get("at"))
            if self.store.replace(outcome.case, expected_version=case["version"],
                                  announce=batches):
                self.emit(outcome.case, outcome.events, kwargs.get("at"))
                self.announce(outcome.case, case.get("_announce") or [])
                return outcome.case
        raise Conflict(f"complaint {number} is being changed by others; try again")

    def announce(self, case: dict, earlier: list[dict]) -> None:
        """Publish what earlier writers left behind, then clear the record.

        A change is written together with its events (``announce`` in the
        case document). Once they are in the outbox the record is cleared; a
        writer that died before that leaves it for the next change of the case
        or for the sweep, which emit it again under the same ids.
        """
        for batch in earlier:
            self.emit_batch(case["number"], batch)
        self.outbox.persist()
        self.store.clear_announcements(case["number"], case["version"])

    def emit_batch(self, number: str, batch: dict) -> None:
        key = f"{number}:{batch['version']}"
        for position, event in enumerate(batch["events"]):
            self.outbox.emit(event["type"], event["data"], key=f"{key}:{position}",
                             at=batch.get("at"))

    def emit(self, case: dict, events: list[dict], at: datetime | None) -> None:
        key = f"{case['number']}:{case['version']}"
        for position, event in enumerate(events):
            self.outbox.emit(event["type"], event["data"], key=f"{key}:{position}", at=at)
        monitoring.count_events(self.metrics, case, events)


def pending_batches(case: dict, outcome, at) -> list[dict]:
    """What the new version must carry: earlier unpublished batches, then its own."""
    batches = list(case.get("_announce") or [])
    if outcome.events:
        batches.append({"version": outcome.case["version"], "at": at,
                        "events": outcome.events})
    return batches
