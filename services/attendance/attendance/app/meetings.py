"""Meeting discipline (000 §3): schedules, check-ins, incidents, closing, standing."""
from __future__ import annotations

from datetime import datetime

from zhidu.domain import DomainConflict
from zhidu.times import as_utc, local_date, to_iso

from ..meetings import award_eligibility, evaluate_checkin
from ..meetings import close_meeting as conclude
from ..meetings import meeting_incident as incident_violation
from ..meetings import schedule_meeting as plan_meeting
from .booking import Booker
from .work import found, millis

# The details that make a meeting the one already scheduled under its id.
SAME_MEETING = ("kind", "start", "planned_minutes", "attendees", "chair_id")


def _meeting(store, meeting_id: str) -> dict:
    return found(store.meeting(meeting_id), f"meeting {meeting_id}")


def schedule_meeting(work, payload: dict) -> dict:
    """Schedule once; the same meeting again answers with it, another one conflicts."""
    meeting = plan_meeting(meeting_id=payload["meeting_id"], kind=payload["kind"],
                           start=millis(payload["start"]),
                           planned_minutes=payload["planned_minutes"],
                           attendees=payload["attendees"], chair_id=payload["chair_id"],
                           policy=work.rules.meetings)
    if work.store.insert_meeting(meeting):
        return meeting
    existing = work.store.meeting(meeting["meeting_id"])
    if any(existing.get(k) != meeting[k] for k in SAME_MEETING):
        raise DomainConflict(f"meeting {meeting['meeting_id']} exists with other details")
    return existing


def get_meeting(store, payload: dict) -> dict:
    meeting = _meeting(store, payload["meeting_id"])
    return dict(meeting, checked_in=store.checked_in(meeting["meeting_id"]))


def meeting_checkin(work, payload: dict) -> dict:
    """Sign the attendance sheet; the first check-in stands (``repeated`` says so)."""
    meeting = _meeting(work.store, payload["meeting_id"])
    result = evaluate_checkin(meeting, payload["employee_id"], millis(payload["at"]),
                              reminded=payload["reminded"], policy=work.rules.meetings)
    checkin = {"meeting_id": meeting["meeting_id"], "employee_id": payload["employee_id"],
               "at": result["at"], "status": result["status"],
               "minutes_late": result["minutes_late"], "reminded": payload["reminded"],
               "violation": result["violation"]}
    if not work.store.insert_checkin(checkin):
        # A repeat cannot turn M01 into M02 as well.
        return dict(work.store.checkin(meeting["meeting_id"], payload["employee_id"]),
                    repeated=True)
    if result["violation"]:
        Booker(work).violations([result["violation"]])
    return dict(checkin, repeated=False)


def meeting_incident(work, payload: dict) -> dict:
    meeting = _meeting(work.store, payload["meeting_id"])
    violation = incident_violation(meeting, payload["employee_id"], payload["kind"],
                                   millis(payload["at"]), policy=work.rules.meetings,
                                   chair_consent=payload["chair_consent"])
    booked = Booker(work).violations([violation]) if violation else []
    return {"meeting_id": meeting["meeting_id"], "employee_id": payload["employee_id"],
            "kind": payload["kind"], "violation": violation, "booked": bool(booked)}


def close_meeting(work, payload: dict) -> dict:
    """Close once: absences and overrun booked; the same close again answers with it."""
    store, rules = work.store, work.rules
    meeting = _meeting(store, payload["meeting_id"])
    ended_at = millis(payload["ended_at"])
    if meeting["status"] == "closed":
        if as_utc(meeting["ended_at"]) != ended_at:
            raise DomainConflict(f"meeting {meeting['meeting_id']} closed at "
                                 f"{to_iso(meeting['ended_at'])} already")
        return meeting["result"]
    day = local_date(meeting["start"], rules.tz).isoformat()
    excused = set(payload["excused"]) | set(store.approved_leaves_on(day, meeting["attendees"]))
    result = conclude(meeting, ended_at=ended_at,
                      checked_in=store.checked_in(meeting["meeting_id"]), excused=excused,
                      policy=rules.meetings)
    result["excused"] = sorted(excused & set(meeting["attendees"]))
    Booker(work).violations(result["violations"])
    if store.close_meeting(meeting["meeting_id"], result) and result["over_length"]:
        work.tally.inc("over_length", meeting["kind"])
    return result


def meeting_standing(work, payload: dict) -> dict:
    year, tz = payload["year"], work.rules.tz
    since, until = datetime(year, 1, 1, tzinfo=tz), datetime(year + 1, 1, 1, tzinfo=tz)
    held = work.store.violations(payload["employee_id"], "meeting", since, until, 10000)
    penalties = [dict(v, reversed=v.get("withdrawn_at") is not None) for v in held]
    return award_eligibility(payload["employee_id"], penalties, year, work.rules.meetings, tz)
