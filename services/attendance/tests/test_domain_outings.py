"""Going out during working hours (002 §1 1.2.3; 000 §2 四.3(3))."""
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from attendance.outings import (
    covering_outing,
    decide_outing,
    may_approve,
    record_return,
    request_outing,
)
from attendance.policy import load_attendance_policy
from attendance.roles import standing
from zhidu.domain import DomainConflict, DomainPermission, DomainValidation

POLICY = load_attendance_policy()
SH = ZoneInfo("Asia/Shanghai")
STAFF = {"employee_id": "E1", "role": "staff", "department": "customer_service",
         "manager_id": "S1"}
HEAD = {"employee_id": "H1", "role": "dept_manager", "department": "customer_service",
        "manager_id": "G1"}


def local(*args):
    return datetime(*args, tzinfo=SH)


def ask(employee=STAFF, **changes):
    form = dict(outing_id="OT000001", employee_id=employee["employee_id"], employee=employee,
                out_at=local(2026, 3, 2, 10), expected_back_at=local(2026, 3, 2, 11),
                submitted_at=local(2026, 3, 2, 9, 30), reason="bank", policy=POLICY)
    form.update(changes)
    return request_outing(**form)


def approved(**changes):
    return decide_outing(ask(**changes), approve=True, at=local(2026, 3, 2, 9, 40),
                         actor={"id": "S1", "role": "supervisor"},
                         standing=standing(["staff"], supervisor=True))


def test_staff_ask_their_direct_superior_department_heads_the_gm_002_s1_1_2_3_000_s2_4_3_3():
    assert ask()["approver"] == "supervisor"
    assert ask(HEAD)["approver"] == "gm"
    staff, head = ask(), ask(HEAD)
    assert may_approve(staff, standing(["staff"], supervisor=True))
    assert may_approve(staff, standing(["dept_manager"], head=True))     # 四.3(3)
    assert not may_approve(staff, standing(["staff"]))                   # a colleague
    assert not may_approve(head, standing(["deputy_gm"], supervisor=True))
    assert may_approve(head, standing(["gm"]))


def test_an_outing_is_asked_before_leaving_with_its_return_and_is_not_leave_002_s1_1_2_3():
    with pytest.raises(DomainValidation) as err:
        ask(out_at=local(2026, 3, 2, 9), expected_back_at=local(2026, 3, 2, 8))
    assert set(err.value.errors) == {"out_at", "expected_back_at"}
    with pytest.raises(DomainValidation, match="leave"):
        ask(expected_back_at=local(2026, 3, 2, 18, 1))
    assert ask()["status"] == "pending"


def test_the_approval_comes_from_the_approver_never_the_person_002_s1_1_2_3():
    outing = ask()
    with pytest.raises(DomainPermission, match="002 §1 1.2.3"):
        decide_outing(outing, approve=True, at=local(2026, 3, 2, 9, 40),
                      actor={"id": "E2", "role": "staff"}, standing=standing(["staff"]))
    with pytest.raises(DomainPermission, match="own"):
        decide_outing(outing, approve=True, at=local(2026, 3, 2, 9, 40),
                      actor={"id": "E1", "role": "staff"}, standing=standing(["gm"]))
    done = approved()
    assert done["status"] == "approved" and done["approved_from"] == local(2026, 3, 2, 10)
    assert done["decided_by"] == {"id": "S1", "role": "supervisor"}
    with pytest.raises(DomainConflict):
        decide_outing(done, approve=False, at=local(2026, 3, 2, 9, 50),
                      actor={"id": "S1"}, standing=standing([], supervisor=True))


def test_approved_after_leaving_the_outing_counts_from_the_approval_002_s1_1_2_3():
    late = decide_outing(ask(), approve=True, at=local(2026, 3, 2, 10, 20),
                         actor={"id": "S1"}, standing=standing([], supervisor=True))
    assert late["approved_from"] == local(2026, 3, 2, 10, 20)
    # Off post between leaving and the approval: not covered.
    assert covering_outing([late], local(2026, 3, 2, 10, 10)) is None
    assert covering_outing([late], local(2026, 3, 2, 10, 30))["outing_id"] == "OT000001"
    with pytest.raises(DomainConflict, match="over"):
        decide_outing(ask(), approve=True, at=local(2026, 3, 2, 11), actor={"id": "S1"},
                      standing=standing([], supervisor=True))


def test_returning_late_is_recorded_and_the_late_part_is_not_covered_002_s1_1_2_3():
    outing = approved()
    back = record_return(outing, local(2026, 3, 2, 11, 12, 30))
    assert (back["status"], back["late_minutes"]) == ("returned", 13)
    assert record_return(back, local(2026, 3, 2, 11, 12, 30)) is back       # the same again
    with pytest.raises(DomainConflict):
        record_return(back, local(2026, 3, 2, 11, 20))
    assert covering_outing([back], local(2026, 3, 2, 10, 59))["status"] == "returned"
    assert covering_outing([back], local(2026, 3, 2, 11, 5)) is None
    on_time = record_return(approved(), local(2026, 3, 2, 10, 55))
    assert on_time["late_minutes"] == 0
    assert covering_outing([on_time], local(2026, 3, 2, 10, 58)) is None     # back already
    with pytest.raises(DomainConflict, match="no approved outing"):
        record_return(ask(), local(2026, 3, 2, 11))
