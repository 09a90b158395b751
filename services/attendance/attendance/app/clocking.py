"""Clocking, incidents and the day's evaluation (000 §2 三, 六)."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from zhidu.domain import DomainConflict
from zhidu.times import as_utc, local_date, to_iso, utcnow

from ..clocking import incident_outcome, minutes_off_shift
from ..outings import covering_outing
from ..shifts import shift_from_dict, shift_instants
from .booking import Booker
from .closing import DayCloser
from .work import acting, millis, people_asked


def clock(work, payload: dict) -> dict:
    """Record a clock event and tell the person where it falls on their roster.

    The event itself is the key, so a device repeating a clock-in adds nothing.
    One write (the event, unless stored) and no read: the roster entries of
    the day and the day before come from the replica's copy of those days
    (``AttendanceStore.roster_for_clock``), shifts from the container's cache.
    """
    at, employee_id, kind = millis(payload["at"]), payload["employee_id"], payload["kind"]
    clock_id = f"{employee_id}:{kind}:{to_iso(at)}"
    recorded = work.store.insert_clock({
        "_id": clock_id, "employee_id": employee_id, "kind": kind, "at": at,
        "source": payload["source"], "actor": payload["actor"], "recorded_at": utcnow()})
    window = work.rules.attendance.clocking
    entry, start, end = rostered_shift_at(
        work, employee_id, at, timedelta(minutes=window.window_before_minutes),
        timedelta(minutes=window.window_after_minutes))
    reply = {"clock_id": clock_id, "employee_id": employee_id, "kind": kind, "at": at,
             "recorded": recorded, "roster_date": None, "shift_code": None}
    if entry is not None:
        reply.update(roster_date=entry["date"], shift_code=entry["shift_code"],
                     **minutes_off_shift(kind, at, start, end))
    if recorded:
        work.tally.inc("clocks", kind)
        if reply.get("late_minutes"):
            work.tally.inc("late")
            work.tally.observe("lateness", reply["late_minutes"])
    return reply


def rostered_shift_at(work, employee_id: str, at: datetime, before: timedelta,
                      after: timedelta):
    """The roster entry whose shift (widened by ``before``/``after``) holds ``at``,
    with the shift's start and end; ``(None, None, None)`` off roster."""
    tz = work.rules.tz
    today = local_date(at, tz)
    days = [(today - timedelta(days=1)).isoformat(), today.isoformat()]
    for entry in sorted(work.store.roster_for_clock(employee_id, days),
                        key=lambda e: e["date"], reverse=True):
        stored = work.store.cached_shift(entry["shift_code"])
        if stored is None:
            continue
        start, end = shift_instants(entry["date"], shift_from_dict(stored), tz)
        if start - before <= at <= end + after:
            return entry, start, end
    return None, None, None


def report_incident(work, payload: dict) -> dict:
    """A supervisor's report of leaving the post or sleeping on duty."""
    employee_id, at = payload["employee_id"], millis(payload["at"])
    actor = acting(work, [employee_id])
    entry, _, _ = rostered_shift_at(work, employee_id, at, timedelta(0), timedelta(0))
    if entry is None:
        raise DomainConflict(f"{employee_id} is not on a rostered shift at {to_iso(at)}")
    if payload["kind"] == "off_post":
        outing = covering_outing(work.store.outings_around(employee_id, at), at)
        if outing is not None:
            raise DomainConflict(f"{employee_id} was out with approval at {to_iso(at)} "
                                 f"(outing {outing['outing_id']}, 002 §1 1.2.3): not off post")
    incident_id = f"{employee_id}:{payload['kind']}:{to_iso(at)}"
    incident = {"_id": incident_id, "employee_id": employee_id, "date": entry["date"],
                "kind": payload["kind"], "at": at, "minutes": payload["minutes"],
                "note": payload["note"], "actor": actor}
    outcome = incident_outcome(employee_id, entry["date"],
                               dict(incident, incident_id=incident_id), work.rules.attendance)
    work.store.insert_incident(incident)
    if outcome["violation"]:
        Booker(work).violations([outcome["violation"]])
    if work.store.evaluated_dates(employee_id, entry["date"], entry["date"]):
        # The day was closed already: judge it again with the incident in.
        DayCloser(work).close(date.fromisoformat(entry["date"]), [employee_id])
    return {"incident_id": incident_id, "date": entry["date"], "kind": payload["kind"],
            "violation": outcome["violation"], "absence_reason": outcome["absence_reason"]}


def close_day(work, payload: dict) -> dict:
    """Judge the day's roster, a batch of people per unit (see ``closing``)."""
    result = DayCloser(work).close(payload["date"], at=as_utc(payload["at"] or utcnow()))
    work.tally.inc("days_closed")
    return result


def get_day(store, payload: dict) -> list[dict]:
    found = store.evaluations_on(payload["date"].isoformat(), people_asked(store, payload))
    return [{k: v for k, v in e.items() if k != "fingerprint"}
            for _, e in sorted(found.items())]


def absenteeism(work, payload: dict) -> dict:
    return Booker(work).absenteeism(payload["employee_id"], payload["as_of"])


def list_violations(store, payload: dict) -> list[dict]:
    return store.violations(payload["employee_id"], payload["domain"], payload["since"],
                            payload["until"], payload["limit"])
