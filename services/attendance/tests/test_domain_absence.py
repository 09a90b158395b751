"""Absenteeism: up to 3 days recorded, more than 3 → dismissal review once a year."""
import dataclasses

from attendance.absence import absence_record, assess_absenteeism
from attendance.policy import load_attendance_policy

POLICY = load_attendance_policy()


def test_three_days_is_absenteeism_the_fourth_asks_for_review():
    days = ["2026-02-02", "2026-03-09", "2026-05-11"]
    three = assess_absenteeism("E1", days, "2026-06-01", POLICY)
    assert three["status"] == "absenteeism" and not three["dismissal_review_required"]
    four = assess_absenteeism("E1", days + ["2026-06-01"], "2026-06-01", POLICY)
    assert four["days"] == 4 and four["status"] == "dismissal_review"
    assert four["dismissal_review_key"] == "dismissal_review:E1:2026"
    # Later days do not make a second review in the same year.
    five = assess_absenteeism("E1", days + ["2026-06-01", "2026-07-01"], "2026-07-01", POLICY)
    assert five["dismissal_review_key"] == four["dismissal_review_key"]


def test_count_is_per_calendar_year_and_days_count_once():
    days = ["2025-12-29", "2025-12-30", "2025-12-31", "2026-01-02", "2026-01-02"]
    result = assess_absenteeism("E1", days, "2026-01-05", POLICY)
    assert result["days"] == 1 and result["status"] == "absenteeism"
    assert assess_absenteeism("E1", [], "2026-01-05", POLICY)["status"] == "none"


def test_rolling_window_is_a_policy_choice():
    rolling = dataclasses.replace(POLICY, absence=dataclasses.replace(
        POLICY.absence, window="rolling", rolling_days=365))
    days = ["2025-12-29", "2025-12-30", "2025-12-31", "2026-01-02"]
    result = assess_absenteeism("E1", days, "2026-01-05", rolling)
    assert result["dismissal_review_required"]
    assert result["dismissal_review_key"] == "dismissal_review:E1:2026-01-02"


def test_absence_record_from_an_evaluation():
    evaluation = {"employee_id": "E1", "date": "2026-03-02", "absence": True,
                  "absence_reason": "no_clock_in"}
    assert absence_record(evaluation) == {"key": "absence:E1:2026-03-02", "employee_id": "E1",
                                          "date": "2026-03-02", "reason": "no_clock_in"}
    assert absence_record(dict(evaluation, absence=False)) is None


def test_not_returning_after_leave_is_named_as_the_cause():
    from attendance.absence import absence_cause

    absent = {"date": "2026-03-05", "absence_reason": "no_clock_in"}
    assert absence_cause(absent, "2026-03-03", None) == "not_returned_after_leave"
    assert absence_cause(absent, "2026-03-03", "2026-03-04") == "no_clock_in"   # came back
    assert absence_cause(absent, None, None) == "no_clock_in"
    late = {"date": "2026-03-05", "absence_reason": "late_over_limit"}
    assert absence_cause(late, "2026-03-03", None) == "late_over_limit"
