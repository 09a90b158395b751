"""Absenteeism (旷工) and the dismissal threshold (000 §2 四.3(1)).

"未办理请假手续擅自离开岗位、或请假期满未来上班也未续假者,3天(含)以内按旷工处理,
3天以上按违纪解除劳动合同处理." The seed gives no period for the count.

Decision: absence days are **cumulated per calendar year** (local dates,
``absence.window: calendar_year``). Payroll, the penalty ledger and the meeting
threshold all run per year, and "3 days in total" (rules §3) reads as a total,
not a run of consecutive days. A company preferring a rolling window sets
``window: rolling`` and ``rolling_days``. Up to 3 days the employee is recorded
as absent (absenteeism); the 4th day raises ``dismissal_review_required`` —
a review by people, never an automatic dismissal — once per window, keyed so a
store's unique index makes "once" hold under replays.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from zhidu.times import parse_date

from .policy import AttendancePolicy


def absence_record(evaluation: dict) -> dict | None:
    """The ``absence_recorded`` body for an absent day, else ``None``.

    ``{"key": "absence:E1:2026-03-02", "employee_id", "date", "reason"}``.
    """
    if not evaluation.get("absence"):
        return None
    return {"key": f"absence:{evaluation['employee_id']}:{evaluation['date']}",
            "employee_id": evaluation["employee_id"], "date": evaluation["date"],
            "reason": evaluation["absence_reason"]}


def absence_cause(evaluation: dict, last_leave_end=None, last_present=None) -> str:
    """Why the day is an absence, naming "not returning when leave ends" (四.3(1)).

    A day without a clock-in is ``not_returned_after_leave`` when the employee's
    latest approved leave ended before it and they have not been present
    since; the count towards dismissal is the same, the record says why.
    """
    reason = evaluation["absence_reason"]
    if reason != "no_clock_in" or last_leave_end is None:
        return reason
    day, ended = parse_date(evaluation["date"]), parse_date(last_leave_end)
    if ended < day and (last_present is None or parse_date(last_present) <= ended):
        return "not_returned_after_leave"
    return reason


def absence_window(as_of, policy: AttendancePolicy) -> tuple[date, date]:
    """Inclusive first and last date counted when judging ``as_of``."""
    as_of = parse_date(as_of)
    if policy.absence.window == "rolling":
        return as_of - timedelta(days=policy.absence.rolling_days - 1), as_of
    return date(as_of.year, 1, 1), as_of


def assess_absenteeism(employee_id: str, absence_days: Iterable, as_of,
                       policy: AttendancePolicy) -> dict:
    """Judge the employee's unapproved absence days up to ``as_of``.

    ``absence_days``: dates (or ISO strings) of the absence records; duplicates
    count once. Returns::

        {"employee_id", "window_start", "window_end", "days": int, "dates": [...],
         "status": "none" | "absenteeism" | "dismissal_review",
         "dismissal_review_required": bool, "dismissal_review_key": str | None}
    """
    first, last = absence_window(as_of, policy)
    dates = sorted({d for d in map(parse_date, absence_days or ()) if first <= d <= last})
    limit = policy.absence.dismissal_after_days
    over = len(dates) > limit
    key = None
    if over:
        if policy.absence.window == "rolling":
            # The day that tipped the count over names the episode.
            key = f"dismissal_review:{employee_id}:{dates[limit].isoformat()}"
        else:
            key = f"dismissal_review:{employee_id}:{first.year}"
    return {"employee_id": employee_id, "window_start": first.isoformat(),
            "window_end": last.isoformat(), "days": len(dates),
            "dates": [d.isoformat() for d in dates],
            "status": "dismissal_review" if over else ("absenteeism" if dates else "none"),
            "dismissal_review_required": over, "dismissal_review_key": key}
