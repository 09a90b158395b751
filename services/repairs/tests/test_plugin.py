"""The repairs service joins the suite through its entry points alone: the
launcher, the docs generator, the penalties catalogue discovery and the event
sources penalties and complaints attach handlers for find it without a line
changed in any of them."""
import json

import pytest
from zhidu.docs import build
from zhidu.plugins import discover, load


def test_the_launcher_discovers_the_service_from_its_entry_point():
    plugin = discover()["repairs"]
    assert plugin is load("repairs") or plugin == load("repairs")
    assert plugin.port == 8106 and plugin.load_class().name == "repairs"
    assert {"order_paid", "escalated_to_complaint", "violation_recorded"} <= set(plugin.emits)
    assert set(plugin.emits) == set(plugin.load_event_schemas())


def test_docs_generator_publishes_events_asyncapi_compose_and_k8s():
    files = build()
    schema = json.loads(files["docs/events/repairs.order_paid.schema.json"])
    data = schema["properties"]["data"]
    assert {"number", "amount_yuan", "payer", "household"} <= set(data["required"])
    assert "repairs.escalated_to_complaint" in files["docs/event-catalogue.md"]
    assert "repairs.events" in files["docs/asyncapi.json"]
    assert "  repairs:" in files["deploy/compose.yaml"] and "8106" in files["deploy/compose.yaml"]
    assert "8106" in files["deploy/k8s/repairs.yaml"]
    assert "EXPOSE 8106" in files["services/repairs/Dockerfile"]


def test_the_images_of_the_services_repairs_contributes_to_carry_its_package():
    """Notifications' routes, penalties' catalogue and source, complaints' source:
    each of those services' images installs the repairs package, the others do not."""
    files = build()
    for service in ("notifications", "penalties", "complaints"):
        assert "./services/repairs" in files[f"services/{service}/Dockerfile"], service
    for service in ("directory", "dormitory", "attendance", "console"):
        assert "services/repairs" not in files[f"services/{service}/Dockerfile"], service


def test_penalties_find_the_repairs_catalogue_through_its_entry_point():
    plugins = pytest.importorskip("penalties.plugins")
    paths = plugins.discover_catalog_paths()
    assert any(path.parts[-2:] == ("catalogs", "repairs.yaml") for path in paths)
    catalogs = plugins.load_all_catalogs()
    described = json.dumps(catalogs.describe(), ensure_ascii=False)
    for code in ("RP01", "RP02", "RP03", "RP04", "RP05"):
        assert code in described


def test_penalties_and_complaints_consume_what_the_repairs_package_declares():
    plugins = discover()
    assert "repairs.violation_recorded" in plugins["penalties"].consumed()
    assert "repairs.escalated_to_complaint" in plugins["complaints"].consumed()
    catalogue = build(plugins)["docs/event-catalogue.md"]
    rows = {line.split("|")[1].strip(" `"): line.split("|")[3]
            for line in catalogue.splitlines() if line.startswith("| `repairs.")}
    assert "penalties" in rows["repairs.violation_recorded"]
    assert "complaints" in rows["repairs.escalated_to_complaint"]
