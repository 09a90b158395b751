"""The clerk's monthly report: per-department deadlines and R01."""
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from attendance.policy import load_attendance_policy, load_rules
from attendance.reports import decide_step, monthly_report_due, monthly_report_status, submit
from zhidu.domain import DomainConflict, DomainPermission, DomainValidation

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


# -- the chain (000 §2 五.1) ---------------------------------------------------------------
CALENDAR = load_rules().calendar
CLERK = {"id": "K1", "role": "attendance_clerk"}


def sheet(at, stored=None, actor=CLERK, by_head=False, department="customer_service"):
    return submit(stored, department=department, year=2026, month=3, at=at, actor=actor,
                  clerk_id="K1", head_id="H1", by_head=by_head, policy=POLICY,
                  calendar=CALENDAR, tz=SH)


def step(report, who, role, at, terms, approve=True, note=None):
    return decide_step(report, approve=approve, at=at, actor={"id": who, "role": role},
                       standing=frozenset(terms), note=note, policy=POLICY, calendar=CALENDAR)


def test_the_sheet_climbs_head_general_office_gm_each_step_with_its_deadline_000_s2_5_1():
    submitted = sheet(local(2026, 3, 24, 10))                 # Tuesday
    assert (submitted["status"], submitted["awaiting"]) == ("on_time", "head_approval")
    assert submitted["awaiting_due_at"] == local(2026, 3, 25, 10)   # 1 working day
    with pytest.raises(DomainPermission, match="000 §2 五.1"):    # the GM is not next
        step(submitted, "G1", "gm", local(2026, 3, 24, 11), {"gm"})
    head = step(submitted, "H1", "dept_manager", local(2026, 3, 25, 9),
                {"dept_manager", "department_head"})
    assert head["awaiting"] == "office_review"
    assert head["awaiting_due_at"] == local(2026, 3, 27, 9)        # 2 working days
    # Friday after hours: counting starts at Monday's opening (rules §1).
    office = step(head, "O1", "gm_office", local(2026, 3, 27, 17), {"gm_office"})
    assert (office["awaiting"], office["awaiting_due_at"]) == ("gm_approval",
                                                              local(2026, 4, 1, 8, 30))
    done = step(office, "G1", "gm", local(2026, 3, 30, 9), {"gm"})
    assert (done["awaiting"], done["approved"], done["status"]) == (None, True, "on_time")
    assert [(s["step"], s["by"]["id"]) for s in done["steps"]] == [
        ("submission", "K1"), ("head_approval", "H1"), ("office_review", "O1"),
        ("gm_approval", "G1")]
    with pytest.raises(DomainConflict):
        step(done, "G1", "gm", local(2026, 3, 30, 10), {"gm"})
    with pytest.raises(DomainConflict, match="submitted already"):
        sheet(local(2026, 3, 30, 11), stored=done)


def test_nobody_clears_two_steps_of_one_round_000_s2_5_1():
    head = step(sheet(local(2026, 3, 24, 10)), "X1", "gm", local(2026, 3, 24, 11),
                {"gm", "gm_office", "department_head"})
    with pytest.raises(DomainPermission, match="separation of duties"):
        step(head, "X1", "gm", local(2026, 3, 24, 12), {"gm", "gm_office"})


def test_a_head_submitting_has_approved_in_the_same_act_000_s2_5_1():
    by_head = sheet(local(2026, 3, 24, 10), actor={"id": "H1", "role": "dept_manager"},
                    by_head=True)
    assert by_head["awaiting"] == "office_review"
    assert [s["step"] for s in by_head["steps"]] == ["submission", "head_approval"]


def test_a_sheet_sent_back_is_on_time_only_if_submitted_again_by_the_rules_date_000_s2_5_1():
    submitted = sheet(local(2026, 3, 24, 10))                 # due the 25th (002 §1.1.3)
    back = step(submitted, "H1", "dept_manager", local(2026, 3, 25, 9),
                {"department_head"}, approve=False, note="E4's leave is missing")
    assert (back["awaiting"], back["status"], back["submitted_at"]) == (
        "submission", "pending", None)
    assert back["awaiting_due_at"] == back["due_at"] == local(2026, 3, 26)
    again = sheet(local(2026, 3, 26, 9), stored=back)
    assert (again["status"], again["round"], again["awaiting"]) == ("late", 2,
                                                                    "head_approval")
    [r01] = again["violations"]
    assert r01["code"] == "R01" and r01["key"] == "report:customer_service:2026-03:R01"
    # Corrected in time, it stays on time.
    in_time = sheet(local(2026, 3, 25, 20), stored=back)
    assert in_time["status"] == "on_time" and in_time["violations"] == []
