"""A department's own working hours (rules §1; 000 §2 三.1 到岗08:30、离岗16:20 by
default, configurable per department): they apply to that department, and any
other department — or none — works the default hours."""
from datetime import date, time

import pytest
import yaml
from zhidu.calendar import DEFAULT_POLICY, Hours, calendar_from_policy, load_calendar
from zhidu.times import parse_time, to_iso

WAREHOUSE = ["08:00", "17:00"]


@pytest.fixture
def cal():
    return calendar_from_policy({"working_hours": {"default": ["08:30", "16:20"],
                                                   "departments": {"warehouse": WAREHOUSE}}})


def test_the_shipped_calendar_works_08_30_to_16_20_000_s2_3():
    shipped = load_calendar(DEFAULT_POLICY)
    assert shipped.hours_for() == Hours(time(8, 30), time(16, 20))
    assert shipped.working_day_seconds() == (7 * 60 + 50) * 60
    data = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    assert data["working_hours"]["departments"] == {}


def test_a_department_works_its_own_hours_another_the_default_000_s2_3(cal):
    assert cal.hours_for("warehouse") == Hours(time(8), time(17))
    for other in ("customer_service", "no-such-department", None, ""):
        assert cal.hours_for(other) == Hours(time(8, 30), time(16, 20)), other
    assert cal.working_day_seconds("warehouse") == 9 * 3600
    assert cal.working_day_seconds("customer_service") == (7 * 60 + 50) * 60


def test_opening_and_closing_follow_the_departments_hours_000_s2_3(cal):
    early = parse_time("2026-11-23T08:10")                 # a Monday
    assert cal.next_opening(early, "warehouse") == early    # open since 08:00
    assert to_iso(cal.next_opening(early, "customer_service")) == "2026-11-23T00:30:00+00:00"
    late = parse_time("2026-11-23T16:40")
    assert cal.next_opening(late, "warehouse") == late      # open until 17:00
    assert to_iso(cal.next_opening(late, "unknown")) == "2026-11-24T00:30:00+00:00"


def test_working_time_is_counted_on_the_departments_hours_000_s2_3(cal):
    start = parse_time("2026-11-23T16:00")
    hour = 3600
    # Warehouse: 16:00-17:00 is the hour. Default: 20 minutes today, 40 tomorrow.
    assert to_iso(cal.add_working_time(start, hour, "warehouse")) == \
        "2026-11-24T00:00:00+00:00"                            # Tue 08:00 (next opening)
    assert to_iso(cal.add_working_time(start, hour, "unknown")) == \
        "2026-11-24T01:10:00+00:00"                            # Tue 09:10
    day = (parse_time("2026-11-23T00:00"), parse_time("2026-11-24T00:00"))
    assert cal.working_seconds(*day, "warehouse") == 9 * hour
    assert cal.working_seconds(*day, "unknown") == (7 * 60 + 50) * 60
    # "N working days" keeps the clock time; outside the hours it starts at the opening.
    assert to_iso(cal.add_working_days(parse_time("2026-11-23T08:10"), 1, "warehouse")) == \
        "2026-11-24T00:10:00+00:00"
    assert to_iso(cal.add_working_days(parse_time("2026-11-23T08:10"), 1, "unknown")) == \
        "2026-11-24T00:30:00+00:00"


def test_department_hours_keep_the_working_days_000_s2_3(cal):
    national_day = parse_time("2026-10-01T10:00")
    assert to_iso(cal.next_opening(national_day, "warehouse")) == "2026-10-08T00:00:00+00:00"
    assert cal.is_working_day(date(2026, 10, 10))           # make-up Saturday for everyone


def test_a_bad_department_entry_names_its_key(tmp_path):
    with pytest.raises(ValueError, match=r"working_hours\.departments\.warehouse"):
        calendar_from_policy({"working_hours": {"departments": {"warehouse": ["17:00",
                                                                            "08:00"]}}})
    with pytest.raises(ValueError, match=r"working_hours\.departments\.night"):
        calendar_from_policy({"working_hours": {"departments": {"night": "all day"}}})
    custom = tmp_path / "calendar.yaml"
    custom.write_text("working_hours:\n  departments:\n    warehouse: ['08:00', '17:00']\n",
                      encoding="utf-8")
    loaded = load_calendar(custom)
    assert loaded.hours_for("warehouse") == Hours(time(8), time(17))
    assert loaded.hours_for("finance") == Hours(time(8, 30), time(16, 20))
