"""Meeting discipline and the clerk's monthly report."""
import json

import pytest
from attendance.testing import (
    CLERK,
    FINANCE_CLERK,
    FINANCE_HEAD,
    SUPERVISOR,
    local,
    person,
    violations_of,
)
from nameko.exceptions import RemoteError

pytestmark = pytest.mark.integration


def refused(call, payload, kind):
    with pytest.raises(RemoteError) as err:
        call(payload)
    assert err.value.exc_type == kind, err.value.value
    return json.loads(err.value.value) if kind == "ValidationError" else err.value.value


def test_meeting_checkins_incidents_absence_and_length(attendance, rpc, seed, event_tap):
    seed(person("G"))
    meeting = {"meeting_id": "MT-1", "kind": "regular", "start": local(2026, 3, 3, 9),
               "planned_minutes": 60, "attendees": list("ABCDEFG"), "chair_id": "A"}
    fields = refused(rpc.attendance.schedule_meeting, dict(meeting, planned_minutes=61),
                     "ValidationError")
    assert "planned_minutes" in fields
    assert rpc.attendance.schedule_meeting(meeting)["seated_by"] == "2026-03-03T00:50:00+00:00"
    assert rpc.attendance.schedule_meeting(meeting)["meeting_id"] == "MT-1"     # replay
    refused(rpc.attendance.schedule_meeting, dict(meeting, chair_id="B"), "Conflict")
    leave = rpc.as_person("G").attendance.request_leave({"employee_id": "G", "type": "personal",
                                          "start": "2026-03-03", "end": "2026-03-03",
                                          "submitted_at": local(2026, 3, 2, 9)})
    rpc.attendance.decide_leave({"leave_id": leave["leave_id"], "approve": True,
                                 "at": local(2026, 3, 2, 10), "actor": SUPERVISOR})

    checkin = rpc.attendance.meeting_checkin
    with event_tap("attendance") as tap:
        assert checkin({"meeting_id": "MT-1", "employee_id": "A",
                        "at": local(2026, 3, 3, 8, 45)})["status"] == "seated_early"
        late = checkin({"meeting_id": "MT-1", "employee_id": "B", "at": local(2026, 3, 3, 9, 1)})
        assert late["violation"]["code"] == "M01" and late["violation"]["points"] == 2
        reminded = checkin({"meeting_id": "MT-1", "employee_id": "C", "reminded": True,
                            "at": local(2026, 3, 3, 9, 12)})
        assert (reminded["violation"]["code"], reminded["violation"]["points"]) == ("M02", 5)
        assert checkin({"meeting_id": "MT-1", "employee_id": "C",
                        "at": local(2026, 3, 3, 9, 13)})["repeated"] is True
        for who in "DE":
            checkin({"meeting_id": "MT-1", "employee_id": who, "at": local(2026, 3, 3, 9)})
        incident = rpc.attendance.meeting_incident
        at = local(2026, 3, 3, 9, 30)
        assert incident({"meeting_id": "MT-1", "employee_id": "B", "kind": "phone",
                         "at": at})["violation"]["points"] == 2
        assert incident({"meeting_id": "MT-1", "employee_id": "D", "kind": "unprepared",
                         "at": at})["violation"]["points"] == 5
        assert incident({"meeting_id": "MT-1", "employee_id": "B", "kind": "early_leave",
                         "at": at})["violation"]["points"] == 5
        assert incident({"meeting_id": "MT-1", "employee_id": "E", "kind": "early_leave",
                         "at": at, "chair_consent": True})["violation"] is None
        refused(incident, {"meeting_id": "MT-1", "employee_id": "Z", "kind": "phone",
                           "at": at}, "ValidationError")
        refused(incident, {"meeting_id": "MT-404", "employee_id": "B", "kind": "phone",
                           "at": at}, "NotFound")

        closed = rpc.attendance.close_meeting({"meeting_id": "MT-1",
                                               "ended_at": local(2026, 3, 3, 10, 15)})
        assert closed["over_length"] is True and closed["actual_minutes"] == 75
        assert closed["absent"] == ["F"] and closed["excused"] == ["G"]
        assert [(v["code"], v["points"]) for v in closed["violations"]] == [("M04", 10)]
        assert rpc.attendance.close_meeting({"meeting_id": "MT-1",
                                             "ended_at": local(2026, 3, 3, 10, 15)}) == closed
        refused(rpc.attendance.close_meeting, {"meeting_id": "MT-1",
                                               "ended_at": local(2026, 3, 3, 10)}, "Conflict")
        refused(checkin, {"meeting_id": "MT-1", "employee_id": "F",
                          "at": local(2026, 3, 3, 10, 20)}, "Conflict")
        # Each violation is announced once: the repeated check-in booked nothing.
        events = tap.wait("attendance.violation_recorded", 6)
        assert {e["data"]["domain"] for e in events} == {"meeting"}
        assert sorted(e["data"]["code"] for e in events) == ["M01", "M02", "M03", "M04", "M05",
                                                             "M06"]
        rpc.attendance.health({})          # give stray events time to arrive
        assert len(tap.of_type("attendance.violation_recorded")) == 6
    assert sorted(violations_of(rpc, "B")) == [("M01", 2), ("M03", 5), ("M05", 2)]
    standing = rpc.attendance.meeting_standing({"employee_id": "B", "year": 2026})
    assert (standing["penalties"], standing["points"], standing["eligible"]) == (3, 9, True)
    # One more (an absence) passes the yearly threshold of 3 penalties.
    rpc.attendance.schedule_meeting(dict(meeting, meeting_id="MT-2",
                                         start=local(2026, 3, 10, 9)))
    rpc.attendance.close_meeting({"meeting_id": "MT-2", "ended_at": local(2026, 3, 10, 9, 50)})
    standing = rpc.attendance.meeting_standing({"employee_id": "B", "year": 2026})
    assert (standing["penalties"], standing["eligible"]) == (4, False)


def test_monthly_report_deadlines_and_late_points(attendance, rpc, seed, event_tap):
    seed(person("K1", role="attendance_clerk", manager_id="H1"),
         person("H1", role="dept_manager", manager_id="GM1"),
         person("K2", department="finance", role="attendance_clerk", manager_id="H2"),
         person("H2", department="finance", role="dept_manager"))
    submit = rpc.attendance.submit_monthly_report
    refused(submit, {"department": "finance", "year": 2026, "month": 3,
                     "at": local(2026, 3, 26, 9), "actor": {"id": "E9", "role": "staff"}},
            "PermissionDenied")
    fields = refused(submit, {"department": "finance", "year": 2026, "month": 13,
                              "at": "soon", "actor": CLERK}, "ValidationError")
    assert {"month", "at"} <= set(fields)
    with event_tap("attendance") as tap:
        # Customer service is due on the 25th, everyone else on the 30th.
        march = {"department": "customer_service", "year": 2026, "month": 3,
                 "at": local(2026, 3, 26, 9), "actor": CLERK, "request_id": "cs-2026-03"}
        late = submit(march)
        assert late["status"] == "late" and late["due_at"] == "2026-03-25T16:00:00+00:00"
        on_time = submit({"department": "finance", "year": 2026, "month": 3,
                          "at": local(2026, 3, 26, 9), "actor": FINANCE_CLERK})
        assert on_time["status"] == "on_time" and on_time["violations"] == []
        # Customer service's clerk has no say over finance's report.
        refused(submit, {"department": "finance", "year": 2026, "month": 4,
                         "at": local(2026, 4, 27, 9), "actor": CLERK}, "PermissionDenied")
        refused(submit, {"department": "finance", "year": 2026, "month": 3,
                         "at": local(2026, 3, 27, 9), "actor": FINANCE_HEAD}, "Conflict")
        # The same submission under its request id (a retry) returns the first
        # and books nothing again; without it, it is a second submission.
        again = submit(march)
        assert again["status"] == "late" and again["submitted_at"] == late["submitted_at"]
        refused(submit, dict(march, request_id=None), "Conflict")
        [event] = tap.wait("attendance.violation_recorded")
        data = event["data"]
        assert (data["employee_id"], data["code"], data["points"]) == ("K1", "R01", 5)
        assert data["detail"]["dept_manager_id"] == "H1"

        # Unsubmitted past the deadline: the sweep books it, once.
        swept = rpc.attendance.sweep({"now": local(2026, 4, 26, 9)})
        assert swept["reports_overdue"] == ["report:customer_service:2026-04"]
        assert rpc.attendance.sweep({"now": local(2026, 4, 26, 10)})["reports_overdue"] == []
        assert rpc.attendance.report_status({"department": "customer_service", "year": 2026,
                                             "month": 4})["status"] == "overdue"
        later = submit({"department": "customer_service", "year": 2026, "month": 4,
                        "at": local(2026, 4, 27, 9), "actor": CLERK})
        assert later["status"] == "late"
        tap.wait("attendance.violation_recorded", 2)
        rpc.attendance.health({})
        assert len(tap.of_type("attendance.violation_recorded")) == 2
    assert violations_of(rpc, "K1") == [("R01", 5), ("R01", 5)]
    assert violations_of(rpc, "K2") == []


def test_meeting_leave_minutes_and_decisions_by_whom_the_regulation_names_000_s3_3_4_8_9(
        attendance, rpc, seed, event_tap):
    seed(person("A", role="deputy_gm", department="management"), person("B"), person("C"),
         person("X"), person("K", department="office"),
         person("O", role="gm_office", department="office"))
    rpc.attendance.schedule_meeting({
        "meeting_id": "MT-5", "kind": "regular", "start": local(2026, 3, 3, 9),
        "planned_minutes": 60, "attendees": ["A", "B", "C"], "chair_id": "A",
        "title": "讲评会", "minute_taker_id": "K"})
    b, office = rpc.as_person("B"), rpc.as_person("O")
    asked = {"meeting_id": "MT-5", "employee_id": "B", "substitute_id": "X",
             "reason": "家中急事", "at": local(2026, 3, 2, 16)}
    refused(rpc.as_person("C").attendance.request_meeting_leave, asked, "PermissionDenied")
    refused(b.attendance.request_meeting_leave, dict(asked, substitute_id="C"),
            "ValidationError")
    assert b.attendance.request_meeting_leave(asked)["status"] == "pending"
    decision = {"meeting_id": "MT-5", "employee_id": "B", "approve": True,
                "at": local(2026, 3, 2, 17)}
    # The general office grants meeting leave (三.4), not the chair.
    refused(rpc.as_person("A").attendance.decide_meeting_leave, decision, "PermissionDenied")
    with event_tap("attendance") as tap:
        assert office.attendance.decide_meeting_leave(decision)["status"] == "approved"
        [decided] = tap.wait("attendance.meeting_leave_decided")
    assert decided["data"]["substitute_id"] == "X"
    meeting = rpc.attendance.get_meeting({"meeting_id": "MT-5"})
    assert meeting["attendees"] == ["A", "B", "C", "X"]
    assert [(v["employee_id"], v["status"]) for v in meeting["leaves"]] == [("B", "approved")]
    # Closed by the general office (the chair closes only without excusing anyone).
    closed = rpc.attendance.close_meeting({"meeting_id": "MT-5",
                                           "ended_at": local(2026, 3, 3, 9, 50)})
    assert closed["excused"] == ["B"] and closed["absent"] == ["A", "C", "X"]

    minutes = {"meeting_id": "MT-5", "at": local(2026, 3, 4, 15), "summary": "一项决议",
               "decisions": [{"item": "修订排班", "owner_id": "C", "due_date": "2026-03-10"}]}
    refused(rpc.as_person("B").attendance.issue_minutes, minutes, "PermissionDenied")
    issued = rpc.as_person("K").attendance.issue_minutes(minutes)
    assert issued["on_time"] is True and issued["decisions"][0]["owner_id"] == "C"
    report = {"meeting_id": "MT-5", "decision_no": 1, "at": local(2026, 3, 9, 9),
              "report": "已修订"}
    refused(rpc.as_person("B").attendance.report_decision, report, "PermissionDenied")
    reported = rpc.as_person("C").attendance.report_decision(report)
    assert reported["on_time"] is True and reported["reported_by"] == "C"
    # Nothing is left to remind or chase.
    swept = rpc.attendance.sweep({"now": local(2026, 3, 20, 9)})
    assert swept["reminders_sent"] == []
