"""Handovers, the duty log and its reviews (002 §4 4.7–4.8, 5; 002 §2 二.1–2).

A logged day opens the reviews it owes (``duties``) in the unit that logs
it; a signed review closes its duty in the unit that records it.
"""
from __future__ import annotations

from datetime import date, timedelta

from zhidu.domain import DomainConflict, DomainPermission, DomainValidation
from zhidu.times import to_iso

from .. import dutylog
from ..handover import arrival, open_handover, revise_handover, take_over
from ..roles import standing
from ..shifts import shift_from_dict, shift_instants
from .work import found, millis

# A duty log read covers a month at most.
MAX_LOG_DAYS = 31


def post_of(work, code: str):
    post = work.rules.attendance.duty_log.post(code)
    if post is None:
        known = ", ".join(sorted(work.rules.attendance.duty_log.posts))
        raise DomainValidation.one("post", f"unknown post (known: {known})")
    return post


def _log(work, post, by: str, at, text: str, important: bool, kind: str) -> dict:
    """One entry of the post's log; a new logged day opens its reviews."""
    entry = dict(dutylog.log_entry(post=post, by=by, at=at, text=text, important=important,
                                   tz=work.rules.tz), kind=kind)
    if work.store.insert_log_entry(entry):
        day = date.fromisoformat(entry["date"])
        work.store.open_duties(dutylog.duties_of_logged_day(post, day, work.rules.attendance,
                                                            work.rules.tz))
    return entry


def log_duty(work, payload: dict) -> dict:
    """What the person on duty writes in the post's log (4.8, 5.1)."""
    post = post_of(work, payload["post"])
    return _log(work, post, work.caller.id, millis(payload["at"]), payload["text"],
                payload["important"], "entry")


def hand_over(work, payload: dict) -> dict:
    """The outgoing person's signed record of the shift (4.7.2–4.7.7)."""
    store, policy = work.store, work.rules.attendance
    post = post_of(work, payload["post"])
    incoming = work.caller.person(payload["incoming_id"]) or {}
    if incoming.get("department") != post.department:
        raise DomainValidation.one("incoming_id", f"not on the staff of {post.code}'s "
                                                  f"department ({post.department})")
    stored_shift = store.cached_shift(payload["shift_code"])
    if stored_shift is None:
        raise DomainValidation.one("shift_code", "unknown shift")
    start, _ = shift_instants(payload["date"], shift_from_dict(stored_shift), work.rules.tz)
    record = open_handover(
        post=post, day=payload["date"], shift_code=payload["shift_code"], shift_start=start,
        outgoing_id=payload["outgoing_id"], incoming_id=payload["incoming_id"],
        at=millis(payload["at"]), notes=payload["notes"],
        property_issues=payload["property_issues"], anomalies=payload["anomalies"],
        unfinished=payload["unfinished"], policy=policy)
    existing = store.handover(record["handover_id"])
    store.save_handover(revise_handover(existing, record), existing)
    return record


def take_over_shift(work, payload: dict) -> dict:
    """The incoming person's signature (4.7.5, 4.7.8): the shift changes hands."""
    store, policy = work.store, work.rules.attendance
    handover = found(store.handover(payload["handover_id"]),
                     f"handover {payload['handover_id']}")
    at = millis(payload["at"])
    window = timedelta(minutes=policy.clocking.window_before_minutes)
    clocks = store.clocks_between(handover["shift_start"] - window, at,
                                  [handover["incoming_id"]])
    arrived = arrival([c["at"] for c in clocks.get(handover["incoming_id"], [])
                       if c["kind"] == "in"], at, handover["shift_start"], policy)
    done = take_over(handover, incoming_id=work.caller.id, at=at,
                     accepted=payload["accepted"], arrived_at=arrived, policy=policy)
    store.save_handover(done, handover)
    post = post_of(work, done["post"])
    _log(work, post, done["incoming_id"], at,
         f"handover {done['handover_id']} signed by {done['outgoing_id']} and "
         f"{done['incoming_id']}", bool(done["accepted"]), "handover")
    work.outbox.emit("handover_completed", {
        "handover_id": done["handover_id"], "post": done["post"],
        "department": done["department"], "date": done["date"],
        "shift_code": done["shift_code"], "outgoing_id": done["outgoing_id"],
        "incoming_id": done["incoming_id"], "outgoing_signed_at": to_iso(
            done["outgoing_signed_at"]), "incoming_signed_at": to_iso(at),
        "accepted": done["accepted"], "follow_ups": done["follow_ups"],
        "arrive_by": to_iso(done["arrive_by"]), "arrived_at": to_iso(done["arrived_at"]),
        "arrived_late": done["arrived_late"], "late_minutes": done["late_minutes"]},
        key=done["handover_id"])
    return done


def review_duty_log(work, payload: dict) -> dict:
    """A signed review of the post's log; it closes the duty it discharges."""
    store, policy = work.store, work.rules.attendance
    post = post_of(work, payload["post"])
    kind = payload["kind"]
    terms = reviewer_standing(work, post.department)
    reviewers = policy.duty_log.reviews[kind].reviewers
    if not set(reviewers) & terms:
        raise DomainPermission(f"the {kind} review of {post.code}'s duty log is for "
                               f"{' or '.join(reviewers)} ({dutylog.SOURCES[kind]})")
    period_month = (f"{payload['year']:04d}-{payload['month']:02d}"
                    if payload["year"] and payload["month"] else None)
    logged = store.logged_days(post.code, period_month) if kind == "spot_check" and \
        period_month else []
    record = dutylog.review(post=post, kind=kind, reviewer=payload["actor"],
                            at=millis(payload["at"]), day=payload["date"],
                            year=payload["year"], month=payload["month"],
                            days=payload["days"], logged_days=logged, note=payload["note"],
                            policy=policy, tz=work.rules.tz)
    if not store.insert_duty_review(record):
        existing = store.duty_review(record["key"])
        raise DomainConflict(f"the {kind} review of {post.code} for {record['period']} was "
                             f"signed by {existing['reviewer'].get('id')} already")
    store.close_duty(record["key"], record["at"])
    return record


def reviewer_standing(work, department: str) -> frozenset[str]:
    """The caller's roles, and whether they head the department or supervise in it."""
    caller = work.caller
    mine = (caller.person(caller.id) or {}).get("department")
    return standing(caller.roles, head="dept_manager" in caller.roles and mine == department,
                    supervisor=caller.id in work.store.superiors_in_department(department))


def get_duty_log(work, payload: dict) -> dict:
    post = post_of(work, payload["post"])
    first, last = payload["date_from"], payload["date_to"]
    if last < first or (last - first).days >= MAX_LOG_DAYS:
        raise DomainValidation.one("date_to", f"from date_from, at most {MAX_LOG_DAYS} days")
    first_s, last_s = first.isoformat(), last.isoformat()
    store = work.store
    return {"post": post.code, "department": post.department, "date_from": first_s,
            "date_to": last_s, "entries": store.log_between(post.code, first_s, last_s),
            "handovers": store.handovers_between(post.code, first_s, last_s),
            "reviews": store.duty_reviews_between(post.code, first_s, last_s)}


def get_handover(work, payload: dict) -> dict:
    return found(work.store.handover(payload["handover_id"]),
                 f"handover {payload['handover_id']}")
