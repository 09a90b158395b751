"""The monitoring configuration on its own: alert rules and their unit tests
(promtool), routes (amtool), runbooks, dashboards and the generated configs.
No server runs here; test_stack.py runs the real ones."""
from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from zhidu import monitoring_stack
from zhidu.plugins import discover

from .promql import grafana_to_promql, label_values_metric, metric_names
from .support import (
    ALERTMANAGER,
    GRAFANA,
    ROOT,
    RULE_TESTS,
    RULES,
    RUNBOOKS,
    alert_rules,
    dashboard_queries,
    dashboards,
    dashboards_module,
    need,
    panels,
    pending_metrics,
    route_cases,
)

SEVERITIES = {"critical", "warning"}
CATEGORIES = {"platform", "business"}
RUNBOOK_SECTIONS = ("## What it means", "## How to confirm", "## What to do")


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


# -- alert rules -----------------------------------------------------------------------
def test_rules_load_and_pass_their_unit_tests():
    need("promtool")
    checked = run("promtool", "check", "rules", *map(str, sorted(RULES.glob("*.yaml"))))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = run("promtool", "test", "rules", *map(str, sorted(RULE_TESTS.glob("*.yaml"))))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def _expected_alerts() -> dict[str, list[dict]]:
    """alertname → the label sets the promtool tests expect it to fire with."""
    fired: dict[str, list[dict]] = {}
    for path in RULE_TESTS.glob("*.yaml"):
        for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for case in test.get("alert_rule_test", ()):
                for alert in case.get("exp_alerts") or ():
                    fired.setdefault(case["alertname"], []).append(alert["exp_labels"])
    return fired


def test_every_alert_is_unit_tested_firing_with_the_labels_routing_needs():
    fired = _expected_alerts()
    for rule in alert_rules():
        name = rule["alert"]
        assert fired.get(name), f"{name}: no promtool test sees it fire"
        for labels in fired[name]:
            assert labels.get("severity") in SEVERITIES, (name, labels)
            assert labels.get("category") in CATEGORIES, (name, labels)
            assert labels.get("service"), f"{name} fires without a service label: {labels}"


def test_every_alert_has_a_runbook_that_says_what_how_and_what_to_do():
    linked = set()
    for rule in alert_rules():
        url = rule.get("annotations", {}).get("runbook_url", "")
        assert url.startswith("docs/runbooks/") and url.endswith(".md"), rule["alert"]
        page = ROOT / url
        assert page.exists(), f"{rule['alert']}: {url} is missing"
        text = page.read_text(encoding="utf-8")
        assert text.startswith(f"# {rule['alert']}\n"), f"{url} is not titled {rule['alert']}"
        for section in RUNBOOK_SECTIONS:
            assert section in text, f"{url} has no '{section}'"
        linked.add(page.name)
    orphans = {p.name for p in RUNBOOKS.glob("*.md")} - linked - {"README.md"}
    assert not orphans, f"runbooks no alert links to: {sorted(orphans)}"
    index = (RUNBOOKS / "README.md").read_text(encoding="utf-8")
    for rule in alert_rules():
        assert rule["alert"] in index, f"{rule['alert']} is not in docs/runbooks/README.md"


def test_pending_metrics_are_described_well_enough_to_implement():
    for name, spec in pending_metrics().items():
        assert spec["type"] in ("counter", "gauge", "histogram"), name
        assert isinstance(spec["labels"], list), name
        assert spec["exported_by"] and spec["meaning"] and spec["used_by"], name
        assert name.endswith("_total") == (spec["type"] == "counter"), name


# -- Alertmanager ------------------------------------------------------------------------
def test_alertmanager_configuration_is_valid():
    need("amtool")
    checked = run("amtool", "check-config", str(ALERTMANAGER / "alertmanager.yaml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize("receivers,labels", route_cases(),
                         ids=[" ".join(labels[:1]) for _, labels in route_cases()])
def test_route(receivers, labels):
    need("amtool")
    routed = run("amtool", "config", "routes", "test",
                 f"--config.file={ALERTMANAGER / 'alertmanager.yaml'}",
                 f"--verify.receivers={receivers}", *labels)
    assert routed.returncode == 0, (f"expected {receivers}, got {routed.stdout.strip()} "
                                    f"for {' '.join(labels)}")


def test_every_alert_has_a_routing_case():
    routed = {label.split("=", 1)[1] for _, labels in route_cases() for label in labels
              if label.startswith("alertname=")}
    missing = {rule["alert"] for rule in alert_rules()} - routed
    assert not missing, f"add them to deploy/alertmanager/routes.test: {sorted(missing)}"


def test_the_route_script_agrees():
    need("amtool")
    script = run("bash", str(ALERTMANAGER / "test-routes.sh"))
    assert script.returncode == 0, script.stderr


def _committed_alertmanager() -> dict:
    return yaml.safe_load((ALERTMANAGER / "alertmanager.yaml").read_text(encoding="utf-8"))


def test_every_receiver_but_the_direct_one_is_the_notifications_webhook_with_a_token_file():
    config = _committed_alertmanager()
    receivers = {r["name"]: r for r in config["receivers"]}
    direct = receivers.pop(monitoring_stack.DIRECT_RECEIVER)
    assert receivers
    for receiver in receivers.values():
        [webhook] = receiver["webhook_configs"]
        assert webhook["url"].endswith(monitoring_stack.RECEIVER_PATH), receiver["name"]
        auth = webhook["http_config"]["authorization"]
        assert auth["type"] == "Bearer" and auth["credentials_file"], receiver["name"]
    # Around the notifications service, never through it; the relay and the
    # mailbox are the deployment's to set, and ship as placeholders that
    # cannot reach anyone.
    assert "webhook_configs" not in direct
    [email] = direct["email_configs"]
    assert email["send_resolved"] is True and email["to"].endswith(".invalid")
    assert config["global"]["smtp_smarthost"].split(":")[0].endswith(".invalid")


def test_the_direct_route_comes_first_and_lets_the_usual_page_follow():
    first = _committed_alertmanager()["route"]["routes"][0]
    assert first["receiver"] == monitoring_stack.DIRECT_RECEIVER and first["continue"] is True
    assert {"alertname", "service"} <= {m.split("=")[0].rstrip("!~")
                                        for m in first["matchers"]}


def test_the_local_alertmanager_configuration_points_at_this_machine(tmp_path):
    config = monitoring_stack.alertmanager_config(
        receiver_url="http://127.0.0.1:18105/api/v1/notifications/alerts",
        token_file=tmp_path / "token", timing={"group_wait": "0s", "group_interval": "1s"})
    receivers = {r["name"]: r for r in config["receivers"]}
    # No relay configured here: the direct receiver sends nothing, rather than
    # to the committed placeholders.
    assert receivers.pop(monitoring_stack.DIRECT_RECEIVER) == {
        "name": monitoring_stack.DIRECT_RECEIVER}
    assert not [k for k in config["global"] if k.startswith("smtp_")]
    for receiver in receivers.values():
        for webhook in receiver["webhook_configs"]:
            assert webhook["url"] == "http://127.0.0.1:18105/api/v1/notifications/alerts"
            assert webhook["http_config"]["authorization"]["credentials_file"] == \
                str(tmp_path / "token")
    assert config["route"]["group_wait"] == "0s"
    assert all(r.get("group_interval") in (None, "1s") for r in config["route"]["routes"])
    # The committed file is untouched by the rewrite.
    assert _committed_alertmanager()["route"]["group_wait"] == "30s"
    _amtool_accepts(tmp_path, config)


def _amtool_accepts(tmp_path, config: dict) -> None:
    if not shutil.which("amtool"):
        return
    path = tmp_path / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    checked = run("amtool", "check-config", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_local_direct_page_uses_the_notifications_relay_and_keeps_its_password_apart(
        tmp_path):
    direct = monitoring_stack.DirectPage.from_env({
        "ZHIDU_SMTP_HOST": "mail.corp.test", "ZHIDU_SMTP_PORT": "587",
        "ZHIDU_SMTP_FROM": "zhidu@corp.test", "ZHIDU_SMTP_USER": "zhidu",
        "ZHIDU_SMTP_PASSWORD": "relay-secret", "ZHIDU_SMTP_STARTTLS": "true",
        "ZHIDU_SMTP_CA_FILE": "/etc/ssl/corp-ca.pem",
        "ZHIDU_ONCALL_EMAIL": "oncall@corp.test, it-duty@corp.test",
        "ZHIDU_ONCALL_PAGER_URL": "http://sms-bridge.corp.test/alertmanager"})
    config = monitoring_stack.alertmanager_config(
        receiver_url="http://127.0.0.1:8105/api/v1/notifications/alerts",
        token_file=tmp_path / "token", direct=direct, secrets_dir=tmp_path)
    glob = config["global"]
    assert (glob["smtp_smarthost"], glob["smtp_from"], glob["smtp_require_tls"]) == \
        ("mail.corp.test:587", "zhidu@corp.test", True)
    assert glob["smtp_auth_username"] == "zhidu"
    secret = Path(glob["smtp_auth_password_file"])
    assert secret.read_text() == "relay-secret" and secret.stat().st_mode & 0o077 == 0
    assert "relay-secret" not in yaml.safe_dump(config)
    receiver = next(r for r in config["receivers"]
                    if r["name"] == monitoring_stack.DIRECT_RECEIVER)
    [email] = receiver["email_configs"]
    assert email["to"] == "oncall@corp.test, it-duty@corp.test"
    assert email["tls_config"] == {"ca_file": "/etc/ssl/corp-ca.pem"}
    assert "直达" in email["headers"]["Subject"]           # the committed subject, kept
    # The pager gateway is called as it is, never with the notifications token.
    assert receiver["webhook_configs"] == [
        {"url": "http://sms-bridge.corp.test/alertmanager", "send_resolved": True}]
    assert "e-mail to oncall@corp.test, it-duty@corp.test via mail.corp.test:587" in \
        direct.describe()
    _amtool_accepts(tmp_path, config)


def test_without_a_relay_the_start_up_line_says_what_to_set():
    nothing = monitoring_stack.DirectPage.from_env({})
    assert not nothing.by_email and nothing.pager_url is None
    assert "ZHIDU_SMTP_HOST and ZHIDU_ONCALL_EMAIL" in nothing.describe()
    relay_only = monitoring_stack.DirectPage.from_env({"ZHIDU_SMTP_HOST": "mail.corp.test"})
    assert relay_only.smarthost == "mail.corp.test:25" and not relay_only.by_email
    assert "set ZHIDU_ONCALL_EMAIL," in relay_only.describe()


# -- Alertmanager's token under `make run` -----------------------------------------------
@pytest.fixture
def key_ring(tmp_path, monkeypatch):
    from zhidu.identity import KeyRing

    monkeypatch.setenv("ZHIDU_KEY_DIR", str(tmp_path / "keys"))
    monkeypatch.delenv("ZHIDU_ISSUER", raising=False)
    return KeyRing(tmp_path / "keys").ensure()


def _claims(path: Path, ring) -> dict:
    import jwt

    token = path.read_text().strip()
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(jwt.PyJWK(k) for k in ring.public_jwks()["keys"] if k["kid"] == kid)
    return jwt.decode(token, key, algorithms=["EdDSA"], audience="zhidu")


def test_a_missing_token_is_issued_with_the_suite_s_keys_and_an_expiring_one_renewed(
        key_ring, tmp_path):
    from zhidu.identity import issue_token

    path = tmp_path / "data" / "alertmanager.token"
    path.parent.mkdir()
    note = monitoring_stack.ensure_token(path)
    assert note.startswith(f"issued Alertmanager's token (svc:alertmanager, scope "
                           f"notifications:receive_alerts, valid 30 days) in {path}")
    assert path.stat().st_mode & 0o077 == 0
    claims = _claims(path, key_ring)
    assert (claims["sub"], claims["scope"]) == ("svc:alertmanager", "notifications:receive_alerts")
    assert claims["exp"] - claims["iat"] == monitoring_stack.LOCAL_TOKEN_TTL
    # A good one is kept as it is.
    first = path.read_text()
    assert monitoring_stack.ensure_token(path) is None and path.read_text() == first
    # One about to expire (an operator's, issued with the default hour) is renewed.
    path.write_text(issue_token(None, "svc:alertmanager",
                                scopes=["notifications:receive_alerts"]) + "\n")
    assert monitoring_stack.ensure_token(path).startswith("renewed")
    assert _claims(path, key_ring)["exp"] - time.time() > 29 * 86400
    # Signed by a key the ring has dropped: renewed too.
    key_ring.rotate(keep=1)
    assert monitoring_stack.ensure_token(path).startswith("renewed")
    _claims(path, key_ring)


def test_a_token_from_another_issuer_is_left_alone(key_ring, tmp_path):
    path = tmp_path / "alertmanager.token"
    path.write_text("a-token-from-the-company-s-provider\n")
    assert monitoring_stack.ensure_token(path) is None
    assert path.read_text() == "a-token-from-the-company-s-provider\n"


# -- compose -----------------------------------------------------------------------------
def test_the_suite_s_compose_file_provisions_monitoring_behind_a_profile():
    suite = yaml.safe_load((ROOT / "deploy/compose.yaml").read_text(encoding="utf-8"))
    [included] = suite["include"]
    # Paths in the included file stay written from deploy/, like the suite's own.
    assert included == {"path": "grafana/compose.monitoring.yaml", "project_directory": "."}
    monitoring = yaml.safe_load((ROOT / "deploy" / included["path"]).read_text(
        encoding="utf-8"))
    assert set(monitoring["services"]) == {"prometheus", "alertmanager", "grafana"}
    assert not set(monitoring["services"]) & set(suite["services"])
    # A plain `up` starts the suite as before; `--profile monitoring` adds these.
    for name, service in monitoring["services"].items():
        assert service["profiles"] == ["monitoring"], name
    for name, service in monitoring["services"].items():
        for volume in service.get("volumes", ()):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / "deploy" / source).exists(), (name, volume)


# -- Prometheus --------------------------------------------------------------------------
def test_the_compose_prometheus_scrapes_every_installed_service_and_the_broker():
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yaml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for plugin in discover().values():
        job = jobs.get(f"zhidu-{plugin.name}")
        assert job, f"deploy/prometheus/prometheus.yaml has no job zhidu-{plugin.name}"
        assert job["static_configs"][0]["targets"] == [f"{plugin.name}:{plugin.port}"]
    assert jobs["rabbitmq"]["metrics_path"] == monitoring_stack.BROKER_METRICS_PATH
    need("promtool")
    checked = run("promtool", "check", "config", str(ROOT / "deploy/prometheus/prometheus.yaml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_generated_prometheus_configuration_is_valid(tmp_path, monkeypatch):
    # The broker's metrics are found on the broker's host unless configured.
    monkeypatch.delenv("ZHIDU_BROKER_METRICS_ADDRESS", raising=False)
    jobs = [*monitoring_stack.suite_jobs({"complaints": 8101, "penalties": 8104}),
            monitoring_stack.broker_job("amqp://guest:guest@mq.internal:5672/")]
    config = monitoring_stack.prometheus_config(
        jobs, alertmanager="127.0.0.1:9093", scrape_interval=1, evaluation_interval=1,
        rule_files=[str(RULES / "*.yaml")])
    assert config["global"]["scrape_timeout"] == "1s"
    assert [j["job_name"] for j in config["scrape_configs"]] == \
        ["zhidu-complaints", "zhidu-penalties", "rabbitmq"]
    assert config["scrape_configs"][-1]["static_configs"][0]["targets"] == \
        ["mq.internal:15692"]
    need("promtool")
    path = tmp_path / "prometheus.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    checked = run("promtool", "check", "config", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr


# -- dashboards --------------------------------------------------------------------------
def test_dashboards_are_generated_from_their_code():
    rendered = dashboards_module().render()
    on_disk = {p.name: p.read_text(encoding="utf-8")
               for p in (GRAFANA / "dashboards").glob("*.json")}
    assert rendered == on_disk, "run `python deploy/grafana/dashboards.py` and commit"


def test_dashboards_use_the_provisioned_prometheus_and_unique_panel_ids():
    sources = yaml.safe_load(
        (GRAFANA / "provisioning/datasources/zhidu.yaml").read_text(encoding="utf-8"))
    uid = next(s["uid"] for s in sources["datasources"] if s["type"] == "prometheus")
    provider = yaml.safe_load(
        (GRAFANA / "provisioning/dashboards/zhidu.yaml").read_text(encoding="utf-8"))
    mount = provider["providers"][0]["options"]["path"]
    compose = yaml.safe_load((GRAFANA / "compose.monitoring.yaml").read_text())
    assert f"./grafana/dashboards:{mount}:ro" in compose["services"]["grafana"]["volumes"]
    for name, dashboard in dashboards().items():
        ids = [p["id"] for p in panels(dashboard)]
        assert len(ids) == len(set(ids)), name
        for panel in panels(dashboard):
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == uid, (name, panel["title"])
            assert panel["targets"], (name, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == uid, (name, panel["title"])


def test_the_sla_desk_and_platform_dashboards_cover_what_on_call_asked_for():
    queries = " ".join(expr for _, expr in dashboard_queries())
    for metric in ("zhidu_complaints_open_clocks", "zhidu_complaints_time_to_breach_seconds",
                   "zhidu_complaints_sla_breaches_total", "zhidu_complaints_sla_warnings_total",
                   "zhidu_complaints_escalations_total",
                   "zhidu_complaints_sweep_last_success_timestamp_seconds",
                   "zhidu_entrypoint_latency_seconds_bucket", "zhidu_events_retried_total",
                   "zhidu_events_dead_lettered_total", "zhidu_outbox_pending",
                   "rabbitmq_queue_messages_ready"):
        assert metric in queries, metric


def test_every_alert_and_panel_names_only_metrics_with_a_source():
    """Offline half of the scrape test: each metric is one the services declare
    in code, RabbitMQ's, Prometheus's own, or listed as pending."""
    declared = set()
    for path in [*ROOT.glob("services/*/*/*.py"), ROOT / "shared/zhidu/metrics.py"]:
        declared |= set(re.findall(r'"(zhidu_[a-z0-9_]+)"', path.read_text(encoding="utf-8")))
    histogram_series = {f"{name}_{suffix}" for name in declared
                        for suffix in ("bucket", "sum", "count")}
    known = declared | histogram_series | set(pending_metrics()) | {"up"}
    queries = [*dashboard_queries(),
               *((f"alert {r['alert']}", r["expr"]) for r in alert_rules())]
    for where, expr in queries:
        for name in metric_names(grafana_to_promql(expr)):
            assert name in known or name.startswith("rabbitmq_"), f"{where}: {name}"


# -- the PromQL reader the scrape test relies on -----------------------------------------
@pytest.mark.parametrize("expr,names", [
    ('sum by (job, clock) (increase(a_total{x="b c(d)"}[15m])) > 0 or '
     "(b unless b offset 15m and on (job) count by (job) (up offset 15m))",
     {"a_total", "b", "up"}),
    ('label_replace(max by (vhost, queue) (c{queue=~"rpc-.+"}) == 0, "service", "$1", '
     '"queue", "(?:rpc-)(.*)")', {"c"}),
    ("histogram_quantile(0.95, sum by (le) (rate(d_bucket[$__rate_interval]))) * 1e3",
     {"d_bucket"}),
    ("max by (job) (e) < on () group_left () (vector(time() - time() % 60) "
     "- (day_of_month(vector(time() + 28800)) - 1) * 86400)", {"e"}),
    ("time() - max(f)", {"f"}),
])
def test_metric_names(expr, names):
    assert metric_names(grafana_to_promql(expr)) == names


def test_label_values_variables():
    assert label_values_metric("label_values(zhidu_entrypoint_calls_total, service)") == \
        "zhidu_entrypoint_calls_total"
    assert label_values_metric("query_result(up)") is None


def test_monitoring_is_optional_for_zhidu_run(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("ZHIDU_MONITORING", "off")
    assert monitoring_stack.start_for_suite({"complaints": 8101}, data_dir=tmp_path,
                                            amqp_uri="amqp://localhost/") is None
    monkeypatch.setenv("ZHIDU_MONITORING", "auto")
    monkeypatch.setattr(monitoring_stack, "binaries", lambda: None)
    assert monitoring_stack.start_for_suite({"complaints": 8101}, data_dir=tmp_path,
                                            amqp_uri="amqp://localhost/") is None
    assert "prometheus and prometheus-alertmanager are not installed" in capsys.readouterr().out
    assert not any(Path(tmp_path).iterdir())
