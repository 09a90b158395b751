"""Meeting discipline (会议管理, 000 §3).

Decisions:
- "会议召开前10分钟到场 … 在会议规定召开时间内未到的计为迟到": being seated 10
  minutes early is the expectation, lateness is arriving *after* the start.
  A check-in at or before the start is on time (``seated_early`` when at least
  10 minutes before), after it is late: M01 (2), or M02 (5) instead when the
  attendee came only after being reminded. One lateness per meeting: M01 and
  M02 share one key, so a re-sent check-in cannot book both.
- Early leave is M03 unless the chair consented; phone (M05) and unprepared
  report (M06) are per incident. Absence (M04) is decided at close for every
  invited attendee with no check-in and no approved meeting leave (请假须经
  综合办公室批准, passed in as ``excused``).
- Length: scheduling beyond the kind's maximum (regular 60, annual assembly 90
  minutes, 三.2 "不得超过") is refused; a meeting that actually ran longer is
  flagged ``over_length`` at close — it names no one, so it books no points.
- Award eligibility (十.8 "年度扣罚超过3次或扣分超过15分"): strictly more than 3
  penalties or strictly more than 15 points in a calendar year (local dates)
  loses it; reversed entries do not count.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from zhidu.domain import DomainConflict, DomainValidation, Problems
from zhidu.times import as_utc, local_date, to_iso

from .policy import MeetingPolicy
from .violations import violation

INCIDENT_KINDS = ("early_leave", "phone", "unprepared")


def schedule_meeting(*, meeting_id: str, kind: str, start: datetime, planned_minutes: int,
                     attendees: Iterable[str], chair_id: str, policy: MeetingPolicy) -> dict:
    """Validate and build a meeting record::

        {"meeting_id", "kind", "start", "planned_minutes", "max_minutes",
         "attendees": [...], "chair_id", "seated_by", "status": "scheduled",
         "ended_at": None}
    """
    problems = Problems()
    if not isinstance(meeting_id, str) or not meeting_id:
        problems.add("meeting_id", "required")
    max_minutes = policy.max_minutes.get(kind)
    if max_minutes is None:
        problems.add("kind", f"expected one of {', '.join(policy.max_minutes)}")
    if isinstance(planned_minutes, bool) or not isinstance(planned_minutes, int) \
            or planned_minutes < 1:
        problems.add("planned_minutes", "expected an integer >= 1")
    elif max_minutes is not None and planned_minutes > max_minutes:
        problems.add("planned_minutes", f"a {kind} meeting lasts at most {max_minutes} minutes")
    attendees = list(attendees or [])
    if not attendees or not all(isinstance(a, str) and a for a in attendees):
        problems.add("attendees", "expected a non-empty list of employee ids")
    elif len(set(attendees)) != len(attendees):
        problems.add("attendees", "duplicate employee ids")
    if not isinstance(chair_id, str) or not chair_id:
        problems.add("chair_id", "required")
    if not isinstance(start, datetime):
        problems.add("start", "expected a date-time")
    problems.raise_if_any()
    start = as_utc(start)
    return {"meeting_id": meeting_id, "kind": kind, "start": start,
            "planned_minutes": planned_minutes, "max_minutes": max_minutes,
            "attendees": sorted(attendees), "chair_id": chair_id,
            "seated_by": start - timedelta(minutes=policy.seated_early_minutes),
            "status": "scheduled", "ended_at": None}


def _attendee(meeting: dict, employee_id: str) -> None:
    if employee_id not in meeting["attendees"]:
        raise DomainValidation.one("employee_id", f"not invited to {meeting['meeting_id']}")
    if meeting.get("status") == "closed":
        raise DomainConflict(f"meeting {meeting['meeting_id']} is closed")


def evaluate_checkin(meeting: dict, employee_id: str, at: datetime, *, reminded: bool = False,
                     policy: MeetingPolicy) -> dict:
    """``{"employee_id", "at", "status": "seated_early"|"on_time"|"late",
    "minutes_late", "violation": violation | None}``."""
    _attendee(meeting, employee_id)
    at, start = as_utc(at), as_utc(meeting["start"])
    result = {"employee_id": employee_id, "at": at, "minutes_late": 0, "violation": None}
    if at <= start:
        seated = at <= as_utc(meeting["seated_by"])
        return dict(result, status="seated_early" if seated else "on_time")
    seconds = int((at - start).total_seconds())
    code = "M02" if reminded else "M01"
    key = f"meeting:{meeting['meeting_id']}:{employee_id}:late"
    return dict(result, status="late", minutes_late=-(-seconds // 60),
                violation=violation(policy.catalogue, code, key=key,
                                    employee_id=employee_id, at=at,
                                    detail={"reminded": bool(reminded)}))


def meeting_incident(meeting: dict, employee_id: str, kind: str, at: datetime, *,
                     policy: MeetingPolicy, chair_consent: bool = False,
                     incident_id: str | None = None) -> dict | None:
    """The violation for an incident, or ``None`` (early leave the chair allowed)."""
    _attendee(meeting, employee_id)
    if kind not in INCIDENT_KINDS:
        raise DomainValidation.one("kind", f"expected one of {', '.join(INCIDENT_KINDS)}")
    at = as_utc(at)
    prefix = f"meeting:{meeting['meeting_id']}:{employee_id}"
    if kind == "early_leave":
        if chair_consent:
            return None
        code, key = "M03", f"{prefix}:early_leave"
    else:
        code = "M05" if kind == "phone" else "M06"
        key = f"{prefix}:{kind}:{incident_id or to_iso(at)}"
    return violation(policy.catalogue, code, key=key,
                     employee_id=employee_id, at=at)


def close_meeting(meeting: dict, *, ended_at: datetime, checked_in: Iterable[str],
                  excused: Iterable[str] = (), policy: MeetingPolicy) -> dict:
    """Close: absences and the length check.

    Returns ``{"meeting_id", "ended_at", "actual_minutes", "max_minutes",
    "over_length", "over_planned", "absent": [...], "violations": [M04...]}``.
    """
    ended_at, start = as_utc(ended_at), as_utc(meeting["start"])
    if ended_at <= start:
        raise DomainValidation.one("ended_at", "must be after the start")
    present, excused = set(checked_in or ()), set(excused or ())
    absent = [e for e in meeting["attendees"] if e not in present and e not in excused]
    minutes = -(-int((ended_at - start).total_seconds()) // 60)
    max_minutes = policy.max_minutes.get(meeting["kind"], meeting.get("max_minutes"))
    return {"meeting_id": meeting["meeting_id"], "ended_at": ended_at,
            "actual_minutes": minutes, "max_minutes": max_minutes,
            "over_length": minutes > max_minutes,
            "over_planned": minutes > meeting["planned_minutes"], "absent": absent,
            "violations": [violation(policy.catalogue, "M04",
                                     key=f"meeting:{meeting['meeting_id']}:{e}:absent",
                                     employee_id=e, at=start)
                           for e in absent]}


def award_eligibility(employee_id: str, penalties: Iterable[dict], year: int,
                      policy: MeetingPolicy, tz=None) -> dict:
    """Meeting penalties of one employee in ``year`` against the threshold.

    ``penalties``: violations (``points``, ``at``; ``reversed: True`` skips one).
    Returns ``{"employee_id", "year", "penalties", "points", "eligible",
    "exceeded": ["penalties"|"points"], "key"}``; ``key`` names the
    ``threshold_reached`` event so it is raised once per year.
    """
    counted = [p for p in penalties or () if not p.get("reversed")
               and local_date(as_utc(p["at"]), tz).year == year]
    count, points = len(counted), sum(int(p.get("points", 0)) for p in counted)
    exceeded = [name for name, over in (("penalties", count > policy.max_penalties),
                                        ("points", points > policy.max_points)) if over]
    return {"employee_id": employee_id, "year": year, "penalties": count, "points": points,
            "eligible": not exceeded, "exceeded": exceeded,
            "key": f"award_ineligible:meeting:{employee_id}:{year}"}
