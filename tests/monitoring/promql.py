"""The metric names a PromQL expression reads, without a PromQL parser.

Good enough for the suite's own rules and panels: strings, label matchers,
ranges and label lists are removed first, then every remaining identifier
that is not a function, an aggregation or a keyword is a metric name.
"""
from __future__ import annotations

import re

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
            "offset", "and", "or", "unless", "inf", "nan", "atan2"}
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_LABEL_LISTS = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE)
_IDENTIFIER = re.compile(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
_GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "5m",
                      "${__rate_interval}": "1m", "${__interval}": "1m"}


def grafana_to_promql(expr: str, variables: dict[str, str] | None = None) -> str:
    """A panel's query with Grafana's variables replaced by plain values."""
    for name, value in {**_GRAFANA_VARIABLES, **(variables or {})}.items():
        expr = expr.replace(name, value)
    return expr


def metric_names(expr: str) -> set[str]:
    text = _STRINGS.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGES.sub("", text)
    text = _LABEL_LISTS.sub(" ", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in KEYWORDS:
            continue
        names.add(name)
    return names


def label_values_metric(query: str) -> str | None:
    """The metric of a Grafana ``label_values(metric, label)`` variable query."""
    found = re.fullmatch(r"\s*label_values\(\s*([a-zA-Z_:][\w:]*)\s*(?:\{[^}]*\})?\s*,"
                         r"\s*\w+\s*\)\s*", query)
    return found.group(1) if found else None
