"""The repairs service's own Prometheus metrics. Counters move once a unit has
committed, so a re-run unit counts nothing twice."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram
from zhidu.uow import on_commit

SWEEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
COUNTED = {"received": "received", "sla_warning": "warnings", "sla_breached": "breaches",
           "escalated": "escalations", "order_paid": "paid",
           "escalated_to_complaint": "to_complaint", "reopened": "reopened"}


def declare(registry) -> dict:
    return {
        "received": Counter("zhidu_repairs_received_total", "Work orders taken, by kind.",
                            ["kind"], registry=registry),
        "warnings": Counter("zhidu_repairs_sla_warnings_total",
                            "Repair clocks past their warning threshold.", ["clock"],
                            registry=registry),
        "breaches": Counter("zhidu_repairs_sla_breaches_total", "Repair clocks breached.",
                            ["clock"], registry=registry),
        "escalations": Counter("zhidu_repairs_escalations_total",
                               "Escalations up the ladder, by rung.", ["to_role"],
                               registry=registry),
        "paid": Counter("zhidu_repairs_paid_yuan_total",
                        "Yuan of completed orders released to finance, by payer.",
                        ["payer"], registry=registry),
        "reopened": Counter("zhidu_repairs_reopened_total",
                            "Orders reopened after an unsatisfied callback.", [],
                            registry=registry),
        "to_complaint": Counter("zhidu_repairs_escalated_to_complaint_total",
                                "Repairs handed to complaints, by reason.", ["reason"],
                                registry=registry),
        "open_orders": Gauge("zhidu_repairs_open_orders", "Work orders by status.",
                             ["status"], registry=registry),
        "sweep_duration": Histogram("zhidu_repairs_sweep_duration_seconds",
                                    "Duration of one repairs sweep.", buckets=SWEEP_BUCKETS,
                                    registry=registry),
        "sweep_last_success": Gauge("zhidu_repairs_sweep_last_success_timestamp_seconds",
                                    "Unix time the last repairs sweep finished.",
                                    registry=registry),
    }


def count(metrics, events: list[dict]) -> None:
    if metrics is None:
        return

    def counted():
        for event in events:
            name, data = COUNTED.get(event["type"]), event["data"]
            if name is None:
                continue
            metric = metrics[name]
            if name == "received":
                metric.labels(data["kind"]).inc()
            elif name in ("warnings", "breaches"):
                metric.labels(data["clock"]).inc()
            elif name == "escalations":
                metric.labels(data["to_role"]).inc()
            elif name == "paid":
                metric.labels(data["payer"]).inc(data["amount_yuan"])
            elif name == "to_complaint":
                metric.labels(data["reason"]).inc()
            else:
                metric.inc()
    on_commit(counted)
