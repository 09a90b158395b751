"""Evaluating one rostered employee-day (000 §2 六.5–7, 四.3(1)).

:func:`evaluate_day` is pure and deterministic: the same roster entry, clock
events, leave and incidents give the same evaluation and the same violation
keys, so ``close_day`` may run any number of times.

Decisions (the regulation is silent or loose here):
- The roster decides whether the employee is due (see ``rosters``); the
  calendar plays no part, so a rostered Saturday or holiday is a working day
  for that employee.
- No grace period (``clocking.grace_minutes: 0``): one second after the shift
  start is late. Lateness and early departure are each an A01 of their own.
- "Within 30 minutes" is inclusive: exactly 30 minutes late is A01; beyond it
  the day is an absence (旷工), and the A01 is not booked on top.
- Leaving more than 30 minutes early, or being off post more than 30 minutes,
  is also treated as absence: the seed calls leaving the post without leave
  旷工 (四.3(1)) and only the first 30 minutes are priced as A02/A01.
- No clock-in at all on a rostered day without approved leave is absence, even
  if a clock-out exists: the rule names the clock-in.
- A missing clock-out is flagged (``anomalies``), not punished: nothing proves
  an early departure, and the clerk must regularise the record.
- Approved leave covering the roster date (whole days, ``start``–``end``
  inclusive) excuses the day: no A01 and no absence. Pending or rejected leave
  excuses nothing. Incidents reported by a supervisor are booked regardless.
- Not returning when leave ends is not special-cased: the first rostered day
  after the leave has no covering leave, so it is an ordinary absence day.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from zhidu.domain import DomainValidation
from zhidu.times import as_utc, parse_date, to_iso

from .policy import AttendancePolicy
from .shifts import Shift, shift_instants
from .violations import violation

INCIDENT_KINDS = ("off_post", "sleeping_on_duty")


def _minutes_up(delta: timedelta) -> int:
    seconds = int(delta.total_seconds())
    return -(-seconds // 60) if seconds > 0 else 0


def minutes_off_shift(kind: str, at: datetime, start: datetime, end: datetime) -> dict:
    """A clock event's lateness (``in``) or early departure (``out``), whole minutes up."""
    if kind == "in":
        return {"late_minutes": _minutes_up(at - start)}
    return {"early_minutes": _minutes_up(end - at)}


def covering_leave(leaves: Iterable[dict], day) -> dict | None:
    """The approved leave whose dates include ``day`` (lowest ``leave_id`` wins)."""
    day = parse_date(day)
    hits = [lv for lv in leaves or () if lv.get("status") == "approved"
            and parse_date(lv["start"]) <= day <= parse_date(lv["end"])]
    return min(hits, key=lambda lv: str(lv.get("leave_id"))) if hits else None


def pick_clocks(clocks: Iterable[dict], start: datetime, end: datetime,
                policy: AttendancePolicy) -> tuple[datetime | None, datetime | None]:
    """First clock-in and last clock-out that belong to the shift.

    A clock-in counts from ``window_before_minutes`` before the start until the
    shift ends; a clock-out from the clock-in (or start) until
    ``window_after_minutes`` after the end. Events outside belong to other shifts.
    """
    before = timedelta(minutes=policy.clocking.window_before_minutes)
    after = timedelta(minutes=policy.clocking.window_after_minutes)
    events = sorted((as_utc(c["at"]), c.get("kind")) for c in clocks or ())
    ins = [at for at, kind in events if kind == "in" and start - before <= at < end]
    clock_in = ins[0] if ins else None
    floor = clock_in or start - before
    outs = [at for at, kind in events if kind == "out" and floor < at <= end + after]
    return clock_in, (outs[-1] if outs else None)


def incident_outcome(employee_id: str, roster_date, incident: dict, policy: AttendancePolicy,
                     field: str = "incident") -> dict:
    """What one supervisor-reported incident books on its roster day.

    ``{"violation": violation | None, "absence_reason": str | None}``: sleeping
    on duty is A03, off post within the limit A02, off post beyond it makes
    the day an absence (booked by the day's evaluation, not here). The keys
    are the ones :func:`evaluate_day` produces, so booking an incident when it
    is reported and again when the day closes books it once.
    """
    kind = incident.get("kind")
    if kind not in INCIDENT_KINDS:
        raise DomainValidation.one(f"{field}.kind",
                                   f"expected one of {', '.join(INCIDENT_KINDS)}")
    day = parse_date(roster_date).isoformat()
    at = as_utc(incident["at"])
    ident = str(incident.get("incident_id") or to_iso(at))
    key = f"attendance:{employee_id}:{day}"
    cat = policy.catalogue
    if kind == "sleeping_on_duty":
        return {"violation": violation(cat, "A03", key=f"{key}:A03:{ident}",
                                       employee_id=employee_id, at=at),
                "absence_reason": None}
    minutes = incident.get("minutes")
    if minutes is not None and minutes > policy.clocking.off_post_limit_minutes:
        return {"violation": None, "absence_reason": "off_post_over_limit"}
    return {"violation": violation(cat, "A02", key=f"{key}:A02:{ident}",
                                   employee_id=employee_id, at=at,
                                   detail={"minutes": minutes}),
            "absence_reason": None}


def evaluate_day(*, employee_id: str, roster_date, shift: Shift, clocks: Iterable[dict] = (),
                 leaves: Iterable[dict] = (), incidents: Iterable[dict] = (),
                 policy: AttendancePolicy, tz=None) -> dict:
    """Evaluate one roster entry.

    ``clocks``: ``[{kind: "in"|"out", at: datetime}]`` (extra fields ignored).
    ``leaves``: stored leave records of the employee around the date.
    ``incidents``: ``[{kind: "off_post"|"sleeping_on_duty", at, minutes?,
    incident_id?}]``.

    Returns (stored as the day's evaluation)::

        {"key": "E1:2026-03-01", "employee_id", "date", "shift_code",
         "shift_start", "shift_end", "clock_in", "clock_out",   # UTC datetimes
         "late_minutes": int, "early_minutes": int,
         "status": "present" | "absent" | "on_leave",
         "absence": bool, "absence_reason": None | "no_clock_in" |
             "late_over_limit" | "early_over_limit" | "off_post_over_limit",
         "leave_id": str | None, "anomalies": [str],
         "violations": [violation, ...]}      # sorted by key
    """
    day = parse_date(roster_date).isoformat()
    start, end = shift_instants(day, shift, tz)
    clock_in, clock_out = pick_clocks(clocks, start, end, policy)
    limit = timedelta(minutes=policy.clocking.late_early_limit_minutes)
    grace = timedelta(minutes=policy.clocking.grace_minutes)
    cat = policy.catalogue
    day_incident = f"attendance:{employee_id}:{day}"

    def vkey(code: str, what: str) -> str:
        return f"{day_incident}:{code}:{what}"

    leave = covering_leave(leaves, day)
    late = clock_in - start if clock_in and clock_in > start else timedelta(0)
    early = end - clock_out if clock_out and clock_out < end else timedelta(0)
    result = {"key": f"{employee_id}:{day}", "employee_id": employee_id, "date": day,
              "shift_code": shift.code, "shift_start": start, "shift_end": end,
              "clock_in": clock_in, "clock_out": clock_out,
              "late_minutes": _minutes_up(late), "early_minutes": _minutes_up(early),
              "status": "present", "absence": False, "absence_reason": None,
              "leave_id": leave.get("leave_id") if leave else None,
              "anomalies": [], "violations": []}
    violations: list[dict] = []
    reasons: list[str] = []

    if leave:
        result["status"] = "on_leave"
    elif clock_in is None:
        reasons.append("no_clock_in")
    else:
        if late > limit:
            reasons.append("late_over_limit")
        elif late > grace:
            violations.append(violation(cat, "A01", key=vkey("A01", "late"),
                                        employee_id=employee_id, at=clock_in,
                                        detail={"late_minutes": _minutes_up(late)}))
        if clock_out is None:
            result["anomalies"].append("missing_clock_out")
        elif early > limit:
            reasons.append("early_over_limit")
        elif early > grace:
            violations.append(violation(cat, "A01", key=vkey("A01", "early"),
                                        employee_id=employee_id, at=clock_out,
                                        detail={"early_minutes": _minutes_up(early)}))

    for index, incident in enumerate(incidents or ()):
        outcome = incident_outcome(employee_id, day, incident, policy,
                                   field=f"incidents[{index}]")
        if outcome["absence_reason"]:
            reasons.append(outcome["absence_reason"])
        else:
            violations.append(outcome["violation"])

    if reasons and not leave:
        # An absence day swallows the day's lateness/early points: it is one
        # absence, not an absence plus A01s.
        violations = [v for v in violations if v["code"] != "A01"]
        result.update(status="absent", absence=True, absence_reason=reasons[0])
        violations.append(violation(cat, "A04", key=vkey("A04", "day"),
                                    employee_id=employee_id, at=start,
                                    detail={"reason": reasons[0]}))
    result["violations"] = sorted(violations, key=lambda v: v["key"])
    return result


def reconcile(previous: Iterable[dict], current: Iterable[dict]) -> dict:
    """What a re-evaluation changes: ``{"added": [...], "withdrawn": [...]}``.

    A day evaluated again after, say, an emergency leave was approved no longer
    yields its absence; the service books ``added`` and reverses ``withdrawn``
    (a reversing ledger entry — records are never edited).
    """
    old = {v["key"]: v for v in previous or ()}
    new = {v["key"]: v for v in current or ()}
    return {"added": [new[k] for k in sorted(new.keys() - old.keys())],
            "withdrawn": [old[k] for k in sorted(old.keys() - new.keys())]}
