"""The working calendar every service shares (rules §1).

A working day is Monday–Friday, minus the public holidays, plus the make-up
working days the State Council announces, as published by ``chinesecalendar``,
then corrected by the company's own closures and extra working days. Years the
package does not know fall back to Monday–Friday plus overrides, with a warning
logged once per year, so a deadline in a new year never crashes a service.

Pure: no I/O beyond reading the policy file handed to :func:`load_calendar`.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import yaml

from .times import UTC, as_utc, local_tz

log = logging.getLogger(__name__)

DEFAULT_POLICY = Path(__file__).with_name("calendar.yaml")
# Beyond this many days a walk is a configuration error (a calendar with no
# working days at all), not a deadline.
MAX_WALK_DAYS = 3660
# The longest span counted day by day (about 41 years: every time the edge
# accepts, 2000-01-01 to a year ahead, fits). Anything longer is refused
# rather than walked, so no input can hold a worker for long.
MAX_SPAN_DAYS = 15000


class CalendarRangeError(ValueError):
    """A calendar computation reaching further than any real deadline can."""


def _hm(text: str) -> time:
    hours, minutes = (int(part) for part in str(text).split(":"))
    if hours == 24 and minutes == 0:
        return time.max
    return time(hours, minutes)


@dataclass(frozen=True)
class Hours:
    opens: time
    closes: time

    def __post_init__(self):
        if not self.opens < self.closes:
            raise ValueError(f"working hours must open before they close: {self}")

    @property
    def seconds(self) -> float:
        return _seconds(self.opens, self.closes)


def _seconds(a: time, b: time) -> float:
    return (datetime.combine(date.min, b) - datetime.combine(date.min, a)).total_seconds()


@dataclass
class WorkingCalendar:
    tz: ZoneInfo = field(default_factory=local_tz)
    hours: Hours = field(default_factory=lambda: Hours(time(8, 30), time(16, 20)))
    department_hours: dict[str, Hours] = field(default_factory=dict)
    extra_closures: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()
    _warned_years: set = field(default_factory=set, repr=False)
    _years: dict = field(default_factory=dict, repr=False)

    # -- days ---------------------------------------------------------------
    def is_working_day(self, day: date) -> bool:
        # The package's lookup costs tens of microseconds a day; counting a
        # long span day by day would take seconds without this per-year table.
        year = self._years.get(day.year)
        if year is None:
            first = date(day.year, 1, 1)
            year = self._years[day.year] = [
                self._is_working_day(date.fromordinal(first.toordinal() + offset))
                for offset in range((date(day.year, 12, 31) - first).days + 1)]
        return year[day.timetuple().tm_yday - 1]

    def _is_working_day(self, day: date) -> bool:
        if day in self.extra_closures:
            return False
        if day in self.extra_workdays:
            return True
        try:
            return chinese_calendar.is_workday(day)
        except NotImplementedError:
            if day.year not in self._warned_years:
                self._warned_years.add(day.year)
                log.warning(
                    "no official holiday data for %s: using Monday-Friday plus "
                    "company overrides", day.year)
            return day.weekday() < 5

    def holiday_name(self, day: date) -> str | None:
        try:
            on_holiday, name = chinese_calendar.get_holiday_detail(day)
        except NotImplementedError:
            return None
        return name if on_holiday else None

    def next_working_day(self, day: date, *, include_self: bool = False) -> date:
        current = day if include_self else day + timedelta(days=1)
        for _ in range(MAX_WALK_DAYS):
            if self.is_working_day(current):
                return current
            current += timedelta(days=1)
        raise ValueError("the calendar has no working day within ten years")

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in [start, end)."""
        _check_span(start, end)
        count, current = 0, start
        while current < end:
            count += self.is_working_day(current)
            current += timedelta(days=1)
        return count

    # -- hours --------------------------------------------------------------
    def hours_for(self, department: str | None = None) -> Hours:
        return self.department_hours.get(department or "", self.hours)

    def _window(self, day: date, hours: Hours) -> tuple[datetime, datetime]:
        opens = datetime.combine(day, hours.opens, tzinfo=self.tz)
        if hours.closes == time.max:
            closes = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.tz)
        else:
            closes = datetime.combine(day, hours.closes, tzinfo=self.tz)
        return opens.astimezone(UTC), closes.astimezone(UTC)

    def next_opening(self, moment: datetime, department: str | None = None) -> datetime:
        """``moment`` itself if it is inside working hours, else the next opening."""
        hours = self.hours_for(department)
        moment = as_utc(moment)
        day = moment.astimezone(self.tz).date()
        for _ in range(MAX_WALK_DAYS):
            if self.is_working_day(day):
                opens, closes = self._window(day, hours)
                if moment < opens:
                    return opens
                if moment < closes:
                    return moment
            day += timedelta(days=1)
        raise ValueError("the calendar has no working day within ten years")

    def add_working_days(self, moment: datetime, days: int,
                         department: str | None = None) -> datetime:
        """The same clock time on the ``days``-th following working day.

        Outside working hours, counting starts at the next opening (rules §1).
        """
        if days > MAX_WALK_DAYS:
            raise CalendarRangeError(f"{days} working days is beyond the calendar's reach")
        start = self.next_opening(moment, department).astimezone(self.tz)
        day = start.date()
        for _ in range(days):
            day = self.next_working_day(day)
        return datetime.combine(day, start.timetz().replace(tzinfo=None),
                                tzinfo=self.tz).astimezone(UTC)

    def add_working_time(self, moment: datetime, seconds: float,
                         department: str | None = None) -> datetime:
        """Walk ``seconds`` of working time forward from ``moment``.

        A walk that ends exactly at a closing time is reported as the next
        opening: "one working day" from 08:30 is 08:30 the next working day.
        """
        hours = self.hours_for(department)
        remaining = max(0.0, float(seconds))
        cursor = self.next_opening(moment, department)
        day = cursor.astimezone(self.tz).date()
        for _ in range(MAX_WALK_DAYS):
            if self.is_working_day(day):
                opens, closes = self._window(day, hours)
                cursor = max(cursor, opens)
                available = (closes - cursor).total_seconds()
                if remaining < available:
                    return cursor + timedelta(seconds=remaining)
                remaining -= available
                if remaining == 0:
                    return self.next_opening(closes, department)
            day += timedelta(days=1)
        raise ValueError("the calendar has no working day within ten years")

    def working_seconds(self, start: datetime, end: datetime,
                        department: str | None = None) -> float:
        """Working time between two moments (0 when ``end <= start``)."""
        start, end = as_utc(start), as_utc(end)
        if end <= start:
            return 0.0
        hours = self.hours_for(department)
        total = 0.0
        day = start.astimezone(self.tz).date()
        last = end.astimezone(self.tz).date()
        _check_span(day, last)
        while day <= last:
            if self.is_working_day(day):
                opens, closes = self._window(day, hours)
                lo, hi = max(opens, start), min(closes, end)
                if hi > lo:
                    total += (hi - lo).total_seconds()
            day += timedelta(days=1)
        return total

    def working_day_seconds(self, department: str | None = None) -> float:
        return self.hours_for(department).seconds


def _check_span(start: date, end: date) -> None:
    if (end - start).days > MAX_SPAN_DAYS:
        raise CalendarRangeError(f"{start} to {end} is beyond the calendar's reach "
                                 f"({MAX_SPAN_DAYS} days)")


def _hours(value, where: str) -> Hours:
    try:
        opens, closes = value
        return Hours(_hm(opens), _hm(closes))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: expected [\"HH:MM\", \"HH:MM\"] ({exc})") from exc


def _dates(values, where: str) -> frozenset[date]:
    try:
        return frozenset(date.fromisoformat(str(v)) for v in values or ())
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def calendar_from_policy(policy: dict, tz: ZoneInfo | None = None) -> WorkingCalendar:
    """Build a calendar from its policy dict; raises ``ValueError`` naming the key."""
    hours = policy.get("working_hours") or {}
    departments = {
        name: _hours(value, f"working_hours.departments.{name}")
        for name, value in (hours.get("departments") or {}).items()
    }
    closures = _dates(policy.get("extra_closures"), "extra_closures")
    workdays = _dates(policy.get("extra_workdays"), "extra_workdays")
    if closures & workdays:
        raise ValueError(f"dates both closed and working: {sorted(closures & workdays)}")
    return WorkingCalendar(
        tz=tz or local_tz(),
        hours=_hours(hours.get("default", ["08:30", "16:20"]), "working_hours.default"),
        department_hours=departments,
        extra_closures=closures,
        extra_workdays=workdays,
    )


def load_calendar(path: str | os.PathLike | None = None) -> WorkingCalendar:
    """The company calendar: ``ZHIDU_CALENDAR_FILE`` or the shipped default."""
    path = Path(path or os.environ.get("ZHIDU_CALENDAR_FILE") or DEFAULT_POLICY)
    with open(path, encoding="utf-8") as handle:
        return calendar_from_policy(yaml.safe_load(handle) or {})
