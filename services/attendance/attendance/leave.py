"""Leave requests, approvals and sick-leave conversion (000 §2 四).

Leave types come from policy (``leave.types``): the seed names seniority
(工龄假), sick (病假) and personal (事假) leave and refers everything else to the
group's rules; marriage, maternity, paternity, bereavement and work-injury
leave ship with a plain department-manager approval.

Decisions:
- Leave is taken in whole days, ``start``–``end`` inclusive (the seed's
  请假审批表 counts days). Its length is counted per type: ``working_days`` on
  the company calendar (public holidays do not count, make-up working days do),
  or ``calendar_days`` (maternity). Shift workers, for whom the roster rather
  than the calendar says when they work, pass ``rostered_dates`` and only those
  count.
- Approval tiers by length: personal leave of 1–2 days needs the supervisor;
  more than 2 days (3+) the supervisor then the GM (须报总经理批准); 5 days or
  more also group leadership (集团公司分管领导, role ``group_leader``) after the
  GM. Roles approve in that order; an approver whose rank covers several
  consecutive ladder steps (the GM for supervisor and GM) clears them in one
  decision. ``group_leader`` is off the ladder and can only clear its own step.
- Personal leave is asked before it starts (submitted before local midnight of
  the first day) and, if longer than 2 days, at least 2 calendar days ahead
  ("提前2天(含)以上": start date − submission date ≥ 2); every approval must
  also be given before it starts. "2天" is plain days (rules §1). Seniority
  leave too must be approved before it starts ("休假日期须严格按照《请假审批表》
  签批时间执行"); both are ``approve_before_start`` in policy.
- Emergency (突发情况): no advance notice and approval may come after the
  start, but the form is filled on the first working day back at the latest
  (``first_day_back`` overrides the calendar for shift workers) and the first
  approval step is the supervisor's consent. Longer emergencies still climb the
  same ladder.
- A decided leave is immutable (四.4 "不可涂改"): only ``proof_at`` and
  ``converted_to`` may be set afterwards. Corrections are new records.
- Sick leave proof is due 5 working days after the leave ends, counted as
  rules §1 says from the first opening after the end; an *approved* sick leave
  without proof by then is converted: the original stays as it was (with a
  ``converted_to`` link) and a new approved personal leave is created for the
  same days. A still-pending sick request is not converted; it awaits its
  decision.
- After an emergency leave is approved the service re-evaluates the days it
  covers (``clocking.reconcile``) and reverses the absences they had booked.

Stored shape::

    {"leave_id", "employee_id", "type", "start": "YYYY-MM-DD", "end": "YYYY-MM-DD",
     "days": int, "reason", "submitted_at": datetime, "emergency": bool,
     "seniority_year": "current"|"previous"|None, "forfeits_previous_days": int,
     "required_approvals": [role, ...], "approvals": [{step, role, actor_id,
     actor_role, decision, at, note}], "status": "pending"|"approved"|"rejected",
     "next_approver_role": role|None, "decided_at": datetime|None,
     "proof_due": datetime|None, "proof_at": datetime|None,
     "converted_to": leave_id|None, "converted_from": leave_id|None}
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from zhidu.calendar import WorkingCalendar
from zhidu.domain import DomainConflict, DomainPermission, DomainValidation, Problems
from zhidu.times import UTC, as_utc, local_date, parse_date

from . import seniority as seniority_rules
from .policy import AttendancePolicy, LeaveType
from .roles import satisfies

MUTABLE_AFTER_DECISION = frozenset({"proof_at", "converted_to"})


# -- length and authority --------------------------------------------------------
def leave_days(kind: LeaveType, start, end, calendar: WorkingCalendar,
               rostered_dates: Iterable | None = None) -> int:
    """Length of a leave of ``kind`` from ``start`` to ``end`` inclusive."""
    start, end = parse_date(start), parse_date(end)
    if end < start:
        return 0
    if kind.count == "calendar_days":
        return (end - start).days + 1
    if rostered_dates is not None:
        return len({d for d in map(parse_date, rostered_dates) if start <= d <= end})
    return calendar.working_days_between(start, end + timedelta(days=1))


def required_approvals(leave: dict, policy: AttendancePolicy) -> list[str]:
    """Roles that must approve ``leave`` (needs ``type``, ``days``, ``emergency``), in order."""
    kind = policy.leave_type(leave["type"])
    tier = kind.approvals[0]
    for candidate in kind.approvals:
        if leave["days"] >= candidate.min_days:
            tier = candidate
    roles = list(tier.roles)
    consent = kind.emergency_consent_role
    if leave.get("emergency") and consent and roles[0] != consent:
        roles.insert(0, consent)
    return roles


def _local_start(day: date, tz) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


# -- request ---------------------------------------------------------------------
def new_leave(*, leave_id: str, employee_id: str, type: str, start, end, submitted_at: datetime,
              calendar: WorkingCalendar, policy: AttendancePolicy, reason: str | None = None,
              emergency: bool = False, seniority_year: str | None = None,
              seniority_account: dict | None = None, rostered_dates: Iterable | None = None,
              first_day_back=None) -> dict:
    """Validate a ``request_leave`` payload and build the pending record."""
    problems = Problems()
    kind = policy.leave_types.get(type)
    if kind is None:
        problems.add("type", f"expected one of {', '.join(policy.leave_types)}")
    try:
        start_day = parse_date(start)
    except (TypeError, ValueError):
        problems.add("start", "expected YYYY-MM-DD")
        start_day = None
    try:
        end_day = parse_date(end)
    except (TypeError, ValueError):
        problems.add("end", "expected YYYY-MM-DD")
        end_day = None
    problems.raise_if_any()
    if end_day < start_day:
        raise DomainValidation.one("end", "must not be before start")
    days = leave_days(kind, start_day, end_day, calendar, rostered_dates)
    if days < 1:
        raise DomainValidation.one("end", "the range holds no day that counts as leave")
    submitted_at = as_utc(submitted_at)
    submitted_day = local_date(submitted_at, calendar.tz)
    if emergency and not kind.emergency_allowed:
        problems.add("emergency", f"{type} leave has no emergency procedure")
    if emergency and kind.emergency_allowed:
        back = parse_date(first_day_back) if first_day_back else calendar.next_working_day(end_day)
        if submitted_day > back:
            problems.add("submitted_at", f"an emergency form is filled on the first day back "
                                         f"({back.isoformat()}) at the latest")
    elif kind.approve_before_start:
        if submitted_at >= _local_start(start_day, calendar.tz):
            problems.add("submitted_at", "must be asked before the leave starts "
                                         "(or filed as an emergency)")
        elif kind.advance_min_days and days >= kind.advance_min_days and \
                (start_day - submitted_day).days < kind.advance_days_ahead:
            problems.add("submitted_at", f"leave of {kind.advance_min_days} days or more must be "
                                         f"asked at least {kind.advance_days_ahead} days ahead")
    problems.raise_if_any()
    forfeits = 0
    if type == "seniority":
        seniority_year = seniority_year or "current"
        if seniority_account is None:
            raise DomainConflict("seniority leave needs the employee's seniority account")
        if not (start_day.year == end_day.year == seniority_account["year"]):
            raise DomainValidation.one(
                "start", f"seniority leave must lie within {seniority_account['year']}")
        forfeits = seniority_rules.check_request(seniority_account, days, seniority_year,
                                                 policy)["forfeits_previous_days"]
    else:
        seniority_year = None
    record = {"leave_id": leave_id, "employee_id": employee_id, "type": type,
              "start": start_day.isoformat(), "end": end_day.isoformat(), "days": days,
              "reason": reason, "submitted_at": submitted_at, "emergency": bool(emergency),
              "seniority_year": seniority_year, "forfeits_previous_days": forfeits,
              "approvals": [], "status": "pending", "decided_at": None,
              "proof_due": sick_proof_due(end_day, kind, calendar),
              "proof_at": None, "converted_to": None, "converted_from": None}
    record["required_approvals"] = required_approvals(record, policy)
    record["next_approver_role"] = record["required_approvals"][0]
    return record


# -- decision --------------------------------------------------------------------
def ensure_mutable(leave: dict, changes: Iterable[str]) -> None:
    """Refuse changing a decided leave, except the post-decision annotations."""
    if leave["status"] == "pending":
        return
    frozen = sorted(set(changes) - MUTABLE_AFTER_DECISION)
    if frozen:
        raise DomainConflict(f"leave {leave['leave_id']} is {leave['status']} and cannot be "
                             f"altered ({', '.join(frozen)}); file a new record instead")


def decide_leave(leave: dict, *, approve: bool, actor: dict, at: datetime,
                 policy: AttendancePolicy, calendar: WorkingCalendar,
                 seniority_account: dict | None = None, note: str | None = None) -> dict:
    """Apply one approver's decision; returns the updated copy of ``leave``.

    Raises ``DomainConflict`` when already decided or when personal leave would
    be approved after it started, ``DomainPermission`` when the actor's role is
    not the next one required (order enforced) or the actor is the applicant.
    The final approval of seniority leave re-checks the balance when
    ``seniority_account`` is given.
    """
    ensure_mutable(leave, ["status", "approvals"])
    actor = actor or {}
    at = as_utc(at)
    if actor.get("id") == leave["employee_id"]:
        raise DomainPermission("nobody decides their own leave")
    required = leave["required_approvals"]
    step = len(leave["approvals"])
    role = required[step]
    if not satisfies(actor.get("role"), role, policy.ladder):
        raise DomainPermission(f"the next approval of leave {leave['leave_id']} belongs to "
                               f"{role}; actor role is {actor.get('role')!r}")
    updated = dict(leave, approvals=list(leave["approvals"]))

    def record(index: int, decision: str) -> None:
        updated["approvals"].append({"step": index, "role": required[index],
                                     "actor_id": actor.get("id"),
                                     "actor_role": actor.get("role"),
                                     "decision": decision, "at": at, "note": note})

    if not approve:
        record(step, "rejected")
        updated.update(status="rejected", decided_at=at, next_approver_role=None)
        return updated

    kind = policy.leave_type(leave["type"])
    if kind.approve_before_start and not leave.get("emergency") and \
            at >= _local_start(parse_date(leave["start"]), calendar.tz):
        raise DomainConflict(f"{leave['type']} leave must be approved before it starts")
    record(step, "approved")
    # A higher-ranked approver clears the following ladder steps they also hold.
    while len(updated["approvals"]) < len(required):
        nxt = len(updated["approvals"])
        if required[nxt] not in policy.ladder or not satisfies(actor.get("role"), required[nxt],
                                                               policy.ladder):
            break
        record(nxt, "approved")
    if len(updated["approvals"]) < len(required):
        updated["next_approver_role"] = required[len(updated["approvals"])]
        return updated
    if leave["type"] == "seniority" and seniority_account is not None:
        seniority_rules.check_request(seniority_account, leave["days"],
                                      leave.get("seniority_year") or "current", policy)
    updated.update(status="approved", decided_at=at, next_approver_role=None)
    return updated


# -- sick leave proof --------------------------------------------------------------
def sick_proof_due(end, kind: LeaveType, calendar: WorkingCalendar) -> datetime | None:
    """When the form and medical proof are due, or ``None`` if the type needs none.

    The leave ends at local midnight after its last day; "within 5 working days"
    is then the calendar's ``add_working_days`` (the same clock time on the 5th
    following working day, counting from the next opening), i.e. the opening of
    the 6th working day after the leave — the whole 5th working day is allowed.
    """
    if kind is None or kind.proof_working_days is None:
        return None
    ends = _local_start(parse_date(end) + timedelta(days=1), calendar.tz)
    return calendar.add_working_days(ends, kind.proof_working_days)


def attach_proof(leave: dict, at: datetime, policy: AttendancePolicy) -> dict:
    """Record the sick proof; idempotent. Refused once the leave was converted."""
    if policy.leave_type(leave["type"]).proof_working_days is None:
        raise DomainValidation.one("leave_id", f"{leave['type']} leave needs no proof")
    if leave.get("converted_to"):
        raise DomainConflict("the proof came too late: the leave was converted to "
                             f"leave {leave['converted_to']}")
    if leave.get("proof_at") is not None:
        return leave
    ensure_mutable(leave, ["proof_at"])
    return dict(leave, proof_at=as_utc(at))


def should_convert(leave: dict, now: datetime, calendar: WorkingCalendar,
                   policy: AttendancePolicy) -> bool:
    """True when an approved sick leave's proof is overdue at ``now``."""
    kind = policy.leave_types.get(leave["type"])
    if kind is None or not kind.convert_to or leave["status"] != "approved" \
            or leave.get("converted_to"):
        return False
    due = leave.get("proof_due") or sick_proof_due(leave["end"], kind, calendar)
    proof_at = leave.get("proof_at")
    if proof_at is not None and as_utc(proof_at) <= as_utc(due):
        return False
    return as_utc(now) >= as_utc(due)


def convert(leave: dict, now: datetime, policy: AttendancePolicy,
            new_leave_id: str | None = None) -> dict:
    """Convert an overdue sick leave: ``{"original": ..., "converted": ...}``.

    The new record's id defaults to ``<leave_id>:converted`` so a replayed sweep
    creates the same record (and the store's unique index refuses a second).
    """
    kind = policy.leave_type(leave["type"])
    if not kind.convert_to:
        raise DomainConflict(f"{leave['type']} leave is never converted")
    new_id = new_leave_id or f"{leave['leave_id']}:converted"
    now = as_utc(now)
    converted = dict(leave, leave_id=new_id, type=kind.convert_to, status="approved",
                     approvals=[], required_approvals=[], next_approver_role=None,
                     submitted_at=now, decided_at=now, emergency=False, proof_due=None,
                     proof_at=None, converted_to=None, converted_from=leave["leave_id"],
                     reason=f"{leave['type']} leave without proof within "
                            f"{kind.proof_working_days} working days (000 §2 四.2)")
    ensure_mutable(leave, ["converted_to"])
    return {"original": dict(leave, converted_to=new_id), "converted": converted}
