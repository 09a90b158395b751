"""The metrics that left deploy/prometheus/pending_metrics.yaml, counted where they happen."""
from __future__ import annotations

from complaints import monitoring
from prometheus_client import CollectorRegistry

from .support import pending_metrics


def test_a_met_clock_is_counted_once_by_outcome_and_the_pending_list_forgets_it():
    registry = CollectorRegistry()
    metrics = monitoring.declare(registry)
    before = {"department": "service", "clocks": [
        {"name": "acknowledge", "round": 1, "state": "running"},
        {"name": "plan", "round": 1, "state": "met", "on_time": True}]}
    after = {"department": "service", "clocks": [
        {"name": "acknowledge", "round": 1, "state": "met", "on_time": False},
        {"name": "plan", "round": 1, "state": "met", "on_time": True},
        {"name": "report", "round": 1, "state": "waived", "on_time": None}]}
    monitoring.count_closed(metrics, before, after)
    sample = "zhidu_complaints_clocks_closed_total"
    assert registry.get_sample_value(sample, {"clock": "acknowledge", "department": "service",
                                              "outcome": "late"}) == 1
    assert registry.get_sample_value(sample, {"clock": "plan", "department": "service",
                                              "outcome": "on_time"}) is None
    assert "zhidu_complaints_clocks_closed_total" not in pending_metrics()
    assert "zhidu_penalties_publication_last_issued_timestamp_seconds" not in pending_metrics()
