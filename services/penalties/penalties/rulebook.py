"""The catalogues and the policy the ledger books by, loaded once at start-up.

A bad file stops the service before it takes a single event
(``zhidu.rulebook.RuleBook`` calls ``load_rules``), rather than failing the
first booking that needs the rule.
"""
from __future__ import annotations

from dataclasses import dataclass

from zhidu.config import setting

from .catalog import Catalogs
from .plugins import check_sources_against, load_all_catalogs
from .policy import Policy, check_against, load_policy


@dataclass(frozen=True)
class Rules:
    catalogs: Catalogs
    policy: Policy


def load_rules(config) -> Rules:
    """Built-in and plugin catalogues, then the deployment's extra files
    (``ZHIDU_PENALTY_CATALOGS``, ``ZHIDU_PENALTY_POLICY``, colon-separated)."""
    extra = [p for p in str(setting(config, "ZHIDU_PENALTY_CATALOGS", "")).split(":") if p]
    overrides = [p for p in str(setting(config, "ZHIDU_PENALTY_POLICY", "")).split(":") if p]
    catalogs = load_all_catalogs(extra)
    policy = load_policy(overrides)
    check_against(policy, catalogs)
    check_sources_against(catalogs)
    return Rules(catalogs, policy)
