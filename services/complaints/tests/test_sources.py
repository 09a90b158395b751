"""Cases another department's package opens by event (``zhidu.complaint_sources``):
the declaration is checked at start-up, the case is filed as the desk files
one, keeps its links, and one record opens one case."""
import copy

import pytest
from complaints import sources
from complaints.handling import Handling
from zhidu.domain import DomainValidation
from zhidu.envelope import make_envelope
from zhidu.fakes import FakeOutbox
from zhidu.plugins import EventSource

from .conftest import FakeStore

SOURCE = EventSource(
    "canteen", "meal_complained", key="ticket",
    fields={"subject": "title", "description": "text", "received_at": "at",
            "complainant": "diner", "links.canteen_ticket": "ticket"},
    fixed={"channel": "onsite", "kind": "external", "category": "service",
           "target_department": "canteen"})


class Store(FakeStore):
    def __init__(self):
        super().__init__()
        self.opened: dict[str, dict] = {}

    def opened_from(self, key):
        return (self.opened.get(key) or {}).get("number")

    def record_opened_from(self, key, number, event_id):
        assert key not in self.opened, "a second case for one record"
        self.opened[key] = {"number": number, "event_id": event_id}


def complained(ticket="T-7", **data):
    return make_envelope("canteen", "meal_complained", {
        "ticket": ticket, "title": "饭菜变质", "text": "午餐的鱼有异味",
        "at": "2026-11-12T12:30:00+08:00", "diner": {"name": "王女士", "phone": "13812345678"},
        **data}, actor={"id": "ck-01", "role": "staff"})


@pytest.fixture
def opening(rules):
    store = Store()

    def open_(envelope):
        outbox = FakeOutbox("complaints")
        result = store.unit(lambda: sources.open_case(Handling(store, rules, outbox), SOURCE,
                                                      copy.deepcopy(envelope)))
        return result, outbox
    return store, open_


def test_the_event_files_a_case_linked_to_its_record(opening):
    store, open_ = opening
    envelope = complained()
    result, outbox = open_(envelope)
    assert result["opened"] and result["status"] == "received"
    case = store.cases[result["number"]]
    assert case["links"] == {"canteen_ticket": "T-7"}
    assert case["origin"] == {"event": "canteen.meal_complained", "event_id": envelope["id"]}
    assert (case["channel"], case["target_department"], case["subject"]) == (
        "onsite", "canteen", "饭菜变质")
    assert case["received_by"] == "ck-01"
    assert [e["number"] for e in outbox.of_type("received")] == [result["number"]]


def test_one_record_opens_one_case_whatever_the_event_id(opening):
    store, open_ = opening
    first, _ = open_(complained())
    again, outbox = open_(complained())          # the record's event, under a new id
    other, _ = open_(complained(ticket="T-8"))
    assert again == {"number": first["number"], "opened": False}
    assert outbox.envelopes == [] and len(store.cases) == 2
    assert other["number"] != first["number"]


def test_an_intake_the_desk_could_not_file_is_refused_naming_the_field(opening):
    store, open_ = opening
    with pytest.raises(DomainValidation) as refused:
        open_(complained(diner={"phone": "nope"}, title=""))
    assert {"complainant", "subject"} <= set(refused.value.errors)
    with pytest.raises(DomainValidation) as refused:
        open_(complained(ticket=None))
    assert set(refused.value.errors) == {"ticket"}
    assert store.cases == {} and store.opened == {}


@pytest.mark.parametrize("change, message", [
    ({"key": None}, "a key"),
    ({"fields": {"subject": "title"}}, "no field for complainant, description, received_at"),
    ({"fixed": {**SOURCE.fixed, "status": "closed"}}, "unknown intake fields status"),
])
def test_a_declaration_that_could_not_open_a_case_stops_the_start(change, message):
    args = {"source": "canteen", "event_type": "meal_complained", "key": SOURCE.key,
            "fields": dict(SOURCE.fields), "fixed": dict(SOURCE.fixed), **change}
    with pytest.raises(ValueError, match=message):
        sources.check(EventSource(**args))


def test_the_installed_repairs_source_gives_the_service_a_handler():
    from complaints.service import ComplaintsService
    from zhidu.plugins import event_sources

    [source] = [s for s in event_sources(sources.GROUP) if s.source == "repairs"]
    assert sources.check(source) is source
    [entrypoint] = ComplaintsService.on_repairs_escalated_to_complaint.nameko_entrypoints
    assert (entrypoint.source_service, entrypoint.event_type) == (
        "repairs", "escalated_to_complaint")
