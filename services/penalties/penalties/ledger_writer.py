"""Writing to the ledger: cap, append, announce, and raise what became due.

Every path that adds entries — events from other services, manual entries,
appeals, withdrawals — goes through here, so the ceiling, the events and the
thresholds are applied the same way whoever asked.
"""
from __future__ import annotations

from collections import defaultdict

from zhidu.operations import jsonable
from zhidu.times import utcnow

from .appeals import reversal_of
from .ceiling import apply_ceiling, resplit_month
from .ledger import reversed_ids
from .thresholds import due_thresholds

ISSUED_FIELDS = ("entry_id", "employee_id", "offender_id", "share", "kind", "points",
                 "amount_yuan", "deducted_yuan", "capped_yuan", "domain", "code",
                 "title_zh", "title_en", "incident_id", "at")
SYSTEM = {"id": "system", "role": "system"}


def issued(entry: dict) -> dict:
    """The ``penalty_issued`` data of an entry."""
    return {k: entry.get(k) for k in ISSUED_FIELDS}


class LedgerWriter:
    def __init__(self, store, rules, outbox):
        self.store = store
        self.rules = rules
        self.outbox = outbox

    def context(self, employee_id: str) -> dict:
        person = self.store.people([employee_id]).get(employee_id) or {}
        return {"reporting_line": {k: person.get(k) for k in (
            "team_leader_id", "manager_id", "unit_head_id", "group_leader_id")}}

    def commit(self, entries: list[dict], check_thresholds: bool = True) -> list[dict]:
        """Cap, append, announce, then check thresholds for everyone touched."""
        if not entries:
            return []
        by_month = defaultdict(list)
        for entry in entries:
            by_month[(entry["year"], entry["month"])].append(entry)
        people = self.store.people({e["employee_id"] for e in entries})
        capped = []
        for (year, month), group in by_month.items():
            deducted = {
                who: sum(e.get("deducted_yuan", 0)
                         for e in self.store.person_entries(who, year, month))
                for who in {e["employee_id"] for e in group}}
            wages = {who: (people.get(who) or {}).get("monthly_wage_yuan")
                     for who in deducted}
            capped += apply_ceiling(group, wages=wages, deducted=deducted,
                                    policy=self.rules.policy)
        stored = self.store.insert_entries(capped)
        stored = self._settle_ceiling(stored, people)
        for entry in stored:
            self.outbox.emit("penalty_issued", jsonable(issued(entry)),
                             key=entry["entry_id"])
        if check_thresholds:
            for employee_id, year in sorted({(e["employee_id"], e["year"]) for e in stored}):
                self.check_thresholds(employee_id, year)
        return stored

    def _settle_ceiling(self, stored: list[dict], people: dict) -> list[dict]:
        """Re-split each touched person-month, so racing bookings cannot both
        deduct up to the ceiling; returns ``stored`` as it now stands."""
        fixed: dict[str, tuple[int, int]] = {}
        for who, year, month in {(e["employee_id"], e["year"], e["month"]) for e in stored}:
            wage = (people.get(who) or {}).get("monthly_wage_yuan")
            if wage is None:
                continue
            month_entries = self.store.person_entries(who, year, month)
            for entry_id, split in resplit_month(month_entries, wage,
                                                 self.rules.policy).items():
                entry = next(e for e in month_entries if e["entry_id"] == entry_id)
                if (entry.get("deducted_yuan", 0), entry.get("capped_yuan", 0)) != split:
                    self.store.set_split(entry_id, *split)
                    fixed[entry_id] = split
        return [dict(e, deducted_yuan=fixed[e["entry_id"]][0],
                     capped_yuan=fixed[e["entry_id"]][1]) if e["entry_id"] in fixed else e
                for e in stored]

    def check_thresholds(self, employee_id: str, year: int) -> None:
        entries = self.store.person_entries(employee_id, year)
        due = due_thresholds(employee_id, entries, self.rules.catalogs, self.rules.policy,
                             raised=self.store.raised_keys(employee_id),
                             context=self.context(employee_id))
        for threshold in due:
            # Everything a threshold implies — the fine it books, its event —
            # is stored before the threshold is recorded as raised: a crash in
            # between makes it due again, and the repeat has the same ids.
            if threshold["entries"]:
                self.commit(threshold["entries"], check_thresholds=False)
            self.outbox.emit("threshold_reached", jsonable({
                "employee_id": employee_id, "kind": threshold["kind"],
                "year": threshold["year"], "month": threshold["month"],
                "at": threshold["at"], "reason": threshold["reason"]}),
                key=threshold["threshold_id"])
            self.outbox.persist()
            self.store.record_threshold(threshold)

    def reverse(self, reversals: list[dict]) -> list[dict]:
        """Append reversing entries and announce each."""
        stored = self.store.insert_entries(reversals)
        for entry in stored:
            self.outbox.emit("penalty_reversed",
                             jsonable({**issued(entry), "reverses": entry["reverses"]}),
                             key=entry["entry_id"])
        return stored

    def reverse_incident(self, incident_id: str, reason: str) -> list[dict]:
        """Reverse every live entry of an incident its source withdrew."""
        entries = self.store.incident_entries(incident_id)
        done = reversed_ids(entries)
        return self.reverse([
            reversal_of(e, at=utcnow(), actor=SYSTEM, reason=reason)
            for e in entries if not e.get("reverses") and e["entry_id"] not in done])
