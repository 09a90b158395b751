"""The duty log (《值班日志》, 002 §4 4.8, 5.1–5.2) and its reviews (002 §2 二.1–2).

Each post keeps a log: what the people on duty write down during the shift,
and each shift's handover record (see ``handover``). Three reviews read it,
each signed by its reviewer:

- ``daily``: the department head checks the day's log and signs it (4.8);
- ``monthly``: the supervisor reads the month's log and signs it (二.1);
- ``spot_check``: a sample of no less than 20% of the month's logged days,
  checked at an irregular time and signed (二.2).

Decisions (the seeds are silent or loose):
- A day is *logged* when the post wrote an entry or completed a handover that
  (local) day; only logged days owe a daily review, and only months with a
  logged day owe the monthly review and the spot check.
- Deadlines: day D's review by the end of day D + ``due_days`` (1); month M's
  review and spot check by the end of the ``due_day`` (5th) of month M+1, so
  the whole month can be read. The seeds give no date beyond "daily" and
  "monthly".
- The spot check's 20% is of the days logged in the month by the time it is
  made, rounded up; its days are named and must be logged days. One spot check
  and one monthly review per post and month.
- A review may be signed late: it is recorded with ``on_time: false`` and
  stops the reminders.
- The seeds are two regulations put together (customer service's 4.8, and
  another centre's 二.1–2); the suite keeps every duty either names.
"""
from __future__ import annotations

import calendar as _months
import math
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from zhidu.domain import DomainConflict, DomainValidation
from zhidu.times import UTC, as_utc, local_date, local_tz

from .policy import AttendancePolicy, Post

SOURCES = {"daily": "002 §4 4.8", "monthly": "002 §2 二.1", "spot_check": "002 §2 二.2"}


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def duty_key(post: str, kind: str, period: str) -> str:
    return f"duty:{post}:{kind}:{period}"


def log_entry(*, post: Post, by: str, at: datetime, text: str, important: bool,
              tz=None) -> dict:
    """One line of the post's log, keyed by post, writer and moment (a replay adds nothing)."""
    at = as_utc(at)
    day = local_date(at, tz or local_tz())
    return {"key": f"{post.code}:{by}:{at.isoformat()}", "post": post.code,
            "department": post.department, "date": day.isoformat(), "month": month_of(day),
            "at": at, "by": by, "text": text, "important": bool(important)}


def _end_of(day: date, tz) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)


def review_due(kind: str, period: str, policy: AttendancePolicy, tz=None) -> datetime:
    """When the review of ``period`` (a day for ``daily``, else ``YYYY-MM``) falls due."""
    tz = tz or local_tz()
    duty = policy.duty_log.reviews[kind]
    if kind == "daily":
        return _end_of(date.fromisoformat(period) + timedelta(days=duty.due_days), tz)
    year, month = (int(p) for p in period.split("-"))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    last = _months.monthrange(year, month)[1]
    return _end_of(date(year, month, min(duty.due_day, last)), tz)


def duties_of_logged_day(post: Post, day: date, policy: AttendancePolicy, tz=None) -> list[dict]:
    """The reviews a logged day makes due: its daily review and its month's two."""
    periods = [("daily", day.isoformat()), ("monthly", month_of(day)),
               ("spot_check", month_of(day))]
    return [{"key": duty_key(post.code, kind, period), "kind": "duty_review",
             "post": post.code, "department": post.department, "review": kind,
             "period": period, "due_at": review_due(kind, period, policy, tz),
             "holders": list(policy.duty_log.reviews[kind].reviewers),
             "source": SOURCES[kind]}
            for kind, period in periods]


def required_sample(logged_days: int, percent: int) -> int:
    """Days a spot check covers at least: ``percent`` of those logged, rounded up."""
    return math.ceil(logged_days * percent / 100)


def review(*, post: Post, kind: str, reviewer: dict, at: datetime,
           day: date | None = None, year: int | None = None, month: int | None = None,
           days: Iterable[date] = (), logged_days: Iterable[str] = (),
           note: str | None = None, policy: AttendancePolicy, tz=None) -> dict:
    """A signed review of the post's log for one period.

    ``logged_days``: the ISO days the post logged in the month (spot checks).
    Refuses a period not begun and a spot check that samples too little.
    """
    tz = tz or local_tz()
    at = as_utc(at)
    if kind == "daily":
        if day is None:
            raise DomainValidation.one("date", "a daily review names the day")
        period, first = day.isoformat(), day
    else:
        if year is None or month is None:
            raise DomainValidation.one("month", f"a {kind} review names the year and month")
        period, first = f"{year:04d}-{month:02d}", date(year, month, 1)
    if local_date(at, tz) < first:
        raise DomainConflict(f"the log of {period} cannot be reviewed before it is kept")
    sample: list[str] = []
    if kind == "spot_check":
        logged = sorted(set(logged_days))
        sample = sorted({d.isoformat() for d in days or ()})
        outside = [d for d in sample if d not in logged]
        if outside:
            raise DomainValidation.one("days", "not logged days of the month: "
                                               + ", ".join(outside))
        needed = required_sample(len(logged), policy.duty_log.reviews[kind].min_percent)
        if not logged:
            raise DomainConflict(f"{post.code} logged nothing in {period} to sample")
        if len(sample) < needed:
            raise DomainValidation.one("days", f"a spot check covers at least "
                                               f"{policy.duty_log.reviews[kind].min_percent}% "
                                               f"of the {len(logged)} logged days: {needed} "
                                               f"({SOURCES[kind]})")
    elif days:
        raise DomainValidation.one("days", "only a spot check names sampled days")
    due = review_due(kind, period, policy, tz)
    return {"key": duty_key(post.code, kind, period), "post": post.code,
            "department": post.department, "kind": kind, "period": period, "at": at,
            "reviewer": dict(reviewer), "days": sample, "due_at": due, "on_time": at <= due,
            "note": note, "source": SOURCES[kind]}
