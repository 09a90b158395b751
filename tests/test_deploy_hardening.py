"""What the generated deployment promises: no open broker or database, no
committed secret, unprivileged read-only containers, a network policy per
service; and events with personal data marked as restricted."""
import re
from pathlib import Path

import pytest
import yaml
from zhidu import deploysecrets
from zhidu.docs import UID, build
from zhidu.plugins import ServicePlugin, discover

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def files():
    return build()


def test_compose_publishes_no_broker_or_database_port_and_holds_no_password(files):
    text = files["deploy/compose.yaml"]
    compose = yaml.safe_load(text)
    services = compose["services"]
    for infrastructure in ("rabbitmq", "mongo"):
        assert "ports" not in services[infrastructure]
    assert services["rabbitmq"]["env_file"] == ["secrets/rabbitmq.env"]
    assert services["mongo"]["env_file"] == ["secrets/mongo.env"]
    assert "--keyFile" in services["mongo"]["entrypoint"][-1]        # authentication on
    assert "guest" not in text
    assert not re.search(r"://[^\s/@]+:[^\s/@]+@", text)          # no URI with a password
    for name in discover():
        service = services[name]
        assert service["env_file"] == [f"secrets/{name}.env"]
        assert not {"AMQP_URI", "MONGO_URI"} & set(service.get("environment") or {})
        assert service["user"] == f"{UID}:{UID}" and service["read_only"] is True
        assert service["cap_drop"] == ["ALL"] and service["tmpfs"] == ["/tmp"]
    assert "ZHIDU_JWKS_URL" not in services["directory"]["environment"]
    assert services["complaints"]["environment"]["ZHIDU_JWKS_URL"] == \
        "http://directory:8100/.well-known/jwks.json"


def test_every_database_user_reads_its_own_database_only(files):
    script = files["deploy/mongo/init-users.js"]
    for name in discover():
        assert f'["{name}", "zhidu_{name}"]' in script
    assert 'role: "readWrite", db: database' in script


def test_images_run_as_an_unprivileged_user(files):
    for name in discover():
        dockerfile = files[f"services/{name}/Dockerfile"]
        assert f"USER {UID}:{UID}" in dockerfile
        assert dockerfile.index("USER") > dockerfile.index("RUN pip install")


def test_every_pod_is_locked_down_and_fenced_by_a_network_policy(files):
    for name in discover():
        deployment, _, _, policy = yaml.safe_load_all(files[f"deploy/k8s/{name}.yaml"])
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == UID
        assert pod["automountServiceAccountToken"] is False
        [container] = pod["containers"]
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]}}
        assert container["envFrom"] == [{"secretRef": {"name": f"zhidu-{name}-connections"}}]
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
        assert policy["kind"] == "NetworkPolicy"
        assert policy["spec"]["podSelector"] == deployment["spec"]["selector"]
        assert "Ingress" in policy["spec"]["policyTypes"]
        [ingress] = policy["spec"]["ingress"]
        assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}]
        assert {"namespaceSelector": {"matchLabels": {"zhidu/http-client": "true"}}} \
            in ingress["from"]
        if name != "notifications":        # which sends to addresses its subscribers choose
            assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]


def test_the_generated_files_are_the_committed_ones(files):
    stale = [rel for rel, content in files.items() if rel.startswith(("deploy/", "services/"))
             and ((ROOT / rel).read_text(encoding="utf-8") if (ROOT / rel).exists() else None)
             != content]
    assert stale == [], "run `.venv/bin/zhidu docs`"


def test_secrets_are_generated_kept_and_ignored(tmp_path):
    services = ["directory", "complaints"]
    first = deploysecrets.generate(services, {}, {})
    again = deploysecrets.generate(services, {k: v for k, v in first["mongo"].items()},
                                   dict(first["rabbitmq"]))
    assert again == first                                      # a second run keeps them
    assert deploysecrets.generate(services, first["mongo"], first["rabbitmq"],
                                  rotate=True)["mongo"] != first["mongo"]
    passwords = [v for k, v in first["mongo"].items() if "PASSWORD" in k]
    assert len(set(passwords)) == len(passwords) == 3 and all(len(p) >= 32 for p in passwords)
    complaints = first["complaints"]
    password = first["mongo"]["ZHIDU_MONGO_PASSWORD_COMPLAINTS"]
    assert complaints["MONGO_URI"].startswith(f"mongodb://complaints:{password}@mongo:27017/")
    assert complaints["AMQP_URI"] == (
        f"amqp://complaints:{first['rabbitmq']['ZHIDU_AMQP_PASSWORD_COMPLAINTS']}"
        "@rabbitmq:5672/")
    assert deploysecrets.main(["secrets", "--dir", str(tmp_path / "s")]) == 0
    written = tmp_path / "s"
    assert (written / "complaints.env").stat().st_mode & 0o077 == 0
    grafana = deploysecrets.read_env(written / "grafana.env")["GF_SECURITY_ADMIN_PASSWORD"]
    assert len(grafana) >= 32
    monitoring = yaml.safe_load((ROOT / "deploy/grafana/compose.monitoring.yaml").read_text(
        encoding="utf-8"))
    assert monitoring["services"]["grafana"]["env_file"] == ["secrets/grafana.env"]
    assert deploysecrets.read_env(written / "complaints.env")["MONGO_URI"].startswith(
        "mongodb://complaints:")
    assert "deploy/secrets/" in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    secrets = list(yaml.safe_load_all((written / "k8s.yaml").read_text(encoding="utf-8")))
    assert {s["metadata"]["name"] for s in secrets} >= {"zhidu-complaints-connections",
                                                         "zhidu-signing-keys"}


def test_restricted_events_are_marked_and_kept_from_other_consumers(files):
    contact = files["docs/events/directory.employee_contact_changed.schema.json"]
    assert '"x-zhidu-restricted-to": [\n    "notifications"\n  ]' in contact
    upserted = files["docs/events/directory.employee_upserted.schema.json"]
    assert "x-zhidu-restricted-to" not in upserted
    for field in ("phone", "email", "monthly_wage_yuan"):
        assert f'"{field}"' not in upserted
    catalogue = files["docs/event-catalogue.md"]
    assert "- `directory.employee_contact_changed`: only notifications." in catalogue
    assert "- `directory.employee_wage_changed`: only penalties." in catalogue

    plugins = discover()
    snooper = ServicePlugin(name="snooper", service="x:Y", port=9999, summary="s",
                            consumes=("directory.employee_wage_changed",))
    with pytest.raises(ValueError, match="restricted to penalties; snooper"):
        build({**plugins, "snooper": snooper})
