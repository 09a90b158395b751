"""What the monitoring tests share: where things are, and the queries to check."""
from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "tests"
PENDING = ROOT / "deploy" / "prometheus" / "pending_metrics.yaml"
ALERTMANAGER = ROOT / "deploy" / "alertmanager"
GRAFANA = ROOT / "deploy" / "grafana"
RUNBOOKS = ROOT / "docs" / "runbooks"


def need(*tools: str) -> None:
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (make tools installs them)")


def alert_rules() -> list[dict]:
    rules = []
    for path in sorted(RULES.glob("*.yaml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            rules += [rule for rule in group["rules"] if "alert" in rule]
    return rules


def pending_metrics() -> dict:
    return yaml.safe_load(PENDING.read_text(encoding="utf-8")) or {}


def dashboards_module():
    spec = importlib.util.spec_from_file_location("zhidu_grafana_dashboards",
                                                  GRAFANA / "dashboards.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dashboards() -> dict[str, dict]:
    return {path.name: json.loads(path.read_text(encoding="utf-8"))
            for path in sorted((GRAFANA / "dashboards").glob("*.json"))}


def panels(dashboard: dict):
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", ())


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL as Grafana sends it) for every panel target and variable."""
    from .promql import label_values_metric

    found = []
    for name, dashboard in dashboards().items():
        for panel in panels(dashboard):
            for target in panel.get("targets", ()):
                found.append((f"{name}: {panel['title']} ({target['refId']})",
                              target["expr"]))
        for variable in dashboard.get("templating", {}).get("list", ()):
            query = variable.get("query")
            query = query.get("query") if isinstance(query, dict) else query
            metric = label_values_metric(query or "")
            if metric:
                found.append((f"{name}: variable {variable['name']}", f"count({metric})"))
    return found


def rule_queries() -> list[tuple[str, str]]:
    return [(f"alert {rule['alert']}", rule["expr"]) for rule in alert_rules()]


def route_cases() -> list[tuple[str, list[str]]]:
    cases = []
    for line in (ALERTMANAGER / "routes.test").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        receivers, *labels = line.split()
        cases.append((receivers, labels))
    return cases
