"""The standing schedule of the regular meetings and the GM office meeting's
agenda, as pure arithmetic (000 §3 四, 四.7)."""
from __future__ import annotations

import copy
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from attendance.policy import RULES_DIR, load_rules, meeting_policy_from_dict
from attendance.standing import (
    add_agenda_item,
    agenda_closes_at,
    agenda_reminding_from,
    close_agenda,
    decide_agenda,
    new_agenda,
    nominal_days,
    occurrence,
    occurrences_ahead,
    open_agenda_month,
    standing_entry,
)
from zhidu.calendar import WorkingCalendar
from zhidu.domain import DomainConflict, DomainValidation

SH = ZoneInfo("Asia/Shanghai")
RULES = load_rules()
STANDING = RULES.meetings.standing
CALENDAR = WorkingCalendar(tz=SH)
WEEKLY, QUARTERLY, MONTHLY, YEARLY = (standing_entry(STANDING, name) for name in (
    "weekly_review", "business_analysis", "gm_office_meeting", "annual_assembly"))
GM = {"id": "G", "role": "gm"}
HEAD = {"id": "H", "role": "dept_manager"}


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


def shipped() -> dict:
    with open(RULES_DIR / "meetings.yaml", encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def with_entry(**changes) -> dict:
    data = shipped()
    entry = data["meetings"]["standing"]["meetings"][0]
    entry.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del entry[key]
    return data


# -- the schedule as data, checked at start-up ------------------------------------------------
def test_the_four_regular_meetings_and_who_attends_000_s3_4_1_to_4():
    assert [(e.name, e.title, e.cadence) for e in STANDING] == [
        ("weekly_review", "讲评会", "weekly"), ("business_analysis", "经营分析会", "quarterly"),
        ("gm_office_meeting", "总经理办公会", "monthly"),
        ("annual_assembly", "年度全体大会", "yearly")]
    # 四.1 每周二上午9:00
    assert (WEEKLY.weekday, WEEKLY.at) == (1, time(9))
    assert WEEKLY.attendees.roles == ("gm", "deputy_gm", "dept_manager")
    assert "gm_office" in QUARTERLY.attendees.roles and "supervisor" in QUARTERLY.attendees.roles
    assert MONTHLY.attendees.roles == ("gm", "deputy_gm") and MONTHLY.agenda.due_day == 5
    assert YEARLY.attendees.everyone and YEARLY.kind == "annual_assembly"
    # 三.2: regular at most 60 minutes, the annual assembly 90.
    assert [e.minutes for e in STANDING] == [60, 60, 60, 90]


@pytest.mark.parametrize("changes, message", [
    ({"weekday": "someday"}, "weekday: expected one of monday"),
    ({"weekday": None}, "weekday: a weekly meeting needs it"),
    ({"day": 3}, "day: not for a weekly meeting"),
    ({"minutes": 61}, "minutes: a regular meeting lasts at most 60 minutes"),
    ({"kind": "party"}, "kind: expected one of regular, annual_assembly"),
    ({"chair": "mayor"}, "chair: unknown role 'mayor'"),
    ({"time": "9:00"}, "time: expected HH:MM"),
    ({"attendees": {}}, "attendees: name the attendees"),
    ({"attendees": {"roles": ["gm"], "teams": ["x"]}}, "attendees.teams: unknown key"),
    ({"agenda": {"due_day": 5}}, "agenda: only a monthly meeting"),
    ({"cadence": "monthly", "weekday": None, "day": 29}, "day: expected an integer >= 1 and"),
])
def test_a_broken_standing_meeting_names_the_key(changes, message):
    with pytest.raises(ValueError) as err:
        meeting_policy_from_dict(with_entry(**changes))
    assert "meetings.standing.meetings[0]." in str(err.value)
    assert message in str(err.value)


def test_an_agenda_closes_before_its_meeting_000_s3_4_7():
    data = shipped()
    data["meetings"]["standing"]["meetings"][2]["agenda"]["due_day"] = 12
    with pytest.raises(ValueError, match=r"meetings\[2\]\.agenda\.due_day: the agenda closes"):
        meeting_policy_from_dict(data)
    data = shipped()
    data["meetings"]["standing"]["meetings"].append(
        copy.deepcopy(data["meetings"]["standing"]["meetings"][0]))
    with pytest.raises(ValueError, match="duplicate standing meeting 'weekly_review'"):
        meeting_policy_from_dict(data)


def test_no_standing_section_no_standing_meetings():
    data = shipped()
    del data["meetings"]["standing"]
    assert meeting_policy_from_dict(data).standing == ()


# -- cadence and holidays ----------------------------------------------------------------
def test_each_cadence_names_its_days_000_s3_4():
    march = (date(2026, 3, 1), date(2026, 3, 31))
    assert nominal_days(WEEKLY, *march) == [date(2026, 3, d) for d in (3, 10, 17, 24, 31)]
    assert nominal_days(MONTHLY, *march) == [date(2026, 3, 10)]
    year = (date(2026, 1, 1), date(2026, 12, 31))
    assert nominal_days(QUARTERLY, *year) == [date(2026, m, 15) for m in (1, 4, 7, 10)]
    assert nominal_days(YEARLY, *year) == [date(2026, 1, 20)]
    assert nominal_days(YEARLY, date(2026, 1, 21), date(2027, 1, 20)) == [date(2027, 1, 20)]


def test_a_meeting_on_a_holiday_moves_to_the_next_working_day_000_s3_4_1():
    # Labour Day: Tuesday 2026-05-05 is a holiday, the review is on Wednesday.
    moved = occurrence(WEEKLY, date(2026, 5, 5), CALENDAR)
    assert (moved.day, moved.start) == (date(2026, 5, 6), local(2026, 5, 6, 9))
    assert moved.meeting_id == "weekly_review-2026-05-05"
    # National Day: Tuesday 10-06 → Thursday 10-08.
    assert occurrence(WEEKLY, date(2026, 10, 6), CALENDAR).day == date(2026, 10, 8)
    # An ordinary Tuesday stays.
    assert occurrence(WEEKLY, date(2026, 3, 3), CALENDAR).day == date(2026, 3, 3)


def test_a_meeting_whose_next_working_day_is_the_next_ones_is_not_held_000_s3_4_1():
    # Spring Festival 2026: Tuesday 02-17 would move to Tuesday 02-24, the next review.
    assert occurrence(WEEKLY, date(2026, 2, 17), CALENDAR) is None
    assert occurrence(WEEKLY, date(2026, 2, 24), CALENDAR).day == date(2026, 2, 24)


def test_a_company_closure_moves_it_too():
    closed = WorkingCalendar(tz=SH, extra_closures=frozenset({date(2026, 3, 10)}))
    assert occurrence(WEEKLY, date(2026, 3, 10), closed).day == date(2026, 3, 11)
    assert occurrence(MONTHLY, date(2026, 3, 10), closed).day == date(2026, 3, 11)


def test_occurrences_are_due_within_the_lead_and_until_they_begin():
    # Wednesday 03-04: next Tuesday 03-10 is 6 days ahead (lead 7), and so is the
    # GM office meeting of 03-10.
    ahead = occurrences_ahead(WEEKLY, local(2026, 3, 4, 12), CALENDAR)
    assert [o.meeting_id for o in ahead] == ["weekly_review-2026-03-10"]
    # On the Tuesday before nine it is still ahead (with next week's); after, only next week's.
    assert [o.nominal for o in occurrences_ahead(WEEKLY, local(2026, 3, 10, 8), CALENDAR)] \
        == [date(2026, 3, 10), date(2026, 3, 17)]
    assert [o.nominal for o in occurrences_ahead(WEEKLY, local(2026, 3, 10, 9), CALENDAR)] \
        == [date(2026, 3, 17)]
    # A moved one is due by the day it is held: 05-05 held 05-06 is still ahead on 05-06 at 8.
    assert [o.meeting_id for o in occurrences_ahead(WEEKLY, local(2026, 5, 6, 8), CALENDAR)] \
        == ["weekly_review-2026-05-05", "weekly_review-2026-05-12"]
    # The annual assembly comes with a 14-day lead.
    assert occurrences_ahead(YEARLY, local(2026, 1, 5, 12), CALENDAR) == []
    assert [o.day for o in occurrences_ahead(YEARLY, local(2026, 1, 6, 12), CALENDAR)] == \
        [date(2026, 1, 20)]


# -- the agenda (四.7) ----------------------------------------------------------------------------
def test_the_agenda_takes_items_until_the_end_of_the_5th_000_s3_4_7():
    rule = MONTHLY.agenda
    assert agenda_closes_at(rule, 2026, 3, SH) == local(2026, 3, 6)
    assert open_agenda_month(rule, local(2026, 3, 5, 23, 59), SH) == (2026, 3)
    assert open_agenda_month(rule, local(2026, 3, 6, 0, 0), SH) == (2026, 4)
    assert open_agenda_month(rule, local(2026, 12, 20), SH) == (2027, 1)
    # The heads are reminded on the morning of the 5th (remind_days_before: 0).
    assert agenda_reminding_from(rule, 2026, 3, SH) == local(2026, 3, 5, 9)


def test_items_are_added_once_and_refused_once_it_closes_000_s3_4_7():
    agenda = new_agenda(MONTHLY, 2026, 3, SH)
    agenda, first, added = add_agenda_item(agenda, department="cs", item=" 修订排班制度 ",
                                           by=HEAD, at=local(2026, 3, 2, 9))
    assert added and (first["no"], first["item"]) == (1, "修订排班制度")
    again, same, added = add_agenda_item(agenda, department="cs", item="修订排班制度",
                                         by=HEAD, at=local(2026, 3, 3, 9))
    assert not added and same == first and again is agenda
    with pytest.raises(DomainValidation):
        add_agenda_item(agenda, department="cs", item="  ", by=HEAD, at=local(2026, 3, 3, 9))
    with pytest.raises(DomainConflict, match="closed"):
        add_agenda_item(agenda, department="fin", item="预算", by=HEAD, at=local(2026, 3, 6))


def items(count: int) -> dict:
    agenda = new_agenda(MONTHLY, 2026, 3, SH)
    for n in range(count):
        agenda, _, _ = add_agenda_item(agenda, department=f"d{n}", item=f"item {n}", by=HEAD,
                                       at=local(2026, 3, 1, 9))
    return agenda


def test_no_agenda_no_meeting_and_the_gm_approves_two_to_five_000_s3_4_7():
    # 无议程则不召开: fewer than two items and the meeting is not held.
    for count in (0, 1):
        assert close_agenda(items(count), MONTHLY.agenda, local(2026, 3, 6))["status"] == \
            "not_held"
    closed = close_agenda(items(6), MONTHLY.agenda, local(2026, 3, 6))
    assert closed["status"] == "closed"
    with pytest.raises(DomainConflict, match="not held"):
        decide_agenda(close_agenda(items(1), MONTHLY.agenda, local(2026, 3, 6)),
                      MONTHLY.agenda, approved=[1], by=GM, at=local(2026, 3, 6, 9))
    with pytest.raises(DomainConflict, match="takes items until"):
        decide_agenda(items(3), MONTHLY.agenda, approved=[1, 2], by=GM,
                      at=local(2026, 3, 6, 9))
    # 议程2-5项即可召开
    for wrong in ([1], [1, 2, 3, 4, 5, 6], [1, 9]):
        with pytest.raises(DomainValidation):
            decide_agenda(closed, MONTHLY.agenda, approved=wrong, by=GM,
                          at=local(2026, 3, 6, 9))
    decided = decide_agenda(closed, MONTHLY.agenda, approved=[5, 2, 2], by=GM,
                            at=local(2026, 3, 6, 9))
    assert decided["decision"]["approved"] == [2, 5] and decided["decision"]["held"]
    assert decide_agenda(decided, MONTHLY.agenda, approved=[2, 5], by=GM,
                         at=local(2026, 3, 7)) is decided
    with pytest.raises(DomainConflict, match="decided already"):
        decide_agenda(decided, MONTHLY.agenda, approved=[], by=GM, at=local(2026, 3, 7))
    # None approved: not held.
    assert decide_agenda(closed, MONTHLY.agenda, approved=[], by=GM,
                         at=local(2026, 3, 6, 9))["decision"]["held"] is False


def test_the_gm_office_meeting_falls_after_its_agenda_closes():
    held = occurrence(MONTHLY, date(2026, 3, 10), CALENDAR)
    assert held.start - agenda_closes_at(MONTHLY.agenda, 2026, 3, SH) >= timedelta(days=4)
