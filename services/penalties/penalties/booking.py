"""Turning one incident into ledger entries.

An *incident* is one occurrence (an inspection finding, a meeting, a piece of
work, a complaint) by one employee that breaks one or several rules of ONE
catalogue::

    {"domain": "conduct", "codes": ["B05", "B08"],   # or "code": "B05"
     "employee_id": "e1", "incident_id": "w-17",
     "at": datetime | ISO string,                    # naive → ZHIDU_TZ
     "points": 12 | {"B09": 12},                     # optional overrides,
     "amount_yuan": 800 | {"P01": 800},              #   scalar = every code
     "nth": 3,                                       # progressive rules only
     "reporting_line": {"team_leader_id", "manager_id", "unit_head_id",
                        "group_leader_id", "supervisor_id"},
     "note": "...", "source": "dormitory.violation_recorded",
     "actor": {"id", "role"}}

Decisions (seeds and rules.md are silent on these):

- Amounts: a fixed rule accepts an override only if it equals the catalogue
  value, so a service configured with other numbers is noticed, not obeyed. A
  range rule without an override books its *minimum* and says so in the
  entry's notes: the lenient reading, and an event handler never fails on it.
  A rule tagged ``at_cost`` (damage paid at cost, 000 §5 三.9) has no such
  default: the cost is a fact someone recorded, so it must be given.
- ``max`` combine (000 §4 附加说明.7): the rule with the highest money
  equivalent wins (points × yuan_per_point, or yuan); ties go to the rule
  listed first in the catalogue. The others are kept in ``basis.suppressed``.
- Split (000 §4 附加说明.2): the total is split in tenths of a point by the
  largest-remainder method so the shares add up exactly (5 → 3/1/0.5/0.5;
  1 → 0.6/0.2/0.1/0.1). Money per share is its points × yuan_per_point.
- A share whose person is not in the reporting line is *not* booked (the
  individual's 60 % is his part of the blame, not more) and a note saying so is
  put on the individual's entry. A leadership share that would land on the
  offender himself (a team leader's own breach) is skipped the same way:
  nobody bears leadership responsibility for himself.
- ``supervisor`` (直接责任主管) is ``supervisor_id``, else ``team_leader_id``,
  else ``manager_id``: the directory has no supervisor field of its own.
- One incident may not list the same code twice: its entries would share an id.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from zhidu.domain import DomainValidation, Problems
from zhidu.times import local_tz, parse_time

from .amounts import (
    from_tenths,
    is_number,
    money_for_tenths,
    split_by_percent,
    to_tenths,
    to_yuan,
)
from .catalog import Catalog, Catalogs, Rule
from .ledger import entry_id, period_of

# A rule priced by the cost of what was damaged: its amount must be given.
AT_COST = "at_cost"

# Who holds a share: the reporting-line fields tried in order.
REPORTING_FIELDS: dict[str, tuple[str, ...]] = {
    "team_leader": ("team_leader_id",),
    "dept_manager": ("manager_id",),
    "unit_head": ("unit_head_id",),
    "group_leader": ("group_leader_id",),
    "supervisor": ("supervisor_id", "team_leader_id", "manager_id"),
}
_LINE_FIELDS = {f for fields in REPORTING_FIELDS.values() for f in fields}


@dataclass
class Booking:
    """What an incident yields: entries plus incident-level notes."""

    entries: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def book(incident: Mapping, catalogs: Catalogs,
         context: Mapping | None = None) -> list[dict]:
    """Ledger entries for one incident (see module doc for the shape).

    ``context`` (optional): ``tz`` (ZoneInfo for the year/month period, default
    ZHIDU_TZ) and ``reporting_line`` (the directory's copy; fields given in the
    incident win). Raises ``DomainValidation`` for bad input, including an
    incident that would book nothing because nobody it charges is known.
    Pure: the same input always yields the same entries, ids included.
    """
    booking = plan(incident, catalogs, context)
    if not booking.entries:
        raise DomainValidation({"reporting_line": booking.notes
                                or ["nobody to charge"]})
    attach_notes(booking)
    return booking.entries


def plan(incident: Mapping, catalogs: Catalogs,
         context: Mapping | None = None) -> Booking:
    """Like ``book`` but returns the notes apart and never fails for an
    unknown share holder; the building block of the service-quality ladder."""
    context = context or {}
    inc = _parse(incident, catalogs, context)
    catalog = catalogs.domain(inc["domain"])
    problems = Problems()
    valued = [(rule, *_value(rule, inc, problems))
              for rule in (catalog.rule(c) for c in inc["codes"])]
    problems.raise_if_any()

    if catalog.combine == "max" and len(valued) > 1:
        best = max(valued, key=lambda v: (_money(catalog, v[0], v[1]),
                                          -catalog.position(v[0].code)))
        best[2]["combine"] = "max"
        best[2]["suppressed"] = [v[0].code for v in valued if v is not best]
        valued = [best]

    booking = Booking()
    tz = context.get("tz") or local_tz()
    for rule, quantity, basis, notes in valued:
        _charge(booking, catalog, rule, quantity, basis, notes, inc, tz)
    return booking


def attach_notes(booking: Booking) -> None:
    """Put incident-level notes on the individual's entry (else the first)."""
    if not booking.notes or not booking.entries:
        return
    target = next((e for e in booking.entries if e["share"] == "individual"),
                  booking.entries[0])
    target["notes"].extend(booking.notes)
    booking.notes = []


# --- internals -----------------------------------------------------------

def _parse(incident: Mapping, catalogs: Catalogs, context: Mapping) -> dict:
    p = Problems()
    if not isinstance(incident, Mapping):
        raise DomainValidation.one("incident", "must be a mapping")
    domain = incident.get("domain")
    catalog = catalogs.domain(domain) if isinstance(domain, str) else None
    if catalog is None:
        p.add("domain", f"unknown domain {domain!r} (loaded: "
                        f"{', '.join(catalogs.domains)})")
    codes = incident.get("codes")
    if codes is None and "code" in incident:
        codes = [incident["code"]]
    if not isinstance(codes, list) or not codes or not all(
            isinstance(c, str) for c in codes):
        p.add("codes", "required, a non-empty list of rule codes")
        codes = []
    elif len(set(codes)) != len(codes):
        p.add("codes", "a code may appear only once per incident")
    elif catalog is not None:
        for code in codes:
            if catalog.rule(code) is None:
                p.add("codes", f"{code} is not a rule of {domain}")
    for key in ("employee_id", "incident_id"):
        value = incident.get(key)
        if not isinstance(value, str) or not value.strip():
            p.add(key, "required, a non-empty string")
    at = None
    try:
        at = parse_time(incident.get("at"))
    except (ValueError, TypeError) as exc:
        p.add("at", str(exc))
    nth = incident.get("nth")
    if nth is not None and (not isinstance(nth, int) or isinstance(nth, bool)
                            or nth < 1):
        p.add("nth", "must be an integer >= 1")
    for key in ("points", "amount_yuan"):
        value = incident.get(key)
        if value is None or is_number(value):
            continue
        if isinstance(value, Mapping):
            for code in value:
                if code not in codes:
                    p.add(key, f"{code} is not among the incident's codes")
        else:
            p.add(key, "must be a number or a mapping code → number")
    line = dict(context.get("reporting_line") or {})
    given = incident.get("reporting_line")
    if given is not None and not isinstance(given, Mapping):
        p.add("reporting_line", "must be a mapping")
    elif given:
        line.update({k: v for k, v in given.items() if v})
    for key, value in line.items():
        if key not in _LINE_FIELDS:
            p.add(f"reporting_line.{key}", "unknown field")
        elif value is not None and not isinstance(value, str):
            p.add(f"reporting_line.{key}", "must be an employee id")
    if catalog is not None and not p.errors:
        kinds = {catalog.rule(c).kind for c in codes}
        if len(kinds) > 1:
            p.add("codes", "one incident cannot mix penalties and rewards")
    p.raise_if_any()
    return {"domain": domain, "codes": codes,
            "employee_id": incident["employee_id"].strip(),
            "incident_id": incident["incident_id"].strip(), "at": at, "nth": nth,
            "points": incident.get("points"),
            "amount_yuan": incident.get("amount_yuan"),
            "reporting_line": line, "note": incident.get("note"),
            "source": incident.get("source"), "actor": incident.get("actor")}


def _override(inc: dict, key: str, code: str):
    value = inc[key]
    if isinstance(value, Mapping):
        return value.get(code)
    return value


def _value(rule: Rule, inc: dict, p: Problems):
    """(quantity in the rule's unit — tenths or yuan —, basis, notes)."""
    unit = rule.amount.unit
    key, other = ("points", "amount_yuan") if unit == "points" else ("amount_yuan", "points")
    basis: dict = {"unit": unit}
    notes: list[str] = []
    if _override(inc, other, rule.code) is not None:
        p.add(other, f"{rule.code} is priced in {unit}, give {key}")
    raw = _override(inc, key, rule.code)
    shown = from_tenths if unit == "points" else int
    if raw is None and AT_COST in rule.tags:
        p.add(key, f"{rule.code} is charged at cost: give the cost in {unit}")
        return 0, basis, notes
    if raw is None:
        base = rule.amount.low
        if not rule.amount.fixed:
            basis["range_default"] = "minimum"
            notes.append(f"{rule.code}: no amount given, range minimum "
                         f"{shown(base)} {unit} booked")
    else:
        try:
            base = to_tenths(raw) if unit == "points" else to_yuan(raw)
        except ValueError as exc:
            p.add(key, f"{rule.code}: {exc}")
            return 0, basis, notes
        if not rule.amount.low <= base <= rule.amount.high:
            allowed = (shown(rule.amount.low) if rule.amount.fixed else
                       f"{shown(rule.amount.low)}–{shown(rule.amount.high)}")
            p.add(key, f"{rule.code}: {shown(base)} is outside {allowed} {unit}")
            return 0, basis, notes
        basis["override"] = shown(base)
    basis["value"] = shown(base)
    quantity = base
    if rule.progressive:
        if inc["nth"] is None:
            p.add("nth", f"{rule.code} is progressive: give the occurrence number")
            return 0, basis, notes
        basis["nth"] = inc["nth"]
        quantity = base * inc["nth"]
    return quantity, basis, notes


def _money(catalog: Catalog, rule: Rule, quantity: int) -> int:
    if rule.amount.unit == "points":
        return money_for_tenths(quantity, catalog.yuan_per_point)
    return quantity


def holder(share: str, offender_id: str, line: Mapping) -> tuple[str | None, str]:
    """(employee id holding ``share`` for this offender, field consulted)."""
    if share == "individual":
        return offender_id, "employee_id"
    fields = REPORTING_FIELDS[share]
    for name in fields:
        if line.get(name):
            return line[name], name
    return None, fields[0]


def _charge(booking: Booking, catalog: Catalog, rule: Rule, quantity: int,
            basis: dict, notes: list[str], inc: dict, tz: ZoneInfo) -> None:
    offender = inc["employee_id"]
    for charge in rule.charge:
        if charge == "individual" and catalog.split and rule.split:
            parts = [(share, qty, pct) for (share, qty), (_s, pct)
                     in zip(split_by_percent(quantity, list(catalog.split)),
                            catalog.split, strict=True)]
        else:
            parts = [(charge, quantity, None)]
        for share, qty, pct in parts:
            person, looked_up = holder(share, offender, inc["reporting_line"])
            what = f"{share} share of {rule.code} ({_show(rule, qty)})"
            if person is None:
                booking.notes.append(f"{what} not booked: no {looked_up} "
                                     "in the reporting line")
                continue
            if share != "individual" and person == offender:
                booking.notes.append(f"{what} not booked: {person} is the "
                                     "offender")
                continue
            if qty == 0:
                booking.notes.append(f"{what} not booked: rounds to nothing")
                continue
            booking.entries.append(_entry(catalog, rule, inc, share, person, qty,
                                          pct, basis, notes, tz))


def _show(rule: Rule, quantity: int) -> str:
    if rule.amount.unit == "points":
        return f"{from_tenths(quantity)} points"
    return f"{quantity} yuan"


def _entry(catalog: Catalog, rule: Rule, inc: dict, share: str, person: str,
           quantity: int, percent: int | None, basis: dict, notes: list[str],
           tz: ZoneInfo) -> dict:
    if rule.amount.unit == "points":
        tenths, money = quantity, money_for_tenths(quantity, catalog.yuan_per_point)
    else:
        tenths, money = 0, quantity
    penalty = rule.kind == "penalty"
    year, month = period_of(inc["at"], tz)
    return {
        "entry_id": entry_id(inc["incident_id"], rule.code, share, person,
                             inc["employee_id"]),
        "employee_id": person,
        "offender_id": inc["employee_id"],
        "share": share,
        "percent": percent,
        "kind": rule.kind,
        "domain": catalog.domain,
        "code": rule.code,
        "title_zh": rule.title_zh,
        "title_en": rule.title_en,
        "incident_id": inc["incident_id"],
        "at": inc["at"],
        "year": year,
        "month": month,
        # Point rewards are negative points (rules §5); money stays a magnitude.
        "points": from_tenths(tenths if penalty else -tenths),
        "amount_yuan": money,
        "deducted_yuan": money if penalty else 0,
        "capped_yuan": 0,
        "basis": {**copy.deepcopy(basis), "yuan_per_point": catalog.yuan_per_point},
        "notes": list(notes) if share == "individual" or percent is None else [],
        "reverses": None,
        "appeal": {"status": "none"},
        "source": inc["source"],
        "actor": inc["actor"],
        "note": inc["note"],
    }
