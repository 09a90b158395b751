"""Closing a roster day: evaluate everyone rostered, book only the difference.

The pure evaluation (``clocking.evaluate_day``) runs for every published
roster entry of the day; what it concludes is compared with the stored
evaluation by fingerprint, and only changed employee-days are booked:
new violations and absences recorded, vanished ones withdrawn (an emergency
leave approved after the day closed, a clock-out the clerk added).

A day is closed in units of a few dozen people: each unit reads its people's
clocks, leave, incidents and last evaluations, and commits their bookings,
events and new evaluations together. A day of thousands never holds one long
transaction, and a close that dies half-way leaves whole batches done and the
rest untouched; running it again books only what is missing. Inside a unit
already running (a leave decision re-closing its days) the batches join it.
"""
from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta

from zhidu.operations import jsonable
from zhidu.times import local_date, utcnow

from ..absence import absence_cause, absence_record
from ..clocking import evaluate_day, reconcile
from ..shifts import shift_from_dict, shift_instants
from .booking import Booker

# People per unit: small enough for a short transaction, large enough that the
# four reads of a batch are shared by many people.
PEOPLE_PER_UNIT = 50
TOTALS = ("violations_booked", "violations_withdrawn", "absences_recorded", "changed")


def fingerprint(evaluation: dict) -> str:
    text = json.dumps(jsonable(evaluation), sort_keys=True, ensure_ascii=False)
    return hashlib.sha1(text.encode()).hexdigest()


class DayCloser:
    def __init__(self, work):
        self.work, self.store, self.rules = work, work.store, work.rules
        self.booker = Booker(work)

    def shifts(self) -> dict:
        return {s["code"]: shift_from_dict(s) for s in self.store.shifts()}

    def entries(self, day: date, employee_ids=None) -> list[dict]:
        """Published roster entries of ``day``, without people who had left by then."""
        roster = self.store.roster_on(day.isoformat(), employee_ids)
        # Only the people on this day's roster: the cost follows the roster,
        # not everyone who ever left.
        departed = self.store.departed({e["employee_id"] for e in roster})
        return [e for e in roster
                if e["employee_id"] not in departed
                or local_date(departed[e["employee_id"]], self.rules.tz) >= day]

    def latest_end(self, day: date) -> object | None:
        """When the last shift of ``day`` ends, plus the clock-out window."""
        shifts, ends = self.shifts(), []
        for entry in self.entries(day):
            shift = shifts.get(entry["shift_code"])
            if shift is not None:
                ends.append(shift_instants(day, shift, self.rules.tz)[1])
        if not ends:
            return None
        return max(ends) + timedelta(minutes=self.rules.attendance.clocking.window_after_minutes)

    def close(self, day: date, employee_ids=None, at=None) -> dict:
        """Evaluate ``day``; with ``at``, only the shifts that had ended by then.

        A shift still running (or not begun) at ``at`` is listed as ``open``
        rather than judged: no clock-in yet is not an absence yet.
        """
        tz = self.rules.tz
        shifts = self.shifts()
        entries, still_open = [], []
        for entry in self.entries(day, employee_ids):
            shift = shifts.get(entry["shift_code"])
            if shift is None:
                continue
            if at is not None and shift_instants(day, shift, tz)[1] > at:
                still_open.append(entry["employee_id"])
            else:
                entries.append(entry)
        summary = {"date": day.isoformat(), "evaluations": [], **dict.fromkeys(TOTALS, 0),
                   "open": sorted(still_open)}
        entries.sort(key=lambda e: e["employee_id"])
        for first in range(0, len(entries), PEOPLE_PER_UNIT):
            batch = entries[first:first + PEOPLE_PER_UNIT]
            done = self.work.unit(lambda batch=batch: self._close(day, shifts, batch))
            summary["evaluations"] += done["evaluations"]
            for total in TOTALS:
                summary[total] += done[total]
        return summary

    def _close(self, day: date, shifts: dict, entries: list[dict]) -> dict:
        """One unit: judge these people's day and book what changed."""
        policy, tz, store = self.rules.attendance, self.rules.tz, self.store
        day_s = day.isoformat()
        ids = [e["employee_id"] for e in entries]
        spans = [shift_instants(day, shifts[e["shift_code"]], tz) for e in entries]
        clocking = policy.clocking
        clocks = store.clocks_between(
            min(s for s, _ in spans) - timedelta(minutes=clocking.window_before_minutes),
            max(e for _, e in spans) + timedelta(minutes=clocking.window_after_minutes), ids)
        leaves = store.approved_leaves_on(day_s, ids)
        incidents = store.incidents_on(day_s, ids)
        previous = store.evaluations_on(day_s, ids)

        results, changed = [], []
        for entry in entries:
            emp = entry["employee_id"]
            result = evaluate_day(employee_id=emp, roster_date=day,
                                  shift=shifts[entry["shift_code"]],
                                  clocks=clocks.get(emp, ()), leaves=leaves.get(emp, ()),
                                  incidents=incidents.get(emp, ()), policy=policy, tz=tz)
            result["fingerprint"] = fingerprint(result)
            results.append(result)
            old = previous.get(result["key"])
            if old is None or old.get("fingerprint") != result["fingerprint"]:
                changed.append(result)

        now = utcnow()
        new_violations, withdrawn, absences = [], [], []
        for result in changed:
            old = previous.get(result["key"])
            new_violations += result["violations"]
            if old is not None:
                withdrawn += reconcile(old.get("violations"), result["violations"])["withdrawn"]
                if old.get("absence") and not result["absence"]:
                    store.withdraw_absence(f"absence:{result['employee_id']}:{day_s}", now)
            if result["absence"] and not (old and old.get("absence")):
                absences.append(self._absence(result))
        booked = self.booker.violations(new_violations)
        reversed_ = self.booker.withdraw(withdrawn, now, "re-evaluated")
        recorded = self.booker.absences(absences)
        store.save_evaluations(changed, previous)
        return {"evaluations": [{k: v for k, v in r.items() if k != "fingerprint"}
                                for r in results],
                "violations_booked": len(booked), "violations_withdrawn": len(reversed_),
                "absences_recorded": len(recorded), "changed": len(changed)}

    def _absence(self, result: dict) -> dict:
        record = absence_record(result)
        if result["absence_reason"] == "no_clock_in":
            emp, day = result["employee_id"], result["date"]
            record["reason"] = absence_cause(result, self.store.last_leave_end(emp, day),
                                             self.store.last_present(emp, day))
        return record
