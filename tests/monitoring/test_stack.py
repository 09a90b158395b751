"""The monitoring stack with real binaries: Debian's Prometheus scraping the
running suite, and Alertmanager routing, inhibiting and delivering.

Both servers run on free ports with one-second scrape and evaluation
intervals, and are stopped by pid when each test ends.
"""
from __future__ import annotations

import json
import os
import re
import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import eventlet
import pytest
import requests
import yaml
from zhidu import monitoring_stack
from zhidu.monitoring_stack import MonitoringStack, broker_job, suite_jobs
from zhidu.plugins import discover
from zhidu.testing import ServiceProcess, free_port, wait_for

from .promql import grafana_to_promql, metric_names
from .support import alert_rules, dashboard_queries, need, pending_metrics, rule_queries

SERVICE_QUEUES = 'queue=~"rpc-[^.]+|evt-.+--[^.]+[.][^.]+"'

pytestmark = pytest.mark.integration
TYPE_LINE = re.compile(r"^# TYPE (\S+) (\S+)", re.MULTILINE)
SAMPLE_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", re.MULTILINE)
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count"),
            "counter": ("_total",)}


def exported_names(text: str) -> set[str]:
    """Every series name an exposition declares, with or without samples yet."""
    names = set(SAMPLE_LINE.findall(text))
    for family, kind in TYPE_LINE.findall(text):
        names.add(family)
        names.update(family + suffix for suffix in SUFFIXES.get(kind, ()))
    return names


def api(stack: MonitoringStack, path: str, **params) -> dict:
    reply = requests.get(f"{stack.prometheus_url}/api/v1/{path}", params=params, timeout=10)
    body = reply.json()
    assert body["status"] == "success", body
    return body["data"]


@pytest.fixture
def suite(zhidu_config):
    """Every installed service in its own process, started side by side."""
    need("prometheus", "prometheus-alertmanager")
    processes = [ServiceProcess(name, zhidu_config) for name in discover()]
    pool = eventlet.GreenPool(len(processes))
    try:
        list(pool.imap(lambda p: p.start(90), processes))
        yield processes
    finally:
        # Their clean shutdown is not what is tested here, and can take the
        # whole stop timeout; the vhost and databases are thrown away anyway.
        for process in processes:
            process.kill()


def test_every_panel_and_alert_runs_on_prometheus_scraping_the_suite(suite, zhidu_config,
                                                                      rabbit_config, tmp_path):
    need("prometheus", "prometheus-alertmanager")
    jobs = [*suite_jobs({p.service: p.port for p in suite}),
            broker_job(zhidu_config["AMQP_URI"])]
    stack = MonitoringStack(
        tmp_path, jobs, receiver_url=f"http://127.0.0.1:{free_port()}/alerts",
        token_file=tmp_path / "token", prometheus_port=free_port(),
        alertmanager_port=free_port(), scrape_interval=1, evaluation_interval=1)
    with stack:
        def all_up():
            targets = api(stack, "targets")["activeTargets"]
            return len(targets) == len(jobs) and all(t["health"] == "up" for t in targets) \
                and targets
        targets = wait_for(all_up, 30, interval=0.2, message="every target scraped")

        def rules_evaluated():
            groups = api(stack, "rules", type="alert")["groups"]
            return groups and all(not g["lastEvaluation"].startswith("0001")
                                  for g in groups) and groups
        groups = wait_for(rules_evaluated, 30, interval=0.2, message="rules evaluated")
        assert wait_for(lambda: api(stack, "alertmanagers")["activeAlertmanagers"], 10,
                        message="Prometheus sees Alertmanager")

        # The queue alerts' selector picks every service's RPC and handler
        # queues, names the right service, and finds none without a consumer
        # while the whole suite runs.
        vhost = rabbit_config["vhost"]
        queues = f'rabbitmq_queue_consumers{{vhost="{vhost}", {SERVICE_QUEUES}}}'

        def queue_services():
            result = api(stack, "query", query=(
                f'count by (service) (label_replace({queues}, "service", "$1", '
                f'"queue", "(?:rpc-|evt-.+--)([^.]+).*"))'))["result"]
            return {r["metric"]["service"] for r in result} == {p.service for p in suite}
        wait_for(queue_services, 30, interval=0.5, message="every service's queues seen")
        assert api(stack, "query", query=f"{queues} == 0")["result"] == []
        assert api(stack, "query", query=(
            f'count(rabbitmq_queue_consumers{{vhost="{vhost}", queue=~"evt-.+", '
            f'queue!~".+[.]delay[.][0-9]+ms"}} '
            f'unless {queues})'))["result"] == [], "handler queues the selector misses"

        exported = {"up"}
        for target in targets:
            exported |= exported_names(requests.get(target["scrapeUrl"], timeout=10).text)

        unhealthy = [f"{rule['name']}: {rule.get('lastError')}" for group in groups
                     for rule in group["rules"] if rule["health"] != "ok"]
        assert not unhealthy, unhealthy

        pending = pending_metrics()
        errors, unknown, waiting = [], [], {}
        for where, expr in [*dashboard_queries(), *rule_queries()]:
            query = grafana_to_promql(expr, {"$service": ".*"})
            reply = requests.get(f"{stack.prometheus_url}/api/v1/query",
                                 params={"query": query}, timeout=10).json()
            if reply["status"] != "success":
                errors.append(f"{where}: {reply.get('error')}")
            for name in metric_names(query) - exported:
                if name in pending:
                    waiting.setdefault(name, []).append(where)
                else:
                    unknown.append(f"{where}: {name}")
        assert not errors and not unknown, "\n".join(
            [*errors, *(f"no running service exports {u}" for u in unknown)])
        for name, where in sorted(waiting.items()):
            warnings.warn(f"pending metric {name} ({pending[name]['exported_by']}), "
                          f"used by {'; '.join(where)}", stacklevel=1)

        # One service dies: the rules behind its pages pick it out by name
        # (their "for" is minutes; the expressions are checked here).
        victim = next(p for p in suite if p.service == "dormitory")
        victim.kill()
        exprs = {rule["alert"]: rule["expr"] for rule in alert_rules()}

        def firing(alert):
            return {(r["metric"].get("service"), r["metric"].get("queue"))
                    for r in api(stack, "query", query=exprs[alert])["result"]
                    if r["metric"].get("vhost", vhost) == vhost}
        wait_for(lambda: firing("ZhiduServiceDown") == {("dormitory", None)}, 15,
                 interval=0.5, message="dormitory down")
        wait_for(lambda: ("dormitory", "rpc-dormitory") in firing(
            "ZhiduQueueWithoutConsumer"), 30, interval=0.5, message="its queues orphaned")
        assert {service for service, _ in firing("ZhiduQueueWithoutConsumer")} == \
            {"dormitory"}

        now_exported = sorted(set(pending) & exported)
        if now_exported:
            warnings.warn(f"exported now, drop from deploy/prometheus/pending_metrics.yaml: "
                          f"{now_exported}", stacklevel=1)


class StandInReceiver:
    """Where the notifications service's alert webhook will be: records each POST."""

    def __init__(self):
        self.requests: list[dict] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                received.append({"path": self.path, "headers": dict(self.headers),
                                 "body": json.loads(body)})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}" \
                   f"{monitoring_stack.RECEIVER_PATH}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def alerts(self, receiver: str) -> list[dict]:
        return [alert for r in self.requests if r["body"]["receiver"] == receiver
                for alert in r["body"]["alerts"]]


def _post_alerts(stack: MonitoringStack, *label_sets: dict) -> None:
    reply = requests.post(f"{stack.alertmanager_url}/api/v2/alerts", timeout=10, json=[
        {"labels": labels,
         "annotations": {"summary": labels["alertname"],
                         "runbook_url": "docs/runbooks/service-down.md"}}
        for labels in label_sets])
    assert reply.status_code == 200, reply.text


def _am_alert(stack: MonitoringStack, alertname: str) -> dict | None:
    found = requests.get(f"{stack.alertmanager_url}/api/v2/alerts", timeout=10,
                         params={"filter": f'alertname="{alertname}"'}).json()
    return found[0] if found else None


def test_alertmanager_routes_inhibits_and_delivers_with_the_token(tmp_path):
    need("prometheus", "prometheus-alertmanager")
    token_file = tmp_path / "alertmanager.token"
    with StandInReceiver() as receiver, MonitoringStack(
            tmp_path, [], receiver_url=receiver.url, token_file=token_file,
            prometheus_port=free_port(), alertmanager_port=free_port(),
            alertmanager_timing={"group_wait": "0s", "group_interval": "1s"}) as stack:
        # Written after the start, as an operator does: read at each delivery.
        token_file.write_text("service-account-token\n", encoding="utf-8")
        down = {"alertname": "ZhiduServiceDown", "severity": "critical",
                "category": "platform", "service": "complaints", "job": "zhidu-complaints",
                "instance": "127.0.0.1:8101"}
        _post_alerts(stack, down)
        wait_for(lambda: _am_alert(stack, "ZhiduServiceDown"), 10, message="alert stored")
        _post_alerts(
            stack,
            {"alertname": "ZhiduQueueGrowing", "severity": "warning", "category": "platform",
             "service": "complaints", "vhost": "/", "queue": "rpc-complaints"},
            {"alertname": "ZhiduLeaveApprovalsWaiting", "severity": "warning",
             "category": "business", "service": "attendance", "approver_role": "supervisor"},
            {"alertname": "ZhiduOutboxBacklog", "severity": "warning",
             "category": "platform", "service": "penalties"})

        wait_for(lambda: receiver.alerts("oncall-page") and receiver.alerts("hr-desk")
                 and receiver.alerts("oncall"), 15, message="deliveries to three receivers")
        # The down service's queue alert waits behind the outage.
        growing = _am_alert(stack, "ZhiduQueueGrowing")
        assert growing["status"]["state"] == "suppressed"
        assert growing["status"]["inhibitedBy"]

    assert {r["path"] for r in receiver.requests} == {monitoring_stack.RECEIVER_PATH}
    assert {r["headers"]["Authorization"] for r in receiver.requests} == \
        {"Bearer service-account-token"}
    delivered = {(r["body"]["receiver"], a["labels"]["alertname"])
                 for r in receiver.requests for a in r["body"]["alerts"]}
    assert delivered == {("oncall-page", "ZhiduServiceDown"),
                         ("hr-desk", "ZhiduLeaveApprovalsWaiting"),
                         ("oncall", "ZhiduOutboxBacklog")}
    [page] = receiver.alerts("oncall-page")
    assert page["annotations"]["runbook_url"] == "docs/runbooks/service-down.md"


def test_zhidu_run_starts_monitoring_and_stops_all_of_it(tmp_path, monkeypatch, capsys):
    need("prometheus", "prometheus-alertmanager")
    monkeypatch.setenv("ZHIDU_PROMETHEUS_PORT", str(free_port()))
    monkeypatch.setenv("ZHIDU_ALERTMANAGER_PORT", str(free_port()))
    monkeypatch.delenv("ZHIDU_ALERTMANAGER_TOKEN_FILE", raising=False)
    monkeypatch.delenv("ZHIDU_MONITORING", raising=False)
    monkeypatch.setenv("ZHIDU_KEY_DIR", str(tmp_path / "keys"))
    for name in ("ZHIDU_SMTP_HOST", "ZHIDU_ONCALL_EMAIL", "ZHIDU_ONCALL_PAGER_URL"):
        monkeypatch.delenv(name, raising=False)
    stack = monitoring_stack.start_for_suite(
        {"complaints": 8101, "notifications": 8105}, data_dir=tmp_path,
        amqp_uri="amqp://guest:guest@localhost:5672/")
    assert stack is not None
    pids = [proc.pid for proc in stack.procs.values()]
    try:
        printed = capsys.readouterr().out
        assert f"Prometheus on {stack.prometheus_url}" in printed
        assert f"Alertmanager on {stack.alertmanager_url}" in printed
        # Nobody has to issue Alertmanager's token by hand before alerts flow.
        token_file = tmp_path / "alertmanager.token"
        assert f"issued Alertmanager's token (svc:alertmanager, scope " \
            f"notifications:receive_alerts, valid 30 days) in {token_file}" in printed
        assert token_file.read_text().count(".") == 2                 # a JWT
        assert "a notifications or broker outage shows in Alertmanager only" in printed
        config = yaml.safe_load((tmp_path / "monitoring/prometheus.yaml").read_text())
        assert [job["job_name"] for job in config["scrape_configs"]] == \
            ["zhidu-complaints", "zhidu-notifications", "rabbitmq"]
        rules = requests.get(f"{stack.prometheus_url}/api/v1/rules", timeout=10).json()
        assert {rule["name"] for group in rules["data"]["groups"] for rule in group["rules"]} \
            >= {"ZhiduServiceDown", "ZhiduQueueWithoutConsumer"}
        manager = yaml.safe_load((tmp_path / "monitoring/alertmanager.yaml").read_text())
        webhook = next(r for r in manager["receivers"]
                       if r["name"] == "oncall-page")["webhook_configs"][0]
        assert webhook["url"] == "http://127.0.0.1:8105/api/v1/notifications/alerts"
        assert webhook["http_config"]["authorization"]["credentials_file"] == \
            str((tmp_path / "alertmanager.token").resolve())
    finally:
        stack.stop()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
