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
- Changing a meeting (六.2 notices) is possible until it begins: the new
  arrangement is checked as a new schedule would be, and each change is a
  new ``version`` whose notice goes to everyone invited before or after it.
- Leave from a meeting (三.4 "须向综合办公室请假,同时指定专人代为参会") is
  asked before the meeting begins, names a substitute who is not invited
  already, and is decided by the general office. Once approved the
  substitute is invited in the person's place: bound to attend, liable to
  M04 like anyone invited; the person is excused.
- Minutes (八 "于次日下发会议纪要") are due by the end of the ``due_days``-th
  day after the meeting's local day; they are issued once the meeting is
  closed, and each decision in them names its owner and the day it is due
  (九.1). An owner reports the decision's follow-up to the general office
  by then (九.3, 十.7); until they do it is chased.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from zhidu.domain import DomainConflict, DomainPermission, DomainValidation, Problems
from zhidu.times import UTC, as_utc, local_date, to_iso

from .policy import MeetingPolicy
from .violations import violation

INCIDENT_KINDS = ("early_leave", "phone", "unprepared")


def schedule_meeting(*, meeting_id: str, kind: str, start: datetime, planned_minutes: int,
                     attendees: Iterable[str], chair_id: str, policy: MeetingPolicy,
                     title: str | None = None, location: str | None = None,
                     minute_taker_id: str | None = None) -> dict:
    """Validate and build a meeting record::

        {"meeting_id", "kind", "start", "planned_minutes", "max_minutes",
         "attendees": [...], "chair_id", "seated_by", "status": "scheduled",
         "ended_at": None, "title", "location", "minute_taker_id", "version": 1}
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
            "status": "scheduled", "ended_at": None, "title": title, "location": location,
            "minute_taker_id": minute_taker_id, "version": 1}


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


# -- changes, leave, minutes and decisions (000 §3 三.4, 六.2, 八, 九) ----------------
# What a change may touch; the rest (id, kind) makes it the same meeting.
CHANGEABLE = ("start", "planned_minutes", "attendees", "chair_id", "title", "location",
              "minute_taker_id")


def _open_before_start(meeting: dict, at: datetime, what: str) -> None:
    if meeting.get("status") == "closed":
        raise DomainConflict(f"meeting {meeting['meeting_id']} is closed")
    if as_utc(at) >= as_utc(meeting["start"]):
        raise DomainConflict(f"meeting {meeting['meeting_id']} began at "
                             f"{to_iso(meeting['start'])}: {what} before it begins")


def change_meeting(meeting: dict, changes: dict, *, at: datetime,
                   policy: MeetingPolicy) -> dict:
    """A new arrangement of a meeting that has not begun.

    ``changes``: any of :data:`CHANGEABLE`. Returns ``{"meeting": the record
    with the next version, "changed": [field], "previous_start", "added":
    [id], "removed": [id]}``; ``changed`` is empty (and the record the same)
    when nothing differs, so the same change twice is one change.
    """
    _open_before_start(meeting, at, "it is changed")
    wanted = {k: v for k, v in changes.items() if k in CHANGEABLE}
    merged = {k: meeting.get(k) for k in CHANGEABLE} | wanted
    planned = schedule_meeting(meeting_id=meeting["meeting_id"], kind=meeting["kind"],
                               policy=policy, **merged)
    if as_utc(planned["start"]) <= as_utc(at):
        raise DomainValidation.one("start", "a meeting is moved to a time still ahead")
    changed = [k for k in CHANGEABLE if planned[k] != meeting.get(k)
               and not (k == "start" and as_utc(planned[k]) == as_utc(meeting[k]))]
    before, after = set(meeting["attendees"]), set(planned["attendees"])
    result = {"changed": changed, "previous_start": as_utc(meeting["start"]),
              "added": sorted(after - before), "removed": sorted(before - after)}
    if not changed:
        return dict(result, meeting=meeting)
    updated = dict(meeting, **{k: planned[k] for k in CHANGEABLE},
                   seated_by=planned["seated_by"], max_minutes=planned["max_minutes"],
                   version=int(meeting.get("version") or 1) + 1, changed_at=as_utc(at))
    return dict(result, meeting=updated)


def request_meeting_leave(meeting: dict, *, employee_id: str, substitute_id: str,
                          reason: str | None, at: datetime) -> dict:
    """Leave from one meeting, asked of the general office with a substitute (三.4)::

        {"key", "meeting_id", "employee_id", "substitute_id", "reason",
         "requested_at", "status": "pending", "decided_at", "decided_by", "note"}
    """
    _attendee(meeting, employee_id)
    _open_before_start(meeting, at, "leave from it is asked")
    if not isinstance(substitute_id, str) or not substitute_id:
        raise DomainValidation.one("substitute_id", "name who attends in your place (三.4)")
    if substitute_id == employee_id:
        raise DomainValidation.one("substitute_id", "someone else attends in your place")
    if substitute_id in meeting["attendees"] or substitute_id == meeting["chair_id"]:
        raise DomainValidation.one("substitute_id", "is invited already; a substitute "
                                                    "attends in your place")
    return {"key": f"{meeting['meeting_id']}:{employee_id}",
            "meeting_id": meeting["meeting_id"], "employee_id": employee_id,
            "substitute_id": substitute_id, "reason": reason, "requested_at": as_utc(at),
            "status": "pending", "decided_at": None, "decided_by": None, "note": None}


def same_leave_request(held: dict, asked: dict) -> bool:
    return (held["substitute_id"], held.get("reason")) == \
        (asked["substitute_id"], asked.get("reason"))


def decide_meeting_leave(leave: dict, meeting: dict, *, approve: bool, at: datetime,
                         actor: dict, note: str | None = None) -> dict:
    """The general office's decision. The same decision again answers with the
    record as it stands; the other one conflicts."""
    status = "approved" if approve else "rejected"
    if leave["status"] != "pending":
        if leave["status"] == status:
            return leave
        raise DomainConflict(f"the leave of {leave['employee_id']} from "
                             f"{leave['meeting_id']} was {leave['status']} already")
    if meeting.get("status") == "closed":
        raise DomainConflict(f"meeting {meeting['meeting_id']} is closed")
    if (actor or {}).get("id") == leave["employee_id"]:
        raise DomainPermission("nobody decides their own leave")
    if approve and (leave["substitute_id"] in meeting["attendees"]
                    or leave["substitute_id"] == meeting["chair_id"]):
        raise DomainConflict(f"{leave['substitute_id']} is invited already; ask for "
                             "another substitute")
    return dict(leave, status=status, decided_at=as_utc(at),
                decided_by={"id": (actor or {}).get("id"), "role": (actor or {}).get("role")},
                note=note)


def with_substitute(meeting: dict, leave: dict) -> dict:
    """The meeting with an approved leave's substitute invited in the person's place."""
    substitutes = dict(meeting.get("substitutes") or {})
    substitutes[leave["employee_id"]] = leave["substitute_id"]
    return dict(meeting, attendees=sorted(set(meeting["attendees"]) | {leave["substitute_id"]}),
                substitutes=substitutes)


def _end_of_local_day(day: date, tz) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)


def minutes_due(meeting: dict, policy: MeetingPolicy, tz) -> datetime:
    """The end of the ``minutes.due_days``-th local day after the meeting's (八 次日)."""
    day = local_date(as_utc(meeting["start"]), tz)
    return _end_of_local_day(day + timedelta(days=policy.minutes_due_days), tz)


def minutes_duty(meeting: dict, policy: MeetingPolicy, tz) -> dict:
    """The duty the minutes are: the named minute taker's, else the holders'."""
    taker = meeting.get("minute_taker_id")
    return {"key": f"meeting:{meeting['meeting_id']}:minutes", "kind": "meeting_minutes",
            "meeting_id": meeting["meeting_id"], "department": None,
            "due_at": minutes_due(meeting, policy, tz), "people": [taker] if taker else [],
            "holders": [] if taker else list(policy.minutes_holders),
            "source": "000 §3 八"}


def record_minutes(meeting: dict, *, at: datetime, by: dict, summary: str | None,
                   decisions: Iterable[dict], policy: MeetingPolicy, tz) -> dict:
    """The minutes of a closed meeting and the decisions to follow up (八, 九.1)::

        {"issued_at", "by": {id, role}, "summary", "due_at", "on_time",
         "decisions": [{"no", "item", "owner_id", "due_date", "due_at",
                        "reported_at": None, "report": None}]}

    ``decisions``: ``[{"item", "owner_id", "due_date": date}]``; a decision is
    not due before the meeting's day.
    """
    if meeting.get("status") != "closed":
        raise DomainConflict(f"meeting {meeting['meeting_id']} is not closed: who attended "
                             "stands before the minutes are issued")
    at = as_utc(at)
    if at < as_utc(meeting["start"]):
        raise DomainValidation.one("at", "minutes follow the meeting")
    day = local_date(as_utc(meeting["start"]), tz)
    problems, listed = Problems(), []
    for i, raw in enumerate(decisions or ()):
        where = f"decisions[{i}]"
        due_date = raw.get("due_date")
        if not isinstance(raw.get("item"), str) or not raw["item"].strip():
            problems.add(f"{where}.item", "required")
        if not isinstance(raw.get("owner_id"), str) or not raw["owner_id"]:
            problems.add(f"{where}.owner_id", "who follows it up (九.1)")
        if not isinstance(due_date, date):
            problems.add(f"{where}.due_date", "expected a date")
        elif due_date < day:
            problems.add(f"{where}.due_date", "not before the meeting")
        else:
            listed.append({"no": i + 1, "item": raw["item"], "owner_id": raw["owner_id"],
                           "due_date": due_date.isoformat(),
                           "due_at": _end_of_local_day(due_date, tz),
                           "reported_at": None, "report": None})
    problems.raise_if_any()
    due = minutes_due(meeting, policy, tz)
    return {"issued_at": at, "by": {"id": by.get("id"), "role": by.get("role")},
            "summary": summary, "due_at": due, "on_time": at <= due, "decisions": listed}


def same_minutes(held: dict, summary: str | None, decisions: list[dict]) -> bool:
    """Minutes are issued once: the same again is the same minutes."""
    def shape(items):
        return [(d["item"], d["owner_id"], d["due_date"]) for d in items]
    return held.get("summary") == summary and shape(held["decisions"]) == shape(decisions)


def decision_duty(meeting: dict, decision: dict) -> dict:
    """A decision to follow up, chased until its owner reports (九.3)."""
    return {"key": f"meeting:{meeting['meeting_id']}:decision:{decision['no']}",
            "kind": "meeting_decision", "meeting_id": meeting["meeting_id"],
            "decision_no": decision["no"], "item": decision["item"],
            "owner_id": decision["owner_id"], "due_date": decision["due_date"],
            "department": None,
            "due_at": decision["due_at"], "people": [decision["owner_id"]], "holders": [],
            "source": "000 §3 九.1-3"}


def report_decision(minutes: dict, no: int, *, at: datetime, by_id: str,
                    report: str | None) -> dict:
    """The owner's report of a decision's follow-up; the first report stands.

    Returns the decision with ``reported_at``, ``reported_by``, ``report`` and
    ``on_time`` (by its due time, 十.7).
    """
    decision = next((d for d in minutes["decisions"] if d["no"] == no), None)
    if decision is None:
        raise DomainValidation.one("decision_no", f"the minutes list {len(minutes['decisions'])}"
                                                  " decision(s)")
    if decision["reported_at"] is not None:
        return decision
    at = as_utc(at)
    return dict(decision, reported_at=at, reported_by=by_id, report=report,
                on_time=at <= as_utc(decision["due_at"]))
