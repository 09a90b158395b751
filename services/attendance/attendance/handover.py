"""Shift handover (交接班, 002 §4 4.7).

The incoming staff are on post 10 minutes before their shift (4.7.1); the
outgoing person writes the shift's record — property missing or damaged
(4.7.2), anomalies (4.7.4), work to follow up (4.7.3, 4.7.7) — and signs it;
the incoming person signs it too (4.7.5, 4.7.8), and only then may the
outgoing person leave. Important work left unfinished blocks the handover
(4.7.9) until the incoming person takes it over by name.

Decisions (the seed is silent or loose):
- A handover is one record per post, shift day and shift code
  (``handover_id``); the outgoing person may rewrite it until the incoming
  person signed, not after.
- Arrival is the incoming person's first clock-in from the shift's clocking
  window on, or the moment they sign if that is earlier: signing proves
  presence too. Later than ``arrive_early_minutes`` before the shift start is
  recorded (``arrived_late``, minutes late) on the handover and its event.
  The seed prices none of this, so nothing is booked.
- "Important" is the outgoing person's call, item by item; every unfinished
  item passes to the incoming shift as a follow-up (4.7.3).
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from zhidu.domain import DomainConflict, DomainPermission, DomainValidation, Problems
from zhidu.times import as_utc

from .clocking import _minutes_up
from .policy import AttendancePolicy, Post

BLOCKING = ("not_arrived", "unsigned_outgoing", "unsigned_incoming", "unfinished_work")


def check_handover(*, shift_start: datetime, incoming_arrived_at: datetime | None,
                   outgoing_signed: bool, incoming_signed: bool,
                   unfinished_important: Iterable[str] = (),
                   policy: AttendancePolicy) -> dict:
    """``{"may_leave": bool, "findings": [str], "arrive_by": datetime}``.

    Findings: ``arrived_late`` (after ``arrive_by``), ``not_arrived``,
    ``unsigned_outgoing``, ``unsigned_incoming``, ``unfinished_work``.
    """
    arrive_by = as_utc(shift_start) - timedelta(minutes=policy.handover.arrive_early_minutes)
    findings = []
    if incoming_arrived_at is None:
        findings.append("not_arrived")
    elif as_utc(incoming_arrived_at) > arrive_by:
        findings.append("arrived_late")
    if not outgoing_signed:
        findings.append("unsigned_outgoing")
    if not incoming_signed:
        findings.append("unsigned_incoming")
    if list(unfinished_important or ()):
        findings.append("unfinished_work")
    return {"may_leave": not set(BLOCKING) & set(findings), "findings": findings,
            "arrive_by": arrive_by}


def handover_id(post: str, day: date, shift_code: str) -> str:
    return f"{post}:{day.isoformat()}:{shift_code}"


def open_handover(*, post: Post, day: date, shift_code: str, shift_start: datetime,
                  outgoing_id: str, incoming_id: str, at: datetime, notes: str | None = None,
                  property_issues: Iterable[str] = (), anomalies: Iterable[str] = (),
                  unfinished: Iterable[dict] = (), policy: AttendancePolicy) -> dict:
    """The outgoing person's signed record of the shift (4.7.2–4.7.7)."""
    problems = Problems()
    if incoming_id == outgoing_id:
        problems.add("incoming_id", "a shift is handed over to someone else")
    items = [{"item": u["item"].strip(), "important": bool(u.get("important"))}
             for u in unfinished or ()]
    names = [i["item"] for i in items]
    if any(not n for n in names):
        problems.add("unfinished", "every item needs a name")
    if len(set(names)) != len(names):
        problems.add("unfinished", "item names must be unique: the incoming accepts them by name")
    problems.raise_if_any()
    start = as_utc(shift_start)
    return {"handover_id": handover_id(post.code, day, shift_code), "post": post.code,
            "department": post.department, "date": day.isoformat(), "shift_code": shift_code,
            "shift_start": start,
            "arrive_by": start - timedelta(minutes=policy.handover.arrive_early_minutes),
            "outgoing_id": outgoing_id, "incoming_id": incoming_id,
            "outgoing_signed_at": as_utc(at), "notes": notes,
            "property_issues": list(property_issues or ()),
            "anomalies": list(anomalies or ()), "unfinished": items,
            "status": "awaiting_incoming", "incoming_signed_at": None, "accepted": [],
            "follow_ups": [], "arrived_at": None, "arrived_late": None, "late_minutes": None,
            "findings": []}


def revise_handover(existing: dict | None, new: dict) -> dict:
    """The outgoing person's record again: allowed until the incoming signed."""
    if existing is None:
        return new
    if existing["status"] == "completed":
        raise DomainConflict(f"handover {existing['handover_id']} is signed by both sides; "
                             "it is not rewritten (002 §4 4.7.5)")
    if existing["outgoing_id"] != new["outgoing_id"]:
        raise DomainConflict(f"handover {existing['handover_id']} is "
                             f"{existing['outgoing_id']}'s to write")
    return new


def arrival(clock_ins: Iterable[datetime], signed_at: datetime, shift_start: datetime,
            policy: AttendancePolicy) -> datetime:
    """When the incoming person arrived: the first clock-in from the shift's
    clocking window on, or signing the handover if that came first."""
    opens = as_utc(shift_start) - timedelta(minutes=policy.clocking.window_before_minutes)
    seen = sorted(as_utc(c) for c in clock_ins or () if as_utc(c) >= opens)
    signed_at = as_utc(signed_at)
    return min(seen[0], signed_at) if seen else signed_at


def take_over(handover: dict, *, incoming_id: str, at: datetime, accepted: Iterable[str],
              arrived_at: datetime, policy: AttendancePolicy) -> dict:
    """The incoming person's signature: the handover completes, or is refused
    while important work is neither finished nor accepted by name (4.7.9)."""
    if handover["status"] == "completed":
        raise DomainConflict(f"handover {handover['handover_id']} is signed already")
    if incoming_id != handover["incoming_id"]:
        raise DomainPermission(f"handover {handover['handover_id']} is handed to "
                               f"{handover['incoming_id']} (002 §4 4.7.5)")
    at = as_utc(at)
    if at < as_utc(handover["outgoing_signed_at"]):
        raise DomainValidation.one("at", "the incoming signs after the outgoing (002 §4 4.7.5)")
    accepted = list(dict.fromkeys(a.strip() for a in accepted or ()))
    names = {u["item"] for u in handover["unfinished"]}
    unknown = sorted(set(accepted) - names)
    if unknown:
        raise DomainValidation.one("accepted", f"not among the unfinished work: "
                                               f"{', '.join(unknown)}")
    left = [u["item"] for u in handover["unfinished"]
            if u["important"] and u["item"] not in accepted]
    check = check_handover(shift_start=handover["shift_start"], incoming_arrived_at=arrived_at,
                           outgoing_signed=True, incoming_signed=True,
                           unfinished_important=left, policy=policy)
    if not check["may_leave"]:
        raise DomainConflict(
            "important work is unfinished: " + "; ".join(left) + ". The shift is not handed "
            "over until the outgoing finishes it or the incoming accepts it by name "
            "(002 §4 4.7.9)")
    late = "arrived_late" in check["findings"]
    return dict(handover, status="completed", incoming_signed_at=at, accepted=accepted,
                follow_ups=[u["item"] for u in handover["unfinished"]],
                arrived_at=as_utc(arrived_at), arrived_late=late,
                late_minutes=_minutes_up(as_utc(arrived_at) - check["arrive_by"]) if late else 0,
                findings=check["findings"])
