"""On-call shifts (值班) on published rosters, and the ``duty_rostered`` announcement."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from attendance.app import rosters
from attendance.app.work import Caller, Work
from attendance.metrics import Counts
from attendance.policy import load_rules
from attendance.shifts import define_shift
from zhidu.fakes import FakeOutbox

SH = ZoneInfo("Asia/Shanghai")
DIRECTORY = {"E1": {"employee_id": "E1", "department": "customer_service", "manager_id": "S1"},
             "E2": {"employee_id": "E2", "department": "customer_service", "manager_id": "S1"}}


class Store:
    def __init__(self):
        self.roster: dict[str, dict] = {}
        self.shift_defs = {c: define_shift(c, s, e).as_dict()
                           for c, s, e in (("N", "22:00", "06:00"), ("D", "08:00", "16:00"))}

    def shifts(self):
        return list(self.shift_defs.values())

    def roster_entries(self, keys):
        return {k: dict(self.roster[k]) for k in keys if k in self.roster}

    def save_roster(self, entries, existing, changes):
        self.roster.update({e["key"]: dict(e) for e in entries})

    def departments_of(self, ids):
        return {i: DIRECTORY[i]["department"] for i in ids if i in DIRECTORY}


@pytest.fixture
def work():
    return Work(Store(), FakeOutbox("attendance"), load_rules(), Counts(),
                Caller("S1", ("supervisor",), DIRECTORY.get))


def roster(work, *entries, published=True, at=datetime(2026, 2, 20, 9, tzinfo=SH)):
    return rosters.set_roster(work, {
        "entries": [{"employee_id": e, "date": date.fromisoformat(d), "shift_code": c,
                     "on_call": on_call} for e, d, c, on_call in entries],
        "published": published, "reason": None, "at": at, "actor": {"id": "S1"}})


def test_a_published_night_on_call_shift_is_announced_with_its_instants_002_s1_2_1(work):
    roster(work, ("E1", "2026-03-01", "N", True), ("E2", "2026-03-01", "D", False))
    [event] = work.outbox.of_type("duty_rostered")
    assert event == {"entries": [{
        "employee_id": "E1", "department": "customer_service", "date": "2026-03-01",
        "shift_code": "N", "on_call": True, "start": "2026-03-01T14:00:00+00:00",
        "end": "2026-03-01T22:00:00+00:00"}]}


def test_a_draft_announces_nothing_and_publishing_it_does(work):
    roster(work, ("E1", "2026-03-01", "N", True), published=False)
    assert work.outbox.of_type("duty_rostered") == []
    roster(work, ("E1", "2026-03-01", "N", True))
    assert len(work.outbox.of_type("duty_rostered")) == 1


def test_taking_someone_off_call_is_an_approved_change_and_is_announced_002_s1_1_5(work):
    roster(work, ("E1", "2026-03-02", "D", True))
    result = roster(work, ("E1", "2026-03-02", "D", False), ("E2", "2026-03-02", "D", True),
                    at=datetime(2026, 3, 1, 23, tzinfo=SH))
    assert [c["employee_id"] for c in result["changes"]] == ["E1"]
    announced = work.outbox.of_type("duty_rostered")[-1]["entries"]
    assert [(e["employee_id"], e["on_call"]) for e in announced] == \
        [("E1", False), ("E2", True)]


def test_a_changed_published_roster_is_told_to_each_person_it_changes_002_s1_1_1_7(work):
    roster(work, ("E1", "2026-03-02", "D", False), ("E1", "2026-03-03", "D", False),
           ("E2", "2026-03-02", "D", False))
    assert work.outbox.of_type("roster_changed") == []        # published, not changed
    roster(work, ("E1", "2026-03-02", "N", False), ("E1", "2026-03-03", "N", True),
           ("E2", "2026-03-02", "D", False), at=datetime(2026, 3, 1, 9, tzinfo=SH))
    [changed] = work.outbox.of_type("roster_changed")
    assert changed["employee_id"] == "E1" and changed["department"] == "customer_service"
    assert changed["days"] == ["2026-03-02 D → N", "2026-03-03 D → N"]
    assert [c["on_call"] for c in changed["changes"]] == [False, True]
    assert changed["approver_id"] == "S1"
    # The same roster again changes nothing and tells nobody again.
    roster(work, ("E1", "2026-03-02", "N", False), at=datetime(2026, 3, 1, 10, tzinfo=SH))
    assert len(work.outbox.of_type("roster_changed")) == 1
