"""The monthly legal ceiling on money deducted from one person.

000 §2 六 / §3 十: 处罚总额度以不违反法律相关规定为限. Default: at most 20 % of
the monthly wage (工资支付暂行规定 art. 16), configurable in policy.yaml.

Decisions:
- Ceiling = floor(wage × percent / 100) whole yuan; no wage known (None) → no
  cap, the rules only cap "when the wage is known".
- An entry's money is split into ``deducted_yuan`` (within the ceiling) and
  ``capped_yuan`` (beyond it). The capped part stays on the entry — recorded,
  never dropped — and still counts in points and thresholds: the ceiling
  limits the wage deduction, not the penalty.
- "Already deducted this month" is the sum of ``deducted_yuan`` of the month's
  entries, reversals included (a reversal's negative amounts give the room
  back). Capped money is not re-deducted later when room frees up: it is
  settled by HR, outside this ledger.
- Rewards are never capped (deducted 0, capped 0).
- Two bookings for one person and month never both deduct up to the
  ceiling: each runs in one transaction that reads the month's deductions
  and writes the person-month's ceiling record, so the later one conflicts,
  runs again and sees the first (the ledger writer and its store).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from zhidu.domain import DomainValidation

from .policy import Policy


def monthly_ceiling(monthly_wage_yuan: int | None, policy: Policy) -> int | None:
    """The most that may be deducted in a month, or None when not capped."""
    if monthly_wage_yuan is None or policy.ceiling_percent is None:
        return None
    if (not isinstance(monthly_wage_yuan, int) or isinstance(monthly_wage_yuan, bool)
            or monthly_wage_yuan < 0):
        raise DomainValidation.one("monthly_wage_yuan",
                                   "must be a whole number of yuan >= 0")
    return monthly_wage_yuan * policy.ceiling_percent // 100


def split_deduction(amount_yuan: int, *, monthly_wage_yuan: int | None,
                    deducted_this_month_yuan: int, policy: Policy
                    ) -> tuple[int, int]:
    """(deducted, capped) for new penalty money, given what was deducted already."""
    ceiling = monthly_ceiling(monthly_wage_yuan, policy)
    if ceiling is None or amount_yuan <= 0:
        return amount_yuan, 0
    room = max(0, ceiling - max(0, deducted_this_month_yuan))
    deducted = min(amount_yuan, room)
    return deducted, amount_yuan - deducted


def deducted_in_month(entries: Iterable[Mapping], employee_id: str, year: int,
                      month: int) -> int:
    """Money already deducted from the person in (year, month), net of reversals."""
    return sum(e.get("deducted_yuan", 0) for e in entries
               if e["employee_id"] == employee_id and e["year"] == year
               and e["month"] == month)


def apply_ceiling(entries: list[dict], *, wages: Mapping[str, int | None],
                  deducted: Mapping[str, int], policy: Policy) -> list[dict]:
    """Fill ``deducted_yuan``/``capped_yuan`` of freshly booked entries.

    ``wages``: employee id → monthly wage (missing or None = unknown);
    ``deducted``: employee id → money already deducted in the entries' month
    (``deducted_in_month`` over stored entries). Entries are taken in order and
    each one's deduction counts toward the next for the same person, so one
    incident hitting a leader twice (two shares) is capped as a whole.
    Entries come from one incident, so they share one month. Returns new dicts;
    the inputs are not changed.
    """
    months = {(e["year"], e["month"]) for e in entries}
    if len(months) > 1:
        raise ValueError("apply_ceiling takes entries of one month at a time")
    running = dict(deducted)
    out = []
    for e in entries:
        e = dict(e)
        if e["kind"] != "penalty" or e.get("reverses"):
            out.append(e)
            continue
        who = e["employee_id"]
        d, c = split_deduction(e["amount_yuan"], monthly_wage_yuan=wages.get(who),
                               deducted_this_month_yuan=running.get(who, 0),
                               policy=policy)
        e["deducted_yuan"], e["capped_yuan"] = d, c
        running[who] = running.get(who, 0) + d
        out.append(e)
    return out

