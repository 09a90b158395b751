"""The clerk's monthly report: per-department deadlines and R01."""
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from attendance.policy import load_attendance_policy
from attendance.reports import monthly_report_due, monthly_report_status
from zhidu.domain import DomainValidation

SH = ZoneInfo("Asia/Shanghai")
POLICY = load_attendance_policy()


def local(*args):
    return datetime(*args, tzinfo=SH)


def status(department, **kwargs):
    return monthly_report_status(department=department, year=2026, month=3, policy=POLICY,
                                 clerk_id="K1", head_id="H1", tz=SH, **kwargs)


def test_customer_service_is_due_the_25th_others_the_30th():
    assert monthly_report_due("customer_service", 2026, 3, POLICY, SH) == local(2026, 3, 26)
    assert monthly_report_due("finance", 2026, 3, POLICY, SH) == local(2026, 3, 31)
    submitted = local(2026, 3, 26, 9)
    assert status("customer_service", submitted_at=submitted)["status"] == "late"
    assert status("finance", submitted_at=submitted)["status"] == "on_time"
    assert status("customer_service", submitted_at=local(2026, 3, 25, 23, 59))["status"] == \
        "on_time"


def test_february_is_due_on_its_last_day():
    assert monthly_report_due("finance", 2026, 2, POLICY, SH) == local(2026, 3, 1)
    assert monthly_report_due("finance", 2028, 2, POLICY, SH) == local(2028, 3, 1)
    assert monthly_report_due("customer_service", 2026, 2, POLICY, SH) == local(2026, 2, 26)


def test_late_report_books_r01_for_clerk_and_head_once():
    late = status("finance", submitted_at=local(2026, 4, 2))
    (v,) = late["violations"]
    assert (v["code"], v["points"], v["employee_id"], v["role"]) == ("R01", 5, "K1",
                                                                     "attendance_clerk")
    assert v["detail"]["dept_manager_id"] == "H1"
    assert v["detail"]["charge"] == ["attendance_clerk", "dept_manager"]
    overdue = status("finance", now=local(2026, 4, 1, 9))
    assert overdue["status"] == "overdue"
    assert [x["key"] for x in overdue["violations"]] == [v["key"]]   # same key: booked once
    pending = status("finance", now=local(2026, 3, 30, 23))
    assert pending["status"] == "pending" and pending["violations"] == []


def test_status_needs_a_time():
    with pytest.raises(DomainValidation):
        status("finance")
    with pytest.raises(DomainValidation):
        monthly_report_due("finance", 2026, 13, POLICY, SH)
