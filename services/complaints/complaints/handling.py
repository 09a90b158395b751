"""What each complaints operation does, given the unit of work it runs in.

:class:`Handling` holds that unit of work — the store, the worker's outbox, the
rules and the metrics — and carries out the domain's decisions: read the case,
decide, write it compare-and-set on ``version``, emit. An operation runs as one
transaction, so a case, the serial it drew, the reads it audited and the outbox
entries of its events commit together or not at all: a call that fails leaves
nothing for a later one to finish. When another unit wrote the case after it
was read, :class:`~zhidu.uow.StaleWrite` has the library run the call again on
the fresh case, which the domain may now refuse.

Event ids derive from ``number:version:position``: version N of a case is
written once, so its events have one set of ids however often a call is run.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from pymongo.errors import PyMongoError
from zhidu.domain import DomainConflict, DomainNotFound, DomainValidation
from zhidu.times import utcnow
from zhidu.uow import StaleWrite

from . import intake, monitoring, stats_pipeline, sweeping, views
from .domain import ComplaintRules

log = logging.getLogger(__name__)

# The domain's keyword arguments of each command, besides ``at`` and ``actor``.
COMMANDS = {
    "decide_validity": ("valid", "reason", "reply"),
    "acknowledge": ("next_reply_at", "reply"),
    "give_feedback": ("feedback",),
    "assign": ("department", "owner_id"),
    "agree_plan": ("plan",),
    "submit_report": ("root_cause",),
    "propose_remedy": ("remedy", "amount_yuan"),
    "approve_remedy": (),
    "resolve": ("resolution",),
    "follow_up": ("satisfied", "note"),
    "pause": ("reason",),
    "resume": (),
    "determine_liability": ("department", "employee_ids", "fine_yuan", "attitude", "party"),
}
# One export is one transaction; a longer period is asked for in parts.
EXPORT_LIMIT = 10_000
# What a search with ``clocks`` shows of each clock.
CLOCK_FIELDS = ("name", "round", "unit", "department", "state", "due", "warn_at", "warned",
                "breached", "escalation_level", "escalations", "met_at", "on_time")


def _open_clocks(case: dict) -> list[dict]:
    """The running and paused clocks of the case's current round."""
    round_ = case.get("round", 1)
    return [{k: clock.get(k) for k in CLOCK_FIELDS} for clock in case.get("clocks") or ()
            if clock.get("round", 1) == round_ and clock.get("state") in ("running", "paused")]


@dataclass
class Handling:
    store: object            # the ComplaintsStore (or a stand-in with its methods)
    rules: ComplaintRules
    outbox: object           # the worker's PendingEvents
    metrics: object = None   # the service's Metrics; None outside a container

    # -- intake and lifecycle ----------------------------------------------------
    def file(self, data: dict) -> dict:
        """A new case with the next number of its local month.

        A refused or failed intake gives its serial back with the rest of the
        unit, so numbers have no gaps.
        """
        received_at = data["received_at"]
        serial = self.store.next_serial(intake.counter_key(received_at))
        number = intake.number_for(received_at, serial, self.rules.policy)
        outcome = self.rules.file(data, number=number, actor=data["actor"])
        self.store.insert(outcome.case)
        self.emit(outcome.case, outcome.events, received_at)
        monitoring.count_events(self.metrics, outcome.case, outcome.events)
        return views.filed(outcome.case)

    def change(self, command: str, payload: dict) -> dict:
        """Apply ``rules.<command>`` to the case ``payload["number"]``; its summary."""
        outcome = self.decide(command, payload)
        monitoring.count_events(self.metrics, outcome.case, outcome.events)
        return views.summary(outcome.case)

    def decide(self, command: str, payload: dict):
        number = payload["number"]
        case = self.case(number)
        decide = getattr(self.rules, command)
        outcome = decide(case, at=payload["at"], actor=payload["actor"],
                         **{name: payload[name] for name in COMMANDS[command]
                            if name in payload})
        self.write(case, outcome, payload["at"])
        return outcome

    def write(self, case: dict, outcome, at: datetime | None) -> None:
        """Store the decided version of ``case`` and emit its events, or raise StaleWrite."""
        if not self.store.replace(outcome.case, expected_version=case["version"]):
            raise StaleWrite(f"complaint {case['number']} moved on from version "
                             f"{case['version']}")
        self.emit(outcome.case, outcome.events, at)
        monitoring.count_closed(self.metrics, case, outcome.case)

    def emit(self, case: dict, events: list[dict], at: datetime | None) -> None:
        key = f"{case['number']}:{case['version']}"
        for position, event in enumerate(events):
            self.outbox.emit(event["type"], event["data"], key=f"{key}:{position}", at=at)

    def case(self, number: str) -> dict:
        case = self.store.get(number)
        if case is None:
            raise DomainNotFound(f"complaint {number} not found")
        return case

    # -- timers ----------------------------------------------------------------------
    def sweep(self, now: datetime) -> dict:
        """Everything falling due by ``now``, in units of work of up to 50 cases."""
        return sweeping.sweep(self, now).as_dict()

    def refresh_gauges(self, now: datetime) -> None:
        try:
            groups = self.store.open_clocks()
        except PyMongoError:
            # Still serve the counters: a failed scrape would read as the
            # service being down, when it is the database (health says which).
            log.warning("open-clock gauges not refreshed", exc_info=True)
            return
        monitoring.refresh_gauges(self.metrics, groups, self.rules.policy.clocks, now)

    # -- reads -------------------------------------------------------------------------
    def get(self, number: str, actor: dict) -> dict:
        case = self.case(number)
        self.audit(actor, [case], "get")
        return views.full(case, actor["role"], self.rules.policy)

    def search(self, query: dict) -> list[dict]:
        actor = query["actor"]
        cases = self.store.search(**{k: v for k, v in query.items()
                                     if k not in ("actor", "contacts", "clocks")})
        if not query.get("contacts", True):
            # A list or a board needs no contacts: shown as to a reader without
            # the right, nothing is read in full, so there is nothing to audit.
            rows = [views.summary(case, None, self.rules.policy) for case in cases]
        else:
            self.audit(actor, cases, "search")
            rows = [views.listed(case, actor["role"], self.rules.policy) for case in cases]
        if query.get("clocks"):
            # A board's countdowns in the same read, not a get (and an audited
            # full read) per case.
            for row, case in zip(rows, cases, strict=True):
                row["clocks"] = _open_clocks(case)
        return rows

    def audit(self, actor: dict, cases: list[dict], operation: str) -> None:
        """Record who was shown whose full contact data (001 §2)."""
        numbers = views.revealed(cases, actor["role"], self.rules.policy)
        self.store.audit_reads(actor, numbers, operation)

    def audit_log(self, number: str | None, limit: int) -> list[dict]:
        return self.store.audit_log(number, limit)

    def stats(self, year: int, month: int, basis: str) -> dict:
        """The monthly table: cases concluded (结案, 001 §1 (九)) or received in the month."""
        start, end = stats_pipeline.month_bounds(year, month, self.rules.calendar.tz)
        field = "concluded_at" if basis == "concluded" else "received_at"
        table = stats_pipeline.shape_monthly(self.store.monthly(field, start, end),
                                             stats_pipeline.followup_clocks(self.rules.policy))
        return {"year": year, "month": month, "basis": basis, "from": start, "until": end,
                **table}

    # -- exports of customer data: requested, approved by the GM, then taken ------------
    def request_export(self, since: datetime, until: datetime, reason: str,
                       actor: dict) -> dict:
        if until <= since:
            raise DomainValidation.one("until", "must be after since")
        export = {"export_id": uuid.uuid4().hex, "since": since, "until": until,
                  "reason": reason, "status": "awaiting_approval", "requested_by": actor,
                  "requested_at": utcnow(), "approved_by": None, "approved_at": None,
                  "exported_at": None}
        self.store.create_export(export)
        return export

    def approve_export(self, export_id: str, actor: dict) -> dict:
        export = self.export(export_id)
        changes = {"status": "approved", "approved_by": actor, "approved_at": utcnow()}
        if not self.store.update_export(export_id, "awaiting_approval", changes):
            raise DomainConflict(f"export {export_id} is {export['status']}, "
                                 "not awaiting approval")
        return {**export, **changes}

    def take_export(self, export_id: str, actor: dict) -> dict:
        """The approved period's cases, unmasked; each is audited as read, once."""
        export = self.export(export_id)
        if export["status"] != "approved":
            raise DomainConflict(f"export {export_id} is {export['status']}: the GM's "
                                 "approval comes first (001 §2 3.4.1)")
        cases = self.store.received_between(export["since"], export["until"], EXPORT_LIMIT)
        self.store.audit_reads(actor, [c["number"] for c in cases], "export")
        if not self.store.update_export(export_id, "approved",
                                        {"status": "exported", "exported_at": utcnow()}):
            raise StaleWrite(f"export {export_id} moved on while it was being taken")
        return {**export, "status": "exported",
                "cases": [views.full(case, "it_admin", self.rules.policy, reveal=True)
                          for case in cases]}

    def export(self, export_id: str) -> dict:
        export = self.store.get_export(export_id)
        if export is None:
            raise DomainNotFound(f"export {export_id} not found")
        return export

    # -- who the permissions file's relations and subjects name --------------------------
    def works_at_desk(self, principal) -> bool:
        return (principal.person or {}).get("department") in self.rules.policy.desk_departments

    def owns_case(self, principal, number: str | None) -> bool:
        case = self.store.get(number or "")
        return case is not None and case.get("owner_id") == principal.id

    def may_decide_liability(self, principal, number: str | None) -> bool:
        """The GM office for customer complaints, HR for internal ones (rules §8)."""
        case = self.store.get(number or "")
        if case is None:
            # Nothing to protect: let whoever could ever decide liability hear NotFound.
            return bool({"hr", "gm_office"} & set(principal.roles))
        needed = "hr" if case.get("kind") == "internal" else "gm_office"
        return needed in principal.roles

    def remedy_proposer(self, number: str | None) -> str | None:
        case = self.store.get(number or "")
        remedies = (case or {}).get("remedies") or []
        return remedies[-1].get("proposed_by") if remedies else None

    def export_requester(self, export_id: str | None) -> str | None:
        export = self.store.get_export(export_id or "")
        return ((export or {}).get("requested_by") or {}).get("id")
