"""The dormitory rule catalogue: ``rules/catalog.yaml`` as a validated object.

Points, the move-out period and the reasons for losing a bed are company
configuration (rules.md preamble), so they live in YAML. Loading refuses
unknown keys and wrong types and raises ``ValueError("<file>: <key>: <why>")``
so a broken file stops the service at start-up instead of mis-booking later.
``D01`` must be present: the move-out sweep books it by itself.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import yaml

DEFAULT_FILE = Path(__file__).with_name("rules") / "catalog.yaml"
MOVE_OUT_CODE = "D01"
CODE_RE = re.compile(r"^[A-Z][A-Z0-9]{1,7}$")
REASON_RE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")

_TOP_KEYS = {"domain", "source", "move_out_days", "rules", "revocation_reasons"}
_RULE_KEYS = {"code", "points", "source", "title_zh", "title_en"}
_REASON_KEYS = {"code", "source", "title_zh", "title_en"}


@dataclass(frozen=True)
class Rule:
    code: str
    points: int
    title_zh: str
    title_en: str
    source: str = ""

    def public(self) -> dict:
        return {"code": self.code, "title_zh": self.title_zh, "title_en": self.title_en,
                "points": self.points}


@dataclass(frozen=True)
class Reason:
    code: str
    title_zh: str
    title_en: str
    source: str = ""


@dataclass(frozen=True)
class Catalogue:
    domain: str
    move_out_days: int
    rules: Mapping[str, Rule]
    reasons: Mapping[str, Reason]

    def rule(self, code: str) -> Rule:
        return self.rules[code]

    def public(self) -> list[dict]:
        return [rule.public() for rule in self.rules.values()]


def _text(value, where: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: expected a non-empty string, got {value!r}")
    return value.strip()


def _unknown(item: dict, allowed: set, where: str) -> None:
    extra = sorted(set(item) - allowed)
    if extra:
        raise ValueError(f"{where}.{extra[0]}: unknown key")


def _items(value, where: str) -> list[dict]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"{where}: expected a non-empty list")
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise ValueError(f"{where}[{index}]: expected a mapping")
    return value


def _rule(item: dict, where: str) -> Rule:
    _unknown(item, _RULE_KEYS, where)
    code = item.get("code")
    if not isinstance(code, str) or not CODE_RE.match(code):
        raise ValueError(f"{where}.code: expected a code like D01, got {code!r}")
    points = item.get("points")
    # bool is an int in Python; "points: yes" must not become 1 point.
    if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
        raise ValueError(f"{where}.points: expected a positive integer, got {points!r}")
    return Rule(code=code, points=points,
                title_zh=_text(item.get("title_zh"), f"{where}.title_zh"),
                title_en=_text(item.get("title_en"), f"{where}.title_en"),
                source=_text(item.get("source"), f"{where}.source", required=False))


def _reason(item: dict, where: str) -> Reason:
    _unknown(item, _REASON_KEYS, where)
    code = item.get("code")
    if not isinstance(code, str) or not REASON_RE.match(code):
        raise ValueError(f"{where}.code: expected a snake_case code, got {code!r}")
    return Reason(code=code,
                  title_zh=_text(item.get("title_zh"), f"{where}.title_zh"),
                  title_en=_text(item.get("title_en"), f"{where}.title_en"),
                  source=_text(item.get("source"), f"{where}.source", required=False))


def _unique(items: list, where: str) -> dict:
    out = {}
    for index, item in enumerate(items):
        if item.code in out:
            raise ValueError(f"{where}[{index}].code: duplicate code {item.code}")
        out[item.code] = item
    return out


def parse_catalogue(doc) -> Catalogue:
    """Validate a parsed catalogue document; raises ``ValueError`` naming the key."""
    if not isinstance(doc, dict):
        raise ValueError("catalogue: expected a mapping at the top level")
    _unknown(doc, _TOP_KEYS, "catalogue")
    domain = doc.get("domain", "dormitory")
    if domain != "dormitory":
        raise ValueError(f"domain: expected 'dormitory', got {domain!r}")
    days = doc.get("move_out_days")
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise ValueError(f"move_out_days: expected an integer >= 0, got {days!r}")
    rules = _unique([_rule(item, f"rules[{i}]")
                     for i, item in enumerate(_items(doc.get("rules"), "rules"))], "rules")
    if MOVE_OUT_CODE not in rules:
        raise ValueError(f"rules: {MOVE_OUT_CODE} (not moved out in time) is required")
    reasons = _unique([_reason(item, f"revocation_reasons[{i}]") for i, item in
                       enumerate(_items(doc.get("revocation_reasons"),
                                        "revocation_reasons"))],
                      "revocation_reasons")
    return Catalogue(domain=domain, move_out_days=days, rules=MappingProxyType(rules),
                     reasons=MappingProxyType(reasons))


def load_catalogue(path: str | os.PathLike | None = None) -> Catalogue:
    """The catalogue at ``path``, else ``ZHIDU_DORMITORY_RULES_FILE``, else the shipped one."""
    path = Path(path or os.environ.get("ZHIDU_DORMITORY_RULES_FILE") or DEFAULT_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            doc = yaml.safe_load(handle)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return parse_catalogue(doc)
    except ValueError as exc:
        raise ValueError(f"{path.name}: {exc}") from None
