"""The sheet's irregular records and misreported leave as the application books
them (000 §2 六.1-2, 六.4), over an in-memory store."""
from __future__ import annotations

import copy
from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from attendance.app import reports
from attendance.app.sweeping import sick_proofs
from attendance.app.work import Caller, Work
from attendance.metrics import Counts
from attendance.policy import load_rules
from zhidu.contracts import EventContracts
from zhidu.fakes import FakeOutbox, FakeUnits
from zhidu.uow import StaleWrite

SH = ZoneInfo("Asia/Shanghai")
RULES = load_rules()
CONTRACTS = EventContracts.for_service("attendance")
DIRECTORY = {p["employee_id"]: p for p in (
    {"employee_id": "E4", "role": "staff", "department": "finance", "manager_id": "H1"},
    {"employee_id": "K1", "role": "attendance_clerk", "department": "finance",
     "manager_id": "H1"},
    {"employee_id": "H1", "role": "dept_manager", "department": "finance",
     "manager_id": "G1"},
    {"employee_id": "O1", "role": "gm_office", "department": "office"},
    {"employee_id": "G1", "role": "gm", "department": "management"})}


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


class Store:
    """The store methods the sheet's chain and the sick-leave sweep use, in memory."""

    def __init__(self):
        self.units = FakeUnits()
        self.docs: dict[str, dict[str, dict]] = defaultdict(dict)
        self.lose_next_claim = False

    def unit(self, body, on_retry=None):
        return self.units.unit(body, on_retry)

    def employee(self, employee_id):
        return copy.deepcopy(DIRECTORY.get(employee_id))

    def department_role_holders(self, department, role):
        return sorted(e for e, p in DIRECTORY.items()
                      if p["department"] == department and p["role"] == role)

    def role_holders(self, role):
        return sorted(e for e, p in DIRECTORY.items() if p["role"] == role)

    def insert_once(self, collection, key, doc):
        if self.lose_next_claim:        # another replica took it after this one read
            self.lose_next_claim = False
            self.docs[collection][key] = {"by": "another replica"}
            return False
        if key in self.docs[collection]:
            return False
        self.docs[collection][key] = copy.deepcopy(doc)
        return True

    def exists(self, collection, key):
        return key in self.docs[collection]

    def insert_new_violations(self, violations):
        return [v for v in violations if self.insert_once("violations", v["key"], v)]

    def open_duties(self, duties):
        for d in duties:
            self.docs["duties"].setdefault(d["key"], dict(d, open=True))

    def close_duty(self, key, at):
        if key in self.docs["duties"]:
            self.docs["duties"][key]["open"] = False

    def report(self, key):
        doc = self.docs["reports"].get(key)
        return dict(copy.deepcopy(doc), key=key) if doc is not None else None

    def save_report(self, report, read):
        held = self.docs["reports"].get(report["key"])
        if (held or {}).get("revision") != (read or {}).get("revision"):
            raise StaleWrite(report["key"])
        self.docs["reports"][report["key"]] = dict(
            copy.deepcopy({k: v for k, v in report.items() if k != "key"}),
            revision=((read or {}).get("revision") or 0) + 1)

    def proofs_due(self, now, limit=500):
        return [dict(copy.deepcopy(d), leave_id=k) for k, d in self.docs["leaves"].items()
                if d.get("proof_open") and d["proof_due"] <= now]

    def leave(self, leave_id):
        doc = self.docs["leaves"].get(leave_id)
        return dict(copy.deepcopy(doc), leave_id=leave_id) if doc is not None else None

    def mark_converted(self, leave_id, converted_id):
        held = self.docs["leaves"][leave_id]
        if held.get("converted_to"):
            return False
        held.update(converted_to=converted_id, proof_open=False)
        return True

    def insert_leave(self, leave):
        assert self.insert_once("leaves", leave["leave_id"], leave)


def work_as(store, caller_id, outbox) -> Work:
    roles = (DIRECTORY[caller_id]["role"],) if caller_id in DIRECTORY else ("ops",)
    return Work(store, outbox, RULES, Counts(), Caller(caller_id, roles, DIRECTORY.get))


@pytest.fixture
def store():
    return Store()


@pytest.fixture
def outbox():
    box = FakeOutbox("attendance")
    yield box
    for envelope in box.envelopes:
        CONTRACTS.check(envelope)


def submit(store, outbox, at, year=2026, month=3):
    work = work_as(store, "K1", outbox)
    return reports.submit_monthly_report(work, {
        "department": "finance", "year": year, "month": month, "at": at,
        "actor": {"id": "K1", "role": "attendance_clerk"}})


def decide(store, outbox, who, at, approve=True, year=2026, month=3, note=None):
    work = work_as(store, who, outbox)
    return reports.decide_monthly_report(work, {
        "department": "finance", "year": year, "month": month, "approve": approve,
        "at": at, "note": note, "actor": {"id": who, "role": DIRECTORY[who]["role"]}})


def up_to_the_office(store, outbox, day, year=2026, month=3):
    submit(store, outbox, local(year, month, day, 9), year, month)
    decide(store, outbox, "H1", local(year, month, day, 10), year=year, month=month)


def recorded(outbox, code):
    return [v for v in outbox.of_type("violation_recorded") if v["code"] == code]


# -- 六.1-2 -------------------------------------------------------------------------------
def test_the_office_sending_the_sheet_back_books_r02_the_first_time_a_year_000_s2_6_1(
        store, outbox):
    up_to_the_office(store, outbox, 27)
    back = decide(store, outbox, "O1", local(2026, 3, 28, 9), approve=False,
                  note="two absences entered as present")
    assert (back["awaiting"], back["status"]) == ("submission", "pending")
    [r02] = recorded(outbox, "R02")
    assert (r02["employee_id"], r02["points"], r02["detail"]["dept_manager_id"]) == (
        "K1", 2, "H1")
    assert r02["violation_id"] == "report:finance:2026-03:R02:1"
    assert back["irregular"][0]["violation_id"] == r02["violation_id"]

    # Submitted again, sent back again by the GM: a repeat, for the office to judge.
    submit(store, outbox, local(2026, 3, 29, 9))
    decide(store, outbox, "H1", local(2026, 3, 29, 10))
    decide(store, outbox, "O1", local(2026, 3, 29, 11))
    again = decide(store, outbox, "G1", local(2026, 3, 30, 9), approve=False)
    assert [r["awaits_judgement"] for r in again["irregular"]] == [False, True]
    # Another month of the same year: a repeat too.
    up_to_the_office(store, outbox, 27, month=4)
    april = decide(store, outbox, "O1", local(2026, 4, 28, 9), approve=False, month=4)
    assert april["irregular"][0]["awaits_judgement"] is True
    assert len(recorded(outbox, "R02")) == 1
    # A new year starts the count again.
    up_to_the_office(store, outbox, 27, year=2027, month=1)
    decide(store, outbox, "O1", local(2027, 1, 28, 9), approve=False, year=2027, month=1)
    assert [v["violation_id"] for v in recorded(outbox, "R02")] == [
        "report:finance:2026-03:R02:1", "report:finance:2027-01:R02:1"]


def test_the_head_sending_the_sheet_back_books_nothing_000_s2_6_1(store, outbox):
    submit(store, outbox, local(2026, 3, 27, 9))
    decide(store, outbox, "H1", local(2026, 3, 27, 10), approve=False)
    assert outbox.of_type("violation_recorded") == []
    assert not store.docs["irregular_records"]


def test_a_place_taken_by_another_replica_runs_the_unit_again_000_s2_6_1(store, outbox):
    up_to_the_office(store, outbox, 27)
    store.lose_next_claim = True
    with pytest.raises(StaleWrite):
        decide(store, outbox, "O1", local(2026, 3, 28, 9), approve=False)


# -- 六.4 ---------------------------------------------------------------------------------
def sick_leave(store, start="2026-03-23", end="2026-03-25"):
    due = RULES.calendar.add_working_days(local(2026, 3, 26), 5)
    store.docs["leaves"]["L7"] = {
        "employee_id": "E4", "type": "sick", "start": start, "end": end, "days": 3,
        "status": "approved", "emergency": False, "submitted_at": local(2026, 3, 23, 9),
        "decided_at": local(2026, 3, 23, 10), "approvals": [], "required_approvals": [],
        "proof_due": due, "proof_at": None, "proof_open": True, "converted_to": None}
    return due


def test_a_sick_leave_converted_after_the_sheet_went_in_books_r04_on_the_clerk_once_000_s2_6_4(
        store, outbox):
    due = sick_leave(store)
    submit(store, outbox, local(2026, 3, 27, 9))
    sweeper = work_as(store, "svc:timer", outbox)
    assert sick_proofs(sweeper, due) == ["L7"]
    [r04] = recorded(outbox, "R04")
    assert (r04["employee_id"], r04["points"]) == ("K1", 2)
    assert r04["violation_id"] == "report:finance:2026-03:R04:L7"
    assert (r04["detail"]["leave_employee_id"], r04["detail"]["now"]) == ("E4", "personal")
    # A second replica, or the next sweep, finds nothing left to do.
    assert sick_proofs(sweeper, due) == []
    assert len(recorded(outbox, "R04")) == 1


def test_no_r04_when_the_sheet_still_to_be_submitted_reports_the_conversion_000_s2_6_4(
        store, outbox):
    due = sick_leave(store)
    submit(store, outbox, local(2026, 3, 27, 9))
    decide(store, outbox, "H1", local(2026, 3, 27, 10), approve=False)   # sent back
    sweeper = work_as(store, "svc:timer", outbox)
    assert sick_proofs(sweeper, due) == ["L7"]
    assert recorded(outbox, "R04") == []
