"""The sheet's irregular records (000 §2 六.1-2) and a misreported leave (六.4),
booked by the running service."""
import pytest
from attendance.testing import (
    CLERK,
    FINANCE_CLERK,
    SUPERVISOR,
    local,
    person,
    violations_of,
)

pytestmark = pytest.mark.integration

OFFICE = {"id": "O1", "role": "gm_office"}
HEAD = {"id": "H1", "role": "dept_manager"}


def test_a_sheet_the_office_sends_back_books_r02_once_a_repeat_awaits_judgement_000_s2_6_1(
        attendance, rpc, seed, people, event_tap):
    seed(person("K1", role="attendance_clerk", manager_id="H1"),
         person("H1", role="dept_manager", manager_id="G1"))
    people.add("O1", "gm_office", department="office")
    sheet = {"department": "customer_service", "year": 2026, "month": 3}

    def climb(day):
        rpc.attendance.submit_monthly_report(dict(sheet, at=local(2026, 3, day, 9),
                                                  actor=CLERK))
        rpc.attendance.decide_monthly_report(dict(sheet, approve=True,
                                                  at=local(2026, 3, day, 10), actor=HEAD))
        return rpc.attendance.decide_monthly_report(dict(
            sheet, approve=False, at=local(2026, 3, day, 11), actor=OFFICE,
            note="absences entered as present"))

    with event_tap("attendance") as tap:
        first = climb(20)
        [event] = tap.wait("attendance.violation_recorded")
        data = event["data"]
        assert (data["employee_id"], data["code"], data["points"]) == ("K1", "R02", 2)
        assert data["detail"]["dept_manager_id"] == "H1"
        assert first["irregular"][0]["violation_id"] == data["violation_id"]
        again = climb(21)
        assert [r["awaits_judgement"] for r in again["irregular"]] == [False, True]
        rpc.attendance.health({})
        assert len(tap.of_type("attendance.violation_recorded")) == 1
    assert violations_of(rpc, "K1") == [("R02", 2)]
    status = rpc.attendance.report_status(sheet)
    assert [r["step"] for r in status["irregular"]] == ["office_review", "office_review"]


def test_a_sick_leave_converted_after_the_sheet_went_in_books_r04_on_the_clerk_000_s2_6_4(
        attendance, rpc, seed, event_tap):
    seed(person("K2", department="finance", role="attendance_clerk", manager_id="H2"),
         person("H2", department="finance", role="dept_manager"),
         person("E5", department="finance"))
    sick = rpc.as_person("E5").attendance.request_leave({
        "employee_id": "E5", "type": "sick", "start": "2026-03-23", "end": "2026-03-25",
        "submitted_at": local(2026, 3, 23, 9)})
    rpc.attendance.decide_leave({"leave_id": sick["leave_id"], "approve": True,
                                 "at": local(2026, 3, 23, 10), "actor": SUPERVISOR})
    assert sick["proof_due"] == "2026-04-02T00:30:00+00:00"
    rpc.attendance.submit_monthly_report({"department": "finance", "year": 2026, "month": 3,
                                          "at": local(2026, 3, 27, 9),
                                          "actor": FINANCE_CLERK})
    with event_tap("attendance") as tap:
        swept = rpc.attendance.sweep({"now": local(2026, 4, 2, 9)})
        assert swept["leaves_converted"] == [sick["leave_id"]]
        [event] = tap.wait("attendance.violation_recorded")
        data = event["data"]
        assert (data["employee_id"], data["code"], data["points"]) == ("K2", "R04", 2)
        assert data["violation_id"] == f"report:finance:2026-03:R04:{sick['leave_id']}"
        assert (data["detail"]["leave_employee_id"], data["detail"]["now"]) == ("E5",
                                                                               "personal")
        assert rpc.attendance.sweep({"now": local(2026, 4, 2, 10)})["leaves_converted"] == []
    assert violations_of(rpc, "K2") == [("R04", 2)]
