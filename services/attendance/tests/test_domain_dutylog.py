"""The duty log's reviews and their deadlines (002 §4 4.8; 002 §2 二.1-2), and
the reminder schedule of overdue duties."""
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from attendance import dutylog
from attendance.policy import ReminderPolicy, load_attendance_policy
from attendance.reminders import next_reminder
from zhidu.domain import DomainConflict, DomainValidation

POLICY = load_attendance_policy()
SH = ZoneInfo("Asia/Shanghai")
POST = POLICY.duty_log.post("front_desk")
HEAD = {"id": "H1", "role": "dept_manager"}


def local(*args):
    return datetime(*args, tzinfo=SH)


def review(kind, at, **period):
    return dutylog.review(post=POST, kind=kind, reviewer=HEAD, at=at, policy=POLICY, tz=SH,
                          **period)


def test_the_department_head_signs_each_logged_day_by_the_end_of_the_next_002_s4_4_8():
    assert POLICY.duty_log.reviews["daily"].reviewers == ("department_head",)
    assert dutylog.review_due("daily", "2026-03-02", POLICY, SH) == local(2026, 3, 4)
    on_time = review("daily", local(2026, 3, 3, 23, 59), day=date(2026, 3, 2))
    assert (on_time["key"], on_time["on_time"]) == ("duty:front_desk:daily:2026-03-02", True)
    late = review("daily", local(2026, 3, 4, 0, 1), day=date(2026, 3, 2))
    assert late["on_time"] is False                 # recorded all the same
    with pytest.raises(DomainConflict):             # a day not begun is not reviewed
        review("daily", local(2026, 3, 1, 23), day=date(2026, 3, 2))
    with pytest.raises(DomainValidation):
        review("daily", local(2026, 3, 3), year=2026, month=3)


def test_the_supervisor_reads_the_month_by_the_5th_of_the_next_002_s2_2_1():
    assert POLICY.duty_log.reviews["monthly"].reviewers == ("supervisor", "department_head")
    assert dutylog.review_due("monthly", "2026-03", POLICY, SH) == local(2026, 4, 6)
    assert dutylog.review_due("monthly", "2026-12", POLICY, SH) == local(2027, 1, 6)
    signed = review("monthly", local(2026, 4, 2, 9), year=2026, month=3)
    assert (signed["period"], signed["on_time"], signed["days"]) == ("2026-03", True, [])
    with pytest.raises(DomainValidation) as err:
        review("monthly", local(2026, 4, 2), year=2026, month=3, days=[date(2026, 3, 2)])
    assert "days" in err.value.errors


def test_a_spot_check_samples_at_least_20_percent_of_the_logged_days_002_s2_2_2():
    logged = [f"2026-03-{d:02d}" for d in range(1, 12)]          # 11 days → 3 (2.2 up)
    assert dutylog.required_sample(11, 20) == 3 and dutylog.required_sample(10, 20) == 2
    picked = [date(2026, 3, 2), date(2026, 3, 7), date(2026, 3, 11)]
    check = review("spot_check", local(2026, 3, 12, 15), year=2026, month=3, days=picked,
                   logged_days=logged)
    assert check["days"] == ["2026-03-02", "2026-03-07", "2026-03-11"]
    assert check["source"] == "002 §2 二.2"
    with pytest.raises(DomainValidation, match="20%"):
        review("spot_check", local(2026, 3, 12), year=2026, month=3, days=picked[:2],
               logged_days=logged)
    with pytest.raises(DomainValidation, match="2026-03-20"):    # not a logged day
        review("spot_check", local(2026, 3, 25), year=2026, month=3,
               days=picked[:2] + [date(2026, 3, 20)], logged_days=logged)
    with pytest.raises(DomainConflict):
        review("spot_check", local(2026, 3, 12), year=2026, month=3, days=[],
               logged_days=[])


def test_a_logged_day_owes_its_daily_review_and_its_months_two_002_s4_4_8_002_s2_2():
    duties = dutylog.duties_of_logged_day(POST, date(2026, 3, 31), POLICY, SH)
    assert [(d["key"], d["due_at"]) for d in duties] == [
        ("duty:front_desk:daily:2026-03-31", local(2026, 4, 2)),
        ("duty:front_desk:monthly:2026-03", local(2026, 4, 6)),
        ("duty:front_desk:spot_check:2026-03", local(2026, 4, 6))]
    assert [d["holders"] for d in duties] == [["department_head"],
                                              ["supervisor", "department_head"],
                                              ["deputy_gm", "gm"]]
    entry = dutylog.log_entry(post=POST, by="E1", at=local(2026, 3, 31, 23, 30),
                              text="lift alarm tested", important=False, tz=SH)
    assert (entry["date"], entry["month"], entry["department"]) == (
        "2026-03-31", "2026-03", "customer_service")


def test_overdue_log_reviews_and_sheet_steps_are_reminded_every_24_hours_at_most_3_times():
    policy = ReminderPolicy(every_hours=24, at_most=3)
    due = local(2026, 3, 4)
    assert next_reminder(due, 0, due, local(2026, 3, 3, 23), policy) is None
    assert next_reminder(due, 0, due, due, policy) == (1, local(2026, 3, 5))
    assert next_reminder(due, 1, local(2026, 3, 5), local(2026, 3, 4, 12), policy) is None
    assert next_reminder(due, 1, local(2026, 3, 5), local(2026, 3, 5, 1), policy) == (
        2, local(2026, 3, 6))
    assert next_reminder(due, 2, local(2026, 3, 6), local(2026, 3, 9), policy) == (3, None)
    assert next_reminder(due, 3, None, local(2026, 3, 20), policy) is None
    # A sweep that missed days sends the next reminder, not a burst: the one
    # after it waits for the next step of the schedule.
    late = next_reminder(due, 0, due, local(2026, 3, 7, 6), ReminderPolicy(24, 5))
    assert late == (1, local(2026, 3, 8))
    assert next_reminder(due, 1, late[1], local(2026, 3, 7, 7), ReminderPolicy(24, 5)) is None
