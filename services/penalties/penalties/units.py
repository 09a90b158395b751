"""What a unit (单位) bears for its people's breaches.

The unit is the directory's ``unit``, headed by its ``unit_head_id``: 单位 in
the seeds sits above 部门 and 班组 (000 §4 附加说明.2 names 班组长, 部门经理
and 单位负责人 in turn). Each ledger entry records the unit of the person it
is on when it is booked, so a move to another unit later does not carry last
year's penalties along.

Consequences, each raised once under its key (tuples; Mongo keeps arrays)::

    ("admonishment", unit, 2026, "e1")   one of the unit's people admonished
                                         (000 §4 附加说明.3): 5 % off the unit's
                                         annual performance pay, and the unit
                                         loses award eligibility
    ("award_ineligible", unit, 2026)     the unit's meeting penalties of the
                                         year > 3, or > 15 points (000 §3 十.8)
    ("dress_code", unit, 2026, 11)       3 B01 penalties in the unit in a month
                                         (000 §4 六.1): B02 booked on its head

Decisions:
- 附加说明.3 imposes the cut with each admonishment (同时扣罚…), so every
  admonished person is a case of its own and the cuts add up (capped at
  100 %); the percentage is recorded with each case, so a later change of
  policy does not rewrite what a unit was told.
- 十.8 holds the unit to the threshold the person is held to, on the unit's
  own count: all its people's live meeting penalties of the year.
- 六.1 counts person-times (人次): each live B01 on an individual share. A B01
  suppressed by a more severe rule of the same incident (combine max) was not
  booked and does not count. The period is the calendar month, the one the
  publication reports; B02 is booked once per unit and month, on the unit
  head named by the directory copy of the person whose B01 reached the count
  (else the one most of the counted people name). B02 is the unit's breach:
  its incident is ``unit:<unit>:dress_code:<YYYY-MM>`` and its offender
  ``unit:<unit>``, so its entry id is the same whoever's booking finds it.
- Counting uses live entries; a consequence already raised is not withdrawn
  by a later reversal (as for a person's thresholds).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from zhidu.times import as_utc

from .amounts import from_tenths
from .booking import attach_notes, plan
from .catalog import Catalogs
from .ledger import live_entries, period_of, sort_key
from .policy import Policy
from .thresholds import crossing, tenths_of

KINDS = ("admonishment", "award_ineligible", "dress_code")


def unit_key(entry: Mapping, policy: Policy) -> tuple | None:
    """The unit consequence a new entry can bring closer, if any (its key)."""
    if entry["kind"] != "penalty" or entry.get("reverses") or not entry.get("unit"):
        return None
    units, unit = policy.units, entry["unit"]
    if entry["domain"] == units.award_ineligible.domain:
        return ("award_ineligible", unit, entry["year"])
    if entry["code"] == units.dress_code.code and entry["share"] == "individual":
        return ("dress_code", unit, entry["year"], entry["month"])
    return None


def unit_threshold_id(unit: str, key: tuple) -> str:
    """Stable document id, e.g. ``unit:north:dress_code:2026-11``."""
    kind, year = key[0], key[2]
    if kind == "admonishment":
        return f"unit:{unit}:{kind}:{year}:{key[3]}"
    if len(key) == 4:
        return f"unit:{unit}:{kind}:{year}-{key[3]:02d}"
    return f"unit:{unit}:{kind}:{year}"


def _raised(unit: str, key: tuple, *, at, employee_id: str | None, head: str | None,
            reason: dict, entries: Iterable[dict] = ()) -> dict:
    return {"threshold_id": unit_threshold_id(unit, key), "key": key, "kind": key[0],
            "unit": unit, "year": key[2],
            "month": key[3] if key[0] == "dress_code" else None,
            "employee_id": employee_id, "unit_head_id": head, "at": as_utc(at),
            "reason": reason, "entries": list(entries)}


def unit_admonishment(unit: str, admonishment: Mapping, head: str | None,
                      policy: Policy) -> dict:
    """The unit's case for one person's admonishment (a ``due_thresholds`` item)."""
    key = ("admonishment", unit, admonishment["year"], admonishment["employee_id"])
    return _raised(unit, key, at=admonishment["at"], employee_id=admonishment["employee_id"],
                   head=head, reason={
                       "performance_pay_cut_percent": policy.units.performance_pay_cut_percent,
                       **admonishment["reason"]})


def due_unit_thresholds(unit: str, entries: Iterable[Mapping], people: Mapping[str, Mapping],
                        catalogs: Catalogs, policy: Policy, *, raised: Iterable = ()
                        ) -> list[dict]:
    """The unit's meeting and dress-code consequences due and not in ``raised``.

    ``entries``: the unit's entries of the periods to evaluate (others are
    ignored); ``people``: directory copies of the people on them, for the
    unit head. Returns dicts ``{threshold_id, key, kind, unit, year, month,
    employee_id, unit_head_id, at, reason, entries}`` oldest first;
    ``entries`` holds the B02 booking of a dress-code consequence.
    """
    raised_keys = {tuple(k) for k in raised}
    units = policy.units
    mine = [e for e in live_entries(entries)
            if e.get("unit") == unit and e["kind"] == "penalty"]
    due: list[dict] = []

    meeting = [e for e in mine if e["domain"] == units.award_ineligible.domain]
    for year in sorted({e["year"] for e in meeting}):
        key = ("award_ineligible", unit, year)
        of_year = [e for e in meeting if e["year"] == year]
        reached, last = crossing(of_year, lambda seen: (
            len(seen) > units.award_ineligible.max_penalties
            or tenths_of(seen) > units.award_ineligible.max_points_tenths))
        if reached and key not in raised_keys:
            due.append(_raised(unit, key, at=last["at"], employee_id=last["employee_id"],
                               head=_head(last, of_year, people), reason={
                                   "penalties": len(of_year),
                                   "points": from_tenths(tenths_of(of_year))}))

    dress = [e for e in mine if e["code"] == units.dress_code.code
             and e["share"] == "individual"]
    for year, month in sorted({(e["year"], e["month"]) for e in dress}):
        key = ("dress_code", unit, year, month)
        of_month = sorted((e for e in dress if (e["year"], e["month"]) == (year, month)),
                          key=sort_key)
        if len(of_month) < units.dress_code.min_penalties or key in raised_keys:
            continue
        counted = of_month[:units.dress_code.min_penalties]
        last = counted[-1]
        head = _head(last, counted, people)
        due.append(_raised(
            unit, key, at=last["at"], employee_id=last["employee_id"], head=head,
            reason={"penalties": len(counted),
                    "employee_ids": sorted({e["employee_id"] for e in counted})},
            entries=_leader_entries(unit, year, month, last, counted, head, catalogs,
                                    policy)))
    return sorted(due, key=lambda d: d["at"])


def _head(last: Mapping, counted: Iterable[Mapping], people: Mapping[str, Mapping]
          ) -> str | None:
    """The unit head as the directory copy of the crossing person names him,
    else as most of the counted people do."""
    head = (people.get(last["employee_id"]) or {}).get("unit_head_id")
    if head:
        return head
    named = Counter(h for e in counted
                    if (h := (people.get(e["employee_id"]) or {}).get("unit_head_id")))
    return named.most_common(1)[0][0] if named else None


def _leader_entries(unit: str, year: int, month: int, last: Mapping,
                    counted: list[Mapping], head: str | None, catalogs: Catalogs,
                    policy: Policy) -> list[dict]:
    code = policy.units.dress_code.leader_code
    who = ", ".join(sorted({e["employee_id"] for e in counted}))
    booking = plan({
        "domain": catalogs.rule(code).domain, "codes": [code],
        "employee_id": f"unit:{unit}", "at": last["at"],
        "incident_id": f"unit:{unit}:dress_code:{year}-{month:02d}",
        "reporting_line": {"unit_head_id": head} if head else {},
        "note": f"unit {unit}: {len(counted)} dress-code penalties in "
                f"{year}-{month:02d} ({who})",
        "source": "unit_threshold.dress_code"}, catalogs)
    attach_notes(booking)
    for e in booking.entries:
        # The unit's breach in the month counted, whatever unit the head sits in.
        e["year"], e["month"], e["unit"] = year, month, unit
    return booking.entries


def unit_flags(records: Iterable[Mapping], *, year: int,
               through_month: int | None = None, tz=None) -> dict:
    """The unit's standing in ``year`` from its raised consequences.

    ``through_month``: only what was raised by the end of that month (a
    publication shows the standing as of the month it covers).
    """
    def month_of(r):
        return r["month"] or period_of(r["at"], tz)[1]

    mine = [r for r in records if r["year"] == year
            and (through_month is None or month_of(r) <= through_month)]
    admonished = [r for r in mine if r["kind"] == "admonishment"]
    cut = sum(r["reason"].get("performance_pay_cut_percent", 0) for r in admonished)
    return {
        "admonishment": bool(admonished),
        "admonished": sorted({r["employee_id"] for r in admonished}),
        "performance_pay_cut_percent": min(cut, 100),
        "award_eligible": not any(r["kind"] in ("admonishment", "award_ineligible")
                                  for r in mine),
        "dress_code_months": sorted({r["month"] for r in mine if r["kind"] == "dress_code"}),
    }
