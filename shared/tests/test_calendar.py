from datetime import date

import pytest
from zhidu.calendar import calendar_from_policy
from zhidu.times import parse_time, to_iso


@pytest.fixture
def cal():
    return calendar_from_policy({"extra_closures": ["2026-12-31"],
                                 "extra_workdays": ["2026-12-26"]})


def test_public_holidays_and_make_up_days(cal):
    assert not cal.is_working_day(date(2026, 10, 1))      # National Day
    assert cal.is_working_day(date(2026, 10, 10))          # make-up Saturday
    assert cal.is_working_day(date(2026, 9, 20))           # make-up Sunday
    assert not cal.is_working_day(date(2026, 12, 31))      # company closure
    assert cal.is_working_day(date(2026, 12, 26))          # company extra day
    assert cal.holiday_name(date(2026, 10, 1)) == "National Day"


def test_unknown_year_falls_back_to_weekdays(cal, caplog):
    assert cal.is_working_day(date(2031, 6, 2))            # a Monday
    assert not cal.is_working_day(date(2031, 6, 1))        # a Sunday
    assert "2031" in caplog.text


def test_working_days_keep_the_clock_time_across_a_holiday(cal):
    start = parse_time("2026-09-30T15:00")                 # Wednesday before National Day
    assert to_iso(cal.add_working_days(start, 1)) == "2026-10-08T07:00:00+00:00"
    assert to_iso(cal.add_working_days(start, 3)) == "2026-10-10T07:00:00+00:00"


def test_counting_starts_at_the_next_opening_outside_hours(cal):
    saturday = parse_time("2026-11-21T10:00")
    assert to_iso(cal.add_working_days(saturday, 1)) == "2026-11-24T00:30:00+00:00"
    evening = parse_time("2026-11-23T18:00")
    assert to_iso(cal.add_working_days(evening, 1)) == "2026-11-25T00:30:00+00:00"


def test_working_time_walk_and_measure_agree(cal):
    start = parse_time("2026-11-20T15:00")                 # Friday afternoon
    day = cal.working_day_seconds()
    due = cal.add_working_time(start, day)
    assert to_iso(due) == "2026-11-23T07:00:00+00:00"      # Monday 15:00
    assert cal.working_seconds(start, due) == day
    # A walk ending at closing time is reported as the next opening.
    assert to_iso(cal.add_working_time(parse_time("2026-11-23T08:30"), day)) == \
        "2026-11-24T00:30:00+00:00"


def test_policy_errors_name_the_key():
    with pytest.raises(ValueError, match="working_hours.default"):
        calendar_from_policy({"working_hours": {"default": ["17:00", "08:00"]}})
    with pytest.raises(ValueError, match="extra_closures"):
        calendar_from_policy({"extra_closures": ["not-a-date"]})
    with pytest.raises(ValueError, match="both closed and working"):
        calendar_from_policy({"extra_closures": ["2026-12-01"],
                              "extra_workdays": ["2026-12-01"]})
