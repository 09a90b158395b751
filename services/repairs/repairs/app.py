"""What each repairs operation does, given the unit of work it runs in.

:class:`Repairs` holds the unit of work — the store, the worker's outbox, the
rules and the metrics — and carries out the domain's decisions: read the order,
decide, write it compare-and-set on ``version``, emit. An operation is one
transaction, so the order, the serial it drew and its events commit together
or not at all. Event ids derive from ``number:version:position``: a version is
written once, so its events keep one set of ids however often a unit runs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from zhidu.domain import DomainNotFound
from zhidu.uow import StaleWrite

from . import monitoring, numbering, spreadsheet, views
from .domain import OPEN, RepairRules

# The domain's keyword arguments of each command besides ``at`` and ``actor``.
COMMANDS = {
    "dispatch": ("engineer_id", "trade"),
    "set_appointment": ("appointment_at", "customer_agreed"),
    "record_call": ("finish_by", "note"),
    "record_arrival": (),
    "record_survey": ("attendees", "responsible_party", "trades", "estimate_yuan"),
    "quote": ("items",),
    "record_consent": ("consented", "note"),
    "extend": ("until", "clock", "consent_note"),
    "complete": ("items", "signed_off_by", "report"),
    "decide_audit": ("approved", "note"),
    "call_back": ("satisfied", "note"),
    "escalate_to_complaint": ("note",),
}
SWEEP_BATCH = 200
SWEEP_MAX = 5000


@dataclass
class Repairs:
    store: object           # RepairsStore, or a stand-in with its methods
    rules: RepairRules
    outbox: object          # the worker's outbox
    metrics: object = None

    # -- intake and lifecycle ------------------------------------------------------
    def take(self, data: dict) -> dict:
        policy = self.rules.policy
        key = numbering.counter_key(data["received_at"], self.rules.calendar.tz)
        number = numbering.number_for(policy.prefix, key, self.store.next_serial(key),
                                      policy.serial_digits)
        outcome = self.rules.take(data, number=number, actor=data["actor"])
        self.store.insert(outcome.order)
        self._emit(outcome, data["received_at"])
        return views.summary(outcome.order)

    def change(self, command: str, payload: dict) -> dict:
        order = self.order(payload["number"])
        outcome = getattr(self.rules, command)(
            order, at=payload["at"], actor=payload["actor"],
            **{name: payload[name] for name in COMMANDS[command] if name in payload})
        self.write(order, outcome, payload["at"])
        return views.summary(outcome.order)

    def write(self, order: dict, outcome, at: datetime | None) -> None:
        if not self.store.replace(outcome.order, expected_version=order["version"]):
            raise StaleWrite(f"repair {order['number']} moved on from version "
                             f"{order['version']}")
        self._emit(outcome, at)

    def _emit(self, outcome, at) -> None:
        order = outcome.order
        key = f"{order['number']}:{order['version']}"
        for position, event in enumerate(outcome.events):
            self.outbox.emit(event["type"], event["data"], key=f"{key}:{position}", at=at)
        monitoring.count(self.metrics, outcome.events)

    def order(self, number: str) -> dict:
        order = self.store.get(number)
        if order is None:
            raise DomainNotFound(f"repair {number} not found")
        return order

    # -- reads -------------------------------------------------------------------------
    def get(self, number: str) -> dict:
        return views.full(self.order(number))

    def search(self, query: dict) -> list[dict]:
        found = self.store.search(status=query.get("status"),
                                  engineer_id=query.get("engineer_id"),
                                  limit=query.get("limit", 100))
        return [views.summary(order) for order in found]

    def tariff(self) -> list[dict]:
        return [vars(item) for item in self.rules.policy.tariff.values()]

    def stats(self, year: int, month: int) -> dict:
        """The month's 零修及时率 and 合格率 per trade and engineer (001 §11 3.8)."""
        start, end = self._month(year, month)
        orders = self.store.completed_between(start, end)
        return {"year": year, "month": month, "from": start, "until": end,
                **self.rules.stats(orders)}

    def paid_service_register(self, year: int, month: int) -> dict:
        """《工程部有偿服务登记表》 (001 §11 3.8, 5.3): the month's services charged to
        households, as rows and as XLSX and CSV files to download."""
        start, end = self._month(year, month)
        orders = self.store.completed_between(start, end)
        names = self.store.names(
            (o.get("charge") or {}).get("engineer_id") or o.get("engineer_id")
            for o in orders if views.is_paid_service(o))
        register = views.paid_register(orders, names, self.rules.calendar.tz, year, month)
        stem = f"{views.REGISTER_TITLE}-{year}-{month:02d}"
        return {**register, "from": start, "until": end,
                "files": spreadsheet.files(register, stem)}

    def _month(self, year: int, month: int) -> tuple[datetime, datetime]:
        """A calendar month in the company's time zone: [first day, first of the next)."""
        tz = self.rules.calendar.tz
        return (datetime(year, month, 1, tzinfo=tz),
                datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz))

    # -- sweep: one unit per order ------------------------------------------------------
    def sweep(self, now: datetime) -> dict:
        started = time.perf_counter()
        report = {"now": now, "orders": 0, "updated": 0, "events": {}}
        while report["orders"] < SWEEP_MAX:
            due = self.store.due(now, SWEEP_BATCH)
            progressed = False
            for order in due:
                report["orders"] += 1
                events = self._sweep_one(order, now)
                progressed = progressed or events is not None
                for event in events or ():
                    report["events"][event["type"]] = report["events"].get(event["type"], 0) + 1
                report["updated"] += bool(events)
            if len(due) < SWEEP_BATCH or not progressed:
                break
        if self.metrics is not None:
            self.metrics["sweep_duration"].observe(time.perf_counter() - started)
            self.metrics["sweep_last_success"].set(time.time())
        return report

    def _sweep_one(self, order: dict, now: datetime) -> list[dict] | None:
        listed = [order]

        def unit():
            current = listed.pop() if listed else self.store.get(order["number"])
            if current is None:
                return None
            outcome = self.rules.sweep(current, now=now)
            if not outcome.events:
                if outcome.order["next_check_at"] != current.get("next_check_at"):
                    self.store.set_next_check(current["number"], current["version"],
                                              outcome.order["next_check_at"])
                return None
            self.write(current, outcome, now)
            self.outbox.persist()
            return outcome.events

        mark = self.outbox.mark()
        try:
            events = self.store.unit(unit, on_retry=lambda: self.outbox.rollback(mark))
        except StaleWrite:
            return None
        return events or []

    def refresh_gauges(self) -> None:
        for status in OPEN:
            self.metrics["open_orders"].labels(status).set(
                len(self.store.search(status=status, limit=1000)))

    # -- who the permissions file's relations and subjects name ----------------------------
    def in_departments(self, principal, departments) -> bool:
        return (principal.person or {}).get("department") in departments

    def at_desk(self, principal) -> bool:
        return self.in_departments(principal, self.rules.policy.desk_departments)

    def in_engineering(self, principal) -> bool:
        return self.in_departments(principal, self.rules.policy.engineering_departments)

    def supervises_engineering(self, principal) -> bool:
        return self.in_engineering(principal) and "dept_manager" in principal.roles

    def in_audit(self, principal) -> bool:
        return self.in_departments(principal, self.rules.policy.audit_departments)

    def assigned_engineer(self, principal, number: str | None) -> bool:
        order = self.store.get(number or "")
        return order is not None and order.get("engineer_id") == principal.id

    def completing_engineer(self, number: str | None) -> str | None:
        order = self.store.get(number or "")
        return ((order or {}).get("charge") or {}).get("engineer_id")
