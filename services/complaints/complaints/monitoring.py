"""What on-call watches: the complaints service's own Prometheus metrics.

Counters move where the events are emitted, so a replica counts what it
decided; gauges are recomputed at scrape time from one indexed aggregation
over the open cases, so every replica reports the same truth about the
database and alerts take ``max`` across them.

A case's department is typed by people (at assignment, for liability), so a
``department`` label names only a department the directory knows — one the
people in the service's directory copy work in — and ``other`` for any
other spelling: one series per typo would outlive the typo by weeks.
"""
from __future__ import annotations

import math
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram
from zhidu.metrics import KnownValues
from zhidu.times import as_utc

from .stats_pipeline import GAUGE_STATES

SWEEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
UNASSIGNED = "unassigned"


def declare(registry) -> dict:
    return {
        "received": Counter(
            "zhidu_complaints_received_total", "Complaints filed, by intake channel.",
            ["channel"], registry=registry),
        "warnings": Counter(
            "zhidu_complaints_sla_warnings_total",
            "SLA warnings raised (80 % of a clock's budget used).",
            ["clock", "department"], registry=registry),
        "breaches": Counter(
            "zhidu_complaints_sla_breaches_total", "SLA clocks breached.",
            ["clock", "department"], registry=registry),
        "clocks_closed": Counter(
            "zhidu_complaints_clocks_closed_total",
            "SLA clocks stopped because their goal was met, in time (on_time) or not (late).",
            ["clock", "department", "outcome"], registry=registry),
        "escalations": Counter(
            "zhidu_complaints_escalations_total", "Escalations up the ladder, by rung.",
            ["to_role"], registry=registry),
        "open_clocks": Gauge(
            "zhidu_complaints_open_clocks",
            "Open SLA clocks by clock and state (on_track, warned, breached, paused).",
            ["clock", "state"], registry=registry),
        "time_to_breach": Gauge(
            "zhidu_complaints_time_to_breach_seconds",
            "Seconds until the nearest running clock breaches (+Inf when none runs; "
            "negative when one is overdue and not yet swept).", registry=registry),
        "sweep_duration": Histogram(
            "zhidu_complaints_sweep_duration_seconds", "Duration of one SLA sweep.",
            buckets=SWEEP_BUCKETS, registry=registry),
        "sweep_last_success": Gauge(
            "zhidu_complaints_sweep_last_success_timestamp_seconds",
            "Unix time the last SLA sweep finished.", registry=registry),
        "sweep_cases": Counter(
            "zhidu_complaints_swept_cases_total", "Cases examined by the sweep.",
            registry=registry),
        # Scheduled reports (reporting.py): read from the database at scrape time.
        "reports_last_produced": Gauge(
            "zhidu_complaints_report_last_produced_timestamp_seconds",
            "Unix time the newest period of a report kind was produced; 0 when none was.",
            ["kind"], registry=registry),
        "reports_expected_since": Gauge(
            "zhidu_complaints_report_expected_since_timestamp_seconds",
            "End of the newest period whose report is past its deadline (rules/reports.yaml): "
            "a kind produced before this is late; 0 while none is due.",
            ["kind"], registry=registry),
    }


def department_label(metrics, department: str | None) -> str:
    """``department`` if the directory knows it, ``unassigned`` when none, else ``other``.

    Metrics declared outside a container have no directory copy to go by and
    take the department as it is.
    """
    if not department:
        return UNASSIGNED
    try:
        known = metrics["departments"]
    except KeyError:
        return department
    return known.label(department) if isinstance(known, KnownValues) else department


def count_events(metrics, case: dict, events: list[dict]) -> None:
    """Move the counters for events just emitted about ``case``."""
    if metrics is None:
        return
    department = department_label(metrics, case.get("department"))
    for event in events:
        kind, data = event["type"], event["data"]
        if kind == "received":
            metrics["received"].labels(data.get("channel") or "unknown").inc()
        elif kind == "sla_warning":
            metrics["warnings"].labels(data["clock"], department).inc()
        elif kind == "sla_breached":
            metrics["breaches"].labels(data["clock"], department).inc()
        elif kind == "escalated":
            metrics["escalations"].labels(data["to_role"]).inc()


def count_closed(metrics, before: dict, after: dict) -> None:
    """Count the clocks ``after`` has met that ``before`` had not: the on-time rate's parts."""
    if metrics is None:
        return
    was_met = {(c["name"], c.get("round")) for c in before.get("clocks") or ()
               if c.get("state") == "met"}
    department = department_label(metrics, after.get("department"))
    for clock in after.get("clocks") or ():
        if clock.get("state") == "met" and (clock["name"], clock.get("round")) not in was_met:
            metrics["clocks_closed"].labels(
                clock["name"], department, "on_time" if clock.get("on_time") else "late").inc()


def refresh_gauges(metrics, groups: list[dict], clock_names, now: datetime) -> None:
    """Set the open-clock gauges from :func:`stats_pipeline.open_clocks` groups."""
    counts = {(name, state): 0 for name in clock_names for state in GAUGE_STATES}
    nearest = None
    for group in groups:
        key = (group["_id"]["clock"], group["_id"]["state"])
        counts[key] = counts.get(key, 0) + group["n"]
        due = group.get("next_due")
        if due is not None and (nearest is None or as_utc(due) < nearest):
            nearest = as_utc(due)
    for (name, state), n in counts.items():
        metrics["open_clocks"].labels(name, state).set(n)
    metrics["time_to_breach"].set(
        math.inf if nearest is None else (nearest - as_utc(now)).total_seconds())
