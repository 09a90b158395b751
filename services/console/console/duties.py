"""The console's rule texts and queue settings (``rules/duties.yaml``)."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import yaml

DEFAULT = Path(__file__).parent / "rules" / "duties.yaml"
KEYS = {"desk_departments", "remedy_authority", "authority_order", "open_statuses",
        "rules", "intake", "leave_types"}


@lru_cache(maxsize=1)
def load_duties(path: str | None = None) -> dict:
    path = Path(path or os.environ.get("ZHIDU_CONSOLE_DUTIES") or DEFAULT)
    with open(path, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle) or {}
    unknown = set(raw) - KEYS
    missing = KEYS - set(raw)
    if unknown or missing:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}, missing {sorted(missing)}")
    for name, rule in raw["rules"].items():
        if not isinstance(rule, dict) or not rule.get("section") or not rule.get("text"):
            raise ValueError(f"{path}: rules.{name} needs a section and a text")
    if raw["remedy_authority"][-1].get("up_to_yuan") is not None:
        raise ValueError(f"{path}: the last remedy_authority step has no ceiling")
    return raw


def rule(name: str) -> dict:
    return load_duties()["rules"][name]


def remedy_role(amount_yuan: int) -> str:
    """The lowest role whose authority covers a remedy of ``amount_yuan``."""
    for step in load_duties()["remedy_authority"]:
        ceiling = step.get("up_to_yuan")
        if ceiling is None or amount_yuan <= ceiling:
            return step["role"]
    raise AssertionError("validated: the last step has no ceiling")


def may_approve_remedy(roles, amount_yuan: int, department: str | None = None) -> bool:
    """Whether the remedy is on this person's desk: their rank covers the
    amount, and below the ladder's second rung (the deputy GM) they manage a
    desk department — 003 §4 3.6.1 names customer service's manager, as the
    complaints permissions file does with its ``desk`` relation."""
    duties = load_duties()
    order = duties["authority_order"]
    needed = order.index(remedy_role(amount_yuan))
    anywhere = order.index(duties["remedy_authority"][1]["role"])
    at_desk = department in duties["desk_departments"]
    return any(role in order and order.index(role) >= needed
               and (at_desk or order.index(role) >= anywhere) for role in roles)
