"""Shifts crossing midnight, roster changes and holiday roster deadlines."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from attendance.policy import load_attendance_policy
from attendance.rosters import (
    apply_roster,
    calendar_roster,
    holiday_roster_deadline,
    holidays_lacking_roster,
)
from attendance.shifts import define_shift, shift_instants
from zhidu.calendar import calendar_from_policy
from zhidu.domain import DomainConflict, DomainPermission, DomainValidation

SH = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")
POLICY = load_attendance_policy()
CAL = calendar_from_policy({}, tz=SH)
SHIFTS = {s.code: s for s in (define_shift("D", "08:00", "16:00"),
                              define_shift("E", "16:00", "00:00"),
                              define_shift("N", "00:00", "08:00"),
                              define_shift("X", "22:00", "06:00"))}


def local(*args):
    return datetime(*args, tzinfo=SH)


def test_night_shift_crosses_midnight_into_the_next_day():
    night = SHIFTS["X"]
    assert night.crosses_midnight and night.minutes == 480
    start, end = shift_instants("2026-03-01", night, SH)
    assert start == datetime(2026, 3, 1, 14, 0, tzinfo=UTC)
    assert end == datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
    assert end.astimezone(SH).date().isoformat() == "2026-03-02"


def test_evening_shift_ending_at_midnight_ends_next_day_and_24h_duty():
    start, end = shift_instants("2026-03-01", SHIFTS["E"], SH)
    assert end - start == timedelta(hours=8)
    duty = define_shift("H24", "08:30", "08:30")
    start, end = shift_instants("2026-03-01", duty, SH)
    assert end - start == timedelta(hours=24) and duty.minutes == 24 * 60


def test_define_shift_names_every_bad_field():
    with pytest.raises(DomainValidation) as caught:
        define_shift("night shift!", "24:00", "7:5")
    assert set(caught.value.errors) == {"code", "start", "end"}


def entry(employee, day, code):
    return {"employee_id": employee, "date": day, "shift_code": code}


def stored(plan):
    return {e["key"]: e for e in plan["entries"]}


def test_roster_drafts_change_freely_then_publish_once():
    actor = {"id": "clerk", "role": "attendance_clerk"}
    at = local(2026, 2, 20, 10)
    plan = apply_roster({}, [entry("E1", "2026-03-01", "D")], publish=False, actor=actor,
                        at=at, shifts=SHIFTS, policy=POLICY, tz=SH)
    draft = stored(plan)
    plan = apply_roster(draft, [entry("E1", "2026-03-01", "X")], publish=True, actor=actor,
                        at=at, shifts=SHIFTS, policy=POLICY, tz=SH)
    published = stored(plan)
    assert published["E1:2026-03-01"]["shift_code"] == "X"
    assert published["E1:2026-03-01"]["published_at"] == at
    again = apply_roster(published, [entry("E1", "2026-03-01", "X")], publish=True,
                         actor=actor, at=at + timedelta(days=1), shifts=SHIFTS,
                         policy=POLICY, tz=SH)
    assert again == {"entries": [], "changes": []}


def test_changing_a_published_shift_needs_a_supervisor_before_it_starts():
    at = local(2026, 2, 20, 10)
    base = stored(apply_roster({}, [entry("E1", "2026-03-01", "D")], publish=True,
                               actor={"id": "c", "role": "attendance_clerk"}, at=at,
                               shifts=SHIFTS, policy=POLICY, tz=SH))
    change = [entry("E1", "2026-03-01", "X")]
    with pytest.raises(DomainPermission):
        apply_roster(base, change, publish=True, actor={"id": "c", "role": "attendance_clerk"},
                     at=at, shifts=SHIFTS, policy=POLICY, tz=SH)
    boss = {"id": "S1", "role": "supervisor"}
    plan = apply_roster(base, change, publish=True, actor=boss, at=local(2026, 2, 28, 9),
                        shifts=SHIFTS, policy=POLICY, reason="swap", tz=SH)
    (record,) = plan["changes"]
    assert (record["from_shift"], record["to_shift"]) == ("D", "X")
    assert record["approved_by"] == {"id": "S1", "role": "supervisor"}
    assert plan["entries"][0]["published_at"] == at       # first publication kept
    with pytest.raises(DomainConflict):
        apply_roster(base, change, publish=True, actor={"id": "G", "role": "gm"},
                     at=local(2026, 3, 1, 8, 1), shifts=SHIFTS, policy=POLICY, tz=SH)


def test_roster_entries_are_validated_as_a_batch():
    with pytest.raises(DomainValidation) as caught:
        apply_roster({}, [entry("E1", "2026-03-01", "Q"), entry("E1", "2026-13-01", "D"),
                          entry("E2", "2026-03-01", "D"), entry("E2", "2026-03-01", "N")],
                     publish=False, actor={}, at=local(2026, 2, 1), shifts=SHIFTS,
                     policy=POLICY)
    assert set(caught.value.errors) == {"entries[0].shift_code", "entries[1].date", "entries[3]"}


def test_calendar_roster_follows_holidays_and_make_up_days():
    days = {e["date"] for e in calendar_roster(["E1"], 2026, 10, CAL, "D")}
    assert "2026-10-10" in days                 # make-up Saturday
    assert not {f"2026-10-0{d}" for d in range(1, 8)} & days
    assert "2026-10-11" not in days             # ordinary Sunday


def national_day_roster(published_at, skip=()):
    return [dict(entry("E1", f"2026-10-0{d}", "D"), published=True, published_at=published_at)
            for d in range(1, 8) if d not in skip]


def test_holiday_roster_published_a_week_ahead_passes():
    deadline = holiday_roster_deadline(local(2026, 10, 1).date(), POLICY, SH)
    assert deadline == local(2026, 9, 24)
    assert holidays_lacking_roster(2026, 10, national_day_roster(local(2026, 9, 20)),
                                   CAL, POLICY) == []


def test_holiday_roster_late_missing_or_unpublished_is_reported():
    entries = national_day_roster(local(2026, 9, 28), skip=(7,))
    entries.append(dict(entry("E2", "2026-10-03", "N"), published=False, published_at=None))
    (gap,) = holidays_lacking_roster(2026, 10, entries, CAL, POLICY)
    assert gap["holiday"] == "National Day"
    assert (gap["first_day"], gap["last_day"]) == ("2026-10-01", "2026-10-07")
    assert gap["uncovered_days"] == ["2026-10-07"]
    assert gap["unpublished_days"] == ["2026-10-03"]
    assert gap["late_days"] == ["2026-10-01", "2026-10-02", "2026-10-04", "2026-10-05",
                                "2026-10-06"]
    # A sweep before the deadline does not call it late yet.
    assert holidays_lacking_roster(2026, 10, [], CAL, POLICY, now=local(2026, 9, 1)) == []


def test_mid_autumn_2026_is_checked_in_september():
    gaps = holidays_lacking_roster(2026, 9, [], CAL, POLICY)
    assert [g["holiday"] for g in gaps] == ["Mid-autumn Festival"]
    assert gaps[0]["uncovered_days"] == ["2026-09-25", "2026-09-26", "2026-09-27"]
