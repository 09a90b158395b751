"""Meeting check-in, incidents, close, and the yearly award threshold."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from attendance.meetings import (
    award_eligibility,
    close_meeting,
    evaluate_checkin,
    meeting_incident,
    schedule_meeting,
)
from attendance.policy import load_meeting_policy
from zhidu.domain import DomainConflict, DomainValidation

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
