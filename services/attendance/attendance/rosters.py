"""Monthly rosters (排班表, 002 §1.1.4–1.1.7).

A roster entry says which shift one employee works on one date. **The roster,
not the working calendar, decides whether someone is due at work**: shift
workers on the three-shift duty work weekends and public holidays, and a
rostered Sunday is as binding as a Monday. Day staff without a shift roster get
one generated from the calendar (:func:`calendar_roster`), so the evaluation has
a single source of truth.

Stored entry shape (one document per employee and date; key ``employee:date``)::

    {"key": "E1:2026-10-01", "employee_id": "E1", "date": "2026-10-01",
     "shift_code": "N", "published": True, "published_at": datetime (UTC) | None,
     "changed_at": datetime | None, "approved_by": {"id", "role"} | None}

Decisions:
- One shift per employee per date; a double shift is two shift codes merged
  into one longer shift definition.
- Changing a *published* entry needs the supervisor's approval, given before the
  originally rostered shift starts (需提前报告上级主管批准, 002 §1.1.5). The
  acting ``actor`` of the change is the approver: their role must satisfy
  ``roster.change_approver_role`` (``supervisor`` or anyone above on the ladder).
  Unpublished entries are drafts anyone allowed to edit rosters may change.
- An approved change keeps the entry's first ``published_at``: the holiday rule
  asks whether the roster was *handed in* a week ahead, and a later approved
  adjustment does not undo that.
"""
from __future__ import annotations

import calendar as _months
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta

from zhidu.calendar import WorkingCalendar
from zhidu.domain import DomainConflict, DomainPermission, Problems
from zhidu.times import UTC, as_utc, parse_date

from .policy import AttendancePolicy
from .roles import satisfies
from .shifts import Shift, shift_instants


def entry_key(employee_id: str, day) -> str:
    return f"{employee_id}:{parse_date(day).isoformat()}"


def normalise_entries(entries: Iterable[dict], shifts: Mapping[str, Shift]) -> list[dict]:
    """Validate ``[{employee_id, date, shift_code}]``; every bad field is named."""
    problems = Problems()
    seen: set[str] = set()
    result = []
    entries = list(entries or [])
    if not entries:
        problems.add("entries", "at least one entry is required")
    for i, raw in enumerate(entries):
        where = f"entries[{i}]"
        if not isinstance(raw, dict):
            problems.add(where, "expected an object")
            continue
        employee_id = raw.get("employee_id")
        if not isinstance(employee_id, str) or not employee_id:
            problems.add(f"{where}.employee_id", "required")
        try:
            day = parse_date(raw.get("date"))
        except (ValueError, TypeError):
            problems.add(f"{where}.date", "expected YYYY-MM-DD")
            day = None
        code = raw.get("shift_code")
        if code not in shifts:
            problems.add(f"{where}.shift_code", f"unknown shift {code!r}")
        if employee_id and day:
            key = entry_key(employee_id, day)
            if key in seen:
                problems.add(where, f"{key} appears twice in one request")
            seen.add(key)
            result.append({"key": key, "employee_id": employee_id,
                           "date": day.isoformat(), "shift_code": code,
                           "on_call": bool(raw.get("on_call"))})
    problems.raise_if_any()
    return result


def apply_roster(existing: Mapping[str, dict], entries: Iterable[dict], *, publish: bool,
                 actor: dict, at: datetime, shifts: Mapping[str, Shift],
                 policy: AttendancePolicy, reason: str | None = None,
                 tz=None) -> dict:
    """Plan a ``set_roster`` call against the stored entries (keyed by ``key``).

    Returns ``{"entries": [entry to upsert], "changes": [change record]}``;
    nothing is returned for entries that stay as they are, so calling twice
    writes nothing the second time. The whole batch is checked before anything
    is planned: one refused entry refuses the call (no partial writes).

    Change record: ``{key, employee_id, date, from_shift, to_shift, at,
    approved_by: {id, role}, reason}``.
    """
    at = as_utc(at)
    actor = actor or {}
    planned, changes = [], []
    for entry in normalise_entries(entries, shifts):
        old = existing.get(entry["key"])
        if old is None:
            planned.append(dict(entry, published=publish, published_at=at if publish else None,
                                changed_at=None, approved_by=None))
            continue
        if same_duty(old, entry):
            if publish and not old.get("published"):
                planned.append(dict(old, published=True, published_at=at))
            continue
        if not old.get("published"):
            planned.append(dict(old, shift_code=entry["shift_code"], on_call=entry["on_call"],
                                published=publish, published_at=at if publish else None))
            continue
        _check_change_allowed(old, actor, at, shifts, policy, tz)
        planned.append(dict(old, shift_code=entry["shift_code"], on_call=entry["on_call"],
                            changed_at=at,
                            approved_by={"id": actor.get("id"), "role": actor.get("role")}))
        changes.append({"key": old["key"], "employee_id": old["employee_id"],
                        "date": old["date"], "from_shift": old["shift_code"],
                        "to_shift": entry["shift_code"], "at": at,
                        "approved_by": {"id": actor.get("id"), "role": actor.get("role")},
                        "reason": reason})
    return {"entries": planned, "changes": changes}


def same_duty(old: Mapping, entry: Mapping) -> bool:
    """The same shift, on call or not alike: putting someone on or off call is a change."""
    return old["shift_code"] == entry["shift_code"] and \
        bool(old.get("on_call")) == bool(entry.get("on_call"))


def duty_touched(existing: Mapping[str, dict], planned: Iterable[dict]) -> list[dict]:
    """The published entries of a plan that are, or were, on-call shifts: what
    ``duty_rostered`` announces (an entry taken off call included, so the rota
    copies drop it)."""
    return [e for e in planned if e.get("published") and (
        e.get("on_call") or (existing.get(e["key"]) or {}).get("on_call"))]


def _check_change_allowed(old: dict, actor: dict, at: datetime, shifts, policy, tz) -> None:
    required = policy.roster.change_approver_role
    if not satisfies(actor.get("role"), required, policy.ladder):
        raise DomainPermission(
            f"{old['key']}: changing a published shift needs {required} approval "
            f"(002 §1.1.5); actor role is {actor.get('role')!r}")
    old_shift = shifts.get(old["shift_code"])
    if old_shift is not None:
        start, _ = shift_instants(old["date"], old_shift, tz)
        if at >= start:
            raise DomainConflict(
                f"{old['key']}: the rostered shift has already started; "
                "a change must be approved in advance")


def calendar_roster(employee_ids: Iterable[str], year: int, month: int,
                    calendar: WorkingCalendar, shift_code: str) -> list[dict]:
    """Entries for day staff: every calendar working day of the month.

    Make-up working days (调休, e.g. Saturday 2026-10-10) are included and public
    holidays left out, because the calendar already knows both.
    """
    days = [date(year, month, d) for d in range(1, _months.monthrange(year, month)[1] + 1)]
    return [{"employee_id": e, "date": d.isoformat(), "shift_code": shift_code}
            for e in employee_ids for d in days if calendar.is_working_day(d)]


# -- holiday rosters (002 §1.1.6) ------------------------------------------------
def holiday_periods(year: int, month: int, calendar: WorkingCalendar,
                    policy: AttendancePolicy) -> list[dict]:
    """Public holidays (per ``roster.holidays``) with at least one day in the month.

    A period is a run of consecutive non-working days carrying the same holiday
    name; it may begin in the previous month (Spring Festival often does), in
    which case ``first_day`` — and so the deadline — lies there too.
    """
    wanted = set(policy.roster.holidays)

    def name_of(day: date) -> str | None:
        name = calendar.holiday_name(day)
        if name in wanted and not calendar.is_working_day(day):
            return name
        return None

    first = date(year, month, 1)
    last = date(year, month, _months.monthrange(year, month)[1])
    periods: list[dict] = []
    day = first
    while day <= last:
        name = name_of(day)
        if not name:
            day += timedelta(days=1)
            continue
        start = day
        while name_of(start - timedelta(days=1)) == name:
            start -= timedelta(days=1)
        end = day
        while name_of(end + timedelta(days=1)) == name:
            end += timedelta(days=1)
        periods.append({"holiday": name, "first_day": start, "last_day": end,
                        "days_in_month": [start + timedelta(days=i)
                                          for i in range((end - start).days + 1)
                                          if first <= start + timedelta(days=i) <= last]})
        day = end + timedelta(days=1)
    return periods


def holiday_roster_deadline(first_day: date, policy: AttendancePolicy, tz) -> datetime:
    """Local midnight starting the day ``holiday_lead_days`` before the holiday.

    "于一周前" read as: at least seven whole days before the holiday begins, so
    for National Day 2026 (from 10-01) the roster is due by 2026-09-24 00:00.
    """
    day = first_day - timedelta(days=policy.roster.holiday_lead_days)
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def holidays_lacking_roster(year: int, month: int, entries: Iterable[dict],
                            calendar: WorkingCalendar, policy: AttendancePolicy,
                            now: datetime | None = None) -> list[dict]:
    """Holidays in the month whose roster was not published in time.

    ``entries`` are the stored roster entries (any employees; those outside the
    holidays are ignored). A holiday day counts as covered when it has at least
    one entry, and in time when every entry on it was published by the
    deadline. Each returned item::

        {"holiday", "first_day", "last_day", "deadline",
         "uncovered_days": [...], "unpublished_days": [...], "late_days": [...]}

    with dates as ISO strings and ``deadline`` a UTC datetime. Uncovered days are
    reported only when ``roster.require_every_holiday_day`` is on. With ``now``
    (a sweep), holidays whose deadline is still ahead are left out: they are not
    late yet.
    """
    by_day: dict[str, list[dict]] = {}
    for entry in entries:
        by_day.setdefault(parse_date(entry["date"]).isoformat(), []).append(entry)
    gaps = []
    for period in holiday_periods(year, month, calendar, policy):
        deadline = holiday_roster_deadline(period["first_day"], policy, calendar.tz)
        if now is not None and as_utc(now) <= deadline:
            continue
        uncovered, unpublished, late = [], [], []
        for day in period["days_in_month"]:
            todays = by_day.get(day.isoformat(), [])
            if not todays:
                if policy.roster.require_every_holiday_day:
                    uncovered.append(day.isoformat())
                continue
            if any(not e.get("published") or e.get("published_at") is None for e in todays):
                unpublished.append(day.isoformat())
            elif any(as_utc(e["published_at"]) > deadline for e in todays):
                late.append(day.isoformat())
        if uncovered or unpublished or late:
            gaps.append({"holiday": period["holiday"],
                         "first_day": period["first_day"].isoformat(),
                         "last_day": period["last_day"].isoformat(),
                         "deadline": deadline, "uncovered_days": uncovered,
                         "unpublished_days": unpublished, "late_days": late})
    return gaps
