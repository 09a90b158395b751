"""Statistics definitions."""
from __future__ import annotations

from complaints.stats import clock_outcome, rate, summarise_cases, working_hours_to_resolve

STAFF = {"id": "cs-01", "role": "staff"}


def test_rate():
    assert rate(3, 4) == 0.75
    assert rate(0, 0) is None


def test_clock_outcomes():
    base = {"breached": False, "state": "running"}
    assert clock_outcome(base) == "open"
    assert clock_outcome({**base, "state": "met"}) == "on_time"
    assert clock_outcome({**base, "state": "met", "breached": True}) == "late"
    assert clock_outcome({**base, "breached": True}) == "late"
    assert clock_outcome({**base, "state": "waived"}) == "waived"


def test_monthly_summary(filed, walk, rules, t, cal, policy):
    steps = [("decide_validity", "2026-11-13 10:10", {"valid": True, "reason": "ok",
                                                      "reply": "已受理"}),
             ("assign", "2026-11-13 10:20", {"department": "service", "owner_id": "e1"}),
             ("agree_plan", "2026-11-13 11:00", {"plan": "p"}),
             ("pause", "2026-11-13 11:20", {"reason": "等客户"}),
             ("resume", "2026-11-13 12:20"),
             ("submit_report", "2026-11-13 13:00", {"root_cause": "r"}),
             ("resolve", "2026-11-13 14:00", {"resolution": "done"})]
    happy = walk(filed("2026-11-13 10:00"), *steps,
                 ("follow_up", "2026-11-14 10:00", {"satisfied": True}))
    unhappy = walk(filed("2026-11-13 10:00", number="2611-0002"), *steps,
                   ("follow_up", "2026-11-14 10:00", {"satisfied": False}))
    rejected = walk(filed("2026-11-13 10:00", number="2611-0003", channel="email"),
                    ("decide_validity", "2026-11-13 13:00", {"valid": False, "reason": "no",
                                                              "reply": "已婉转说明"}))
    assert working_hours_to_resolve(happy, cal) == 3.0          # 4 h minus the 1 h pause
    summary = summarise_cases([happy, unhappy, rejected], cal, policy)
    assert summary["count"] == 3
    assert summary["by_channel"] == {"phone": 2, "email": 1}
    assert summary["by_department"] == {"service": 2, "unassigned": 1}
    assert summary["on_time"]["acknowledge"] == {"on_time": 2, "late": 1, "open": 0,
                                                 "waived": 0, "rate": 2 / 3}
    assert summary["on_time"]["resolve"]["open"] == 1           # round 2 still running
    assert summary["followup_rate"] == 1.0
    assert summary["satisfaction_rate"] == 0.5
    assert summary["reopen_rate"] == 0.5
    assert summary["mean_working_hours_to_resolve"] == 3.0
    assert summary["delay_investigations"] == 1                  # the late rejection


def test_conclusion_and_resolve_hours_are_kept_on_the_case(filed, walk, t):
    rejected = walk(filed("2026-11-13 10:00"),
                    ("decide_validity", "2026-11-13 11:00", {"valid": False, "reason": "no"}))
    assert rejected["concluded_at"] == t("2026-11-13 11:00")
    assert rejected["closed_at"] is None
    case = walk(filed("2026-11-13 10:00", number="2611-0002"),
                ("decide_validity", "2026-11-13 10:10", {"valid": True, "reason": "ok"}),
                ("assign", "2026-11-13 10:20", {"department": "service", "owner_id": "e1"}),
                ("agree_plan", "2026-11-13 11:00", {"plan": "p"}),
                ("submit_report", "2026-11-13 12:00", {"root_cause": "r"}),
                ("resolve", "2026-11-16 09:00", {"resolution": "done"}))
    # Fri 10:00-16:20 and Mon 08:30-09:00
    assert case["resolve_working_hours"] == 6 + 50 / 60
    assert case["concluded_at"] is None
    closed = walk(case, ("follow_up", "2026-11-17 09:00", {"satisfied": True}))
    assert closed["concluded_at"] == closed["closed_at"] == t("2026-11-17 09:00")
