"""Seniority leave: year order, one-piece carry-over, parts, GM carry-over."""
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from attendance import seniority
from attendance.leave import decide_leave, new_leave
from attendance.policy import load_attendance_policy
from zhidu.calendar import calendar_from_policy
from zhidu.domain import DomainConflict, DomainPermission, DomainValidation

SH = ZoneInfo("Asia/Shanghai")
POLICY = load_attendance_policy()
CAL = calendar_from_policy({}, tz=SH)


def ask(account, start, end, year=None):
    return new_leave(leave_id=f"S-{start}", employee_id="E1", type="seniority", start=start,
                     end=end, submitted_at=datetime(2026, 1, 5, tzinfo=SH), calendar=CAL,
                     policy=POLICY, seniority_year=year, seniority_account=account)


def test_two_weeks_in_at_most_two_parts():
    account = seniority.open_year("E1", 2026, 10)
    for start, end in (("2026-03-02", "2026-03-04"), ("2026-04-07", "2026-04-08")):
        account = seniority.apply_leave(account, ask(account, start, end), POLICY)
    assert (account["used_days"], account["parts_taken"]) == (5, 2)
    with pytest.raises(DomainConflict, match="at most 2 parts"):
        ask(account, "2026-06-01", "2026-06-01")


def test_three_weeks_in_three_parts_and_not_beyond_the_balance():
    account = seniority.open_year("E1", 2026, 15)
    for start in ("2026-03-02", "2026-04-07", "2026-05-11"):
        account = seniority.apply_leave(account, ask(account, start, start), POLICY)
    assert account["parts_taken"] == 3
    with pytest.raises(DomainConflict):
        ask(account, "2026-06-01", "2026-06-01")
    fresh = seniority.open_year("E1", 2026, 3)
    with pytest.raises(DomainValidation):
        ask(fresh, "2026-03-02", "2026-03-06")


def test_carry_over_needs_the_gm_and_is_used_in_one_piece():
    last_year = seniority.open_year("E1", 2025, 10)
    with pytest.raises(DomainPermission):
        seniority.approve_carry_over(last_year, 4, {"id": "M", "role": "dept_manager"},
                                     datetime(2025, 12, 20, tzinfo=SH), POLICY)
    approval = seniority.approve_carry_over(last_year, 4, {"id": "G", "role": "gm"},
                                            datetime(2025, 12, 20, tzinfo=SH), POLICY)
    account = seniority.open_year("E1", 2026, 10, carry_over=approval)
    piece = ask(account, "2026-03-02", "2026-03-03", year="previous")
    account = seniority.apply_leave(account, piece, POLICY)
    assert account["previous_used"] and account["parts_taken"] == 0
    with pytest.raises(DomainConflict):
        ask(account, "2026-04-01", "2026-04-01", year="previous")


def test_this_years_leave_before_last_years_voids_the_carried_balance():
    approval = {"employee_id": "E1", "to_year": 2026, "days": 4}
    account = seniority.open_year("E1", 2026, 10, carry_over=approval)
    leave = ask(account, "2026-03-02", "2026-03-02")
    assert leave["seniority_year"] == "current" and leave["forfeits_previous_days"] == 4
    account = seniority.apply_leave(account, leave, POLICY)
    assert account["previous_used"] and account["used_days"] == 1


def test_without_carry_over_there_is_no_previous_balance():
    account = seniority.open_year("E1", 2026, 10)
    with pytest.raises(DomainConflict):
        ask(account, "2026-03-02", "2026-03-02", year="previous")
    with pytest.raises(DomainValidation):
        ask(account, "2026-12-31", "2027-01-04")


def test_final_approval_rechecks_the_balance():
    account = seniority.open_year("E1", 2026, 10)
    leave = ask(account, "2026-03-02", "2026-03-06")
    spent = dict(account, used_days=8)
    with pytest.raises(DomainValidation):
        decide_leave(leave, approve=True, actor={"id": "S", "role": "supervisor"},
                     at=datetime(2026, 1, 6, tzinfo=SH), policy=POLICY, calendar=CAL,
                     seniority_account=spent)
