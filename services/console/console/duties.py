"""The console's rule texts and queue settings (``rules/duties.yaml``)."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import yaml

DEFAULT = Path(__file__).parent / "rules" / "duties.yaml"
KEYS = {"desk_departments", "remedy_authority", "authority_order", "open_statuses",
        "board_detail_horizon_hours", "rules", "intake",
        "leave_types"}


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


def may_approve_remedy(roles, amount_yuan: int) -> bool:
    order = load_duties()["authority_order"]
    needed = order.index(remedy_role(amount_yuan))
    return any(role in order and order.index(role) >= needed for role in roles)
