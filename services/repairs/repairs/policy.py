"""The repairs policy (``rules/repairs.yaml``) and tariff (``rules/tariff.yaml``),
read into frozen dataclasses once, at start-up.

Validation is strict and every error names the dotted key, so a deployment's
override fails on start, not in the middle of a sweep.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from zhidu.clocks import ClockBook, clocks_from_dict

RULES = Path(__file__).parent / "rules"
DEFAULT_POLICY = RULES / "repairs.yaml"
DEFAULT_TARIFF = RULES / "tariff.yaml"

MOMENTS = frozenset({
    "received", "dispatched", "appointment_set", "arrived", "customer_called", "surveyed",
    "quoted", "consented", "completed", "called_back", "reopened", "closed",
})
CONDITIONS = frozenset({"kind", "urgency", "multi_trade", "channel"})
# Clocks started with an agreed moment rather than by a moment of the order.
AGREED_CLOCKS = ("appointment", "promise")


@dataclass(frozen=True)
class TariffItem:
    code: str
    trade: str
    unit: str
    yuan: int
    title_zh: str
    title_en: str


@dataclass(frozen=True)
class Policy:
    clocks: ClockBook
    kinds: tuple[str, ...]
    urgencies: tuple[str, ...]
    channels: tuple[str, ...]
    trades: tuple[str, ...]
    prefix: str
    serial_digits: int
    contractor_exempt_below_yuan: int
    audit_above_yuan: int
    free_kinds: tuple[str, ...]
    complaint_after_reopens: int
    complaint_after_breach: bool
    complaint_escalation_level: int
    desk_departments: tuple[str, ...]
    engineering_departments: tuple[str, ...]
    audit_departments: tuple[str, ...]
    timely_clocks: tuple[str, ...]
    tariff: Mapping[str, TariffItem]

    def violation_of(self, clock: str) -> str | None:
        definition = self.clocks.clocks.get(clock)
        return None if definition is None else definition.extra.get("violation")


def _section(data: Mapping, key: str, keys: set[str]) -> Mapping:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise ValueError(f"{key}: expected a mapping")
    unknown = set(value) - keys
    if unknown:
        raise ValueError(f"{key}.{sorted(unknown)[0]}: unknown key")
    missing = keys - set(value)
    if missing:
        raise ValueError(f"{key}.{sorted(missing)[0]}: missing")
    return value


def _names(value, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(
            isinstance(v, str) and v for v in value):
        raise ValueError(f"{where}: expected a non-empty list of names")
    return tuple(value)


def _int(value, where: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{where}: expected a whole number >= {minimum}")
    return value


def tariff_from_dict(data: Mapping[str, Any], trades: tuple[str, ...]) -> dict:
    if not isinstance(data, Mapping) or set(data) != {"items"}:
        raise ValueError("tariff: expected exactly the key items")
    items = {}
    keys = {"code", "trade", "unit", "yuan", "title_zh", "title_en"}
    for i, raw in enumerate(data["items"] or []):
        where = f"tariff.items[{i}]"
        if not isinstance(raw, Mapping) or set(raw) != keys:
            raise ValueError(f"{where}: expected the keys {sorted(keys)}")
        if raw["trade"] not in trades:
            raise ValueError(f"{where}.trade: unknown trade {raw['trade']!r}")
        if raw["code"] in items:
            raise ValueError(f"{where}.code: duplicate {raw['code']!r}")
        items[raw["code"]] = TariffItem(str(raw["code"]), raw["trade"], str(raw["unit"]),
                                        _int(raw["yuan"], f"{where}.yuan", minimum=0),
                                        str(raw["title_zh"]), str(raw["title_en"]))
    if not items:
        raise ValueError("tariff.items: must not be empty")
    return items


def policy_from_dict(data: Mapping[str, Any], tariff: Mapping[str, Any]) -> Policy:
    """Validate a parsed policy and tariff; ``ValueError`` names the bad key."""
    if not isinstance(data, Mapping):
        raise ValueError("policy: expected a mapping")
    sections = {"warning_fraction", "escalation", "clocks", "intake", "numbering", "survey",
                "charges", "to_complaint", "desk", "engineering", "audit", "stats"}
    unknown = set(data) - sections
    if unknown:
        raise ValueError(f"{sorted(unknown)[0]}: unknown key")
    book = clocks_from_dict({k: data[k] for k in ("warning_fraction", "escalation", "clocks")
                             if k in data},
                            moments=MOMENTS, conditions=CONDITIONS, extra_keys={"violation"})
    for name in AGREED_CLOCKS:
        if name not in book.clocks:
            raise ValueError(f"clocks.{name}: missing (the service starts it itself)")
    intake = _section(data, "intake", {"kinds", "urgencies", "channels", "trades"})
    numbering = _section(data, "numbering", {"prefix", "serial_digits"})
    if not isinstance(numbering["prefix"], str) or not numbering["prefix"].isalpha():
        raise ValueError("numbering.prefix: expected letters")
    survey = _section(data, "survey", {"contractor_exempt_below_yuan"})
    charges = _section(data, "charges", {"audit_above_yuan", "free_kinds"})
    complaint = _section(data, "to_complaint", {"reopens", "after_breach", "escalation_level"})
    if not isinstance(complaint["after_breach"], bool):
        raise ValueError("to_complaint.after_breach: expected true or false")
    stats = _section(data, "stats", {"timely_clocks"})
    timely = _names(stats["timely_clocks"], "stats.timely_clocks")
    if not set(timely) <= set(book.clocks):
        raise ValueError(f"stats.timely_clocks: unknown {sorted(set(timely) - set(book.clocks))}")
    kinds = _names(intake["kinds"], "intake.kinds")
    free = tuple(charges["free_kinds"] or ())
    if not set(free) <= set(kinds):
        raise ValueError("charges.free_kinds: must be among intake.kinds")
    trades = _names(intake["trades"], "intake.trades")
    return Policy(
        clocks=book, kinds=kinds, urgencies=_names(intake["urgencies"], "intake.urgencies"),
        channels=_names(intake["channels"], "intake.channels"), trades=trades,
        prefix=numbering["prefix"],
        serial_digits=_int(numbering["serial_digits"], "numbering.serial_digits", minimum=1),
        contractor_exempt_below_yuan=_int(survey["contractor_exempt_below_yuan"],
                                          "survey.contractor_exempt_below_yuan"),
        audit_above_yuan=_int(charges["audit_above_yuan"], "charges.audit_above_yuan"),
        free_kinds=free,
        complaint_after_reopens=_int(complaint["reopens"], "to_complaint.reopens", minimum=1),
        complaint_after_breach=complaint["after_breach"],
        complaint_escalation_level=_int(complaint["escalation_level"],
                                        "to_complaint.escalation_level", minimum=1),
        desk_departments=_names(_section(data, "desk", {"departments"})["departments"],
                                "desk.departments"),
        engineering_departments=_names(
            _section(data, "engineering", {"departments"})["departments"],
            "engineering.departments"),
        audit_departments=_names(_section(data, "audit", {"departments"})["departments"],
                                 "audit.departments"),
        timely_clocks=timely, tariff=tariff_from_dict(tariff, trades),
    )


def _read(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        try:
            return yaml.safe_load(handle) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML ({exc})") from exc


def load_policy(path: str | os.PathLike | None = None,
                tariff: str | os.PathLike | None = None) -> Policy:
    """Read and validate the policy and tariff (default: the shipped files)."""
    policy_path = Path(path) if path else DEFAULT_POLICY
    tariff_path = Path(tariff) if tariff else DEFAULT_TARIFF
    try:
        return policy_from_dict(_read(policy_path), _read(tariff_path))
    except ValueError as exc:
        raise ValueError(f"{policy_path.name}/{tariff_path.name}: {exc}") from exc
