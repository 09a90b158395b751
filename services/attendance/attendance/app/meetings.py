"""Meeting administration (000 §3): schedules and their notices, leave from a
meeting, check-ins, incidents, closing, minutes and the decisions they
record, standing.

Notices are events (``meeting_scheduled``, ``meeting_changed``): the
notifications service sends them to everyone invited, by SMS too where the
deployment has it (六.2). The minutes and each decision are duties
(``duties``): the sweep reminds the one and chases the other until done.
The regular meetings' occurrences are scheduled through ``plan`` and
``announce`` too (``standing``).
"""
from __future__ import annotations

from datetime import datetime

from zhidu.domain import DomainConflict, DomainValidation
from zhidu.times import as_utc, local_date, to_iso

from ..meetings import (
    award_eligibility,
    decision_duty,
    evaluate_checkin,
    minutes_duty,
    record_minutes,
    same_leave_request,
    same_minutes,
    with_substitute,
)
from ..meetings import change_meeting as rearrange
from ..meetings import close_meeting as conclude
from ..meetings import decide_meeting_leave as decide_leave
from ..meetings import meeting_incident as incident_violation
from ..meetings import report_decision as reported
from ..meetings import request_meeting_leave as ask_leave
from ..meetings import schedule_meeting as plan_meeting
from .booking import Booker
from .work import found, millis

# The details that make a meeting the one already scheduled under its id.
SAME_MEETING = ("kind", "start", "planned_minutes", "attendees", "chair_id", "title",
                "location", "minute_taker_id")


def meeting_event(meeting: dict) -> dict:
    """What a notice says of the meeting; of a standing meeting's occurrence
    also which one it is and, with an agenda, the items approved (四.7)."""
    event = {"meeting_id": meeting["meeting_id"], "kind": meeting["kind"],
             "title": meeting.get("title"), "location": meeting.get("location"),
             "start": to_iso(meeting["start"]), "seated_by": to_iso(meeting["seated_by"]),
             "planned_minutes": meeting["planned_minutes"],
             "attendees": list(meeting["attendees"]), "chair_id": meeting["chair_id"],
             "minute_taker_id": meeting.get("minute_taker_id"),
             "version": int(meeting.get("version") or 1)}
    if meeting.get("standing"):
        event.update(standing=meeting["standing"], occurrence=meeting["occurrence"])
    if meeting.get("agenda") is not None:
        event["agenda"] = [{k: item[k] for k in ("no", "department", "item")}
                           for item in meeting["agenda"]]
    return event


def _meeting(store, meeting_id: str) -> dict:
    return found(store.meeting(meeting_id), f"meeting {meeting_id}")


def plan(work, payload: dict, **extra) -> dict:
    """The meeting a schedule asks for, checked; ``extra`` is kept with it (a
    standing meeting's name and occurrence, its agenda)."""
    meeting = plan_meeting(meeting_id=payload["meeting_id"], kind=payload["kind"],
                           start=millis(payload["start"]),
                           planned_minutes=payload["planned_minutes"],
                           attendees=payload["attendees"], chair_id=payload["chair_id"],
                           title=payload.get("title"), location=payload.get("location"),
                           minute_taker_id=payload.get("minute_taker_id"),
                           policy=work.rules.meetings)
    return dict(meeting, convened_by=(payload.get("actor") or {}).get("id"), **extra)


def announce(work, meeting: dict) -> bool:
    """Record the meeting and send its notice (六.2), unless one is on record
    under its id; True if this call recorded it."""
    if not work.store.insert_meeting(meeting):
        return False
    work.outbox.emit("meeting_scheduled", meeting_event(meeting),
                     key=f"{meeting['meeting_id']}:v1")
    return True


def schedule_meeting(work, payload: dict) -> dict:
    """Schedule once; the same meeting again answers with it, another one conflicts."""
    meeting = plan(work, payload)
    if announce(work, meeting):
        return meeting
    existing = work.store.meeting(meeting["meeting_id"])
    if any(existing.get(k) != meeting[k] for k in SAME_MEETING):
        raise DomainConflict(f"meeting {meeting['meeting_id']} exists with other details")
    return existing


def change_meeting(work, payload: dict) -> dict:
    """A new arrangement before the meeting begins, and its notice (六.2) to
    everyone invited before or after it."""
    store = work.store
    meeting = _meeting(store, payload["meeting_id"])
    changes = {k: payload[k] for k in ("start", "planned_minutes", "attendees", "chair_id",
                                       "title", "location", "minute_taker_id")
               if payload.get(k) is not None}
    if "start" in changes:
        changes["start"] = millis(changes["start"])
    result = rearrange(meeting, changes, at=millis(payload["at"]),
                       policy=work.rules.meetings)
    updated = result["meeting"]
    if result["changed"]:
        store.save_meeting(updated, meeting)
        work.outbox.emit("meeting_changed", dict(
            meeting_event(updated), changed=result["changed"],
            previous_start=to_iso(result["previous_start"]), added_ids=result["added"],
            removed_ids=result["removed"], changed_at=to_iso(updated["changed_at"])),
            key=f"{updated['meeting_id']}:v{updated['version']}")
    return dict(updated, changed=result["changed"])


def request_meeting_leave(work, payload: dict) -> dict:
    """Leave from a meeting, asked of the general office with a substitute (三.4).
    The same request again answers with it; another one conflicts."""
    store = work.store
    meeting = _meeting(store, payload["meeting_id"])
    leave = ask_leave(meeting, employee_id=payload["employee_id"],
                      substitute_id=payload["substitute_id"], reason=payload["reason"],
                      at=millis(payload["at"]))
    if store.employee(leave["substitute_id"]) is None:
        raise DomainValidation.one("substitute_id", "not in the directory")
    if not store.insert_meeting_leave(leave):
        held = store.meeting_leave(meeting["meeting_id"], leave["employee_id"])
        if not same_leave_request(held, leave):
            raise DomainConflict(f"{leave['employee_id']} asked for leave from "
                                 f"{meeting['meeting_id']} already ({held['status']})")
        return held
    work.outbox.emit("meeting_leave_requested", dict(
        _leave_event(meeting, leave), requested_at=to_iso(leave["requested_at"])),
        key=f"meeting_leave:{leave['key']}")
    return leave


def decide_meeting_leave(work, payload: dict) -> dict:
    """The general office's decision; an approved leave invites the substitute."""
    store = work.store
    meeting = _meeting(store, payload["meeting_id"])
    leave = found(store.meeting_leave(meeting["meeting_id"], payload["employee_id"]),
                  f"leave of {payload['employee_id']} from {meeting['meeting_id']}")
    decided = decide_leave(leave, meeting, approve=payload["approve"],
                           at=millis(payload["at"]), actor=payload["actor"],
                           note=payload["note"])
    if decided is leave:
        return leave
    store.save_meeting_leave(decided, leave)
    if decided["status"] == "approved":
        store.save_meeting(with_substitute(meeting, decided), meeting)
    work.outbox.emit("meeting_leave_decided", dict(
        _leave_event(meeting, decided), decided_at=to_iso(decided["decided_at"]),
        decided_by=decided["decided_by"], note=decided["note"]),
        key=f"meeting_leave:{decided['key']}:decided")
    return decided


def _leave_event(meeting: dict, leave: dict) -> dict:
    return {"meeting_id": meeting["meeting_id"], "kind": meeting["kind"],
            "title": meeting.get("title"), "start": to_iso(meeting["start"]),
            "chair_id": meeting["chair_id"], "employee_id": leave["employee_id"],
            "substitute_id": leave["substitute_id"], "reason": leave.get("reason"),
            "status": leave["status"]}


def get_meeting(store, payload: dict) -> dict:
    meeting = _meeting(store, payload["meeting_id"])
    return dict(meeting, checked_in=store.checked_in(meeting["meeting_id"]),
                leaves=store.meeting_leaves(meeting["meeting_id"]))


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
    excused = set(payload["excused"]) | set(store.approved_leaves_on(day, meeting["attendees"])) \
        | {leave["employee_id"] for leave in store.meeting_leaves(meeting["meeting_id"],
                                                                   "approved")}
    result = conclude(meeting, ended_at=ended_at,
                      checked_in=store.checked_in(meeting["meeting_id"]), excused=excused,
                      policy=rules.meetings)
    result["excused"] = sorted(excused & set(meeting["attendees"]))
    Booker(work).violations(result["violations"])
    if store.close_meeting(meeting["meeting_id"], result):
        # The minutes are owed from now (八): the sweep reminds them when late.
        store.open_duties([minutes_duty(meeting, rules.meetings, rules.tz)])
        if result["over_length"]:
            work.tally.inc("over_length", meeting["kind"])
    return result


def issue_minutes(work, payload: dict) -> dict:
    """The minutes (八) and the decisions to follow up, each its owner's duty (九.1).
    Issued once: the same minutes again answer with them, others conflict."""
    store, rules = work.store, work.rules
    meeting = _meeting(store, payload["meeting_id"])
    minutes = record_minutes(meeting, at=millis(payload["at"]), by=payload["actor"],
                             summary=payload["summary"], decisions=payload["decisions"],
                             policy=rules.meetings, tz=rules.tz)
    held = meeting.get("minutes")
    if held is not None:
        if not same_minutes(held, minutes["summary"], minutes["decisions"]):
            raise DomainConflict(f"the minutes of {meeting['meeting_id']} were issued at "
                                 f"{to_iso(held['issued_at'])}")
        return held
    store.save_meeting(dict(meeting, minutes=minutes), meeting)
    store.close_duty(minutes_duty(meeting, rules.meetings, rules.tz)["key"],
                     minutes["issued_at"])
    store.open_duties([decision_duty(meeting, d) for d in minutes["decisions"]])
    work.outbox.emit("meeting_minutes_issued", {
        "meeting_id": meeting["meeting_id"], "kind": meeting["kind"],
        "title": meeting.get("title"), "start": to_iso(meeting["start"]),
        "chair_id": meeting["chair_id"], "attendees": list(meeting["attendees"]),
        "issued_at": to_iso(minutes["issued_at"]), "due_at": to_iso(minutes["due_at"]),
        "on_time": minutes["on_time"], "summary": minutes["summary"],
        "decisions": [{"no": d["no"], "item": d["item"], "owner_id": d["owner_id"],
                       "due_date": d["due_date"]} for d in minutes["decisions"]],
        "owner_ids": sorted({d["owner_id"] for d in minutes["decisions"]})},
        key=f"{meeting['meeting_id']}:minutes")
    return minutes


def report_decision(work, payload: dict) -> dict:
    """The owner's report to the general office (九.3, 十.7): the chasing stops."""
    store = work.store
    meeting = _meeting(store, payload["meeting_id"])
    minutes = meeting.get("minutes")
    if minutes is None:
        raise DomainConflict(f"no minutes of {meeting['meeting_id']} yet: nothing to report on")
    no = payload["decision_no"]
    decision = reported(minutes, no, at=millis(payload["at"]), by_id=payload["actor"]["id"],
                        report=payload["report"])
    held = next(d for d in minutes["decisions"] if d["no"] == no)
    if decision is held:
        return held
    decisions = [decision if d["no"] == no else d for d in minutes["decisions"]]
    store.save_meeting(dict(meeting, minutes=dict(minutes, decisions=decisions)), meeting)
    store.close_duty(decision_duty(meeting, decision)["key"], decision["reported_at"])
    return decision


def meeting_standing(work, payload: dict) -> dict:
    year, tz = payload["year"], work.rules.tz
    since, until = datetime(year, 1, 1, tzinfo=tz), datetime(year + 1, 1, 1, tzinfo=tz)
    held = work.store.violations(payload["employee_id"], "meeting", since, until, 10000)
    penalties = [dict(v, reversed=v.get("withdrawn_at") is not None) for v in held]
    return award_eligibility(payload["employee_id"], penalties, year, work.rules.meetings, tz)
