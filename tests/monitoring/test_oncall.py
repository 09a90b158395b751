"""On-call end to end, with real binaries: a complaint breaches its clock,
Prometheus fires, Alertmanager routes, the notifications service pages
whoever attendance's published roster has on call — and tells them again
when it clears.

Test-only overrides (the repository's rules and routes stay as reviewed):
- Prometheus scrapes and evaluates every second; ZhiduSlaBreached and
  ZhiduServiceDown are copied with their 15-minute window cut to
  ``WINDOW`` and their 2-minute ``for`` cut to ``DOWN_FOR``, so one
  breach fires and clears within seconds.
- Alertmanager's group_wait / group_interval are one second and its
  repeat_interval three, so a repeat of the same firing alert reaches the
  receiver during the test (and must not page twice).

What they measure is recorded as figures (``record_property("figure", ...)``),
which the root conftest prints at the end of the run. The breach instant is
the sweep that records the breach: the moment the complaints service knows
the clock ran out and counts it in ``zhidu_complaints_sla_breaches_total``;
from there the latency is a scrape, an evaluation, Alertmanager's group_wait,
the webhook and the inbox write (as the test sees it, polling every 0.2 s).
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta

import eventlet
import pytest
import requests
import yaml
from zhidu import monitoring_stack
from zhidu.envelope import make_envelope
from zhidu.monitoring_stack import RECEIVER_PATH, DirectPage, MonitoringStack, suite_jobs
from zhidu.testing import free_port, publish_event, service_db, wait_for
from zhidu.times import UTC, local_tz

from ..smtp import SmtpServer
from .support import RULES, need

pytestmark = pytest.mark.integration
WINDOW = "10s"
DOWN_FOR = "2s"
TIMING = {"group_wait": "1s", "group_interval": "1s", "repeat_interval": "3s"}
INTERVALS = (f"scrape 1s, evaluation 1s, group_wait {TIMING['group_wait']}, "
             f"group_interval {TIMING['group_interval']}")
ON_CALL = "X1"


def shortened_rules(tmp_path, *names: str):
    """The named alerts of the repository's rules, with test-length windows."""
    rules = []
    for path in sorted(RULES.glob("*.yaml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            rules += [rule for rule in group["rules"] if rule.get("alert") in names]
    for rule in rules:
        rule["expr"] = rule["expr"].replace("[15m]", f"[{WINDOW}]") \
            .replace("offset 15m", f"offset {WINDOW}")
        if "for" in rule:
            rule["for"] = DOWN_FOR
    path = tmp_path / "test-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "oncall-test", "rules": rules}]}),
                    encoding="utf-8")
    return path


class Rest:
    def __init__(self, procs: dict, headers: dict):
        self.procs, self.headers = procs, headers

    def __call__(self, method, service, path, body=None, expect=(200, 201)):
        reply = requests.request(
            method, f"http://127.0.0.1:{self.procs[service].port}/api/v1/{service}{path}",
            json=body, headers=self.headers, timeout=20)
        assert reply.status_code in expect, (service, path, reply.status_code, reply.text)
        return reply.json()

    def inbox(self, recipient, event_type):
        return [item for item in self("GET", "notifications", f"/inbox/{recipient}")
                if item["event_type"] == event_type]


def start_all(service_process, names, **config):
    pool = eventlet.GreenPool(len(names))
    return dict(zip(names, pool.imap(lambda n: service_process(n, **config), names),
                    strict=True))


def stack_for(tmp_path, procs, tokens, rules_file, scraped="complaints",
              direct=None) -> MonitoringStack:
    token_file = tmp_path / "alertmanager.token"
    token_file.write_text(tokens.service("svc:alertmanager",
                                         scopes=["notifications:receive_alerts"]) + "\n")
    return MonitoringStack(
        tmp_path / "monitoring", suite_jobs({scraped: procs[scraped].port}),
        receiver_url=f"http://127.0.0.1:{procs['notifications'].port}{RECEIVER_PATH}",
        token_file=token_file, prometheus_port=free_port(), alertmanager_port=free_port(),
        rule_files=[rules_file], scrape_interval=1, evaluation_interval=1,
        alertmanager_timing=TIMING, direct=direct)


def prom(stack, query):
    reply = requests.get(f"{stack.prometheus_url}/api/v1/query", params={"query": query},
                         timeout=10).json()
    return reply["data"]["result"]


def test_a_breached_complaint_pages_the_person_on_call_and_tells_them_when_it_clears(
        service_process, tokens, auth_headers, zhidu_config, tmp_path, record_property):
    need("prometheus", "prometheus-alertmanager")
    began = time.monotonic()
    procs = start_all(service_process, ["directory", "attendance", "complaints",
                                        "notifications"])
    rest = Rest(procs, auth_headers())
    stack = stack_for(tmp_path, procs, tokens, shortened_rules(tmp_path, "ZhiduSlaBreached"))
    with stack:
        # X1 joins customer service in the directory; attendance and notifications hear it.
        rest("PUT", "directory", f"/employees/{ON_CALL}", {
            "name": "李值班", "gender": "F", "department": "customer_service",
            "unit": "centre"})
        attendance = service_db(zhidu_config, "attendance")
        wait_for(lambda: attendance.employees.find_one({"_id": ON_CALL}), 20,
                 message="attendance knows X1")
        # A 24-hour on-call duty (客服 24 小时值班) that began an hour ago, published.
        now_local = datetime.now(local_tz())
        begins = now_local - timedelta(hours=1)
        rest("PUT", "attendance", "/shifts/OC24", {"start": begins.strftime("%H:%M"),
                                                   "end": begins.strftime("%H:%M")})
        rest("POST", "attendance", "/rosters", {
            "entries": [{"employee_id": ON_CALL, "date": begins.date().isoformat(),
                         "shift_code": "OC24", "on_call": True}],
            "published": True, "at": (now_local - timedelta(days=7)).isoformat()})
        notifications = service_db(zhidu_config, "notifications")
        wait_for(lambda: notifications.duty.find_one(
            {"employee_id": ON_CALL, "on_call": True, "department": "customer_service"}),
            20, message="the rota copy has X1 on call")
        # The breach rule compares with a window ago: Prometheus must have looked that long.
        wait_for(lambda: prom(stack, f'up{{job="zhidu-complaints"}} offset {WINDOW}'), 30,
                 interval=0.5, message="a window of scrapes")

        received = datetime.now(UTC) - timedelta(hours=3)
        number = rest("POST", "complaints", "/complaints", {
            "channel": "phone", "kind": "external", "category": "service",
            "complainant": {"name": "客户甲"}, "subject": "无人回电",
            "description": "三小时没有答复", "received_at": received.isoformat()})["number"]
        breach_wall = datetime.now(UTC)
        breached = time.monotonic()
        rest("POST", "complaints", "/sweep", {"now": breach_wall.isoformat()})

        [page] = wait_for(lambda: rest.inbox(ON_CALL, "alertmanager.firing"), 45,
                          interval=0.2, message="X1 paged")
        paged = time.monotonic() - breached
        assert page["title"].startswith("【值班告警"), page
        assert "docs/runbooks/sla-breached.md" in page["body"]

        [cleared] = wait_for(lambda: rest.inbox(ON_CALL, "alertmanager.resolved"), 45,
                             interval=0.5, message="X1 told it cleared")
        resolved = time.monotonic() - breached
        assert cleared["title"].startswith("【已恢复】"), cleared
        # Alertmanager repeated the firing group every few seconds; one page only.
        assert len(rest.inbox(ON_CALL, "alertmanager.firing")) == 1
    record_property("figure", (
        f"breach → on-call inbox {paged:.1f} s, resolved message after {resolved:.1f} s "
        f"(complaint {number}; {INTERVALS}, breach window {WINDOW}; "
        f"test {time.monotonic() - began:.0f} s)"))


def test_a_service_down_pages_on_call_while_its_other_alerts_wait_behind_it(
        service_process, tokens, auth_headers, people, zhidu_config, tmp_path,
        record_property):
    """ZhiduServiceDown is Prometheus-driven (up == 0, ``for`` cut to 2 s); the
    complaints warning it must inhibit is posted to Alertmanager directly."""
    need("prometheus", "prometheus-alertmanager")
    began = time.monotonic()
    procs = start_all(service_process, ["complaints", "notifications"])
    rest = Rest(procs, auth_headers())
    people.add(ON_CALL, "staff", department="customer_service")
    now = datetime.now(UTC)
    publish_event(zhidu_config["AMQP_URI"], make_envelope("attendance", "duty_rostered", {
        "entries": [{"employee_id": ON_CALL, "department": "customer_service",
                     "date": now.date().isoformat(), "shift_code": "OC24", "on_call": True,
                     "start": (now - timedelta(hours=1)).isoformat(),
                     "end": (now + timedelta(hours=23)).isoformat()}]}))
    wait_for(lambda: service_db(zhidu_config, "notifications").duty.find_one(
        {"employee_id": ON_CALL}), 20, message="the rota copy has X1 on call")
    stack = stack_for(tmp_path, procs, tokens, shortened_rules(tmp_path, "ZhiduServiceDown"))
    with stack:
        wait_for(lambda: prom(stack, 'up{job="zhidu-complaints"} == 1'), 30, interval=0.5,
                 message="complaints scraped")
        procs["complaints"].kill()
        down = time.monotonic()
        backlog = {"alertname": "ZhiduOutboxBacklog", "severity": "warning",
                   "category": "platform", "service": "complaints"}
        wait_for(lambda: requests.get(f"{stack.alertmanager_url}/api/v2/alerts", timeout=5,
                                      params={"filter": 'alertname="ZhiduServiceDown"'}).json(),
                 30, interval=0.5, message="service down reached Alertmanager")
        reply = requests.post(f"{stack.alertmanager_url}/api/v2/alerts", timeout=10, json=[
            {"labels": backlog, "annotations": {"summary": "complaints outbox backlog"}}])
        assert reply.status_code == 200, reply.text

        [page] = wait_for(lambda: rest.inbox(ON_CALL, "alertmanager.firing"), 30,
                          interval=0.3, message="X1 paged")
        paged = time.monotonic() - down
        assert "zhidu-complaints" in page["title"], page
        [stored] = wait_for(lambda: requests.get(
            f"{stack.alertmanager_url}/api/v2/alerts", timeout=5,
            params={"filter": 'alertname="ZhiduOutboxBacklog"'}).json(), 10,
            message="backlog alert stored")
        assert stored["status"]["state"] == "suppressed" and stored["status"]["inhibitedBy"]
        time.sleep(3)  # a few group intervals: the inhibited alert never arrives
        titles = [i["title"] for i in rest.inbox(ON_CALL, "alertmanager.firing")]
        assert titles == [page["title"]], titles
    record_property("figure", (
        f"service down → on-call inbox {paged:.1f} s (complaints killed; {INTERVALS}, "
        f"for {DOWN_FOR}; test {time.monotonic() - began:.0f} s)"))


def test_notifications_down_pages_on_call_by_mail_around_itself(
        service_process, tokens, tmp_path, record_property):
    """With the notifications service gone nothing can reach an inbox: Alertmanager's
    oncall-direct receiver mails the on-call group through the relay itself."""
    need("prometheus", "prometheus-alertmanager")
    began = time.monotonic()
    procs = {"notifications": service_process("notifications")}
    with SmtpServer() as smtp:
        direct = DirectPage(email_to=("oncall@zhidu.test",),
                            smarthost=f"127.0.0.1:{smtp.port}", sender="alertmanager@zhidu.test")
        stack = stack_for(tmp_path, procs, tokens,
                          shortened_rules(tmp_path, "ZhiduServiceDown"),
                          scraped="notifications", direct=direct)
        with stack:
            wait_for(lambda: prom(stack, 'up{job="zhidu-notifications"} == 1'), 30,
                     interval=0.5, message="notifications scraped")
            procs["notifications"].kill()
            down = time.monotonic()
            [mail] = wait_for(smtp.messages, 30, interval=0.2, message="the page by mail")
            mailed = time.monotonic() - down
            [alert] = requests.get(f"{stack.alertmanager_url}/api/v2/alerts", timeout=5,
                                   params={"filter": 'alertname="ZhiduServiceDown"'}).json()
    assert mail["To"] == "oncall@zhidu.test" and mail["From"] == "alertmanager@zhidu.test"
    assert mail["Subject"] == "【值班告警·紧急·直达】ZhiduServiceDown notifications", \
        mail["Subject"]
    assert "docs/runbooks/service-down.md" in mail.get_body().get_content()
    # And the usual page, which reaches the inbox once notifications is back.
    assert {r["name"] for r in alert["receivers"]} == {"oncall-direct", "oncall-page"}
    record_property("figure", (
        f"notifications down → on-call e-mail {mailed:.1f} s ({INTERVALS}, for {DOWN_FOR}; "
        f"test {time.monotonic() - began:.0f} s)"))


def test_make_run_s_alertmanager_reaches_notifications_with_the_token_it_issued_itself(
        service_process, auth_headers, zhidu_config, tmp_path, monkeypatch):
    """No token file yet, as on a fresh checkout: ``start_for_suite`` issues one with
    the suite's key ring and the first page is delivered with it (nobody on the
    rota, no manager, no fallback group: the shared on-call inbox keeps it)."""
    need("prometheus", "prometheus-alertmanager")
    for name, value in (("ZHIDU_PROMETHEUS_PORT", str(free_port())),
                        ("ZHIDU_ALERTMANAGER_PORT", str(free_port())),
                        ("ZHIDU_KEY_DIR", zhidu_config["ZHIDU_KEY_DIR"])):
        monkeypatch.setenv(name, value)
    for name in ("ZHIDU_MONITORING", "ZHIDU_ALERTMANAGER_TOKEN_FILE", "ZHIDU_SMTP_HOST",
                 "ZHIDU_ONCALL_FALLBACK_IDS"):
        monkeypatch.delenv(name, raising=False)
    procs = {"notifications": service_process("notifications")}
    rest = Rest(procs, auth_headers())
    stack = monitoring_stack.start_for_suite(
        {"notifications": procs["notifications"].port}, data_dir=tmp_path,
        amqp_uri=zhidu_config["AMQP_URI"])
    assert stack is not None and (tmp_path / "alertmanager.token").exists()
    try:
        reply = requests.post(f"{stack.alertmanager_url}/api/v2/alerts", timeout=10, json=[{
            "labels": {"alertname": "ZhiduSweepStalled", "severity": "critical",
                       "category": "platform", "service": "complaints"},
            "annotations": {"summary": "complaints sweep stalled",
                            "runbook_url": "docs/runbooks/sweep-stalled.md"}}])
        assert reply.status_code == 200, reply.text
        # The page's group_wait is the committed 10 s.
        [page] = wait_for(lambda: rest.inbox("oncall-desk", "alertmanager.firing"), 40,
                          interval=0.5, message="the page in the shared on-call inbox")
        assert "complaints sweep stalled" in page["title"]
    finally:
        stack.stop()
