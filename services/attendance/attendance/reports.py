"""The attendance clerk's monthly report (考勤月报表).

Sources: 000 §2 五.2 "每月30日前上报", 002 §1.1.3 customer service "每月25日";
late: 5 points each to the clerk and the department head (000 §2 六.3).

Decisions:
- The report for month M is due in month M itself, on the department's due day
  (``reports.monthly.departments``, else ``due_day``): the seeds describe a
  report sent at the end of the month it covers.
- "By the 30th" includes the whole 30th: the deadline is local midnight at the
  end of the due day. A month shorter than the due day (February) is due on its
  last day. Weekends and holidays do not move the deadline; the seed does not
  say they do, and the clerk knows the date a month ahead.
- An unsubmitted report past its deadline is ``overdue`` and already books R01;
  submitting it later yields the same violation keys, so nothing is booked twice.
"""
from __future__ import annotations

import calendar as _months
from datetime import date, datetime, time, timedelta

from zhidu.domain import DomainValidation
from zhidu.times import UTC, as_utc, local_tz

from .policy import AttendancePolicy
from .violations import violation


def monthly_report_due(department: str, year: int, month: int, policy: AttendancePolicy,
                       tz=None) -> datetime:
    """The UTC instant after which the department's report for the month is late."""
    if not 1 <= int(month) <= 12:
        raise DomainValidation.one("month", "expected 1–12")
    last = _months.monthrange(year, month)[1]
    day = date(year, month, min(policy.reports.due_day_for(department), last))
    local_end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz or local_tz())
    return local_end.astimezone(UTC)


def monthly_report_status(*, department: str, year: int, month: int,
                          policy: AttendancePolicy, submitted_at: datetime | None = None,
                          now: datetime | None = None, clerk_id: str | None = None,
                          head_id: str | None = None, tz=None) -> dict:
    """Judge one department's report for (year, month).

    Give ``submitted_at`` for a submitted report, else ``now`` (a sweep).
    Returns ``{"key", "department", "year", "month", "due_at", "submitted_at",
    "status": "on_time"|"late"|"pending"|"overdue", "violations": [...]}``; late
    and overdue carry one R01 violation for the clerk (``clerk_id``) whose
    ``detail`` names the head (``dept_manager_id``) and ``charge`` — both are
    booked the full 5 points by the penalties catalogue from that one event.
    """
    if submitted_at is None and now is None:
        raise DomainValidation.one("at", "give submitted_at or now")
    due = monthly_report_due(department, year, month, policy, tz)
    period = f"{year:04d}-{month:02d}"
    key = f"report:{department}:{period}"
    if submitted_at is not None:
        submitted_at = as_utc(submitted_at)
        status, moment = ("on_time" if submitted_at <= due else "late"), submitted_at
    else:
        status, moment = ("pending" if as_utc(now) <= due else "overdue"), due
    violations = []
    if status in ("late", "overdue"):
        code = policy.reports.rule
        violations.append(violation(
            policy.catalogue, code, key=f"{key}:{code}", employee_id=clerk_id,
            role="attendance_clerk", at=moment,
            detail={"department": department, "period": period, "due_at": due,
                    "dept_manager_id": head_id,
                    "charge": list(policy.catalogue.rule(code).applies_to)}))
    return {"key": key, "department": department, "year": year, "month": month,
            "due_at": due, "submitted_at": submitted_at, "status": status,
            "violations": violations}
