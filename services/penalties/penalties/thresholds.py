"""Threshold events: which are due for one person, each once per period
(what the person's unit bears with them is ``units``).

``due_thresholds`` looks at a person's entries and the keys already raised and
returns the events not raised yet. The ledger writer records each returned
event under its ``threshold_id`` in the same transaction as its
``threshold_reached`` and the fine it books, so an event is raised once.

Period keys (tuples; Mongo stores them as arrays)::

    ("admonishment", 2026)              conduct ≥ 30 points or ≥ 2 subjective
                                        failures in a year (000 §4 附加说明.3)
    ("award_ineligible", 2026)          meetings > 3 penalties or > 15 points
                                        in a year (000 §3 十.8)
    ("worst_of_month", 2026, 11)        ≥ 2 complaints in a month (004 二.4);
                                        carries the Q06 500-yuan entry to book
    ("dismissal_review", 2026, 11)      the 3rd (and every later) worst month
                                        (004 二.4 累计三次)
    ("transfer_review", 2026)           admonished two years running
                                        (000 §4 附加说明.4)
    ("transfer_review", 2026, 11)       the same rule broken 3 times in a month
                                        in the complaint/service-quality
                                        domains (000 §7 六.4)

Decisions:
- Counting uses live entries only (a reversed entry and its reversal drop
  out); an event already raised is never withdrawn by a later reversal — the
  talk or review happened, the appeal shows in the ledger.
- Periods are calendar years/months in ZHIDU_TZ (the entries' year/month).
- Cumulative rules (dismissal, transfer) count the keys in ``raised`` plus the
  ones due now, so the service need not pass years of entries.
- Each event's ``at`` is the time of the entry that crossed the threshold.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from zhidu.times import as_utc

from .amounts import from_tenths, points_to_tenths
from .booking import book
from .catalog import Catalogs
from .ledger import live_entries, sort_key
from .policy import Policy


def counts_toward(entry: Mapping, policy: Policy) -> bool:
    """Whether a new entry can bring one of the person's thresholds closer.

    Only such an entry makes anything due, so only then is the person's year
    read again; a dormitory violation, say, moves none of the default ones.
    Dismissal and transfer reviews follow from the worst months and the
    admonishments, so the rules behind those decide for them too.
    """
    if entry["kind"] != "penalty" or entry.get("reverses"):
        return False
    return (entry["domain"] in (policy.admonishment.domain, policy.award_ineligible.domain)
            or entry["code"] == policy.worst_of_month.complaint_code
            or entry["domain"] in policy.transfer_review.same_accident_domains)


def threshold_id(employee_id: str, key: tuple) -> str:
    """Stable document id, e.g. ``e1:worst_of_month:2026-11``."""
    period = str(key[1]) if len(key) == 2 else f"{key[1]}-{key[2]:02d}"
    return f"{employee_id}:{key[0]}:{period}"


def _norm(key) -> tuple:
    key = tuple(key)
    if len(key) == 3 and key[2] is None:
        key = key[:2]
    return key


def crossing(entries: list[Mapping], reached) -> tuple[bool, Mapping | None]:
    """Walk entries in time order; the first one after which ``reached(seen)``."""
    seen: list[Mapping] = []
    for e in sorted(entries, key=sort_key):
        seen.append(e)
        if reached(seen):
            return True, e
    return False, None


def tenths_of(entries: Iterable[Mapping]) -> int:
    return sum(points_to_tenths(e["points"]) for e in entries)


def _incidents(entries: Iterable[Mapping]) -> int:
    return len({e["incident_id"] for e in entries})


def admonishment_status(entries: Iterable[Mapping], employee_id: str, year: int,
                        policy: Policy, catalogs: Catalogs) -> dict:
    """{reached, points, subjective_failures, at} for one person and year."""
    pol = policy.admonishment
    mine = [e for e in live_entries(entries)
            if e["employee_id"] == employee_id and e["year"] == year
            and e["domain"] == pol.domain and e["kind"] == "penalty"
            and e["share"] in pol.shares]

    def subjective(es):
        return [e for e in es if e["share"] == "individual"
                and pol.subjective_tag in _tags(catalogs, e["code"])]

    reached, last = crossing(mine, lambda seen: (
        tenths_of(seen) >= pol.min_points_tenths
        or _incidents(subjective(seen)) >= pol.min_subjective_failures))
    return {"reached": reached, "points": from_tenths(tenths_of(mine)),
            "subjective_failures": _incidents(subjective(mine)),
            "at": as_utc(last["at"]) if last else None}


def award_status(entries: Iterable[Mapping], employee_id: str, year: int,
                 policy: Policy) -> dict:
    """{ineligible, penalties, points, at} for meeting penalties in a year."""
    pol = policy.award_ineligible
    mine = [e for e in live_entries(entries)
            if e["employee_id"] == employee_id and e["year"] == year
            and e["domain"] == pol.domain and e["kind"] == "penalty"]
    reached, last = crossing(mine, lambda seen: (
        len(seen) > pol.max_penalties or tenths_of(seen) > pol.max_points_tenths))
    return {"ineligible": reached, "penalties": len(mine),
            "points": from_tenths(tenths_of(mine)),
            "at": as_utc(last["at"]) if last else None}


def _tags(catalogs: Catalogs, code: str) -> frozenset:
    rule = catalogs.rule(code)
    return rule.tags if rule else frozenset()


def due_thresholds(employee_id: str, entries: Iterable[Mapping],
                   catalogs: Catalogs, policy: Policy, *,
                   raised: Iterable = (), context: Mapping | None = None
                   ) -> list[dict]:
    """Threshold events due for ``employee_id`` and not yet in ``raised``.

    ``entries``: the person's ledger entries for the periods to evaluate
    (typically the current year; entries of other people are ignored).
    ``raised``: keys already raised for this person, e.g.
    ``[("admonishment", 2025), ("worst_of_month", 2026, 3)]``.

    Returns dicts ``{threshold_id, key, kind, employee_id, year, month, at,
    reason, entries}``, oldest first; ``entries`` holds ledger entries to book
    with the event (the Q06 fine for worst_of_month), else ``[]``.
    """
    raised_keys = {_norm(k) for k in raised}
    mine = [e for e in live_entries(entries) if e["employee_id"] == employee_id]
    due: list[dict] = []

    def emit(key, at, reason, booked=()):
        key = _norm(key)
        if key in raised_keys or any(d["key"] == key for d in due):
            return
        due.append({"threshold_id": threshold_id(employee_id, key), "key": key,
                    "kind": key[0], "employee_id": employee_id, "year": key[1],
                    "month": key[2] if len(key) == 3 else None,
                    "at": at, "reason": reason, "entries": list(booked)})

    years = sorted({e["year"] for e in mine})
    months = sorted({(e["year"], e["month"]) for e in mine})

    for year in years:
        adm = admonishment_status(mine, employee_id, year, policy, catalogs)
        if adm["reached"]:
            emit(("admonishment", year), adm["at"],
                 {"points": adm["points"],
                  "subjective_failures": adm["subjective_failures"]})
        award = award_status(mine, employee_id, year, policy)
        if award["ineligible"]:
            emit(("award_ineligible", year), award["at"],
                 {"penalties": award["penalties"], "points": award["points"]})

    for year, month in months:
        in_month = [e for e in mine if (e["year"], e["month"]) == (year, month)]
        _worst(emit, in_month, employee_id, year, month, catalogs, policy, context)
        _same_accident(emit, in_month, year, month, policy)

    _dismissal(emit, raised_keys, due, policy)
    _admonished_running(emit, raised_keys, due, policy)
    # Stable: events of one moment keep their causal order (worst → dismissal).
    return sorted(due, key=lambda d: as_utc(d["at"]))


def _worst(emit, in_month, employee_id, year, month, catalogs, policy, context):
    pol = policy.worst_of_month
    complaints = [e for e in in_month if e["code"] == pol.complaint_code
                  and e["share"] == "individual"]
    reached, last = crossing(complaints, lambda seen: _incidents(seen)
                              >= pol.min_complaints)
    if not reached:
        return
    rule = catalogs.rule(pol.fine_code)
    fine = book({"domain": rule.domain, "codes": [pol.fine_code],
                 "employee_id": employee_id, "at": last["at"],
                 "incident_id": f"worst_of_month:{year}-{month:02d}",
                 "source": "threshold.worst_of_month"}, catalogs, context)
    for e in fine:
        e["year"], e["month"] = year, month  # the month rated, whatever the tz
    emit(("worst_of_month", year, month), as_utc(last["at"]),
         {"complaints": sorted({e["incident_id"] for e in complaints})}, fine)


def _same_accident(emit, in_month, year, month, policy):
    pol = policy.transfer_review
    by_code = defaultdict(list)
    for e in in_month:
        if (e["domain"] in pol.same_accident_domains and e["kind"] == "penalty"
                and e["share"] == "individual"):
            by_code[e["code"]].append(e)
    hits = []
    for code, es in sorted(by_code.items()):
        reached, last = crossing(es, lambda seen: _incidents(seen)
                                  >= pol.same_accident_per_month)
        if reached:
            hits.append((as_utc(last["at"]), code, _incidents(es)))
    if hits:
        at, code, count = min(hits)
        emit(("transfer_review", year, month), at,
             {"cause": "same_accident", "code": code, "count": count})


def _dismissal(emit, raised_keys, due, policy):
    worst = sorted({k[1:] for k in raised_keys if k[0] == "worst_of_month"}
                   | {d["key"][1:] for d in due if d["kind"] == "worst_of_month"})
    at_of = {d["key"][1:]: d["at"] for d in due if d["kind"] == "worst_of_month"}
    for ordinal, (year, month) in enumerate(worst, start=1):
        if ordinal >= policy.dismissal_min_worst_months and (year, month) in at_of:
            emit(("dismissal_review", year, month), at_of[(year, month)],
                 {"worst_months": ordinal})


def _admonished_running(emit, raised_keys, due, policy):
    run = policy.transfer_review.admonished_years_running
    years = ({k[1] for k in raised_keys if k[0] == "admonishment"}
             | {d["key"][1] for d in due if d["kind"] == "admonishment"})
    at_of = {d["key"][1]: d["at"] for d in due if d["kind"] == "admonishment"}
    for year in sorted(at_of):
        if all(year - i in years for i in range(run)):
            emit(("transfer_review", year), at_of[year],
                 {"cause": "admonished_years_running", "years": run})
