"""The service's pure parts: pipeline shaping, month bounds, gauges, views, schemas."""
from __future__ import annotations

import math
from datetime import datetime, timezone

import pytest
from complaints import monitoring, schemas, stats_pipeline, views
from prometheus_client import CollectorRegistry
from zhidu.errors import ValidationError
from zhidu.schemas import load

UTC = timezone.utc


def test_month_bounds_are_local_and_roll_over_the_year(cal):
    assert stats_pipeline.month_bounds(2026, 12, cal.tz) == (
        datetime(2026, 11, 30, 16, tzinfo=UTC), datetime(2026, 12, 31, 16, tzinfo=UTC))


def test_shape_monthly_applies_the_reference_definitions():
    raw = {
        "cases": [{"count": 3, "major": 1, "delay_investigations": 1, "resolved": 2,
                   "reopened": 1, "hours_sum": 9.0, "hours_n": 2}],
        "by_channel": [{"_id": "phone", "n": 3}],
        "clocks": [
            {"_id": {"name": "followup", "state": "met", "breached": True}, "n": 1},
            {"_id": {"name": "followup", "state": "met", "breached": False}, "n": 2},
            {"_id": {"name": "followup", "state": "running", "breached": True}, "n": 1},
            {"_id": {"name": "followup", "state": "running", "breached": False}, "n": 4},
            {"_id": {"name": "plan", "state": "waived", "breached": False}, "n": 2},
        ],
        "followups": [{"n": 4, "satisfied": 3}],
    }
    table = stats_pipeline.shape_monthly(raw, {"followup"})
    assert table["on_time"]["followup"] == {"on_time": 2, "late": 2, "open": 4, "waived": 0,
                                            "rate": 0.5}
    assert table["on_time"]["plan"]["rate"] is None
    assert table["followup_rate"] == 3 / 4        # met (even late) over met + breached
    assert table["mean_working_hours_to_resolve"] == 4.5
    assert table["reopen_rate"] == 0.5 and table["satisfaction_rate"] == 0.75
    empty = stats_pipeline.shape_monthly({}, {"followup"})
    assert empty["count"] == 0 and empty["followup_rate"] is None


def test_followup_clocks_come_from_the_policy(policy):
    assert stats_pipeline.followup_clocks(policy) == {"followup"}


@pytest.fixture
def metrics():
    registry = CollectorRegistry()
    declared = monitoring.declare(registry)
    declared["registry"] = registry
    return declared


def sample(metrics, name, **labels):
    return metrics["registry"].get_sample_value(name, labels)


def test_gauges_reset_what_is_gone_and_find_the_nearest_due(metrics):
    now = datetime(2026, 11, 20, 1, tzinfo=UTC)
    groups = [{"_id": {"clock": "plan", "state": "warned"}, "n": 2,
               "next_due": datetime(2026, 11, 20, 1, 20, tzinfo=UTC)},
              {"_id": {"clock": "resolve", "state": "on_track"}, "n": 1,
               "next_due": datetime(2026, 11, 21, tzinfo=UTC)},
              {"_id": {"clock": "plan", "state": "breached"}, "n": 1, "next_due": None}]
    monitoring.refresh_gauges(metrics, groups, ["plan", "resolve"], now)
    assert sample(metrics, "zhidu_complaints_open_clocks", clock="plan", state="warned") == 2
    assert sample(metrics, "zhidu_complaints_time_to_breach_seconds") == 20 * 60
    monitoring.refresh_gauges(metrics, [], ["plan", "resolve"], now)
    assert sample(metrics, "zhidu_complaints_open_clocks", clock="plan", state="warned") == 0
    assert math.isinf(sample(metrics, "zhidu_complaints_time_to_breach_seconds"))


def test_counters_follow_the_events(metrics):
    case = {"department": None}
    monitoring.count_events(metrics, case, [
        {"type": "received", "data": {"channel": "email"}},
        {"type": "sla_warning", "data": {"clock": "acknowledge"}},
        {"type": "sla_breached", "data": {"clock": "acknowledge"}},
        {"type": "escalated", "data": {"to_role": "gm"}},
        {"type": "status_changed", "data": {}}])
    assert sample(metrics, "zhidu_complaints_received_total", channel="email") == 1
    assert sample(metrics, "zhidu_complaints_sla_breaches_total", clock="acknowledge",
                  department="unassigned") == 1
    assert sample(metrics, "zhidu_complaints_escalations_total", to_role="gm") == 1
    monitoring.count_events(None, case, [{"type": "received", "data": {}}])


def test_views_mask_and_say_what_is_revealed(filed, policy):
    case = filed()
    assert "complainant" not in views.summary(case)
    assert views.full(case, "staff", policy)["complainant"]["phone"] == "138****5678"
    assert views.listed(case, "it_admin", policy)["complainant"]["phone"] == "13812345678"
    assert views.revealed([case], "staff", policy) == []
    assert views.revealed([case], "info_officer", policy) == ["2609-0001"]
    assert case["complainant"]["phone"] == "13812345678"      # the stored case is untouched


def test_schemas():
    order = load(schemas.Order, {"order_no": "SO-1", "delivery_date": "2026-11-01",
                                 "note": "客户加工中未确定"})
    assert order["delivery_date"] == "2026-11-01" and order["quantity"] is None
    with pytest.raises(ValidationError) as err:
        load(schemas.Order, {"order_no": "SO-1", "quantity": 1, "defect_quantity": 2})
    assert "defect_quantity" in err.value.messages
    # A named role proves nothing: only the id is kept, for the check that it
    # names the caller; the operation layer puts the proven role in.
    read = load(schemas.Get, {"number": "2611-0001", "actor_id": "x", "actor_role": "gm"})
    assert read["actor"] == {"id": "x", "role": None}
    assert "actor_role" not in load(schemas.Get, {"number": "2611-0001", "actor_role": "gm"})
    with pytest.raises(ValidationError):
        load(schemas.Get, {"number": "2611-1", "actor_role": "gm"})
    assert set(schemas.EVENTS) == {
        "received", "major_reported", "assigned", "status_changed", "sla_warning",
        "sla_breached", "reminder_issued", "escalated", "resolved", "closed", "reopened",
        "liability_determined", "delay_investigation_opened", "report_produced"}


def test_every_emitted_event_matches_its_published_schema(rules, intake, t):
    staff, gm = {"id": "cs-01", "role": "staff"}, {"id": "gm-1", "role": "gm"}
    outcome = rules.file(intake("2026-11-13 10:00", major=True), number="2611-0001",
                         actor=staff)
    case, events = outcome.case, list(outcome.events)
    steps = [("decide_validity", "2026-11-13 10:10", {"valid": True, "reason": "ok"}),
             ("assign", "2026-11-13 10:20", {"department": "service", "owner_id": "e1"}),
             ("assign", "2026-11-13 10:25", {"department": "service", "owner_id": "e2"}),
             ("agree_plan", "2026-11-13 11:00", {"plan": "p"}),
             ("pause", "2026-11-13 11:10", {"reason": "wait"}),
             ("resume", "2026-11-13 11:20", {}),
             ("determine_liability", "2026-11-13 11:30",
              {"department": "service", "employee_ids": ["e1"], "fine_yuan": 200,
               "attitude": "abuse"}),
             ("submit_report", "2026-11-13 12:00", {"root_cause": "r"}),
             ("propose_remedy", "2026-11-13 12:10", {"remedy": "x", "amount_yuan": 10}),
             ("approve_remedy", "2026-11-13 12:20", {}),
             ("resolve", "2026-11-16 12:00", {"resolution": "r"}),      # late: breached
             ("follow_up", "2026-11-16 13:00", {"satisfied": False}),
             ("assign", "2026-11-16 13:10", {"department": "service", "owner_id": "e1"}),
             ("sweep", None, {"now": t("2026-11-30 12:00")}),           # the whole ladder
             ("agree_plan", "2026-11-30 13:00", {"plan": "p"}),
             ("submit_report", "2026-11-30 13:10", {"root_cause": "r"}),
             ("resolve", "2026-11-30 13:20", {"resolution": "r"}),
             ("follow_up", "2026-11-30 14:00", {"satisfied": True})]
    for name, when, kwargs in steps:
        if when is not None:
            kwargs = {**kwargs, "at": t(when), "actor": gm if "approve" in name else staff}
        outcome = getattr(rules, name)(case, **kwargs)
        case, events = outcome.case, events + outcome.events
    # The scheduled reports' event comes from the sweep's reporting, not a case:
    # test_domain_reports checks it against its schema.
    assert {e["type"] for e in events} == set(schemas.EVENTS) - {"report_produced"}
    for event in events:
        load(schemas.EVENTS[event["type"]], event["data"])
