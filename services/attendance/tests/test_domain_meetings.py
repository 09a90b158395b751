"""Meeting check-in, incidents, close, the yearly award threshold, changes, leave
from a meeting, minutes and the decisions they record."""
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from attendance.meetings import (
    award_eligibility,
    change_meeting,
    close_meeting,
    decide_meeting_leave,
    decision_duty,
    evaluate_checkin,
    meeting_incident,
    minutes_due,
    minutes_duty,
    record_minutes,
    report_decision,
    request_meeting_leave,
    same_minutes,
    schedule_meeting,
    with_substitute,
)
from attendance.policy import load_meeting_policy
from zhidu.domain import DomainConflict, DomainPermission, DomainValidation

SH = ZoneInfo("Asia/Shanghai")
POLICY = load_meeting_policy()
START = datetime(2026, 3, 3, 9, 0, tzinfo=SH)            # Tuesday 09:00 讲评会


def meeting(kind="regular", minutes=60):
    return schedule_meeting(meeting_id="MT1", kind=kind, start=START, planned_minutes=minutes,
                            attendees=["A", "B", "C", "D"], chair_id="A", policy=POLICY)


def test_scheduling_respects_the_length_limit():
    assert meeting()["seated_by"] == START - timedelta(minutes=10)
    assert meeting("annual_assembly", 90)["max_minutes"] == 90
    with pytest.raises(DomainValidation) as caught:
        meeting("regular", 61)
    assert "planned_minutes" in caught.value.errors
    with pytest.raises(DomainValidation):
        meeting("picnic", 30)


def test_checkin_on_time_late_and_late_after_reminder():
    m = meeting()
    assert evaluate_checkin(m, "A", START - timedelta(minutes=10),
                            policy=POLICY)["status"] == "seated_early"
    on_time = evaluate_checkin(m, "B", START, policy=POLICY)
    assert on_time["status"] == "on_time" and on_time["violation"] is None
    late = evaluate_checkin(m, "C", START + timedelta(seconds=30), policy=POLICY)
    assert late["violation"]["code"] == "M01" and late["violation"]["points"] == 2
    reminded = evaluate_checkin(m, "C", START + timedelta(minutes=5), reminded=True,
                                policy=POLICY)
    assert reminded["violation"]["code"] == "M02" and reminded["violation"]["points"] == 5
    assert reminded["violation"]["key"] == late["violation"]["key"]   # one lateness
    with pytest.raises(DomainValidation):
        evaluate_checkin(m, "Z", START, policy=POLICY)


def test_incidents():
    m = meeting()
    assert meeting_incident(m, "B", "early_leave", START + timedelta(minutes=30),
                            chair_consent=True, policy=POLICY) is None
    early = meeting_incident(m, "B", "early_leave", START + timedelta(minutes=30),
                             policy=POLICY)
    assert (early["code"], early["points"]) == ("M03", 5)
    calls = [meeting_incident(m, "C", "phone", START + timedelta(minutes=k), policy=POLICY)
             for k in (5, 20)]
    assert [c["code"] for c in calls] == ["M05", "M05"]
    assert calls[0]["key"] != calls[1]["key"]
    assert meeting_incident(m, "D", "unprepared", START, policy=POLICY)["points"] == 5
    with pytest.raises(DomainConflict):
        meeting_incident(dict(m, status="closed"), "D", "phone", START, policy=POLICY)


def test_close_books_absences_and_flags_overlength():
    m = meeting()
    closed = close_meeting(m, ended_at=START + timedelta(minutes=75), checked_in=["A", "B"],
                           excused=["C"], policy=POLICY)
    assert closed["absent"] == ["D"]
    assert [(v["code"], v["points"], v["employee_id"]) for v in closed["violations"]] == \
        [("M04", 10, "D")]
    assert closed["over_length"] and closed["actual_minutes"] == 75
    again = close_meeting(m, ended_at=START + timedelta(minutes=75), checked_in=["A", "B"],
                          excused=["C"], policy=POLICY)
    assert [v["key"] for v in again["violations"]] == [v["key"] for v in closed["violations"]]


def penalty(points, month=3, year=2026, **extra):
    return dict(points=points, at=datetime(year, month, 1, 10, tzinfo=SH), **extra)


def test_award_eligibility_threshold():
    three = [penalty(5), penalty(5), penalty(5)]                      # 3 penalties, 15 points
    assert award_eligibility("E1", three, 2026, POLICY, tz=SH)["eligible"]
    four = award_eligibility("E1", three[:2] + [penalty(2), penalty(2)], 2026, POLICY, tz=SH)
    assert not four["eligible"] and four["exceeded"] == ["penalties"]
    heavy = award_eligibility("E1", [penalty(10), penalty(10)], 2026, POLICY, tz=SH)
    assert not heavy["eligible"] and heavy["exceeded"] == ["points"]
    assert heavy["key"] == "award_ineligible:meeting:E1:2026"
    other = [penalty(10, year=2025), penalty(10), penalty(10, reversed=True)]
    assert award_eligibility("E1", other, 2026, POLICY, tz=SH)["eligible"]


# -- changes, leave, minutes and decisions (000 §3 三.4, 六.2, 八, 九, 十.7) -------------------
BEFORE = START - timedelta(days=1)


def test_a_meeting_is_rearranged_until_it_begins_each_change_a_version_000_s3_6_2():
    m = meeting()
    later = START + timedelta(hours=1)
    moved = change_meeting(m, {"start": later, "attendees": ["A", "B", "E"],
                               "location": "三楼会议室"}, at=BEFORE, policy=POLICY)
    assert moved["changed"] == ["start", "attendees", "location"]
    assert (moved["added"], moved["removed"]) == (["E"], ["C", "D"])
    assert moved["previous_start"] == START
    new = moved["meeting"]
    assert new["version"] == 2 and new["seated_by"] == later - timedelta(minutes=10)
    # The same change again is no change: no new version, no second notice.
    again = change_meeting(new, {"start": later, "location": "三楼会议室"}, at=BEFORE,
                           policy=POLICY)
    assert again["changed"] == [] and again["meeting"] is new
    # Checked as a schedule is: a regular meeting still lasts at most 60 minutes.
    with pytest.raises(DomainValidation) as caught:
        change_meeting(m, {"planned_minutes": 61}, at=BEFORE, policy=POLICY)
    assert "planned_minutes" in caught.value.errors
    with pytest.raises(DomainValidation):
        change_meeting(m, {"start": BEFORE - timedelta(hours=1)}, at=BEFORE, policy=POLICY)
    with pytest.raises(DomainConflict):
        change_meeting(m, {"location": "x"}, at=START, policy=POLICY)
    with pytest.raises(DomainConflict):
        change_meeting(dict(m, status="closed"), {"location": "x"}, at=BEFORE, policy=POLICY)


def test_leave_from_a_meeting_is_asked_before_it_with_a_substitute_000_s3_3_4():
    m = meeting()
    leave = request_meeting_leave(m, employee_id="B", substitute_id="X", reason="急事",
                                  at=BEFORE)
    assert (leave["key"], leave["status"], leave["substitute_id"]) == ("MT1:B", "pending", "X")
    for substitute in ("", "B", "C", "A"):      # none, oneself, invited, the chair
        with pytest.raises(DomainValidation) as caught:
            request_meeting_leave(m, employee_id="B", substitute_id=substitute, reason=None,
                                  at=BEFORE)
        assert "substitute_id" in caught.value.errors
    with pytest.raises(DomainConflict):
        request_meeting_leave(m, employee_id="B", substitute_id="X", reason=None, at=START)
    with pytest.raises(DomainValidation):
        request_meeting_leave(m, employee_id="Z", substitute_id="X", reason=None, at=BEFORE)


def test_the_general_office_decides_and_the_substitute_is_invited_000_s3_3_4():
    m = meeting()
    leave = request_meeting_leave(m, employee_id="B", substitute_id="X", reason=None,
                                  at=BEFORE)
    office = {"id": "O1", "role": "gm_office"}
    approved = decide_meeting_leave(leave, m, approve=True, at=BEFORE, actor=office)
    assert approved["status"] == "approved" and approved["decided_by"] == office
    assert decide_meeting_leave(approved, m, approve=True, at=START, actor=office) is approved
    with pytest.raises(DomainConflict):
        decide_meeting_leave(approved, m, approve=False, at=BEFORE, actor=office)
    with pytest.raises(DomainPermission):
        decide_meeting_leave(leave, m, approve=True, at=BEFORE, actor={"id": "B"})
    invited = with_substitute(m, approved)
    assert invited["attendees"] == ["A", "B", "C", "D", "X"]
    assert invited["substitutes"] == {"B": "X"}
    # At close the person is excused; the substitute is bound like anyone invited (十.3).
    closed = close_meeting(invited, ended_at=START + timedelta(minutes=50),
                           checked_in=["A", "C", "D"], excused=["B"], policy=POLICY)
    assert [(v["code"], v["employee_id"]) for v in closed["violations"]] == [("M04", "X")]


def test_minutes_are_due_by_the_end_of_the_next_day_000_s3_8():
    m = meeting()
    assert minutes_due(m, POLICY, SH) == datetime(2026, 3, 5, 0, 0, tzinfo=SH)
    duty = minutes_duty(m, POLICY, SH)
    assert (duty["people"], duty["holders"]) == ([], ["gm_office"])
    taken = minutes_duty(dict(m, minute_taker_id="K"), POLICY, SH)
    assert (taken["people"], taken["holders"]) == (["K"], [])
    assert taken["key"] == "meeting:MT1:minutes" and taken["kind"] == "meeting_minutes"
    with pytest.raises(DomainConflict):     # attendance stands before the minutes
        record_minutes(m, at=START, by={"id": "K"}, summary=None, decisions=[],
                       policy=POLICY, tz=SH)
    closed = dict(m, status="closed")
    late = record_minutes(closed, at=datetime(2026, 3, 5, 9, tzinfo=SH), by={"id": "K"},
                          summary="s", decisions=[], policy=POLICY, tz=SH)
    assert late["on_time"] is False
    on_time = record_minutes(closed, at=datetime(2026, 3, 4, 23, 59, tzinfo=SH),
                             by={"id": "K"}, summary="s", decisions=[], policy=POLICY, tz=SH)
    assert on_time["on_time"] is True


def test_each_decision_in_the_minutes_names_its_owner_and_its_day_000_s3_9_1():
    closed = dict(meeting(), status="closed")
    minutes = record_minutes(closed, at=START + timedelta(hours=3), by={"id": "K"}, summary=None,
                             decisions=[{"item": "修订排班", "owner_id": "C",
                                         "due_date": date(2026, 3, 10)}],
                             policy=POLICY, tz=SH)
    [decision] = minutes["decisions"]
    assert (decision["no"], decision["owner_id"], decision["due_date"]) == (1, "C", "2026-03-10")
    assert decision["due_at"] == datetime(2026, 3, 11, tzinfo=SH)
    duty = decision_duty(closed, decision)
    assert (duty["key"], duty["people"], duty["due_at"]) == \
        ("meeting:MT1:decision:1", ["C"], decision["due_at"])
    with pytest.raises(DomainValidation) as caught:
        record_minutes(closed, at=START, by={"id": "K"}, summary=None, policy=POLICY, tz=SH,
                       decisions=[{"item": "", "owner_id": "", "due_date": date(2026, 3, 2)}])
    assert set(caught.value.errors) == {"decisions[0].item", "decisions[0].owner_id",
                                        "decisions[0].due_date"}
    assert same_minutes(minutes, None, minutes["decisions"])
    assert not same_minutes(minutes, "other", minutes["decisions"])


def test_a_decisions_report_is_on_time_by_its_day_and_the_first_stands_000_s3_10_7():
    closed = dict(meeting(), status="closed")
    minutes = record_minutes(closed, at=START + timedelta(hours=3), by={"id": "K"}, summary=None,
                             decisions=[{"item": "a", "owner_id": "C",
                                         "due_date": date(2026, 3, 10)},
                                        {"item": "b", "owner_id": "D",
                                         "due_date": date(2026, 3, 6)}],
                             policy=POLICY, tz=SH)
    first = report_decision(minutes, 1, at=datetime(2026, 3, 10, 23, tzinfo=SH), by_id="C",
                            report="done")
    assert first["on_time"] and first["reported_by"] == "C"
    late = report_decision(minutes, 2, at=datetime(2026, 3, 7, 9, tzinfo=SH), by_id="D",
                           report=None)
    assert late["on_time"] is False
    held = dict(minutes, decisions=[first, minutes["decisions"][1]])
    assert report_decision(held, 1, at=datetime(2026, 3, 12, tzinfo=SH), by_id="C",
                           report="again") is first
    with pytest.raises(DomainValidation):
        report_decision(minutes, 3, at=START, by_id="C", report=None)
