"""Going out during working hours (临时外出, 002 §1 1.2.3; 000 §2 四.3(3)).

Whoever goes out during working hours, on business or not, asks the direct
superior first and goes only once approved (002 §1 1.2.3); a department head
asks the GM (000 §2 四.3(3)). The request says when the person leaves and
when they expect to be back. Away from the post without an approved outing is
the existing off-post rule (000 §2 六.6, ``report_incident``); coming back
after the expected time is recorded.

Decisions (the seeds are silent or loose):
- The approver is any direct superior (team leader, manager, unit head) or
  the head of the person's department — 000 §2 四.3(3) has the department
  head approve staff; for a person whose role ``outings.approver_by_role``
  names (``dept_manager: gm``), only a holder of that role.
- Asked before leaving: ``out_at`` is not before the request. Approved after
  ``out_at``, the outing counts from the approval: before it the person was
  off post without one. Nothing is approved once the expected return passed.
- An outing longer than ``max_hours`` (8) is leave, not an outing.
- The approved outing covers ``[approved_from, expected_back_at]``; an
  off-post report inside it is refused. Time past the expected return is not
  covered: the late return is recorded (minutes, started minutes counted
  whole) and the supervisor may still report it as off post. Nothing is
  booked for it by itself: the seed prices leaving the post, not returning.
- Filing with the general office (综合办公室备案, 四.3(3)) is the
  ``outing_decided`` event.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from zhidu.domain import DomainConflict, DomainPermission, DomainValidation, Problems
from zhidu.times import as_utc

from .clocking import _minutes_up
from .policy import DEPARTMENT_HEAD, SUPERVISOR_TERM, AttendancePolicy

SOURCE = "002 §1 1.2.3; 000 §2 四.3(3)"


def outing_approver(employee: dict | None, policy: AttendancePolicy) -> str:
    """The standing that approves this person's outing: ``supervisor`` or a role."""
    return policy.outings.approver_for((employee or {}).get("role"))


def request_outing(*, outing_id: str, employee_id: str, employee: dict | None,
                   out_at: datetime, expected_back_at: datetime, submitted_at: datetime,
                   reason: str | None, policy: AttendancePolicy) -> dict:
    out_at, back, submitted_at = as_utc(out_at), as_utc(expected_back_at), as_utc(submitted_at)
    problems = Problems()
    if back <= out_at:
        problems.add("expected_back_at", "after out_at")
    elif back - out_at > timedelta(hours=policy.outings.max_hours):
        problems.add("expected_back_at", f"an outing lasts at most {policy.outings.max_hours} "
                                         "hours; longer is leave")
    if out_at < submitted_at:
        problems.add("out_at", f"an outing is asked for before going out ({SOURCE}); away "
                               "without one is off post")
    problems.raise_if_any()
    return {"outing_id": outing_id, "employee_id": employee_id,
            "department": (employee or {}).get("department"), "out_at": out_at,
            "expected_back_at": back, "reason": reason, "submitted_at": submitted_at,
            "approver": outing_approver(employee, policy), "status": "pending",
            "decided_at": None, "decided_by": None, "note": None, "approved_from": None,
            "returned_at": None, "late_minutes": None}


def may_approve(outing: dict, standing: Iterable[str]) -> bool:
    """``standing``: what the caller is towards the person (roles, ``supervisor``,
    ``department_head``) — see :func:`attendance.roles.standing`."""
    standing = set(standing)
    if outing["approver"] == SUPERVISOR_TERM:
        return bool({SUPERVISOR_TERM, DEPARTMENT_HEAD} & standing)
    return outing["approver"] in standing


def decide_outing(outing: dict, *, approve: bool, at: datetime, actor: dict,
                  standing: Iterable[str], note: str | None = None) -> dict:
    if outing["status"] != "pending":
        raise DomainConflict(f"outing {outing['outing_id']} is {outing['status']} already")
    if actor.get("id") == outing["employee_id"]:
        raise DomainPermission("separation of duties: nobody approves their own outing")
    if not may_approve(outing, standing):
        who = ("a direct superior or the department head"
               if outing["approver"] == SUPERVISOR_TERM else outing["approver"])
        raise DomainPermission(f"{outing['employee_id']}'s outing is approved by {who} "
                               f"({SOURCE})")
    at = as_utc(at)
    if at < as_utc(outing["submitted_at"]):
        raise DomainValidation.one("at", "a decision comes after the request")
    if approve and at >= as_utc(outing["expected_back_at"]):
        raise DomainConflict(f"outing {outing['outing_id']} was to end at "
                             f"{as_utc(outing['expected_back_at']).isoformat()}: it is over")
    return dict(outing, status="approved" if approve else "rejected", decided_at=at,
                decided_by={"id": actor.get("id"), "role": actor.get("role")}, note=note,
                approved_from=max(as_utc(outing["out_at"]), at) if approve else None)


def record_return(outing: dict, at: datetime) -> dict:
    """Back on post; minutes past the expected return are recorded."""
    at = as_utc(at)
    if outing["status"] == "returned":
        if as_utc(outing["returned_at"]) != at:
            raise DomainConflict(f"outing {outing['outing_id']} returned at "
                                 f"{as_utc(outing['returned_at']).isoformat()} already")
        return outing
    if outing["status"] != "approved":
        raise DomainConflict(f"outing {outing['outing_id']} is {outing['status']}: there is "
                             "no approved outing to return from")
    if at < as_utc(outing["approved_from"]):
        raise DomainValidation.one("at", "a return comes after the outing began")
    return dict(outing, status="returned", returned_at=at,
                late_minutes=_minutes_up(at - as_utc(outing["expected_back_at"])))


def covering_outing(outings: Iterable[dict], at: datetime) -> dict | None:
    """The approved outing the person was on at ``at``, if any."""
    at = as_utc(at)
    for outing in outings or ():
        if outing["status"] in ("approved", "returned") and \
                as_utc(outing["approved_from"]) <= at <= as_utc(outing["expected_back_at"]):
            if outing["returned_at"] is None or at <= as_utc(outing["returned_at"]):
                return outing
    return None
