"""Leave: length over holidays, approval chains, timing, sick conversion, immutability."""
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from attendance.leave import (
    attach_proof,
    convert,
    decide_leave,
    ensure_mutable,
    leave_days,
    new_leave,
    required_approvals,
    should_convert,
)
from attendance.policy import load_attendance_policy
from zhidu.calendar import calendar_from_policy
from zhidu.domain import DomainConflict, DomainPermission, DomainValidation

SH = ZoneInfo("Asia/Shanghai")
POLICY = load_attendance_policy()
CAL = calendar_from_policy({}, tz=SH)
SUPERVISOR = {"id": "S1", "role": "supervisor"}
GM = {"id": "G1", "role": "gm"}
GROUP = {"id": "GL", "role": "group_leader"}


def local(*args):
    return datetime(*args, tzinfo=SH)


def request(type="personal", start="2026-03-09", end="2026-03-09",
            submitted_at=None, **kwargs):
    return new_leave(leave_id="L1", employee_id="E1", type=type, start=start, end=end,
                     submitted_at=submitted_at or local(2026, 3, 1, 9), calendar=CAL,
                     policy=POLICY, **kwargs)


def test_national_day_2026_counts_working_days_only():
    personal = POLICY.leave_type("personal")
    # 09-28..30 (3) + 10-01..07 holiday (0) + 10-08, 09 and make-up Saturday 10-10 (3).
    assert leave_days(personal, "2026-09-28", "2026-10-10", CAL) == 6
    # Saturday 09-19 is off, make-up Sunday 09-20 is a working day.
    assert leave_days(personal, "2026-09-19", "2026-09-20", CAL) == 1
    assert leave_days(personal, "2026-10-01", "2026-10-07", CAL) == 0
    # Maternity counts calendar days; shift workers count their rostered days.
    assert leave_days(POLICY.leave_type("maternity"), "2026-09-28", "2026-10-10", CAL) == 13
    assert leave_days(personal, "2026-10-01", "2026-10-07", CAL,
                      rostered_dates=["2026-10-02", "2026-10-05", "2026-11-01"]) == 2


def test_a_leave_of_only_holidays_is_refused():
    with pytest.raises(DomainValidation) as caught:
        request(start="2026-10-01", end="2026-10-07", submitted_at=local(2026, 9, 1))
    assert "end" in caught.value.errors


@pytest.mark.parametrize("days, roles", [
    (1, ["supervisor"]), (2, ["supervisor"]), (3, ["supervisor", "gm"]),
    (4, ["supervisor", "gm"]), (5, ["supervisor", "gm", "group_leader"]),
    (12, ["supervisor", "gm", "group_leader"])])
def test_personal_leave_approvers_by_length(days, roles):
    assert required_approvals({"type": "personal", "days": days}, POLICY) == roles


def test_long_leave_over_national_day_needs_gm_and_group():
    leave = request(start="2026-09-28", end="2026-10-10", submitted_at=local(2026, 9, 1))
    assert leave["days"] == 6
    assert leave["required_approvals"] == ["supervisor", "gm", "group_leader"]
    assert leave["next_approver_role"] == "supervisor"


def test_approvals_follow_the_role_order():
    leave = request(start="2026-03-09", end="2026-03-13")          # 5 working days
    at = local(2026, 3, 2, 10)
    with pytest.raises(DomainPermission):
        decide_leave(leave, approve=True, actor=GROUP, at=at, policy=POLICY, calendar=CAL)
    with pytest.raises(DomainPermission):
        decide_leave(leave, approve=True, actor={"id": "E1", "role": "gm"}, at=at,
                     policy=POLICY, calendar=CAL)
    step1 = decide_leave(leave, approve=True, actor=SUPERVISOR, at=at, policy=POLICY,
                         calendar=CAL)
    assert step1["status"] == "pending" and step1["next_approver_role"] == "gm"
    assert leave["approvals"] == []                                   # input untouched
    with pytest.raises(DomainPermission):
        decide_leave(step1, approve=True, actor={"id": "M", "role": "dept_manager"}, at=at,
                     policy=POLICY, calendar=CAL)
    step2 = decide_leave(step1, approve=True, actor=GM, at=at, policy=POLICY, calendar=CAL)
    assert step2["next_approver_role"] == "group_leader"
    done = decide_leave(step2, approve=True, actor=GROUP, at=at, policy=POLICY, calendar=CAL)
    assert done["status"] == "approved" and done["decided_at"] == at
    assert [a["role"] for a in done["approvals"]] == ["supervisor", "gm", "group_leader"]


def test_the_gm_clears_the_supervisor_step_too_but_not_group_leadership():
    leave = request(start="2026-03-09", end="2026-03-13")
    after = decide_leave(leave, approve=True, actor=GM, at=local(2026, 3, 2), policy=POLICY,
                         calendar=CAL)
    assert [a["role"] for a in after["approvals"]] == ["supervisor", "gm"]
    assert after["next_approver_role"] == "group_leader"


def test_decided_leave_is_immutable():
    leave = request()
    rejected = decide_leave(leave, approve=False, actor=SUPERVISOR, at=local(2026, 3, 2),
                            policy=POLICY, calendar=CAL)
    assert rejected["status"] == "rejected"
    with pytest.raises(DomainConflict):
        decide_leave(rejected, approve=True, actor=GM, at=local(2026, 3, 2), policy=POLICY,
                     calendar=CAL)
    with pytest.raises(DomainConflict):
        ensure_mutable(rejected, ["end"])
    ensure_mutable(rejected, ["proof_at"])
    ensure_mutable(leave, ["end"])                                    # pending: fine


def test_personal_leave_must_be_asked_and_approved_before_it_starts():
    with pytest.raises(DomainValidation) as caught:
        request(submitted_at=local(2026, 3, 9, 7))
    assert "submitted_at" in caught.value.errors
    leave = request(submitted_at=local(2026, 3, 8, 20))
    with pytest.raises(DomainConflict):
        decide_leave(leave, approve=True, actor=SUPERVISOR, at=local(2026, 3, 9, 8),
                     policy=POLICY, calendar=CAL)


def test_more_than_two_days_asked_at_least_two_days_ahead():
    with pytest.raises(DomainValidation):
        request(start="2026-03-09", end="2026-03-11", submitted_at=local(2026, 3, 8, 9))
    assert request(start="2026-03-09", end="2026-03-11",
                   submitted_at=local(2026, 3, 7, 23))["days"] == 3
    # Two days need no notice beyond "before it starts".
    assert request(start="2026-03-09", end="2026-03-10",
                   submitted_at=local(2026, 3, 8, 23))["days"] == 2


def test_emergency_form_on_the_first_day_back_with_supervisor_consent():
    leave = request(start="2026-03-06", end="2026-03-06", emergency=True,
                    submitted_at=local(2026, 3, 9, 9))               # Monday after
    assert leave["required_approvals"] == ["supervisor"]
    approved = decide_leave(leave, approve=True, actor=SUPERVISOR, at=local(2026, 3, 9, 10),
                            policy=POLICY, calendar=CAL)
    assert approved["status"] == "approved"
    with pytest.raises(DomainValidation):
        request(start="2026-03-06", end="2026-03-06", emergency=True,
                submitted_at=local(2026, 3, 10, 9))
    with pytest.raises(DomainValidation):
        request(type="seniority", emergency=True, seniority_account={})


def sick_leave(end="2026-03-06"):
    leave = request(type="sick", start="2026-03-04", end=end,
                    submitted_at=local(2026, 3, 4, 9))
    return decide_leave(leave, approve=True, actor=SUPERVISOR, at=local(2026, 3, 4, 10),
                        policy=POLICY, calendar=CAL)


def test_sick_proof_due_after_five_working_days():
    leave = sick_leave()                                 # ends Friday 03-06
    assert leave["proof_due"] == local(2026, 3, 16, 8, 30)
    assert not should_convert(leave, local(2026, 3, 13, 16), CAL, POLICY)
    assert should_convert(leave, local(2026, 3, 16, 8, 30), CAL, POLICY)
    proved = attach_proof(leave, local(2026, 3, 13, 15), POLICY)
    assert not should_convert(proved, local(2026, 4, 1), CAL, POLICY)
    late = attach_proof(leave, local(2026, 3, 17), POLICY)
    assert should_convert(late, local(2026, 3, 17), CAL, POLICY)


def test_sick_proof_window_skips_national_day_and_counts_make_up_saturday():
    leave = request(type="sick", start="2026-09-29", end="2026-09-30",
                    submitted_at=local(2026, 9, 29))
    # Working days after the leave: 10-08, 09, 10 (Sat, make-up), 12, 13 → due 10-14 08:30.
    assert leave["proof_due"] == local(2026, 10, 14, 8, 30)


def test_overdue_sick_leave_becomes_personal_leave_as_a_new_record():
    leave = sick_leave()
    now = local(2026, 3, 16, 9)
    result = convert(leave, now, POLICY)
    original, converted = result["original"], result["converted"]
    assert original["converted_to"] == "L1:converted" and original["status"] == "approved"
    assert original["type"] == "sick"
    assert converted["type"] == "personal" and converted["converted_from"] == "L1"
    assert converted["status"] == "approved" and converted["days"] == leave["days"]
    assert convert(leave, now, POLICY) == result                     # replay: same record
    assert not should_convert(original, now, CAL, POLICY)
    with pytest.raises(DomainConflict):
        attach_proof(original, now, POLICY)
    assert not should_convert(request(type="sick", start="2026-03-04", end="2026-03-06",
                                      submitted_at=local(2026, 3, 4)), now, CAL, POLICY)
