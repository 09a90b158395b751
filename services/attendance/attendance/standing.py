"""The regular meetings as a standing schedule, and the GM office meeting's
agenda (000 §3 四, 六.1).

Decisions:
- Each regular meeting of 四.1–4 is an entry of ``meetings.standing`` in
  ``rules/meetings.yaml``: its cadence (weekly on a weekday, monthly on a day,
  quarterly on a day of a month of the quarter, yearly on a day), time,
  length, place, chair and attendees as roles, departments, everyone or named
  people. Which people those are is read from the directory copy when an
  occurrence is scheduled, so a new manager is invited from the next one on.
- An occurrence is known by its *nominal* day (the Tuesday, the 10th): that
  day names the meeting (``<name>-<day>``), so it is scheduled once whatever
  the calendar later says. 原则上 ("in principle") every Tuesday: a nominal
  day that is not a working day moves to the next working day; one that
  would move onto or past the next nominal day is not held — the next one
  is (the Tuesday of a Spring Festival week).
- An occurrence is scheduled ``lead_days`` ahead of its day (六.1: standing
  meetings are attended without being called; the notice is sent anyway, it
  is what binds each attendee, 十.3).
- 四.7 各所属公司应在每月5日前将总经理办公会议程上报综合办公室…统一报总经理审批后,
  议程2-5项即可召开,无议程则不召开: a meeting with an ``agenda`` takes items
  from the departments until the end of its ``due_day`` (local), the 5th; an
  item sent after it goes to the next month's agenda. The agenda then closes:
  fewer than ``min_items`` (2) and the meeting is not held; otherwise the GM
  approves between ``min_items`` and ``max_items`` (5) of them and the meeting
  is held with them, or none and it is not held.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from zhidu.calendar import WorkingCalendar
from zhidu.domain import DomainConflict, DomainValidation
from zhidu.schemas import ROLES
from zhidu.times import UTC, as_utc, local_date

CADENCES = ("weekly", "monthly", "quarterly", "yearly")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
# How far back a nominal day may lie and still be held today or later: the
# longest run of non-working days a holiday makes, with room to spare.
MAX_MOVE_DAYS = 31


@dataclass(frozen=True)
class Attendees:
    roles: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()
    everyone: bool = False
    people: tuple[str, ...] = ()


@dataclass(frozen=True)
class AgendaRule:
    """四.7: items until the end of ``due_day``; reminders from
    ``remind_days_before`` days before it at ``remind_time``."""

    due_day: int = 5
    remind_days_before: int = 0
    remind_time: time = time(9)
    min_items: int = 2
    max_items: int = 5


@dataclass(frozen=True)
class StandingMeeting:
    name: str
    kind: str
    title: str
    cadence: str
    at: time
    minutes: int
    chair: str
    attendees: Attendees
    lead_days: int = 7
    weekday: int | None = None      # weekly: 0 = Monday
    month: int | None = None        # quarterly: month of the quarter (1-3); yearly: 1-12
    day: int | None = None          # monthly, quarterly, yearly: day of the month
    location: str | None = None
    minute_taker: str | None = None
    agenda: AgendaRule | None = None
    source: str = ""


# -- reading rules/meetings.yaml: meetings.standing --------------------------------------
def _hhmm(section, key: str, default: str | None = None) -> time:
    text = section.text(key, default)
    match = HHMM.match(text)
    if match is None:
        section.fail(key, f"expected HH:MM, got {text!r}")
    return time(int(match.group(1)), int(match.group(2)))


def _role(section, key: str, value: str) -> str:
    if value not in ROLES:
        section.fail(key, f"unknown role {value!r} (directory roles: {', '.join(ROLES)})")
    return value


def _attendees(section) -> Attendees:
    section.only("roles", "departments", "everyone", "people")
    roles = section.strings("roles", [], allow_empty=True)
    for role in roles:
        _role(section, "roles", role)
    attendees = Attendees(roles=roles,
                          departments=section.strings("departments", [], allow_empty=True),
                          everyone=section.boolean("everyone", False),
                          people=section.strings("people", [], allow_empty=True))
    if not (attendees.roles or attendees.departments or attendees.everyone
            or attendees.people):
        section.fail("", "name the attendees: roles, departments, everyone or people")
    return attendees


def _agenda(section, day: int) -> AgendaRule:
    section.only("due_day", "remind_days_before", "remind_time", "min_items", "max_items")
    rule = AgendaRule(due_day=section.integer("due_day", 5, minimum=1, maximum=28),
                      remind_days_before=section.integer("remind_days_before", 0, maximum=27),
                      remind_time=_hhmm(section, "remind_time", "09:00"),
                      min_items=section.integer("min_items", 2, minimum=1, maximum=100),
                      max_items=section.integer("max_items", 5, minimum=1, maximum=100))
    if rule.due_day >= day:
        section.fail("due_day", f"the agenda closes before the meeting's day ({day})")
    if rule.remind_days_before >= rule.due_day:
        section.fail("remind_days_before", "reminders start within the month")
    if rule.min_items > rule.max_items:
        section.fail("min_items", "at most max_items")
    return rule


def _entry(item, kinds: Mapping[str, int], lead_days: int) -> StandingMeeting:
    item.only("name", "kind", "title", "cadence", "weekday", "month", "day", "time",
              "minutes", "location", "chair", "minute_taker", "attendees", "lead_days",
              "agenda", "source")
    name = item.text("name")
    if not NAME.match(name):
        item.fail("name", "expected lower-case letters, digits and _ (at most 40)")
    kind = item.text("kind", choices=tuple(kinds))
    cadence = item.text("cadence", choices=CADENCES)
    wanted = {"weekly": ("weekday",), "monthly": ("day",), "quarterly": ("month", "day"),
              "yearly": ("month", "day")}[cadence]
    for key in ("weekday", "month", "day"):
        if key in wanted and key not in item.data:
            item.fail(key, f"a {cadence} meeting needs it")
        if key not in wanted and key in item.data:
            item.fail(key, f"not for a {cadence} meeting")
    weekday = WEEKDAYS.index(item.text("weekday", choices=WEEKDAYS)) \
        if cadence == "weekly" else None
    month = item.integer("month", minimum=1, maximum=3 if cadence == "quarterly" else 12) \
        if "month" in wanted else None
    # Every month has the 28th: a day beyond it would skip months.
    day = item.integer("day", minimum=1, maximum=28) if "day" in wanted else None
    minutes = item.integer("minutes", minimum=1)
    if minutes > kinds[kind]:
        item.fail("minutes", f"a {kind} meeting lasts at most {kinds[kind]} minutes")
    agenda = None
    if "agenda" in item.data:
        if cadence != "monthly":
            item.fail("agenda", "only a monthly meeting takes an agenda by a day of the month")
        agenda = _agenda(item.section("agenda"), day)
    return StandingMeeting(
        name=name, kind=kind, title=item.text("title"), cadence=cadence,
        at=_hhmm(item, "time"), minutes=minutes,
        chair=_role(item, "chair", item.text("chair")),
        attendees=_attendees(item.section("attendees", required=True)),
        lead_days=item.integer("lead_days", lead_days, minimum=1, maximum=60),
        weekday=weekday, month=month, day=day,
        location=item.text("location") if "location" in item.data else None,
        minute_taker=(_role(item, "minute_taker", item.text("minute_taker"))
                      if "minute_taker" in item.data else None),
        agenda=agenda, source=str(item.data.get("source", "")))


def standing_meetings(section, kinds: Mapping[str, int]) -> tuple[StandingMeeting, ...]:
    """``meetings.standing`` validated (``section`` is the policy reader's, so a
    complaint names the key); no section, no standing meetings."""
    if not section.data:
        return ()
    section.only("lead_days", "meetings")
    lead_days = section.integer("lead_days", 7, minimum=1, maximum=60)
    entries = []
    for item in section.items("meetings"):
        entry = _entry(item, kinds, lead_days)
        if entry.name in {e.name for e in entries}:
            item.fail("name", f"duplicate standing meeting {entry.name!r}")
        entries.append(entry)
    return tuple(entries)


def standing_entry(entries: Iterable[StandingMeeting], name: str | None,
                   with_agenda: bool = False) -> StandingMeeting:
    """The entry ``name`` names; without a name, the one taking an agenda."""
    candidates = [e for e in entries if not with_agenda or e.agenda is not None]
    if name is None and with_agenda and len(candidates) == 1:
        return candidates[0]
    found = next((e for e in candidates if e.name == name), None)
    if found is None:
        names = ", ".join(e.name for e in candidates) or "none"
        raise DomainValidation.one("standing", f"expected one of: {names}")
    return found


# -- occurrences --------------------------------------------------------------------------
def nominal_days(entry: StandingMeeting, first: date, last: date) -> list[date]:
    """The days the cadence names in [first, last]."""
    if entry.cadence == "weekly":
        day = first + timedelta(days=(entry.weekday - first.weekday()) % 7)
        days = []
        while day <= last:
            days.append(day)
            day += timedelta(days=7)
        return days
    days, year, month = [], first.year, first.month
    while date(year, month, 1) <= last:
        if entry.cadence == "monthly" \
                or (entry.cadence == "quarterly" and (month - 1) % 3 == entry.month - 1) \
                or (entry.cadence == "yearly" and month == entry.month):
            day = date(year, month, entry.day)
            if first <= day <= last:
                days.append(day)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return days


def _next_nominal(entry: StandingMeeting, nominal: date) -> date:
    return nominal_days(entry, nominal + timedelta(days=1), nominal + timedelta(days=367))[0]


@dataclass(frozen=True)
class Occurrence:
    entry: StandingMeeting
    nominal: date         # the day the cadence names: the occurrence's identity
    day: date             # the working day it is held on
    start: datetime       # UTC

    @property
    def meeting_id(self) -> str:
        return meeting_id(self.entry, self.nominal)


def meeting_id(entry: StandingMeeting, nominal: date) -> str:
    return f"{entry.name}-{nominal.isoformat()}"


def occurrence(entry: StandingMeeting, nominal: date,
               calendar: WorkingCalendar) -> Occurrence | None:
    """The occurrence of a nominal day: moved to the next working day, or None
    when that reaches the next nominal day (that one is held instead)."""
    day = calendar.next_working_day(nominal, include_self=True)
    if day >= _next_nominal(entry, nominal):
        return None
    start = datetime.combine(day, entry.at, tzinfo=calendar.tz).astimezone(UTC)
    return Occurrence(entry, nominal, day, start)


def occurrences_ahead(entry: StandingMeeting, now: datetime,
                      calendar: WorkingCalendar) -> list[Occurrence]:
    """The occurrences not begun at ``now`` whose day is at most ``lead_days`` ahead."""
    today = local_date(now, calendar.tz)
    horizon = today + timedelta(days=entry.lead_days)
    found = []
    for nominal in nominal_days(entry, today - timedelta(days=MAX_MOVE_DAYS), horizon):
        held = occurrence(entry, nominal, calendar)
        if held is not None and held.start > as_utc(now) and held.day <= horizon:
            found.append(held)
    return found


# -- the agenda (四.7) ------------------------------------------------------------------------
def _month_after(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def month_before(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


def agenda_key(entry: StandingMeeting, year: int, month: int) -> str:
    return f"{entry.name}:{year:04d}-{month:02d}"


def agenda_closes_at(rule: AgendaRule, year: int, month: int, tz) -> datetime:
    """The end of the due day (local): 每月5日前 is by the end of the 5th."""
    return datetime.combine(date(year, month, rule.due_day) + timedelta(days=1), time(0),
                            tzinfo=tz).astimezone(UTC)


def agenda_reminding_from(rule: AgendaRule, year: int, month: int, tz) -> datetime:
    day = date(year, month, rule.due_day - rule.remind_days_before)
    return datetime.combine(day, rule.remind_time, tzinfo=tz).astimezone(UTC)


def open_agenda_month(rule: AgendaRule, at: datetime, tz) -> tuple[int, int]:
    """The month whose agenda an item sent at ``at`` goes on: this month's until
    it closes, then the next."""
    day = local_date(at, tz)
    if at < agenda_closes_at(rule, day.year, day.month, tz):
        return day.year, day.month
    return _month_after(day.year, day.month)


def new_agenda(entry: StandingMeeting, year: int, month: int, tz) -> dict:
    """``{"key", "standing", "title", "year", "month", "closes_at", "items": [],
    "status": "open", "closed_at", "decision"}``."""
    return {"key": agenda_key(entry, year, month), "standing": entry.name,
            "title": entry.title, "year": year, "month": month,
            "closes_at": agenda_closes_at(entry.agenda, year, month, tz), "items": [],
            "status": "open", "closed_at": None, "decision": None}


def add_agenda_item(agenda: dict, *, department: str, item: str, by: dict,
                    at: datetime) -> tuple[dict, dict, bool]:
    """``(agenda, item, added)``. The same item from the same department again
    is the item on record (``added`` False)."""
    text = (item or "").strip()
    if not text:
        raise DomainValidation.one("item", "required")
    if agenda["status"] != "open" or as_utc(at) >= as_utc(agenda["closes_at"]):
        raise DomainConflict(f"the agenda {agenda['key']} closed at "
                             f"{as_utc(agenda['closes_at']).isoformat()} (四.7: by the "
                             "due day); send it for the next month's")
    held = next((i for i in agenda["items"]
                 if i["department"] == department and i["item"] == text), None)
    if held is not None:
        return agenda, held, False
    entry = {"no": len(agenda["items"]) + 1, "department": department, "item": text,
             "submitted_by": {"id": by.get("id"), "role": by.get("role")},
             "submitted_at": as_utc(at)}
    return dict(agenda, items=[*agenda["items"], entry]), entry, True


def close_agenda(agenda: dict, rule: AgendaRule, at: datetime) -> dict:
    """Closed: ``closed`` (for the GM to approve), or ``not_held`` with fewer
    than ``min_items`` (无议程则不召开)."""
    if agenda["status"] != "open":
        return agenda
    status = "closed" if len(agenda["items"]) >= rule.min_items else "not_held"
    return dict(agenda, status=status, closed_at=as_utc(at))


def decide_agenda(agenda: dict, rule: AgendaRule, *, approved: Iterable[int], by: dict,
                  at: datetime, note: str | None = None) -> dict:
    """The GM's approval (统一报总经理审批): ``min_items``–``max_items`` items hold
    the meeting with them, none does not hold it. The same decision again is
    the decision on record; another one conflicts."""
    approved = sorted(set(approved or ()))
    if agenda["status"] == "decided":
        if agenda["decision"]["approved"] == approved:
            return agenda
        raise DomainConflict(f"the agenda {agenda['key']} was decided already")
    if agenda["status"] == "not_held":
        raise DomainConflict(f"the agenda {agenda['key']} had fewer than {rule.min_items} "
                             "items: the meeting is not held (四.7)")
    if agenda["status"] == "open":
        raise DomainConflict(f"the agenda {agenda['key']} takes items until "
                             f"{as_utc(agenda['closes_at']).isoformat()}")
    numbers = {i["no"] for i in agenda["items"]}
    unknown = [n for n in approved if n not in numbers]
    if unknown:
        raise DomainValidation.one("approved", f"no such item: {unknown}")
    if approved and not rule.min_items <= len(approved) <= rule.max_items:
        raise DomainValidation.one("approved", f"approve {rule.min_items}-{rule.max_items} "
                                               "items to hold the meeting, or none (四.7)")
    return dict(agenda, status="decided", decision={
        "approved": approved, "held": bool(approved),
        "by": {"id": by.get("id"), "role": by.get("role")}, "at": as_utc(at), "note": note})


def approved_items(agenda: dict) -> list[dict]:
    approved = set(((agenda or {}).get("decision") or {}).get("approved") or ())
    return [i for i in (agenda or {}).get("items") or () if i["no"] in approved]


def agenda_lines(items: Iterable[dict]) -> list[str]:
    """The agenda as a notice lists it: "1. cs: item"."""
    return [f"{i['no']}. {i['department']}: {i['item']}" for i in items]


def nominal_of_month(entry: StandingMeeting, year: int, month: int) -> date:
    """The nominal day of a monthly meeting in that month."""
    return date(year, month, entry.day)
