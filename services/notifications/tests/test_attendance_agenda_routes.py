"""Who hears of the GM office meeting's agenda (000 §3 四.7), and what a
standing meeting's notice says — the shipped routes and templates, no broker.

Each event is checked against the schema attendance publishes for it.
"""
import pytest
from notifications.routing import load_routes
from notifications.templates import context, load_catalogue

from .test_attendance_routes import DIRECTORY, MEETING, PEOPLE, SHANGHAI, event


@pytest.fixture(scope="module")
def table():
    return load_routes()


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


NAMES = {p: v["name"] for p, v in PEOPLE.items()}
ITEMS = [{"no": 1, "department": "cs", "item": "修订排班制度", "submitted_by_id": "M1",
          "submitted_at": "2026-10-02T01:00:00+00:00"},
         {"no": 2, "department": "office", "item": "会议室改造", "submitted_by_id": "O2",
          "submitted_at": "2026-10-03T01:00:00+00:00"}]
AGENDA = {"standing": "gm_office_meeting", "title": "总经理办公会", "month": "2026-10",
          "closes_at": "2026-10-05T16:00:00+00:00",
          "meeting_start": "2026-10-12T01:00:00+00:00", "items": ITEMS,
          "agenda": ["1. cs: 修订排班制度", "2. office: 会议室改造"],
          "submitted_by_ids": ["M1", "O2"]}


def test_a_head_who_sent_no_item_is_reminded_before_the_agenda_closes_000_s3_4_7(
        table, catalogue):
    reminder = event("attendance", "meeting_agenda_reminder", {
        "due_at": "2026-10-05T01:00:00+00:00", "reminder_no": 1, "to_ids": ["M1"],
        "to_roles": ["department_head"], "department": "cs", "source": "000 §3 四.7",
        "standing": "gm_office_meeting", "title": "总经理办公会", "month": "2026-10",
        "closes_at": "2026-10-05T16:00:00+00:00"})
    assert table.recipients(reminder["type"], reminder["data"], DIRECTORY) == ["M1"]
    text = catalogue.render("meeting_agenda_reminder",
                            context(reminder, "M1", NAMES, SHANGHAI))
    assert text.title == "提醒：上报总经理办公会议程（2026-10）"
    assert "须于 2026-10-06 00:00 前上报综合办公室" in text.body


def test_the_closed_agenda_goes_to_the_gm_and_the_general_office_000_s3_4_7(
        table, catalogue):
    closed = event("attendance", "meeting_agenda_closed", dict(
        AGENDA, outcome="awaiting_approval", closed_at="2026-10-05T16:10:00+00:00",
        min_items=2, max_items=5))
    # role:gm has nobody here; the general office (role and group) always hears.
    assert table.recipients(closed["type"], closed["data"], DIRECTORY) == ["K1", "O2", "O9"]
    text = catalogue.render("meeting_agenda_closed", context(closed, "O2", NAMES, SHANGHAI))
    assert text.title == "总经理办公会议程（2026-10）：待总经理审批"
    assert "1. cs: 修订排班制度、2. office: 会议室改造" in text.body
    assert "议程 2–5 项经总经理审批后即可召开（原定 2026-10-12 09:00）" in text.body
    english = catalogue.render("meeting_agenda_closed",
                               context(closed, "O2", NAMES, SHANGHAI), "en")
    assert english.title == "总经理办公会 agenda (2026-10): awaiting the GM's approval"


def test_the_gms_decision_reaches_the_departments_that_sent_items_000_s3_4_7(
        table, catalogue):
    decided = event("attendance", "meeting_agenda_decided", dict(
        AGENDA, held=True, outcome="held", approved=ITEMS,
        meeting_id="gm_office_meeting-2026-10-12", decided_by={"id": "G1", "role": "gm"},
        decided_at="2026-10-06T02:00:00+00:00", note=None))
    assert sorted(table.recipients(decided["type"], decided["data"], DIRECTORY)) == \
        ["K1", "M1", "O2", "O9"]
    text = catalogue.render("meeting_agenda_decided", context(decided, "M1", NAMES, SHANGHAI))
    assert text.title == "总经理办公会议程（2026-10）：召开"
    assert "会议编号 gm_office_meeting-2026-10-12" in text.body


def test_a_standing_meetings_notice_carries_its_occurrence_and_agenda_000_s3_4(
        table, catalogue):
    notice = event("attendance", "meeting_scheduled", dict(
        MEETING, meeting_id="gm_office_meeting-2026-10-12", title="总经理办公会",
        standing="gm_office_meeting", occurrence="2026-10-10",
        agenda=[{"no": 1, "department": "cs", "item": "修订排班制度"}]))
    assert table.recipients(notice["type"], notice["data"], DIRECTORY) == \
        ["A1", "A2", "C1", "K1"]
    assert table.route(notice["type"]).urgent_channels == ("sms",)
