"""Violations, absences and reviews: stored once, announced once.

Every record has a deterministic key (see ``violations``); the store inserts
only what is new and these helpers emit an event for exactly what this unit
inserted, with an event id derived from the key. A replay (a second
``close_day``, a sweep on two replicas) therefore books and announces nothing
twice. A record and its event are written in one unit of work, so neither
exists without the other: nothing is ever announced again.
"""
from __future__ import annotations

from datetime import datetime

from zhidu.operations import jsonable
from zhidu.times import to_iso

from ..absence import assess_absenteeism


def violation_event(v: dict) -> dict:
    """The ``attendance.violation_recorded`` data (contract shape)."""
    return {"violation_id": v["violation_id"], "incident_id": v["incident_id"],
            "employee_id": v["employee_id"], "code": v["code"], "points": v["points"],
            "at": to_iso(v["at"]), "domain": v["domain"],
            # Same shape as the dormitory's event; attendance has no room.
            "building": None, "room_no": None,
            "detail": jsonable(v.get("detail") or {})}


class Booker:
    def __init__(self, work):
        self.work = work
        self.store, self.outbox, self.rules = work.store, work.outbox, work.rules

    def violations(self, violations: list[dict]) -> list[dict]:
        """Store and announce those not stored yet; returns them."""
        new = self.store.insert_new_violations(violations)
        for v in new:
            self.outbox.emit("violation_recorded", violation_event(v), key=v["key"])
            self.work.tally.inc("violations", v["domain"], v["code"])
        return new

    def withdraw(self, violations: list[dict], at: datetime, reason: str) -> list[dict]:
        """Reverse violations a re-evaluation no longer finds (e.g. leave approved later)."""
        done = []
        for v in violations:
            record = self.store.withdraw_violation(v["key"], at, reason)
            if record is not None:
                self.outbox.emit("violation_withdrawn", dict(violation_event(record),
                                                             reason=reason),
                                 key=f"{v['key']}:withdrawn")
                done.append(record)
        return done

    def absences(self, records: list[dict]) -> list[dict]:
        """Store new absence days, announce them, judge each person's total."""
        new = self.store.insert_new_absences(records)
        for record in new:
            self.work.tally.inc("absences")
            standing = self.absenteeism(record["employee_id"], record["date"])
            self.outbox.emit("absence_recorded", {
                "employee_id": record["employee_id"], "date": record["date"],
                "reason": record["reason"], "days_in_window": standing["days"],
                "status": ("dismissal_review" if standing["dismissal_review_required"]
                           else "absenteeism")}, key=record["key"])
            if standing["dismissal_review_required"]:
                self.dismissal_review(standing)
        return new

    def absenteeism(self, employee_id: str, as_of) -> dict:
        policy = self.rules.attendance
        # The window ends at as_of; fetch from its first day.
        probe = assess_absenteeism(employee_id, [], as_of, policy)
        dates = self.store.absence_dates(employee_id, probe["window_start"],
                                         probe["window_end"])
        return assess_absenteeism(employee_id, dates, as_of, policy)

    def dismissal_review(self, standing: dict) -> bool:
        key = standing["dismissal_review_key"]
        data = {"employee_id": standing["employee_id"], "days": standing["days"],
                "dates": standing["dates"], "window_start": standing["window_start"],
                "window_end": standing["window_end"]}
        if not self.store.insert_once("dismissal_reviews", key, data):
            return False
        self.outbox.emit("dismissal_review_required", data, key=key)
        return True
