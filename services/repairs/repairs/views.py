"""What callers see of a work order."""
from __future__ import annotations

from zhidu import clocks as clk

SUMMARY = ("number", "round", "status", "kind", "urgency", "channel", "location", "trades",
           "trade", "engineer_id", "received_at", "completed_at", "closed_at", "payment",
           "breached", "escalation_level", "reopens", "complaint")


def summary(order: dict) -> dict:
    out = {key: order.get(key) for key in SUMMARY}
    out["deadlines"] = clk.deadlines(order["clocks"])
    return out


def full(order: dict) -> dict:
    out = {k: v for k, v in order.items() if k not in ("next_check_at",)}
    out["deadlines"] = clk.deadlines(order["clocks"])
    out["clocks"] = [{k: c[k] for k in (
        "name", "round", "owner", "state", "started_at", "due", "warned", "breached",
        "reminded_at", "escalation_level", "escalations", "met_at", "ended_at", "on_time")}
        for c in order["clocks"]]
    return out
