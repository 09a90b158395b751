"""Writing to the ledger: cap, append, announce, and raise what became due.

Every path that adds entries — events from other services, manual entries,
appeals, withdrawals, approved notices — goes through here, inside the unit
of work of the call that asked, so the ceiling, the events and the
thresholds — the person's and the unit's (units.py) — are applied the same
way whoever asked, and commit with the entries or not at all.

A writer lives for one run of one unit: it keeps the directory copies it
read, so a booking reads each person once.
"""
from __future__ import annotations

from collections import defaultdict

from zhidu.operations import jsonable
from zhidu.times import utcnow

from .appeals import reversal_of
from .ceiling import apply_ceiling, deducted_in_month
from .ledger import reversed_ids
from .thresholds import counts_toward, due_thresholds
from .units import due_unit_thresholds, unit_admonishment, unit_key

ISSUED_FIELDS = ("entry_id", "employee_id", "offender_id", "share", "kind", "points",
                 "amount_yuan", "deducted_yuan", "capped_yuan", "domain", "code",
                 "title_zh", "title_en", "incident_id", "at")
LINE_FIELDS = ("team_leader_id", "manager_id", "unit_head_id", "group_leader_id")
UNIT_FIELDS = ("unit", "kind", "year", "month", "at", "employee_id", "unit_head_id",
               "reason")
SYSTEM = {"id": "system", "role": "system"}


def issued(entry: dict) -> dict:
    """The ``penalty_issued`` data of an entry."""
    return {k: entry.get(k) for k in ISSUED_FIELDS}


class LedgerWriter:
    def __init__(self, store, rules, outbox):
        self.store = store
        self.rules = rules
        self.outbox = outbox
        self._people: dict[str, dict] = {}

    def people(self, ids) -> dict[str, dict]:
        """The directory copies of ``ids`` (``{}`` for someone unknown)."""
        missing = [i for i in dict.fromkeys(ids) if i not in self._people]
        if missing:
            found = self.store.people(missing)
            self._people.update({i: found.get(i) or {} for i in missing})
        return {i: self._people[i] for i in ids}

    def context(self, employee_id: str) -> dict:
        person = self.people([employee_id])[employee_id]
        return {"reporting_line": {k: person.get(k) for k in LINE_FIELDS}}

    def commit(self, entries: list[dict], check_thresholds: bool = True) -> list[dict]:
        """Cap, append and announce; then look for thresholds the new entries
        may have crossed. Returns the entries as the ledger holds them."""
        if not entries:
            return []
        self._stamp_units(entries)
        capped = self._cap(entries)
        stored, added = self.store.insert_entries(capped)
        for entry in added:
            self.outbox.emit("penalty_issued", jsonable(issued(entry)), key=entry["entry_id"])
        if check_thresholds:
            policy = self.rules.policy
            for employee_id, year in sorted({(e["employee_id"], e["year"]) for e in added
                                             if counts_toward(e, policy)}):
                self.check_thresholds(employee_id, year)
            moved = defaultdict(set)
            for entry in added:
                if key := unit_key(entry, policy):
                    moved[(entry["unit"], entry["year"])].add(key)
            for (unit, year), keys in sorted(moved.items()):
                self.check_unit(unit, year, keys)
        return stored

    def _stamp_units(self, entries: list[dict]) -> None:
        """Each entry keeps the unit its person is in when it is booked."""
        fresh = [e for e in entries if "unit" not in e]
        people = self.people({e["employee_id"] for e in fresh})
        for entry in fresh:
            entry["unit"] = people[entry["employee_id"]].get("unit")

    def _cap(self, entries: list[dict]) -> list[dict]:
        """Split penalty money at the ceiling of each person whose wage is known.

        Only then is the month read. Where money is deducted, the month's
        ceiling record is written too, so that a booking racing this one for
        the same person and month conflicts and is run again; a month already
        at its ceiling deducts nothing more and needs no such write.
        """
        people = self.people({e["employee_id"] for e in entries})
        wages = {who: person.get("monthly_wage_yuan") for who, person in people.items()}
        months = sorted({_month(e) for e in entries
                         if e["kind"] == "penalty" and not e.get("reverses")
                         and wages.get(e["employee_id"]) is not None})
        if not months:
            return entries
        so_far = self.store.months_entries(months)
        by_month = defaultdict(list)
        for entry in entries:
            by_month[(entry["year"], entry["month"])].append(entry)
        capped = []
        for (year, month), group in by_month.items():
            capped += apply_ceiling(
                group, wages=wages, policy=self.rules.policy,
                deducted={who: deducted_in_month(so_far, who, year, month) for who in wages})
        held = sorted({_month(e) for e in capped
                       if _month(e) in months and e.get("deducted_yuan", 0) > 0})
        if held:
            self.store.hold_months(held)
        return capped

    def check_thresholds(self, employee_id: str, year: int) -> None:
        """Raise what became due: its fine, its event and its record together.

        Every check writes the person's year first: two bookings checked at
        once under snapshot reads would each miss the other's entry and neither
        see the count cross, so they must conflict, and the re-run sees both.
        """
        self.store.touch_year(employee_id, year)
        due = due_thresholds(employee_id, self.store.person_entries(employee_id, year),
                             self.rules.catalogs, self.rules.policy,
                             raised=self.store.raised_keys(employee_id),
                             context=self.context(employee_id))
        person = self.people([employee_id])[employee_id]
        cases = []
        for threshold in due:
            self.commit(threshold["entries"], check_thresholds=False)
            self.outbox.emit("threshold_reached", jsonable({
                "employee_id": employee_id, "kind": threshold["kind"],
                "year": threshold["year"], "month": threshold["month"],
                "at": threshold["at"], "reason": threshold["reason"]}),
                key=threshold["threshold_id"])
            if threshold["kind"] == "admonishment" and person.get("unit"):
                # 附加说明.3: the admonished person's unit bears its share.
                cases.append(unit_admonishment(person["unit"], threshold,
                                               person.get("unit_head_id"), self.rules.policy))
        self.store.record_thresholds(due)
        self._raise_units(cases)

    def check_unit(self, unit: str, year: int, keys: set[tuple]) -> None:
        """Raise what the unit became due (B02 booked with it), once.

        ``keys``: the consequences the new entries can bring closer. Those
        already raised are final, so a booking that can move nothing else
        stops there. Otherwise, like a person's year, the unit's year is
        written before it is counted: two bookings in one unit at once
        conflict, and the re-run sees both.
        """
        raised = self.store.unit_raised_keys(unit, year)
        if keys <= set(raised):
            return
        self.store.touch_unit_year(unit, year)
        units = self.rules.policy.units
        entries = self.store.unit_entries(unit, year, domains=[units.award_ineligible.domain],
                                          codes=[units.dress_code.code])
        due = due_unit_thresholds(unit, entries,
                                  self.people({e["employee_id"] for e in entries}),
                                  self.rules.catalogs, self.rules.policy, raised=raised)
        self._raise_units(due)

    def _raise_units(self, due: list[dict]) -> None:
        """Each consequence with the entries it books, its event and its record."""
        if not due:
            return
        for consequence in due:
            self.commit(consequence["entries"])
            self.outbox.emit("unit_threshold_reached",
                             jsonable({k: consequence[k] for k in UNIT_FIELDS}),
                             key=consequence["threshold_id"])
        self.store.record_unit_thresholds(due)

    def reverse(self, reversals: list[dict]) -> list[dict]:
        """Append reversing entries and announce each new one."""
        stored, added = self.store.insert_entries(reversals)
        for entry in added:
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


def _month(entry: dict) -> tuple[str, int, int]:
    return entry["employee_id"], entry["year"], entry["month"]
