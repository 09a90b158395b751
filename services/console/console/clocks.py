"""A case's SLA clocks as countdowns on the company's working calendar.

The complaints service keeps the clocks (rules §2) and says when each is due;
the console only shows how much time is left. A clock counted in working time
(``unit: working``) runs only during the department's working hours on
working days, so its countdown is working time and stands still at night, at
weekends and on public holidays — which are named beside it, so "3小时" on a
Friday afternoon before National Day reads right.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache

from zhidu.calendar import WorkingCalendar, load_calendar
from zhidu.times import as_utc, parse_time

# Holidays named beside a countdown are looked for this far ahead at most.
HOLIDAY_LOOKAHEAD_DAYS = 60


@lru_cache(maxsize=1)
def calendar() -> WorkingCalendar:
    return load_calendar()


@dataclass
class Countdown:
    name: str
    state: str                   # running | paused | met | waived
    flag: str                    # running | warned | breached | paused | met
    due: datetime | None
    working: bool
    department: str | None
    remaining_seconds: float     # negative once overdue
    ticking: bool                # the clock is counting at this moment
    escalation_level: int = 0
    escalations: list = field(default_factory=list)
    holidays: list[tuple[str, str]] = field(default_factory=list)  # (first day, name)
    met_at: datetime | None = None
    on_time: bool | None = None


def _t(value) -> datetime | None:
    if value in (None, ""):
        return None
    return as_utc(value) if isinstance(value, datetime) else parse_time(value)


def countdown(clock: dict, now: datetime, cal: WorkingCalendar | None = None) -> Countdown:
    cal = cal or calendar()
    now = as_utc(now)
    due = _t(clock.get("due"))
    working = clock.get("unit") == "working"
    department = clock.get("department")
    state = clock.get("state") or "running"
    warn_at = _t(clock.get("warn_at"))
    remaining = 0.0
    ticking = False
    if due is not None and state == "running":
        if working:
            remaining = (cal.working_seconds(now, due, department) if due > now
                         else -cal.working_seconds(due, now, department))
            ticking = cal.next_opening(now, department) == now
        else:
            remaining = (due - now).total_seconds()
            ticking = True
    if state in ("met", "waived"):
        flag = "met"
    elif state == "paused":
        flag = "paused"
    elif clock.get("breached") or (due is not None and due <= now):
        flag = "breached"
    elif clock.get("warned") or (warn_at is not None and warn_at <= now):
        flag = "warned"
    else:
        flag = "running"
    return Countdown(
        name=clock.get("name", "?"), state=state, flag=flag, due=due, working=working,
        department=department, remaining_seconds=remaining, ticking=ticking,
        escalation_level=int(clock.get("escalation_level") or 0),
        escalations=list(clock.get("escalations") or []),
        holidays=holidays_between(now, due, cal) if due is not None and due > now else [],
        met_at=_t(clock.get("met_at")), on_time=clock.get("on_time"))


def case_countdowns(case: dict, now: datetime) -> list[Countdown]:
    """The current round's clocks, nearest deadline first; finished ones last."""
    round_ = case.get("round", 1)
    clocks = [c for c in case.get("clocks") or [] if c.get("round", 1) == round_]
    shown = [countdown(c, now) for c in clocks]
    order = {"breached": 0, "warned": 1, "running": 2, "paused": 3, "met": 4}
    far = datetime.max.replace(tzinfo=now.tzinfo)
    return sorted(shown, key=lambda c: (order.get(c.flag, 5), c.due or far))


def holidays_between(start: datetime, end: datetime,
                     cal: WorkingCalendar) -> list[tuple[str, str]]:
    """Public holidays (by first day) between two moments, as (date, name)."""
    tz = cal.tz
    first = start.astimezone(tz).date()
    last = min(end.astimezone(tz).date(), first + timedelta(days=HOLIDAY_LOOKAHEAD_DAYS))
    out: list[tuple[str, str]] = []
    seen = set()
    day: date = first
    while day <= last:
        name = cal.holiday_name(day)
        if name and name not in seen and not cal.is_working_day(day):
            seen.add(name)
            out.append((day.isoformat(), name))
        day += timedelta(days=1)
    return out
