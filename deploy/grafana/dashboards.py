"""The Grafana dashboards, as code: ``python deploy/grafana/dashboards.py``
rewrites ``deploy/grafana/dashboards/*.json`` from this file.

The JSON is committed (Grafana provisions it from disk) and a test checks it
matches this file, so review happens here. Another test runs every panel's
query against a Prometheus that scraped the running suite: a query that fails,
or names a metric nothing exports and ``deploy/prometheus/pending_metrics.yaml``
does not list, fails the build.

Replicas of a service report the same database-wide gauges, so gauges are
combined with max (or min) across instances before anything else.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
OUT = HERE / "dashboards"
PENDING_FILE = HERE.parent / "prometheus" / "pending_metrics.yaml"
DATASOURCE = {"type": "prometheus", "uid": "zhidu-prometheus"}
# Queues the services consume (RPC and event handlers), not their retry and
# dead-letter queues; the same selection as the queue alerts.
SERVICE_QUEUES = 'queue=~"rpc-[^.]+|evt-.+--[^.]+[.][^.]+"'
DEAD_LETTER_QUEUES = 'queue=~"zhidu[.].+[.]dead_letters"'


def pending_metrics() -> dict:
    return yaml.safe_load(PENDING_FILE.read_text(encoding="utf-8")) or {}


def target(expr: str, legend: str = "", *, instant: bool = False, table: bool = False):
    t = {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend or "__auto",
         "range": not instant, "instant": instant}
    if table:
        t["format"] = "table"
    return t


def _thresholds(steps):
    return {"mode": "absolute",
            "steps": [{"color": color, "value": value} for color, value in steps]}


GREEN = [("green", None)]


class Board:
    """Lays panels out left to right in rows of 24 units, 8 high."""

    def __init__(self, uid: str, title: str, description: str, *, variables=(),
                 time_from: str = "now-24h"):
        self.uid, self.title, self.description = uid, title, description
        self.variables = list(variables)
        self.time_from = time_from
        self.panels: list[dict] = []
        self.x = self.y = 0
        self.row_height = 0
        self.pending = pending_metrics()

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append({"type": "row", "title": title, "collapsed": False,
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
                            "panels": []})
        self.y += 1

    def _newline(self):
        if self.x:
            self.y += self.row_height
            self.x, self.row_height = 0, 0

    def panel(self, kind: str, title: str, description: str, targets: list[dict], *,
              width: int = 8, height: int = 8, unit: str | None = None,
              thresholds=None, options: dict | None = None, custom: dict | None = None,
              mappings: list | None = None, interval: str | None = None,
              decimals: int | None = None, max_value=None) -> None:
        if self.x + width > 24:
            self._newline()
        waiting = sorted({name for t in targets for name in self.pending
                          if name in t["expr"]})
        if waiting:
            description += (" No data until " + ", ".join(
                f"{self.pending[n]['exported_by']} exports {n}" for n in waiting) + ".")
        defaults = {"color": {"mode": "palette-classic"},
                    "thresholds": _thresholds(thresholds or GREEN)}
        if unit:
            defaults["unit"] = unit
        if custom:
            defaults["custom"] = custom
        if mappings:
            defaults["mappings"] = mappings
        if decimals is not None:
            defaults["decimals"] = decimals
        if max_value is not None:
            defaults["max"] = max_value
        if thresholds and kind in ("stat", "bargauge", "gauge"):
            defaults["color"] = {"mode": "thresholds"}
        panel = {
            "id": len(self.panels) + 1, "type": kind, "title": title,
            "description": description, "datasource": DATASOURCE,
            "gridPos": {"h": height, "w": width, "x": self.x, "y": self.y},
            "targets": [dict(t, refId=chr(ord("A") + i)) for i, t in enumerate(targets)],
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": options or {},
        }
        if interval:
            panel["interval"] = interval
        self.panels.append(panel)
        self.x += width
        self.row_height = max(self.row_height, height)

    def build(self) -> dict:
        for i, panel in enumerate(self.panels, start=1):
            panel["id"] = i
        return {
            "uid": self.uid, "title": self.title, "description": self.description,
            "tags": ["zhidu"], "timezone": "browser", "editable": True,
            "schemaVersion": 38, "version": 1, "refresh": "1m",
            "time": {"from": self.time_from, "to": "now"},
            "annotations": {"list": [{
                "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts", "type": "dashboard"}]},
            "templating": {"list": self.variables},
            "panels": self.panels,
        }


def timeseries_options(bars: bool = False) -> tuple[dict, dict]:
    custom = {"drawStyle": "bars" if bars else "line", "fillOpacity": 60 if bars else 10,
              "lineWidth": 1, "stacking": {"mode": "normal" if bars else "none"},
              "showPoints": "never", "spanNulls": False}
    options = {"legend": {"displayMode": "table", "placement": "right",
                          "calcs": ["sum"] if bars else ["lastNotNull", "max"]},
               "tooltip": {"mode": "multi", "sort": "desc"}}
    return custom, options


def stat_options(text_mode: str = "value_and_name") -> dict:
    return {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background", "graphMode": "none", "textMode": text_mode,
            "justifyMode": "auto", "orientation": "auto"}


def sla_desk() -> dict:
    b = Board("zhidu-sla-desk", "Zhidu — SLA desk",
              "Complaint SLA clocks: what is open, what breaches next, where breaches "
              "happen, how often clocks are met, how far cases climb, and whether the "
              "sweep that raises all of it is running.", time_from="now-7d")
    open_by_state = "sum by (state) (max by (clock, state) (zhidu_complaints_open_clocks))"

    b.row("Now")
    b.panel("stat", "Open clocks by state",
            "Running and paused SLA clocks of open complaints. warned: past 80 % of the "
            "budget; breached: past 100 % and not yet stopped.",
            [target(open_by_state, "{{state}}", instant=True)], width=10, height=6,
            options=stat_options())
    b.panel("stat", "Nearest breach in",
            "Time until the nearest running clock breaches. Negative: one is overdue and "
            "the sweep has not marked it yet. Empty or infinite: nothing is running.",
            [target("min(zhidu_complaints_time_to_breach_seconds)", "nearest breach",
                    instant=True)],
            width=5, height=6, unit="s",
            thresholds=[("red", None), ("orange", 1800), ("green", 7200)],
            options=stat_options("value"))
    b.panel("bargauge", "About to breach (past 80 %), by clock",
            "Clocks that have used more than 80 % of their budget and have not breached: "
            "the next breaches. Each has had its warning.",
            [target('max by (clock) (zhidu_complaints_open_clocks{state="warned"})',
                    "{{clock}}", instant=True)],
            width=9, height=6, thresholds=[("green", None), ("orange", 1), ("red", 10)],
            options={"orientation": "horizontal", "displayMode": "gradient",
                     "reduceOptions": {"calcs": ["lastNotNull"], "values": False}})

    b.row("Warnings and breaches")
    custom, options = timeseries_options(bars=True)
    b.panel("timeseries", "Breaches by department",
            "SLA clocks breached per hour, by the department the complaint is about.",
            [target("sum by (department) "
                    "(increase(zhidu_complaints_sla_breaches_total[$__interval]))",
                    "{{department}}")],
            width=12, custom=custom, options=options, interval="1h", decimals=0)
    b.panel("timeseries", "Warnings by department",
            "SLA warnings (80 % of a clock's budget used) per hour, by department.",
            [target("sum by (department) "
                    "(increase(zhidu_complaints_sla_warnings_total[$__interval]))",
                    "{{department}}")],
            width=12, custom=custom, options=options, interval="1h", decimals=0)
    custom, options = timeseries_options()
    b.panel("timeseries", "Open clocks by state over time", "The first panel, over time.",
            [target(open_by_state, "{{state}}")], width=12, custom=custom, options=options)
    b.panel("timeseries", "Breaches by clock",
            "SLA clocks breached per hour, by clock (acknowledge, plan, report, resolve, "
            "follow-up, feedback).",
            [target("sum by (clock) "
                    "(increase(zhidu_complaints_sla_breaches_total[$__interval]))",
                    "{{clock}}")],
            width=12, custom=timeseries_options(bars=True)[0],
            options=timeseries_options(bars=True)[1], interval="1h", decimals=0)

    b.row("On time")
    bar = {"orientation": "horizontal", "displayMode": "gradient",
           "reduceOptions": {"calcs": ["lastNotNull"], "values": False}}
    b.panel("bargauge", "Open clocks within their SLA, by clock",
            "Share of the open clocks of each kind that have not breached.",
            [target("1 - (max by (clock) (zhidu_complaints_open_clocks{state=\"breached\"}) "
                    "/ clamp_min(sum by (clock) "
                    "(max by (clock, state) (zhidu_complaints_open_clocks)), 1))",
                    "{{clock}}", instant=True)],
            width=12, unit="percentunit", max_value=1, options=bar,
            thresholds=[("red", None), ("orange", 0.9), ("green", 0.98)])
    b.panel("bargauge", "On-time rate per clock, last 30 days",
            "Of the clocks that stopped in the last 30 days, the share stopped before "
            "they breached.",
            [target('sum by (clock) (increase(zhidu_complaints_clocks_closed_total'
                    '{outcome="on_time"}[30d])) / sum by (clock) '
                    '(increase(zhidu_complaints_clocks_closed_total[30d]))',
                    "{{clock}}", instant=True)],
            width=12, unit="percentunit", max_value=1, options=bar,
            thresholds=[("red", None), ("orange", 0.9), ("green", 0.98)])

    b.row("Escalation")
    b.panel("timeseries", "Escalations by rung",
            "Cases escalated per hour, by the role they were escalated to (department "
            "manager → deputy GM → GM).",
            [target("sum by (to_role) "
                    "(increase(zhidu_complaints_escalations_total[$__interval]))",
                    "{{to_role}}")],
            width=12, custom=timeseries_options(bars=True)[0],
            options=timeseries_options(bars=True)[1], interval="1h", decimals=0)
    b.panel("stat", "Escalations in the last 24 hours",
            "By the rung reached.",
            [target("sum by (to_role) (increase(zhidu_complaints_escalations_total[24h]))",
                    "{{to_role}}", instant=True)],
            width=6, decimals=0, options=stat_options(),
            thresholds=[("green", None), ("orange", 1), ("red", 5)])
    b.panel("timeseries", "Complaints received by channel",
            "New complaints per hour, by intake channel.",
            [target("sum by (channel) "
                    "(increase(zhidu_complaints_received_total[$__interval]))",
                    "{{channel}}")],
            width=6, custom=timeseries_options(bars=True)[0],
            options=timeseries_options(bars=True)[1], interval="1h", decimals=0)

    b.row("Sweep health")
    b.panel("stat", "Since the last sweep finished",
            "The sweep raises warnings, breaches, reminders and escalations; it runs "
            "every ZHIDU_COMPLAINTS_SWEEP_INTERVAL (15 s by default). Over 10 minutes "
            "pages on-call.",
            [target("time() - max(zhidu_complaints_sweep_last_success_timestamp_seconds)",
                    "since last sweep", instant=True)],
            width=6, unit="s", options=stat_options("value"),
            thresholds=[("green", None), ("orange", 180), ("red", 600)])
    custom, options = timeseries_options()
    b.panel("timeseries", "Sweep duration",
            "Median and 95th percentile of one sweep's duration.",
            [target("histogram_quantile(0.5, sum by (le) "
                    "(rate(zhidu_complaints_sweep_duration_seconds_bucket[$__rate_interval])))",
                    "p50"),
             target("histogram_quantile(0.95, sum by (le) "
                    "(rate(zhidu_complaints_sweep_duration_seconds_bucket[$__rate_interval])))",
                    "p95")],
            width=9, unit="s", custom=custom, options=options)
    b.panel("timeseries", "Cases examined by the sweep",
            "Cases the sweep looked at, per minute.",
            [target("sum(rate(zhidu_complaints_swept_cases_total[$__rate_interval])) * 60",
                    "cases/min")],
            width=9, custom=custom, options=options)
    return b.build()


def platform() -> dict:
    service_var = {
        "name": "service", "label": "Service", "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": "label_values(zhidu_entrypoint_calls_total, service)",
                  "refId": "service"},
        "definition": "label_values(zhidu_entrypoint_calls_total, service)",
        "includeAll": True, "multi": True, "allValue": ".*", "refresh": 2, "sort": 1,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
    }
    b = Board("zhidu-platform", "Zhidu — platform",
              "The event bus and what rides on it: events handled, latency, retries, "
              "dead letters, outboxes, queue depths, deliveries and refused calls.",
              variables=[service_var], time_from="now-6h")
    svc = 'service=~"$service"'
    custom, options = timeseries_options()

    b.row("Services")
    b.panel("stat", "Scraped", "Every service instance Prometheus scrapes; DOWN for 2 "
            "minutes pages on-call.",
            [target('up{job=~"zhidu-.+"}', "{{job}} {{instance}}", instant=True)],
            width=24, height=4, options=stat_options("name"),
            thresholds=[("red", None), ("green", 1)],
            mappings=[{"type": "value", "options": {
                "0": {"text": "DOWN", "color": "red", "index": 0},
                "1": {"text": "UP", "color": "green", "index": 1}}}])
    b.panel("timeseries", "Events handled per second",
            "Event-handler runs per second, by service (redeliveries recognised as "
            "duplicates included).",
            [target(f'sum by (service) (rate(zhidu_entrypoint_calls_total{{kind="event", '
                    f'{svc}}}[$__rate_interval]))', "{{service}}")],
            width=8, unit="ops", custom=custom, options=options)
    b.panel("timeseries", "Handler latency, 95th percentile",
            "Time from a handler starting to its result, by service.",
            [target("histogram_quantile(0.95, sum by (service, le) "
                    f'(rate(zhidu_entrypoint_latency_seconds_bucket{{kind="event", {svc}}}'
                    "[$__rate_interval])))", "{{service}}")],
            width=8, unit="s", custom=custom, options=options)
    b.panel("timeseries", "Failed runs per second",
            "Entrypoint runs that raised, by service and entrypoint: event handlers "
            "(which are then retried), RPC, HTTP and timers.",
            [target(f'sum by (service, entrypoint) (rate(zhidu_entrypoint_calls_total'
                    f'{{outcome="error", {svc}}}[$__rate_interval]))',
                    "{{service}}.{{entrypoint}}")],
            width=8, unit="ops", custom=custom, options=options)
    b.panel("timeseries", "Calls per second (RPC and HTTP)",
            "Operations called, by service and door.",
            [target(f'sum by (service, kind) (rate(zhidu_entrypoint_calls_total'
                    f'{{kind=~"rpc|http", {svc}}}[$__rate_interval]))',
                    "{{service}} {{kind}}")],
            width=12, unit="ops", custom=custom, options=options)
    b.panel("timeseries", "Call latency, 95th percentile (RPC and HTTP)",
            "By service and door.",
            [target("histogram_quantile(0.95, sum by (service, kind, le) "
                    f'(rate(zhidu_entrypoint_latency_seconds_bucket{{kind=~"rpc|http", '
                    f"{svc}}}[$__rate_interval])))", "{{service}} {{kind}}")],
            width=12, unit="s", custom=custom, options=options)

    b.row("Retries, dead letters, outbox")
    b.panel("timeseries", "Retries per minute",
            "Failed event deliveries sent to a retry queue, by handler.",
            [target(f"sum by (service, handler) (rate(zhidu_events_retried_total{{{svc}}}"
                    "[$__rate_interval])) * 60", "{{service}}.{{handler}}")],
            width=8, custom=custom, options=options)
    bars_custom, bars_options = timeseries_options(bars=True)
    b.panel("timeseries", "Dead-lettered",
            "Events that failed their last retry, per hour, by handler. Each pages "
            "on-call (runbook: dead-letters).",
            [target(f"sum by (service, handler) (increase(zhidu_events_dead_lettered_total"
                    f"{{{svc}}}[$__interval]))", "{{service}}.{{handler}}")],
            width=8, custom=bars_custom, options=bars_options, interval="1h", decimals=0)
    b.panel("stat", "Waiting in dead-letter queues",
            "Messages parked in each zhidu.<service>.dead_letters queue, waiting for "
            "dead_letters({}) and replay_dead_letters({}).",
            [target(f"sum by (queue) (rabbitmq_queue_messages{{{DEAD_LETTER_QUEUES}}})",
                    "{{queue}}", instant=True)],
            width=8, decimals=0, options=stat_options(),
            thresholds=[("green", None), ("red", 1)])
    b.panel("timeseries", "Outbox waiting to be published",
            "Events stored with their change and not yet on the bus, by service. They "
            "normally leave within a second.",
            [target(f"max by (service) (zhidu_outbox_pending{{{svc}}})", "{{service}}")],
            width=12, custom=custom, options=options, decimals=0)
    b.panel("timeseries", "Duplicates skipped per minute",
            "Redelivered events recognised by their id and not applied again.",
            [target(f"sum by (service, handler) (rate(zhidu_events_duplicate_total{{{svc}}}"
                    "[$__rate_interval])) * 60", "{{service}}.{{handler}}")],
            width=12, custom=custom, options=options)

    b.row("Queues (RabbitMQ)")
    b.panel("timeseries", "Messages ready, by queue",
            "Waiting to be consumed; the ten deepest service queues.",
            [target(f"topk(10, sum by (vhost, queue) "
                    f"(rabbitmq_queue_messages_ready{{{SERVICE_QUEUES}}}))", "{{queue}}")],
            width=8, custom=custom, options=options, decimals=0)
    b.panel("timeseries", "Messages being handled, by queue",
            "Delivered to a consumer and not yet acknowledged; the ten largest.",
            [target(f"topk(10, sum by (vhost, queue) "
                    f"(rabbitmq_queue_messages_unacked{{{SERVICE_QUEUES}}}))", "{{queue}}")],
            width=8, custom=custom, options=options, decimals=0)
    b.panel("table", "Queues without a consumer",
            "Service queues nobody consumes right now; five minutes of this pages "
            "on-call.",
            [target(f"max by (vhost, queue) (rabbitmq_queue_consumers{{{SERVICE_QUEUES}}})"
                    " == 0", instant=True, table=True)],
            width=8, options={"showHeader": True})

    b.row("Deliveries and access")
    b.panel("timeseries", "Delivery attempts per minute",
            "Notification deliveries by channel and what became of the attempt: "
            "delivered, pending (failed, will retry) or failed (given up).",
            [target("sum by (channel, state) "
                    "(rate(zhidu_notifications_delivery_attempts_total[$__rate_interval]))"
                    " * 60", "{{channel}} {{state}}")],
            width=10, custom=custom, options=options)
    b.panel("stat", "Deliveries waiting for a (re)try",
            "Notifications stored and not yet delivered nor given up.",
            [target("max(zhidu_notifications_deliveries_pending)", "waiting", instant=True)],
            width=4, decimals=0, options=stat_options("value"),
            thresholds=[("green", None), ("orange", 50), ("red", 500)])
    b.panel("timeseries", "Refused calls per minute",
            "Calls refused at the door, by service and reason: unauthenticated (no "
            "token, or a bad or expired one; a burst is someone probing the API) or "
            "forbidden (a proven caller without the right).",
            [target(f"sum by (service, reason) (rate(zhidu_auth_refused_total{{{svc}}}"
                    "[$__rate_interval])) * 60", "{{service}} {{reason}}")],
            width=10, custom=custom, options=options)
    return b.build()


DASHBOARDS = {"sla-desk.json": sla_desk, "platform.json": platform}


def render() -> dict[str, str]:
    return {name: json.dumps(make(), ensure_ascii=False, indent=2) + "\n"
            for name, make in DASHBOARDS.items()}


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for name, text in render().items():
        (OUT / name).write_text(text, encoding="utf-8")
        print(f"wrote {OUT / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
