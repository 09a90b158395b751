"""Account summary for ``get_account({employee_id, year, month?})``.

Totals are over the person's entries of the year (or of one month), with
reversing entries summed in, so an upheld appeal nets out:

- ``points_total``: penalty points minus point rewards;
- ``amount_yuan_total``: penalty money (what the person owes for the
  period, capped part included — it is recorded, not forgiven);
- ``deducted_yuan_total`` / ``capped_yuan_total``: how that money splits at
  the legal ceiling;
- ``reward_yuan_total``: money awarded (service star, leak reports);
- ``penalty_count``: live penalty entries (reversed ones not counted);
- ``flags`` are annual whatever ``month`` is: ``admonishment`` (conduct
  threshold reached this year) and ``award_eligible`` (false once the meeting
  threshold is reached — 000 §3 十.8). Admonishment takes award eligibility
  from the *unit* (附加说明.3), not from the person, so it does not clear this
  flag: it is on the unit's account.

``get_unit_account({unit, year, month?})`` is the same for a unit (单位): the
entries booked on its people while in it, totals per person, and the unit's
annual flags (``units.unit_flags``): ``admonishment`` with who was
admonished and the ``performance_pay_cut_percent`` it costs the unit,
``award_eligible`` (lost by an admonishment or by the unit's meeting count)
and the ``dress_code_months`` in which its head was booked B02.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from .amounts import from_tenths, points_to_tenths
from .catalog import Catalogs
from .ledger import live_entries, sort_key
from .policy import Policy
from .thresholds import admonishment_status, award_status
from .units import unit_flags


def totals(entries: Iterable[Mapping]) -> dict:
    """Money and point totals of entries, reversals netting out."""
    entries = list(entries)
    penalties = [e for e in entries if e["kind"] == "penalty"]
    rewards = [e for e in entries if e["kind"] == "reward"]
    return {
        "points_total": from_tenths(sum(points_to_tenths(e["points"])
                                        for e in entries)),
        "amount_yuan_total": sum(e["amount_yuan"] for e in penalties),
        "deducted_yuan_total": sum(e.get("deducted_yuan", 0) for e in penalties),
        "capped_yuan_total": sum(e.get("capped_yuan", 0) for e in penalties),
        "reward_yuan_total": sum(e["amount_yuan"] for e in rewards),
        "penalty_count": sum(1 for e in live_entries(entries)
                             if e["kind"] == "penalty"),
    }


def account(employee_id: str, entries: Iterable[Mapping], catalogs: Catalogs,
            policy: Policy, *, year: int, month: int | None = None) -> dict:
    """The contract's account: ``{employee_id, year, month, points_total,
    amount_yuan_total, penalty_count, entries, flags, ...}``.

    ``entries``: the person's entries of ``year`` (all months, needed for the
    annual flags even when ``month`` is given). Entries are listed oldest
    first, reversals included, so the ledger reads as it was written.
    """
    year_entries = [e for e in entries
                    if e["employee_id"] == employee_id and e["year"] == year]
    shown = [e for e in year_entries if month is None or e["month"] == month]
    adm = admonishment_status(year_entries, employee_id, year, policy, catalogs)
    award = award_status(year_entries, employee_id, year, policy)
    return {"employee_id": employee_id, "year": year, "month": month,
            **totals(shown),
            "entries": sorted(shown, key=sort_key),
            "flags": {"admonishment": adm["reached"],
                      "award_eligible": not award["ineligible"]}}


def unit_account(unit: str, entries: Iterable[Mapping], raised: Iterable[Mapping], *,
                 year: int, month: int | None = None) -> dict:
    """``{unit, year, month, <totals>, people_count, people: [{employee_id,
    <totals>}], flags}``; ``entries``: the unit's of ``year``, ``raised``: its
    consequences (the store's records)."""
    shown = [e for e in entries if e.get("unit") == unit and e["year"] == year
             and (month is None or e["month"] == month)]
    by_person: dict[str, list] = {}
    for e in shown:
        by_person.setdefault(e["employee_id"], []).append(e)
    people = [{"employee_id": who, **totals(es)} for who, es in sorted(by_person.items())]
    return {"unit": unit, "year": year, "month": month, **totals(shown),
            "people_count": len(people), "people": people,
            "flags": unit_flags([r for r in raised if r["unit"] == unit], year=year)}
