"""The attendance application functions over an in-memory store: no broker, no database.

Each test hands a function the unit of work it would get in the service —
the store (here :class:`FakeStore`), ``zhidu.fakes.FakeOutbox``, the shipped
rules, a tally of metric updates and the proven caller — and looks at what it
stored, emitted and counted.
"""
from __future__ import annotations

import copy
from collections import defaultdict
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from attendance.app import clocking, leave
from attendance.app import closing as closing_module
from attendance.app.work import Caller, Work
from attendance.metrics import Counts
from attendance.policy import load_rules
from attendance.shifts import define_shift
from zhidu.domain import DomainConflict, DomainNotFound, DomainPermission
from zhidu.fakes import FakeOutbox, FakeUnits
from zhidu.uow import StaleWrite

SH = ZoneInfo("Asia/Shanghai")
RULES = load_rules()
DIRECTORY = {
    "E1": {"employee_id": "E1", "department": "cs", "manager_id": "S1"},
    "E2": {"employee_id": "E2", "department": "cs", "manager_id": "S1"},
    "S1": {"employee_id": "S1", "department": "cs", "manager_id": "H1"},
}


def at(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


class FakeStore:
    """The attendance store's methods the application functions use, in memory."""

    def __init__(self):
        self.units = FakeUnits()
        self.shift_defs: dict[str, dict] = {}
        self.roster: dict[str, dict] = {}
        self.clocks: dict[str, dict] = {}
        self.leaves: dict[str, dict] = {}
        self.accounts: dict[str, dict] = {}
        self.evaluations: dict[str, dict] = {}
        self.violation_docs: dict[str, dict] = {}
        self.absences: dict[str, dict] = {}
        self.incidents: dict[str, dict] = {}
        self.once: dict[tuple[str, str], dict] = {}
        self.departures: dict[str, datetime] = {}
        self.counters: dict[str, int] = defaultdict(int)

    def unit(self, body, on_retry=None):
        return self.units.unit(body, on_retry)

    # -- set-up helpers (what set_roster and define_shift would have stored) -------------
    def add_shift(self, code: str, start: str, end: str) -> None:
        self.shift_defs[code] = define_shift(code, start, end).as_dict()

    def rostered(self, employee_id: str, day: str, shift_code: str) -> None:
        key = f"{employee_id}:{day}"
        self.roster[key] = {"key": key, "employee_id": employee_id, "date": day,
                            "shift_code": shift_code, "published": True}

    # -- shifts and roster ------------------------------------------------------------------
    def shifts(self) -> list[dict]:
        return [dict(s) for _, s in sorted(self.shift_defs.items())]

    def cached_shift(self, code: str) -> dict | None:
        return self.shift_defs.get(code)

    def roster_for_clock(self, employee_id: str, days: list[str]) -> list[dict]:
        return [dict(e) for d in days if (e := self.roster.get(f"{employee_id}:{d}"))
                and e["published"]]

    def roster_between(self, date_from, date_to, employee_id=None, employee_ids=None):
        return [dict(e) for e in sorted(self.roster.values(), key=lambda e: e["date"])
                if date_from <= e["date"] <= date_to
                and (employee_id is None or e["employee_id"] == employee_id)
                and (employee_ids is None or e["employee_id"] in employee_ids)]

    def roster_on(self, day: str, employee_ids=None, published_only=True) -> list[dict]:
        return [dict(e) for e in self.roster.values() if e["date"] == day
                and (employee_ids is None or e["employee_id"] in employee_ids)
                and (e["published"] or not published_only)]

    def next_rostered_date(self, employee_id: str, after: str) -> str | None:
        later = [e["date"] for e in self.roster.values()
                 if e["employee_id"] == employee_id and e["date"] > after and e["published"]]
        return min(later, default=None)

    def departed(self, employee_ids) -> dict:
        return {e: t for e, t in self.departures.items() if e in set(employee_ids)}

    # -- clocks and incidents -----------------------------------------------------------
    def insert_clock(self, clock: dict) -> bool:
        if clock["_id"] in self.clocks:
            return False
        self.clocks[clock["_id"]] = dict(clock)
        return True

    def clocks_between(self, start, end, employee_ids=None) -> dict:
        grouped = defaultdict(list)
        for c in self.clocks.values():
            if start <= c["at"] <= end and (employee_ids is None
                                            or c["employee_id"] in employee_ids):
                grouped[c["employee_id"]].append(dict(c))
        return grouped

    def incidents_on(self, day: str, employee_ids=None) -> dict:
        grouped = defaultdict(list)
        for i in self.incidents.values():
            if i["date"] == day and (employee_ids is None or i["employee_id"] in employee_ids):
                grouped[i["employee_id"]].append(dict(i, incident_id=i["_id"]))
        return grouped

    # -- leave and seniority -----------------------------------------------------------
    def next_sequence(self, name: str) -> int:
        self.counters[name] += 1
        return self.counters[name]

    def insert_leave(self, leave: dict) -> None:
        assert leave["leave_id"] not in self.leaves
        self.leaves[leave["leave_id"]] = dict(copy.deepcopy(leave), version=0)

    def leave(self, leave_id: str) -> dict | None:
        found = self.leaves.get(leave_id)
        return copy.deepcopy(found) if found else None

    def overlapping_leaves(self, employee_id: str, start: str, end: str) -> list[dict]:
        return [copy.deepcopy(lv) for lv in self.leaves.values()
                if lv["employee_id"] == employee_id and lv["start"] <= end
                and lv["end"] >= start and lv["status"] in ("pending", "approved")]

    def replace_leave(self, leave: dict) -> None:
        stored = self.leaves[leave["leave_id"]]
        if stored["version"] != leave.get("version", 0):
            raise StaleWrite(leave["leave_id"])
        self.leaves[leave["leave_id"]] = dict(copy.deepcopy(leave),
                                              version=stored["version"] + 1)

    def approved_leaves_on(self, day: str, employee_ids=None) -> dict:
        grouped = defaultdict(list)
        for lv in self.leaves.values():
            if lv["status"] == "approved" and lv["start"] <= day <= lv["end"] and (
                    employee_ids is None or lv["employee_id"] in employee_ids):
                grouped[lv["employee_id"]].append(copy.deepcopy(lv))
        return grouped

    def last_leave_end(self, employee_id: str, before: str) -> str | None:
        ends = [lv["end"] for lv in self.leaves.values() if lv["employee_id"] == employee_id
                and lv["status"] == "approved" and lv["end"] < before]
        return max(ends, default=None)

    def seniority_account(self, employee_id: str, year: int) -> dict | None:
        found = self.accounts.get(f"{employee_id}:{year}")
        return copy.deepcopy(found) if found else None

    def save_seniority_account(self, account: dict, read: dict | None) -> None:
        key = f"{account['employee_id']}:{account['year']}"
        held = self.accounts.get(key)
        if (held or {}).get("revision") != (read or {}).get("revision") or \
                (held is None) != (read is None):
            raise StaleWrite(key)
        self.accounts[key] = dict(account, revision=((read or {}).get("revision") or 0) + 1)

    # -- evaluations and bookings -------------------------------------------------------
    def evaluated_dates(self, employee_id: str, date_from: str, date_to: str) -> list[str]:
        return sorted(e["date"] for e in self.evaluations.values()
                      if e["employee_id"] == employee_id and date_from <= e["date"] <= date_to)

    def evaluations_on(self, day: str, employee_ids=None) -> dict:
        return {k: copy.deepcopy(e) for k, e in self.evaluations.items() if e["date"] == day
                and (employee_ids is None or e["employee_id"] in employee_ids)}

    def save_evaluations(self, evaluations: list[dict], existing: dict) -> None:
        for e in evaluations:
            self.evaluations[e["key"]] = copy.deepcopy(e)

    def last_present(self, employee_id: str, before: str) -> str | None:
        days = [e["date"] for e in self.evaluations.values() if e["employee_id"] == employee_id
                and e["status"] == "present" and e["date"] < before]
        return max(days, default=None)

    def _insert_new(self, held: dict, records: list[dict]) -> list[dict]:
        new = []
        for r in records:
            if r["key"] not in held:
                held[r["key"]] = dict(copy.deepcopy(r), withdrawn_at=None)
                new.append(r)
        return new

    def insert_new_violations(self, violations: list[dict]) -> list[dict]:
        return self._insert_new(self.violation_docs, violations)

    def withdraw_violation(self, key: str, at, reason: str) -> dict | None:
        held = self.violation_docs.get(key)
        if held is None or held["withdrawn_at"] is not None:
            return None
        held.update(withdrawn_at=at, withdrawn_reason=reason)
        return copy.deepcopy(held)

    def insert_new_absences(self, records: list[dict]) -> list[dict]:
        return self._insert_new(self.absences, records)

    def withdraw_absence(self, key: str, at) -> bool:
        held = self.absences.get(key)
        if held is None or held["withdrawn_at"] is not None:
            return False
        held["withdrawn_at"] = at
        return True

    def absence_dates(self, employee_id: str, first: str, last: str) -> list[str]:
        return sorted(a["date"] for a in self.absences.values()
                      if a["employee_id"] == employee_id and first <= a["date"] <= last
                      and a["withdrawn_at"] is None)

    def insert_once(self, collection: str, key: str, doc: dict) -> bool:
        if (collection, key) in self.once:
            return False
        self.once[collection, key] = dict(doc)
        return True

    def live_violations(self, employee_id: str) -> list[str]:
        return sorted(v["code"] for v in self.violation_docs.values()
                      if v["employee_id"] == employee_id and v["withdrawn_at"] is None)


def work_for(store, caller_id="svc:device", roles=("staff",)) -> Work:
    caller = Caller(caller_id, tuple(roles), DIRECTORY.get)
    return Work(store, FakeOutbox("attendance"), RULES, Counts(), caller)


def as_caller(work: Work, caller_id: str, *roles: str) -> Work:
    """The same unit of work, called by someone else (another call on the same data)."""
    return Work(work.store, work.outbox, work.rules, work.tally,
                Caller(caller_id, roles, DIRECTORY.get))


def clock(work, employee_id, kind, when):
    return clocking.clock(work, {"employee_id": employee_id, "kind": kind, "at": when,
                                 "source": "gate", "actor": {"id": work.caller.id}})


def close(work, day: str, when=None) -> dict:
    return clocking.close_day(work, {"date": date.fromisoformat(day), "at": when,
                                     "actor": {"id": work.caller.id}})


# -- clocking ------------------------------------------------------------------------------
def test_a_night_clock_in_is_judged_against_the_shift_that_began_the_evening_before():
    store = FakeStore()
    store.add_shift("N", "22:00", "06:00")
    store.rostered("E1", "2026-03-02", "N")
    work = work_for(store)
    late = clock(work, "E1", "in", at(2026, 3, 2, 22, 10, 30))
    assert (late["roster_date"], late["shift_code"], late["late_minutes"]) == (
        "2026-03-02", "N", 11)                  # a started minute counts whole
    out = clock(work, "E1", "out", at(2026, 3, 3, 5, 50))
    assert (out["roster_date"], out["early_minutes"]) == ("2026-03-02", 10)
    assert late["recorded"] and out["recorded"]
    # Clocking books nothing by itself: the day's close judges it.
    assert work.outbox.envelopes == []
    assert work.tally.pending == [("clocks", ("in",), "inc", 1), ("late", (), "inc", 1),
                                  ("lateness", (), "observe", 11),
                                  ("clocks", ("out",), "inc", 1)]


def test_the_same_clock_event_again_is_stored_and_counted_once():
    store = FakeStore()
    store.add_shift("D", "08:30", "16:20")
    store.rostered("E1", "2026-03-02", "D")
    work = work_for(store)
    first = clock(work, "E1", "in", at(2026, 3, 2, 8, 29, 59, 999_999))
    again = clock(work, "E1", "in", at(2026, 3, 2, 8, 29, 59, 999_000))
    assert first["clock_id"] == again["clock_id"]      # stored times keep milliseconds
    assert (first["recorded"], again["recorded"]) == (True, False)
    assert first["late_minutes"] == 0 and len(store.clocks) == 1
    assert work.tally.pending == [("clocks", ("in",), "inc", 1)]


def test_a_clock_event_off_the_roster_is_kept_without_a_shift():
    store = FakeStore()
    store.add_shift("D", "08:30", "16:20")
    reply = clock(work_for(store), "E1", "in", at(2026, 3, 2, 8, 0))
    assert reply["recorded"] and reply["roster_date"] is None and "late_minutes" not in reply


# -- closing a day ----------------------------------------------------------------------------
def test_closing_a_day_books_lateness_and_absence_once_in_units_of_a_few_people(monkeypatch):
    monkeypatch.setattr(closing_module, "PEOPLE_PER_UNIT", 2)
    store = FakeStore()
    store.add_shift("D", "08:30", "16:20")
    for employee in ("E1", "E2", "E3", "E4", "E5"):
        store.rostered(employee, "2026-03-02", "D")
    work = work_for(store, "K1", ["attendance_clerk"])
    clock(work, "E1", "in", at(2026, 3, 2, 8, 41))
    clock(work, "E1", "out", at(2026, 3, 2, 16, 20))
    for employee in ("E2", "E3", "E4"):
        clock(work, employee, "in", at(2026, 3, 2, 8, 0))
        clock(work, employee, "out", at(2026, 3, 2, 17, 0))
    work.tally.pending.clear()

    first = close(work, "2026-03-02")
    assert store.units.opened == 3                     # five people, two a unit
    by = {e["employee_id"]: e for e in first["evaluations"]}
    assert [e["employee_id"] for e in first["evaluations"]] == ["E1", "E2", "E3", "E4", "E5"]
    assert by["E1"]["late_minutes"] == 11 and by["E5"]["absence_reason"] == "no_clock_in"
    assert (first["violations_booked"], first["absences_recorded"], first["changed"]) == (
        2, 1, 5)
    assert [v["code"] for v in work.outbox.of_type("violation_recorded")] == ["A01", "A04"]
    [absence] = work.outbox.of_type("absence_recorded")
    assert (absence["employee_id"], absence["status"]) == ("E5", "absenteeism")
    assert ("days_closed", (), "inc", 1) in work.tally.pending

    emitted = len(work.outbox.envelopes)
    second = close(work, "2026-03-02")
    assert (second["violations_booked"], second["absences_recorded"], second["changed"]) == (
        0, 0, 0)
    assert second["evaluations"] == first["evaluations"]
    assert len(work.outbox.envelopes) == emitted       # nothing announced twice


def test_a_shift_still_running_is_left_open_not_judged():
    store = FakeStore()
    store.add_shift("N", "22:00", "06:00")
    store.rostered("E1", "2026-03-02", "N")
    early = close(work_for(store, "K1", ["attendance_clerk"]), "2026-03-02", at(2026, 3, 2, 23))
    assert early["evaluations"] == [] and early["open"] == ["E1"]
    assert store.units.opened == 0 and store.evaluations == {}


# -- leave ---------------------------------------------------------------------------------------
def request(work, **form) -> dict:
    payload = {"employee_id": "E1", "type": "personal", "reason": None, "emergency": False,
               "seniority_year": None, "actor": {"id": work.caller.id}, **form}
    return leave.request_leave(work, payload)


def decide(work, leave_id: str, when, approve=True) -> dict:
    return leave.decide_leave(work, {"leave_id": leave_id, "approve": approve, "at": when,
                                     "note": None, "actor": {"id": work.caller.id}})


def test_three_days_of_personal_leave_climb_to_the_gm_and_are_announced_at_each_end():
    store = FakeStore()
    work = work_for(store, "E1")
    asked = request(work, start=date(2026, 3, 9), end=date(2026, 3, 11),
                    submitted_at=at(2026, 3, 2, 9))
    assert (asked["leave_id"], asked["days"], asked["status"]) == ("LV000001", 3, "pending")
    assert asked["required_approvals"] == ["supervisor", "gm"]
    [requested] = work.outbox.of_type("leave_requested")
    assert requested["approver_role"] == "supervisor"
    # A role approving for a department is found by it (notifications' route).
    assert requested["department"] == "cs"
    with pytest.raises(DomainConflict):                # the same days again
        request(work, start=date(2026, 3, 10), end=date(2026, 3, 10),
                submitted_at=at(2026, 3, 2, 10))

    # S1 is E1's manager in the directory: a supervisor by reporting line.
    step = decide(as_caller(work, "S1", "staff"), asked["leave_id"], at(2026, 3, 3, 9))
    assert (step["status"], step["approver_role"]) == ("pending", "gm")
    assert work.outbox.of_type("leave_decided") == []
    with pytest.raises(DomainPermission):              # the ladder's order holds
        decide(as_caller(work, "S1", "staff"), asked["leave_id"], at(2026, 3, 3, 10))
    done = decide(as_caller(work, "G1", "gm"), asked["leave_id"], at(2026, 3, 4, 9))
    assert (done["status"], done["approver_role"]) == ("approved", None)
    [decided] = work.outbox.of_type("leave_decided")
    assert decided["decided_by"] == {"id": "G1", "role": "gm"}
    with pytest.raises(DomainConflict):                # decided records are immutable
        decide(as_caller(work, "G1", "gm"), asked["leave_id"], at(2026, 3, 4, 10), False)
    with pytest.raises(DomainNotFound):
        decide(as_caller(work, "G1", "gm"), "LV999999", at(2026, 3, 4, 10))
    assert len(work.outbox.envelopes) == 2


def test_an_approved_seniority_leave_debits_the_account_in_the_same_unit():
    store = FakeStore()
    store.accounts["E1:2026"] = {"employee_id": "E1", "year": 2026, "entitlement_days": 10,
                                 "used_days": 0, "parts_taken": 0, "previous_balance_days": 0,
                                 "previous_used": True, "revision": 4}
    work = work_for(store, "E1")
    asked = request(work, type="seniority", start=date(2026, 4, 13), end=date(2026, 4, 14),
                    submitted_at=at(2026, 4, 1, 9))
    decide(as_caller(work, "S1", "staff"), asked["leave_id"], at(2026, 4, 2, 9))
    account = store.accounts["E1:2026"]
    assert (account["used_days"], account["parts_taken"], account["revision"]) == (2, 1, 5)


def test_a_seniority_account_moved_by_another_approval_re_runs_the_unit():
    """Two approvals racing for one balance: the later writer's unit runs again."""

    class RacingStore(FakeStore):
        def seniority_account(self, employee_id, year):
            read = super().seniority_account(employee_id, year)
            if read is not None:     # another unit commits a debit right after this read
                self.accounts[f"{employee_id}:{year}"]["revision"] += 1
            return read

    store = RacingStore()
    work = work_for(store, "E1")
    store.accounts["E1:2026"] = {"employee_id": "E1", "year": 2026, "entitlement_days": 10,
                                 "used_days": 0, "parts_taken": 0, "previous_balance_days": 0,
                                 "previous_used": True, "revision": 1}
    asked = request(work, type="seniority", start=date(2026, 4, 13), end=date(2026, 4, 14),
                    submitted_at=at(2026, 4, 1, 9))
    with pytest.raises(StaleWrite):
        decide(as_caller(work, "S1", "staff"), asked["leave_id"], at(2026, 4, 2, 9))


def test_an_emergency_leave_approved_after_the_day_closed_withdraws_its_absence():
    store = FakeStore()
    store.add_shift("D", "08:30", "16:20")
    store.rostered("E1", "2026-03-06", "D")
    store.rostered("E1", "2026-03-09", "D")
    work = work_for(store, "K1", ["attendance_clerk"])
    assert close(work, "2026-03-06")["absences_recorded"] == 1
    assert store.live_violations("E1") == ["A04"]

    form = request(as_caller(work, "E1", "staff"), start=date(2026, 3, 6),
                   end=date(2026, 3, 6), emergency=True, submitted_at=at(2026, 3, 9, 8, 40))
    decide(as_caller(work, "S1", "staff"), form["leave_id"], at(2026, 3, 9, 10))
    [withdrawn] = work.outbox.of_type("violation_withdrawn")
    assert (withdrawn["code"], withdrawn["reason"]) == ("A04", "re-evaluated")
    assert store.live_violations("E1") == []
    assert store.absence_dates("E1", "2026-01-01", "2026-12-31") == []
    assert store.evaluations["E1:2026-03-06"]["status"] == "on_leave"
