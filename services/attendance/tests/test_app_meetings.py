"""Meeting administration over an in-memory store: notices, leave from a meeting,
minutes and the decisions they record, and the sweep reminding and chasing them
(000 §3 三.4, 六.2, 八, 九, 十.7). No broker, no database.

Every event is checked against the schema attendance publishes for it.
"""
from __future__ import annotations

import copy
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from attendance.app import meetings
from attendance.app.duties import remind
from attendance.app.work import Caller, Work
from attendance.metrics import Counts
from attendance.policy import load_rules
from zhidu.contracts import EventContracts
from zhidu.domain import DomainConflict
from zhidu.fakes import FakeOutbox
from zhidu.uow import StaleWrite

from .fakes import FakeDocs

SH = ZoneInfo("Asia/Shanghai")
RULES = load_rules()
CONTRACTS = EventContracts.for_service("attendance")
DIRECTORY = {p["employee_id"]: p for p in (
    {"employee_id": e, "role": r, "department": d} for e, r, d in (
        ("A", "deputy_gm", "management"), ("B", "staff", "cs"), ("C", "staff", "cs"),
        ("D", "staff", "finance"), ("X", "staff", "cs"), ("K", "staff", "office"),
        ("O1", "gm_office", "office"), ("O2", "gm_office", "office")))}


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


class FakeStore(FakeDocs):
    """The attendance store's methods the meeting functions use, in memory."""

    def _save_revised(self, collection, key, record, read, id_field):
        held = self.docs[collection].get(key)
        if (held or {}).get("revision") != (read or {}).get("revision"):
            raise StaleWrite(key)
        doc = {k: v for k, v in record.items() if k not in (id_field, "revision")}
        self.docs[collection][key] = dict(copy.deepcopy(doc),
                                          revision=((read or {}).get("revision") or 0) + 1)

    # -- directory copy -------------------------------------------------------------------
    def employee(self, employee_id):
        return copy.deepcopy(DIRECTORY.get(employee_id))

    def role_holders(self, role):
        return sorted(e for e, p in DIRECTORY.items() if p["role"] == role)

    # -- meetings -------------------------------------------------------------------------
    def insert_meeting(self, meeting):
        return self._insert_once("meetings", meeting["meeting_id"],
                                 {k: v for k, v in meeting.items() if k != "meeting_id"})

    def meeting(self, meeting_id):
        return self._get("meetings", meeting_id, "meeting_id")

    def save_meeting(self, meeting, read):
        self._save_revised("meetings", meeting["meeting_id"], meeting, read, "meeting_id")

    def close_meeting(self, meeting_id, result):
        held = self.docs["meetings"][meeting_id]
        if held["status"] != "scheduled":
            return False
        held.update(status="closed", ended_at=result["ended_at"], result=result,
                    revision=(held.get("revision") or 0) + 1)
        return True

    def checked_in(self, meeting_id):
        return sorted(c["employee_id"] for c in self.docs["checkins"].values()
                      if c["meeting_id"] == meeting_id)

    def approved_leaves_on(self, day, employee_ids=None):
        return {}

    def meeting_leave(self, meeting_id, employee_id):
        return self._get("meeting_leaves", f"{meeting_id}:{employee_id}", "key")

    def insert_meeting_leave(self, leave):
        return self._insert_once("meeting_leaves", leave["key"],
                                 {k: v for k, v in leave.items() if k != "key"})

    def save_meeting_leave(self, leave, read):
        self._save_revised("meeting_leaves", leave["key"], leave, read, "key")

    def meeting_leaves(self, meeting_id, status=None):
        return [self.meeting_leave(meeting_id, d["employee_id"])
                for d in self.docs["meeting_leaves"].values()
                if d["meeting_id"] == meeting_id and status in (None, d["status"])]

    def insert_new_violations(self, violations):
        return [v for v in violations if self._insert_once("violations", v["key"], v)]



def work_as(store, outbox, caller_id) -> Work:
    roles = (DIRECTORY[caller_id]["role"],) if caller_id in DIRECTORY else ("ops",)
    return Work(store, outbox, RULES, Counts(), Caller(caller_id, roles, DIRECTORY.get))


def actor(work):
    return {"id": work.caller.id, "role": work.caller.roles[0]}


@pytest.fixture
def store():
    return FakeStore()


@pytest.fixture
def outbox():
    box = FakeOutbox("attendance")
    yield box
    for envelope in box.envelopes:
        CONTRACTS.check(envelope)


MEETING = {"meeting_id": "MT-1", "kind": "regular", "start": local(2026, 3, 3, 9),
           "planned_minutes": 60, "attendees": ["A", "B", "C"], "chair_id": "A",
           "title": "经营分析会", "location": "三楼会议室", "minute_taker_id": None}


def schedule(work, **changes):
    return meetings.schedule_meeting(work, dict(MEETING, actor=actor(work), **changes))


def change(work, at, **changes):
    payload = {"meeting_id": "MT-1", "at": at, "actor": actor(work)}
    for key in ("start", "planned_minutes", "attendees", "chair_id", "title", "location",
                "minute_taker_id"):
        payload[key] = changes.get(key)
    return meetings.change_meeting(work, payload)


def close(work, at):
    return meetings.close_meeting(work, {"meeting_id": "MT-1", "ended_at": at, "excused": [],
                                         "actor": actor(work)})


def test_scheduling_and_each_change_send_a_notice_once_000_s3_6_2(store, outbox):
    office = work_as(store, outbox, "O1")
    schedule(office)
    schedule(office)                                           # the same meeting again
    [notice] = outbox.of_type("meeting_scheduled")
    assert (notice["attendees"], notice["chair_id"], notice["version"]) == \
        (["A", "B", "C"], "A", 1)
    assert notice["start"] == "2026-03-03T01:00:00+00:00"
    assert store.meeting("MT-1")["convened_by"] == "O1"
    moved = change(office, local(2026, 3, 2, 9), start=local(2026, 3, 3, 10),
                   attendees=["A", "B", "D"])
    assert moved["changed"] == ["start", "attendees"] and moved["version"] == 2
    change(office, local(2026, 3, 2, 9, 5), start=local(2026, 3, 3, 10))   # nothing new
    [changed] = outbox.of_type("meeting_changed")
    assert (changed["added_ids"], changed["removed_ids"]) == (["D"], ["C"])
    assert changed["previous_start"] == "2026-03-03T01:00:00+00:00"
    assert outbox.envelopes[-1]["id"] == outbox.envelopes[1]["id"]  # one notice per version
    assert len(outbox.envelopes) == 2
    with pytest.raises(DomainConflict):                        # begun: no more changes
        change(office, local(2026, 3, 3, 10), location="B1")


def test_leave_from_a_meeting_excuses_the_person_and_binds_the_substitute_000_s3_3_4(
        store, outbox):
    office = work_as(store, outbox, "O1")
    schedule(office)
    b = work_as(store, outbox, "B")
    asked = {"meeting_id": "MT-1", "employee_id": "B", "substitute_id": "X",
             "reason": "家中急事", "at": local(2026, 3, 2, 16), "actor": actor(b)}
    leave = meetings.request_meeting_leave(b, asked)
    assert meetings.request_meeting_leave(b, asked) == leave  # the same request again
    with pytest.raises(DomainConflict):
        meetings.request_meeting_leave(b, dict(asked, substitute_id="K"))
    [requested] = outbox.of_type("meeting_leave_requested")
    assert (requested["employee_id"], requested["substitute_id"]) == ("B", "X")

    decision = {"meeting_id": "MT-1", "employee_id": "B", "approve": True,
                "at": local(2026, 3, 2, 17), "note": None, "actor": actor(office)}
    decided = meetings.decide_meeting_leave(office, decision)
    again = meetings.decide_meeting_leave(office, dict(decision, at=local(2026, 3, 2, 18)))
    assert (again["status"], again["decided_at"]) == ("approved", decided["decided_at"])
    [told] = outbox.of_type("meeting_leave_decided")
    assert told["status"] == "approved" and told["decided_by"] == {"id": "O1",
                                                                    "role": "gm_office"}
    assert store.meeting("MT-1")["attendees"] == ["A", "B", "C", "X"]

    store.docs["checkins"]["MT-1:A"] = {"meeting_id": "MT-1", "employee_id": "A"}
    store.docs["checkins"]["MT-1:C"] = {"meeting_id": "MT-1", "employee_id": "C"}
    result = close(work_as(store, outbox, "A"), local(2026, 3, 3, 9, 50))
    assert result["excused"] == ["B"] and result["absent"] == ["X"]
    assert [(v["code"], v["employee_id"]) for v in outbox.of_type("violation_recorded")] == \
        [("M04", "X")]


def test_late_minutes_are_reminded_and_decisions_chased_until_reported_000_s3_8_9(
        store, outbox):
    office = work_as(store, outbox, "O1")
    schedule(office, minute_taker_id="K")
    close(work_as(store, outbox, "A"), local(2026, 3, 3, 9, 50))
    sweeper = work_as(store, outbox, "svc:timer")
    assert remind(sweeper, local(2026, 3, 4, 23, 59)) == []    # due by the end of 3-04
    assert remind(sweeper, local(2026, 3, 5, 0, 1)) == ["meeting:MT-1:minutes:reminder:1"]
    assert remind(sweeper, local(2026, 3, 5, 0, 1)) == []      # the same sweep again
    [overdue] = outbox.of_type("meeting_minutes_overdue")
    assert (overdue["to_ids"], overdue["meeting_id"], overdue["title"]) == \
        (["K"], "MT-1", "经营分析会")

    k = work_as(store, outbox, "K")
    minutes = meetings.issue_minutes(k, {
        "meeting_id": "MT-1", "at": local(2026, 3, 5, 9), "summary": "议定两项。",
        "decisions": [{"item": "修订排班制度", "owner_id": "C", "due_date": date(2026, 3, 10)},
                      {"item": "采购签到机", "owner_id": "D", "due_date": date(2026, 3, 12)}],
        "actor": actor(k)})
    assert minutes["on_time"] is False
    [issued] = outbox.of_type("meeting_minutes_issued")
    assert issued["owner_ids"] == ["C", "D"] and issued["attendees"] == ["A", "B", "C"]
    assert remind(sweeper, local(2026, 3, 6, 1)) == []          # minutes done, none due

    chased = remind(sweeper, local(2026, 3, 11, 0, 30))
    assert chased == ["meeting:MT-1:decision:1:reminder:1"]
    [chase] = outbox.of_type("meeting_decision_chased")
    assert (chase["to_ids"], chase["chair_id"], chase["owner_id"], chase["item"]) == \
        (["C"], "A", "C", "修订排班制度")
    c = work_as(store, outbox, "C")
    report = meetings.report_decision(c, {"meeting_id": "MT-1", "decision_no": 1,
                                          "at": local(2026, 3, 11, 9), "report": "已修订",
                                          "actor": actor(c)})
    assert report["on_time"] is False and report["reported_by"] == "C"
    # Reported: no more chasing of it; the other decision is chased when due.
    assert remind(sweeper, local(2026, 3, 13, 1)) == ["meeting:MT-1:decision:2:reminder:1"]
    held = store.meeting("MT-1")["minutes"]["decisions"]
    assert [d["reported_at"] is not None for d in held] == [True, False]


def test_minutes_without_a_minute_taker_are_the_general_offices_000_s3_8(store, outbox):
    schedule(work_as(store, outbox, "O1"))
    close(work_as(store, outbox, "A"), local(2026, 3, 3, 9, 50))
    remind(work_as(store, outbox, "svc:timer"), local(2026, 3, 5, 1))
    [overdue] = outbox.of_type("meeting_minutes_overdue")
    assert (overdue["to_ids"], overdue["to_roles"]) == (["O1", "O2"], ["gm_office"])


def test_two_replicas_chasing_at_once_send_one_reminder(store, outbox):
    """The other replica counts the reminder between this one's read and its write."""
    schedule(work_as(store, outbox, "O1"), minute_taker_id="K")
    close(work_as(store, outbox, "A"), local(2026, 3, 3, 9, 50))

    class RacingStore(FakeStore):
        def mark_reminded(self, key, sent, number, next_at):
            FakeStore.mark_reminded(store, key, sent, number, next_at)
            return FakeStore.mark_reminded(store, key, sent, number, next_at)

    racing = RacingStore()
    racing.docs = store.docs
    assert remind(work_as(racing, outbox, "svc:timer"), local(2026, 3, 5, 1)) == []
    assert outbox.of_type("meeting_minutes_overdue") == []
    assert store.docs["duties"]["meeting:MT-1:minutes"]["sent"] == 1
