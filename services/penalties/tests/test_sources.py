"""Violations another department's package declares (``zhidu.penalty_sources``):
checked at start-up, booked as the dormitory's are, named by no line of the
penalties code."""
import pytest
from penalties import app, plugins
from penalties.catalog import BUILTIN_DIR, load_catalogs
from penalties.policy import load_policy
from penalties.rulebook import Rules
from zhidu.domain import DomainValidation
from zhidu.envelope import make_envelope
from zhidu.fakes import FakeOutbox
from zhidu.plugins import EventSource

from .test_app import FakeStore

CANTEEN = {"domain": "canteen", "rules": [
    {"code": "K01", "kind": "penalty", "points": 2, "title_zh": "餐具未消毒",
     "title_en": "Tableware not disinfected"}]}
SOURCE = EventSource("canteen", "hygiene_failed",
                     fields={"violation_id": "check.id", "employee_id": "cook",
                             "code": "rule", "at": "at", "note": "kitchen"},
                     fixed={"domain": "canteen"})


class EntryPoint:
    def __init__(self, name, target):
        self.name, self.value, self.target = name, f"pkg:{name}", target

    def load(self):
        return self.target


@pytest.fixture(scope="module")
def rules(tmp_path_factory):
    import yaml

    path = tmp_path_factory.mktemp("catalogs") / "canteen.yaml"
    path.write_text(yaml.safe_dump(CANTEEN, allow_unicode=True), encoding="utf-8")
    return Rules(load_catalogs([BUILTIN_DIR, path]), load_policy())


def failed(**data):
    return make_envelope("canteen", "hygiene_failed", {
        "check": {"id": "HC-1"}, "cook": "W1", "rule": "K01",
        "at": "2026-11-12T12:00:00+08:00", "kitchen": "二号厨房", **data})


def test_a_declared_violation_is_booked_against_the_declared_catalogue(rules):
    store, outbox = FakeStore(), FakeOutbox("penalties")
    [entry] = app.book_declared_violation(store, outbox, rules, SOURCE, failed(),
                                          approver_role="gm")
    assert (entry["domain"], entry["code"], entry["points"]) == ("canteen", "K01", 2)
    assert entry["incident_id"] == "HC-1" and entry["note"] == "二号厨房"
    assert entry["source"] == "canteen.hygiene_failed"
    # Redelivered: the entry is there, nothing is announced twice.
    app.book_declared_violation(store, outbox, rules, SOURCE, failed(), approver_role="gm")
    assert len(outbox.of_type("penalty_issued")) == 1 and len(store.entries) == 1


def test_an_event_without_what_its_declaration_promises_is_refused_naming_it(rules):
    envelope = failed(cook=None)
    del envelope["data"]["check"]
    with pytest.raises(DomainValidation) as refused:
        app.book_declared_violation(FakeStore(), FakeOutbox("penalties"), rules, SOURCE,
                                    envelope, approver_role="gm")
    assert set(refused.value.errors) == {"violation_id", "employee_id"}


def test_a_source_books_only_codes_of_its_own_catalogue(rules):
    with pytest.raises(DomainValidation, match="not a rule of canteen"):
        app.book_declared_violation(FakeStore(), FakeOutbox("penalties"), rules, SOURCE,
                                    failed(rule="D16"), approver_role="gm")


@pytest.mark.parametrize("declaration, message", [
    ({"fields": {"employee_id": "cook", "code": "rule", "at": "at"}},
     "no field for violation_id"),
    ({"fixed": {}}, "fixed.domain"),
    ({"fields": {**SOURCE.fields, "domain": "domain"}}, "fixed.domain"),
])
def test_a_declaration_that_could_not_book_stops_the_start(declaration, message):
    args = {"source": "canteen", "event_type": "hygiene_failed",
            "fields": dict(SOURCE.fields), "fixed": {"domain": "canteen"}, **declaration}
    with pytest.raises(ValueError, match=message):
        plugins.check_violation_source(EventSource(**args))


def test_a_declared_domain_without_a_loaded_catalogue_stops_the_start(rules):
    installed = lambda group: [EntryPoint("canteen", SOURCE)]  # noqa: E731
    plugins.check_sources_against(rules.catalogs, installed)
    with pytest.raises(ValueError, match="domain canteen: no loaded catalogue"):
        plugins.check_sources_against(load_catalogs([BUILTIN_DIR]), installed)


def test_the_installed_repairs_source_gives_the_service_a_handler():
    from penalties.service import PenaltiesService

    plugins.check_sources_against(plugins.load_all_catalogs())
    handler = PenaltiesService.on_repairs_violation_recorded
    [entrypoint] = handler.nameko_entrypoints
    assert (entrypoint.source_service, entrypoint.event_type) == (
        "repairs", "violation_recorded")
