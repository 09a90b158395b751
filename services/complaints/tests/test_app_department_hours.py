"""A department's own working hours drive the clocks counted on its hours (rules §1;
000 §2 三.1: 08:30–16:20 unless the department's are configured), through the
application layer on an in-memory store."""
from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from zhidu.calendar import calendar_from_policy

STAFF = {"id": "cs-01", "role": "staff"}


@pytest.fixture
def cal():
    """The company calendar with the quality department on 08:00–17:00."""
    return calendar_from_policy({"working_hours": {
        "default": ["08:30", "16:20"], "departments": {"quality": ["08:00", "17:00"]}}},
        tz=ZoneInfo("Asia/Shanghai"))


def assigned(app, intake, t, number_at, department, at):
    number = app("file", {**intake(number_at), "actor": STAFF})["number"]
    for command, when, fields in (
            ("decide_validity", number_at, {"valid": True, "reason": "成立",
                                            "reply": "已受理"}),
            ("assign", at, {"department": department, "owner_id": "emp-7"})):
        app("change", command, {"number": number, "at": t(when), "actor": STAFF, **fields})
    return number


def dues(fake_store, number):
    case = fake_store.get(number)
    return {c["name"]: c["due"] for c in case["clocks"] if c["round"] == case["round"]}


def test_a_department_with_its_own_hours_counts_its_clocks_on_them_000_s2_3(
        app, fake_store, intake, t):
    # Monday 23 Nov 2026, 16:40: the quality department is still open (until 17:00).
    quality = dues(fake_store, assigned(app, intake, t, "2026-11-23 09:00", "quality",
                                        "2026-11-23 16:40"))
    assert quality["plan"] == t("2026-11-24 16:40")          # one working day, same time
    assert quality["report"] == t("2026-11-26 16:40")        # three working days


def test_a_department_without_hours_of_its_own_works_the_default_000_s2_3(
        app, fake_store, intake, t):
    # The same moment is after the default 16:20 close: counting starts Tue 08:30.
    for department in ("service", "no-such-department"):
        other = dues(fake_store, assigned(app, intake, t, "2026-11-23 09:00", department,
                                          "2026-11-23 16:40"))
        assert other["plan"] == t("2026-11-25 08:30"), department
        assert other["report"] == t("2026-11-27 08:30"), department


def test_an_early_start_counts_from_the_departments_opening_000_s2_3(
        app, fake_store, intake, t):
    quality = dues(fake_store, assigned(app, intake, t, "2026-11-23 07:00", "quality",
                                        "2026-11-23 08:10"))
    service = dues(fake_store, assigned(app, intake, t, "2026-11-23 07:00", "service",
                                        "2026-11-23 08:10"))
    assert quality["plan"] == t("2026-11-24 08:10")          # open since 08:00
    assert service["plan"] == t("2026-11-24 08:30")          # opens at 08:30
