"""Seniority leave (工龄假) balances, 000 §2 四.1.

The seed, and how each clause is read:
- "原则上不允许跨年度使用 … 需上报总经理批准,次年补休": a year's balance lapses at
  year end unless the GM approves carrying (some of) it into the next year
  (:func:`approve_carry_over`, :func:`open_year`).
- "按年度顺序使用 … 上一年度工龄假休完的情况下,方可申请本年度休假,否则上一年度
  工龄假作废": applying for this year's leave while a carried balance is unused
  is allowed, but voids that balance. The request says so
  (``forfeits_previous_days``) so the approver sees the consequence.
- "上一年度工龄假仅限一次性使用": the carried balance is taken in one piece; a
  shorter piece is allowed, and the rest lapses with it.
- "当年休假两周以内的可分为两次使用,三周的可分为三次使用": an entitlement of up to
  two weeks (10 working days) may be split into at most 2 parts, up to three
  weeks (15) into at most 3 (``leave.seniority.parts``).
- "无特殊说明按当年工龄假上报": a request without ``seniority_year`` draws on the
  current year.

Account shape (one per employee and year; entitlement comes from HR)::

    {"employee_id", "year", "entitlement_days", "used_days", "parts_taken",
     "previous_balance_days", "previous_used": bool}

Pending requests do not reserve days; the final approval checks again.
"""
from __future__ import annotations

from datetime import datetime

from zhidu.domain import DomainConflict, DomainPermission, DomainValidation
from zhidu.times import as_utc

from .policy import AttendancePolicy
from .roles import satisfies

SENIORITY_YEARS = ("current", "previous")


def open_year(employee_id: str, year: int, entitlement_days: int,
              carry_over: dict | None = None) -> dict:
    """A fresh account; ``carry_over`` is an approval from :func:`approve_carry_over`."""
    if not isinstance(entitlement_days, int) or entitlement_days < 0:
        raise DomainValidation.one("entitlement_days", "expected an integer >= 0")
    carried = 0
    if carry_over:
        if carry_over["employee_id"] != employee_id or carry_over["to_year"] != year:
            raise DomainConflict("the carry-over approval is for another employee or year")
        carried = carry_over["days"]
    return {"employee_id": employee_id, "year": year, "entitlement_days": entitlement_days,
            "used_days": 0, "parts_taken": 0, "previous_balance_days": carried,
            "previous_used": carried == 0}


def remaining_days(account: dict) -> int:
    return account["entitlement_days"] - account["used_days"]


def approve_carry_over(account: dict, days: int, actor: dict, at: datetime,
                       policy: AttendancePolicy) -> dict:
    """GM approval to carry ``days`` of this year's unused balance into the next.

    Returns ``{"employee_id", "from_year", "to_year", "days", "approved_by", "at"}``.
    """
    required = policy.seniority.carry_over_approver
    if not satisfies((actor or {}).get("role"), required, policy.ladder):
        raise DomainPermission(f"carrying seniority leave over needs {required} approval")
    if not isinstance(days, int) or days < 1:
        raise DomainValidation.one("days", "expected an integer >= 1")
    if days > remaining_days(account):
        raise DomainValidation.one("days", f"only {remaining_days(account)} days are unused")
    return {"employee_id": account["employee_id"], "from_year": account["year"],
            "to_year": account["year"] + 1, "days": days,
            "approved_by": {"id": actor.get("id"), "role": actor.get("role")},
            "at": as_utc(at)}


def check_request(account: dict, days: int, seniority_year: str,
                  policy: AttendancePolicy) -> dict:
    """Can ``days`` be drawn from ``seniority_year``? Returns the side effects.

    ``{"seniority_year", "forfeits_previous_days": int}``; raises
    ``DomainValidation`` / ``DomainConflict`` when the balance or the part
    limit forbids it.
    """
    if seniority_year not in SENIORITY_YEARS:
        raise DomainValidation.one("seniority_year", "expected current or previous")
    carried_open = not account["previous_used"] and account["previous_balance_days"] > 0
    if seniority_year == "previous":
        if not carried_open:
            raise DomainConflict("no carried-over seniority leave to use "
                                 "(carrying over needs the GM's approval; it is used once)")
        if days > account["previous_balance_days"]:
            raise DomainValidation.one(
                "end", f"only {account['previous_balance_days']} carried-over days remain")
        return {"seniority_year": "previous", "forfeits_previous_days": 0}
    if days > remaining_days(account):
        raise DomainValidation.one("end", f"only {remaining_days(account)} days remain this year")
    max_parts = policy.seniority.max_parts(account["entitlement_days"])
    if account["parts_taken"] + 1 > max_parts:
        raise DomainConflict(f"this year's seniority leave may be taken in at most "
                             f"{max_parts} parts; {account['parts_taken']} already taken")
    return {"seniority_year": "current",
            "forfeits_previous_days": account["previous_balance_days"] if carried_open else 0}


def apply_leave(account: dict, leave: dict, policy: AttendancePolicy) -> dict:
    """The account after ``leave`` (approved seniority leave) is booked."""
    effects = check_request(account, leave["days"], leave.get("seniority_year") or "current",
                            policy)
    updated = dict(account)
    if effects["seniority_year"] == "previous":
        # One piece only: whatever is left of the carried balance lapses now.
        updated.update(previous_used=True)
    else:
        updated.update(used_days=account["used_days"] + leave["days"],
                       parts_taken=account["parts_taken"] + 1)
        if effects["forfeits_previous_days"]:
            updated.update(previous_used=True)
    return updated
