"""Who hears of attendance's meetings, rosters, outings, handovers and reminders,
and of a unit's threshold — the shipped routes and templates, no broker.

Each event here is checked against the schema its source publishes, so what
the routes read is what attendance and penalties send.
"""
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from notifications import contributed, fanout
from notifications.retry import load_policy
from notifications.routing import load_routes
from notifications.templates import context, load_catalogue
from notifications.testing import MemoryDirectory
from zhidu.contracts import EventContracts
from zhidu.envelope import make_envelope

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 9, 24, 1, 0, tzinfo=timezone.utc)
CONTRACTS = {source: EventContracts.for_service(source) for source in ("attendance", "penalties")}

PEOPLE = {
    "A1": {"name": "王一", "department": "office", "role": "staff", "phone": "13800000001"},
    "A2": {"name": "李二", "department": "cs", "role": "staff", "phone": "13800000002",
           "email": "li@example.com"},
    "A3": {"name": "张三", "department": "cs", "role": "staff"},
    "C1": {"name": "赵主持", "department": "management", "role": "deputy_gm"},
    "K1": {"name": "钱记录", "department": "office", "role": "gm_office"},
    "O2": {"name": "孙办公", "department": "office", "role": "gm_office"},
    "M1": {"name": "周经理", "department": "cs", "role": "dept_manager"},
    "H1": {"name": "吴人事", "department": "hr", "role": "hr"},
    "S1": {"name": "郑主管", "department": "cs", "role": "staff"},
    "U1": {"name": "冯单位", "department": "north", "role": "staff"},
}
GROUPS = {"hr": ["H9"], "gm_office": ["O9"]}


DIRECTORY = MemoryDirectory(PEOPLE, GROUPS)


@pytest.fixture(scope="module")
def table():
    return load_routes()


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


def event(source, name, data):
    envelope = make_envelope(source, name, data, at=T0)
    CONTRACTS[source].check(envelope)
    return envelope


MEETING = {"meeting_id": "MT-7", "kind": "regular", "title": "经营分析会",
           "location": "三楼会议室", "start": "2026-09-29T01:00:00+00:00",
           "seated_by": "2026-09-29T00:50:00+00:00", "planned_minutes": 60,
           "attendees": ["A1", "A2", "C1"], "chair_id": "C1", "minute_taker_id": "K1",
           "version": 1}


def test_every_attendance_and_penalties_route_reads_fields_its_event_has(table):
    # What the loader checks for contributed routes, for the service's own
    # routes of these two sources: a misspelt field would notify nobody.
    routed = [(t, r) for t, r in table.routes.items()
              if t.split(".")[0] in ("attendance", "penalties")]
    assert len(routed) > 20
    for event_type, route in routed:
        contributed._check_published(event_type, route, contributed._published,
                                     "routes.yaml")


def test_a_meeting_notice_reaches_everyone_invited_by_sms_too_000_s3_6_2(table, catalogue):
    envelope = event("attendance", "meeting_scheduled", MEETING)
    recipients = table.recipients(envelope["type"], envelope["data"], DIRECTORY)
    assert recipients == ["A1", "A2", "C1", "K1"]
    route = table.route(envelope["type"])
    assert route.urgent_channels == ("sms",)
    out = fanout.fan_out(envelope, route, recipients, people=PEOPLE, preferences={},
                         subscriptions=[], catalogue=catalogue, policy=load_policy(),
                         channels=fanout.Channels(email=True, sms=True), default_locale="zh-CN",
                         tz=SHANGHAI, now=T0)
    # SMS wherever there is a number (六.2 短信或电话), mail by preference.
    assert sorted((d["recipient_id"], d["channel"]) for d in out.deliveries) == [
        ("A1", "sms"), ("A2", "email"), ("A2", "sms")]
    item = next(i for i in out.inbox if i["recipient_id"] == "A2")
    assert item["title"] == "会议通知：经营分析会（2026-09-29 09:00）"
    assert "请参加例会“经营分析会”" in item["body"]
    assert "主持人 赵主持，记录人 钱记录" in item["body"]
    assert "请于 2026-09-29 08:50 前到场" in item["body"]
    # Without a gateway the notice is the inbox (and mail), never lost.
    quiet = fanout.fan_out(envelope, route, recipients, people=PEOPLE, preferences={},
                           subscriptions=[], catalogue=catalogue, policy=load_policy(),
                           channels=fanout.Channels(), default_locale="zh-CN", tz=SHANGHAI,
                           now=T0)
    assert len(quiet.inbox) == 4 and quiet.deliveries == []


def test_a_changed_meeting_is_told_to_those_invited_and_those_no_longer_000_s3_6_2(
        table, catalogue):
    changed = dict(MEETING, attendees=["A1", "A3", "C1"], version=2,
                   start="2026-09-29T02:00:00+00:00", seated_by="2026-09-29T01:50:00+00:00",
                   changed=["start", "attendees"], previous_start=MEETING["start"],
                   added_ids=["A3"], removed_ids=["A2"], changed_at="2026-09-24T01:00:00+00:00")
    envelope = event("attendance", "meeting_changed", changed)
    recipients = table.recipients(envelope["type"], envelope["data"], DIRECTORY)
    assert set(recipients) == {"A1", "A3", "C1", "A2", "K1"}
    assert table.route(envelope["type"]).urgent_channels == ("sms",)
    text = catalogue.render("meeting_changed", context(
        envelope, "A2", {p: v["name"] for p, v in PEOPLE.items()}, SHANGHAI))
    assert "时间 2026-09-29 10:00（原定 2026-09-29 09:00）" in text.body
    assert "新增参会人员：张三；不再参会人员：李二" in text.body


def test_meeting_leave_goes_to_the_general_office_and_back_with_the_substitute_000_s3_3_4(
        table, catalogue):
    asked = {"meeting_id": "MT-7", "kind": "regular", "title": "经营分析会",
             "start": MEETING["start"], "chair_id": "C1", "employee_id": "A2",
             "substitute_id": "A3", "reason": "家中急事", "status": "pending"}
    requested = event("attendance", "meeting_leave_requested",
                      dict(asked, requested_at="2026-09-28T01:00:00+00:00"))
    # The general office: its people in the directory, and those configured.
    assert table.recipients(requested["type"], requested["data"], DIRECTORY) == \
        ["K1", "O2", "O9"]
    text = catalogue.render("meeting_leave_requested", context(
        requested, "K1", {p: v["name"] for p, v in PEOPLE.items()}, SHANGHAI))
    assert "指定 张三（A3）代为参会" in text.body
    decided = event("attendance", "meeting_leave_decided", dict(
        asked, status="approved", decided_at="2026-09-28T02:00:00+00:00",
        decided_by={"id": "K1", "role": "gm_office"}, note=None))
    assert table.recipients(decided["type"], decided["data"], DIRECTORY) == ["A2", "A3", "C1"]


def test_minutes_overdue_reach_who_owes_them_and_a_chase_the_owner_and_chair_000_s3_8_9(
        table, catalogue):
    reminder = {"due_at": "2026-09-30T16:00:00+00:00", "reminder_no": 1, "to_ids": ["K1"],
                "to_roles": [], "department": None, "source": "000 §3 八",
                "meeting_id": "MT-7", "title": "经营分析会", "start": MEETING["start"],
                "chair_id": "C1"}
    overdue = event("attendance", "meeting_minutes_overdue", reminder)
    assert table.recipients(overdue["type"], overdue["data"], DIRECTORY) == ["K1"]
    chased = event("attendance", "meeting_decision_chased", dict(
        reminder, to_ids=["A1"], source="000 §3 九.1-3", decision_no=2, item="修订排班制度",
        owner_id="A1", due_date="2026-10-09"))
    assert table.recipients(chased["type"], chased["data"], DIRECTORY) == ["A1", "C1"]
    text = catalogue.render("meeting_decision_chased", context(
        chased, "C1", {p: v["name"] for p, v in PEOPLE.items()}, SHANGHAI))
    assert text.title == "督办：会议议定事项第 2 项（经营分析会）"
    assert "“修订排班制度”，负责人 王一，应于 2026-10-09 前" in text.body
    issued = event("attendance", "meeting_minutes_issued", {
        "meeting_id": "MT-7", "kind": "regular", "title": "经营分析会",
        "start": MEETING["start"], "chair_id": "C1", "attendees": ["A1", "A2", "C1"],
        "issued_at": "2026-09-30T01:00:00+00:00", "due_at": "2026-09-30T16:00:00+00:00",
        "on_time": True, "summary": "议定两项。",
        "decisions": [{"no": 1, "item": "x", "owner_id": "U1", "due_date": "2026-10-09"}],
        "owner_ids": ["U1"]})
    assert table.recipients(issued["type"], issued["data"], DIRECTORY) == \
        ["A1", "A2", "C1", "U1"]


def test_an_overdue_holiday_roster_reaches_hr_and_the_department_002_s1_1_1_6(
        table, catalogue):
    envelope = event("attendance", "holiday_roster_overdue", {
        "department": "cs", "holiday": "National Day", "first_day": "2026-10-01",
        "last_day": "2026-10-08", "deadline": "2026-09-23T16:00:00+00:00",
        "uncovered_days": ["2026-10-02"], "unpublished_days": [], "late_days": []})
    assert table.recipients(envelope["type"], envelope["data"], DIRECTORY) == \
        ["H1", "H9", "M1"]
    text = catalogue.render("holiday_roster_overdue", context(
        envelope, "H1", {}, SHANGHAI))
    assert text.title == "节假日排班表逾期：国庆节（cs）"
    assert "应于 2026-09-24 00:00 前排定并交行政人事部" in text.body
    english = catalogue.render("holiday_roster_overdue", context(
        envelope, "H1", {}, SHANGHAI), "en")
    assert english.title == "Holiday roster overdue: National Day (cs)"


def test_a_changed_roster_reaches_the_person_and_their_department_002_s1_1_1_7(
        table, catalogue):
    envelope = event("attendance", "roster_changed", {
        "employee_id": "A2", "department": "cs",
        "changes": [{"date": "2026-10-02", "from_shift": "D", "to_shift": "N",
                     "on_call": False}],
        "days": ["2026-10-02 D → N"], "approved_by": {"id": "S1", "role": "supervisor"},
        "approver_id": "S1", "reason": "换班", "at": "2026-09-30T01:00:00+00:00"})
    assert table.recipients(envelope["type"], envelope["data"], DIRECTORY) == ["A2", "M1"]
    text = catalogue.render("roster_changed", context(
        envelope, "A2", {p: v["name"] for p, v in PEOPLE.items()}, SHANGHAI))
    assert "的排班已调整：2026-10-02 D → N。经 郑主管 批准，原因：换班" in text.body


def test_outings_handovers_and_the_sheets_steps_reach_the_people_named(table, catalogue):
    outing = {"outing_id": "OT000001", "employee_id": "A2", "department": "cs",
              "out_at": "2026-09-24T06:00:00+00:00",
              "expected_back_at": "2026-09-24T07:00:00+00:00", "approver": "supervisor"}
    asked = event("attendance", "outing_requested",
                  dict(outing, status="pending", reason="银行", to_ids=["S1"]))
    assert table.recipients(asked["type"], asked["data"], DIRECTORY) == ["S1"]
    decided = event("attendance", "outing_decided", dict(
        outing, status="approved", decided_at="2026-09-24T05:00:00+00:00",
        decided_by={"id": "S1", "role": "supervisor"},
        approved_from="2026-09-24T06:00:00+00:00"))
    assert table.recipients(decided["type"], decided["data"], DIRECTORY) == ["A2"]
    back = event("attendance", "outing_returned", dict(
        outing, status="returned", returned_at="2026-09-24T07:20:00+00:00", late_minutes=20,
        late=True, decided_by={"id": "S1", "role": "supervisor"}))
    assert table.recipients(back["type"], back["data"], DIRECTORY) == ["S1"]
    text = catalogue.render("outing_returned", context(
        back, "S1", {p: v["name"] for p, v in PEOPLE.items()}, SHANGHAI))
    assert "李二 已于 2026-09-24 15:20 返岗（预计 2026-09-24 15:00），逾时返回" in text.body

    handover = event("attendance", "handover_completed", {
        "handover_id": "front_desk:2026-09-24:N", "post": "front_desk", "department": "cs",
        "date": "2026-09-24", "shift_code": "N", "outgoing_id": "A2", "incoming_id": "A3",
        "outgoing_signed_at": "2026-09-24T13:40:00+00:00",
        "incoming_signed_at": "2026-09-24T13:50:00+00:00", "accepted": ["投诉 2609-0007"],
        "follow_ups": ["投诉 2609-0007"], "arrive_by": "2026-09-24T13:50:00+00:00",
        "arrived_at": "2026-09-24T13:45:00+00:00", "arrived_late": False, "late_minutes": 0})
    assert table.recipients(handover["type"], handover["data"], DIRECTORY) == ["A2"]
    text = catalogue.render("handover_completed", context(
        handover, "A2", {p: v["name"] for p, v in PEOPLE.items()}, SHANGHAI))
    assert text.title == "交接班完成：客服前台 2026-09-24 N 班"

    reminder = {"due_at": "2026-09-25T16:00:00+00:00", "reminder_no": 2, "to_ids": ["M1"],
                "to_roles": ["department_head"], "department": "cs", "source": "002 §4 4.8"}
    review = event("attendance", "duty_review_overdue", dict(
        reminder, post="front_desk", review="daily", period="2026-09-24"))
    assert table.recipients(review["type"], review["data"], DIRECTORY) == ["M1"]
    step = event("attendance", "report_step_overdue", dict(
        reminder, year=2026, month=9, round=1, step="head_approval"))
    assert table.recipients(step["type"], step["data"], DIRECTORY) == ["M1"]
    text = catalogue.render("report_step_overdue", context(step, "M1", {}, SHANGHAI))
    assert "“部门负责人审批”应于 2026-09-26 00:00 前完成" in text.body
    moved = event("attendance", "monthly_report_advanced", {
        "department": "cs", "year": 2026, "month": 9, "round": 1, "step": "head_approval",
        "approve": True, "by": {"id": "M1", "role": "dept_manager"},
        "at": "2026-09-25T01:00:00+00:00", "note": None, "status": "on_time",
        "awaiting": "office_review", "awaiting_due_at": "2026-09-28T01:00:00+00:00",
        "approved": False, "to_ids": ["K1", "O2"]})
    assert table.recipients(moved["type"], moved["data"], DIRECTORY) == ["K1", "O2"]


def test_a_units_threshold_reaches_its_head_and_hr_000_s4_note_3(table, catalogue):
    envelope = event("penalties", "unit_threshold_reached", {
        "unit": "north", "kind": "award_ineligible", "year": 2026, "month": None,
        "at": "2026-09-24T01:00:00+00:00", "employee_id": "A1", "unit_head_id": "U1",
        "reason": {}})
    assert table.recipients(envelope["type"], envelope["data"], DIRECTORY) == \
        ["U1", "H1", "H9"]
    text = catalogue.render("unit_threshold_notice", context(
        envelope, "U1", {p: v["name"] for p, v in PEOPLE.items()}, SHANGHAI))
    assert text.title == "单位奖惩提示：north（取消评优资格）"
