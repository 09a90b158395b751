"""Events a plugin declares for another service: reading them, finding the
declarations, and the handlers a consumer attaches for them — ordinary
``on_event`` handlers, de-duplicated and dead-lettered like any other."""
from pathlib import Path

import pytest
from zhidu.domain import DomainValidation
from zhidu.envelope import make_envelope
from zhidu.events import ReliableEventHandler
from zhidu.mongo import Mongo, Store
from zhidu.plugins import EventSource, ServicePlugin, attach_event_sources, event_sources
from zhidu.service import ZhiduService
from zhidu.testing import publish_event, wait_for

SOURCE = EventSource("canteen", "meal_refused", key="ticket.id",
                     fields={"employee_id": "cook", "links.ticket": "ticket.id",
                             "where": "ticket.place.hall"},
                     fixed={"domain": "canteen", "where": "unknown"})


class EntryPoint:
    def __init__(self, name, target):
        self.name, self.value, self._target = name, f"pkg:{name}", target

    def load(self):
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


def installed(*points):
    return lambda group: list(points)


# -- reading an event through its declaration ----------------------------------------
def test_a_declaration_reads_nested_paths_into_nested_targets():
    data = {"cook": "e-1", "ticket": {"id": "T-9", "place": {"hall": "B"}}}
    assert SOURCE.read(data) == {"domain": "canteen", "where": "B", "employee_id": "e-1",
                                 "links": {"ticket": "T-9"}}
    assert SOURCE.key_of(data) == "canteen.meal_refused:T-9"
    assert SOURCE.event == "canteen.meal_refused"
    assert SOURCE.handler_name == "on_canteen_meal_refused"


def test_what_the_event_lacks_is_left_out_or_fixed():
    read = SOURCE.read({"ticket": {"id": "T-9"}})
    assert read == {"domain": "canteen", "where": "unknown", "links": {"ticket": "T-9"}}
    assert SOURCE.key_of({"ticket": {}}) is None
    assert SOURCE.provides() == {"employee_id", "links.ticket", "where", "domain"}


def test_a_read_is_a_copy_and_the_declaration_cannot_be_changed():
    source = EventSource("canteen", "meal_refused", fields={"x": "x"},
                         fixed={"tags": ["a"]})
    data = {"x": {"deep": 1}}
    read = source.read(data)
    read["x"]["deep"], read["tags"][0] = 2, "b"
    assert data == {"x": {"deep": 1}} and source.read({})["tags"] == ["a"]
    with pytest.raises(TypeError):
        source.fields["y"] = "y"


@pytest.mark.parametrize("kwargs, wrong", [
    ({"source": "Canteen"}, "source"),
    ({"event_type": "meal refused"}, "event_type"),
    ({"fields": {"a b": "x"}}, "target"),
    ({"fields": {"a": "x..y"}}, "path"),
    ({"fields": {"a": 3}}, "path"),
    ({"key": "a-b"}, "key"),
    ({"fixed": {"": 1}}, "target"),
])
def test_a_malformed_declaration_is_refused_naming_what(kwargs, wrong):
    args = {"source": "canteen", "event_type": "meal_refused", "fields": {}, **kwargs}
    with pytest.raises(ValueError, match=wrong):
        EventSource(**args)


# -- finding the declarations ---------------------------------------------------------
def test_sources_are_found_in_entry_point_name_order_and_may_come_as_lists():
    other = EventSource("laundry", "lost", fields={})
    third = EventSource("laundry", "damaged", fields={})
    found = event_sources("g", installed(EntryPoint("z", SOURCE),
                                         EntryPoint("a", lambda: [other, third])))
    assert found == [other, third, SOURCE]


@pytest.mark.parametrize("target, message", [
    (ImportError("no module"), "failed to load"),
    ("canteen.yaml", "must resolve to an EventSource"),
    ([], "must resolve to an EventSource"),
])
def test_a_broken_plugin_stops_the_consumer_naming_the_entry_point(target, message):
    with pytest.raises(ValueError, match=f"'bad'.*{message}"):
        event_sources("g", installed(EntryPoint("bad", target)))


def test_two_plugins_declaring_one_event_for_one_consumer_are_refused():
    twin = EventSource("canteen", "meal_refused", fields={})
    with pytest.raises(ValueError, match="already declared"):
        event_sources("g", installed(EntryPoint("a", SOURCE), EntryPoint("b", twin)))


def test_a_service_plugin_lists_the_events_declared_to_it():
    plugin = ServicePlugin(name="x", service="x:X", port=1, consumes=("a.b",),
                           source_groups=("zhidu.penalty_sources",))
    assert plugin.consumed()[0] == "a.b"
    assert "repairs.violation_recorded" in plugin.consumed()   # the installed plugin


# -- attaching handlers -------------------------------------------------------------------
def test_attached_handlers_are_nameko_event_handlers_named_by_the_event():
    class Consumer:
        pass

    seen = []
    attached = attach_event_sources(
        Consumer, "g", lambda source: lambda service, env: seen.append(source.event),
        sources=[SOURCE])
    assert attached == (SOURCE,)
    handler = Consumer.on_canteen_meal_refused
    [entrypoint] = handler.nameko_entrypoints
    assert isinstance(entrypoint, ReliableEventHandler)
    assert (entrypoint.source_service, entrypoint.event_type) == ("canteen", "meal_refused")
    assert handler.__name__ == "on_canteen_meal_refused"


def test_a_declaration_the_consumer_refuses_or_a_name_taken_stops_the_import():
    class Consumer:
        def on_canteen_meal_refused(self, envelope):
            return None

    with pytest.raises(ValueError, match="already exists"):
        attach_event_sources(Consumer, "g", lambda s: lambda *a: None, sources=[SOURCE])

    def refuse(source):
        raise ValueError(f"{source.event}: no employee")

    with pytest.raises(ValueError, match="no employee"):
        attach_event_sources(type("Other", (), {}), "g", refuse, sources=[SOURCE])


# -- against the real broker and database -----------------------------------------------
class CanteenStore(Store):
    def booked(self, key):
        doc = self._db.booked.find_one({"_id": key})
        return doc["times"] if doc else 0


class CanteenConsumer(ZhiduService):
    name = "canteen_consumer"
    store = Mongo(CanteenStore)
    # No operations of its own: the library's permissions cover it.
    permissions_file = Path(__file__).with_name("canteen_permissions.yaml")


def _book(source):
    def handle(self, envelope):
        data = source.read(envelope["data"])
        if "employee_id" not in data:
            raise DomainValidation.one("employee_id", "missing")
        self.store.db.booked.update_one({"_id": source.key_of(envelope["data"])},
                                        {"$inc": {"times": 1}}, upsert=True)
        self.outbox.emit("booked", {"ticket": data["links"]["ticket"]})
    return handle


attach_event_sources(CanteenConsumer, "g", _book, sources=[SOURCE])


@pytest.mark.integration
def test_an_attached_handler_books_once_and_dead_letters_what_it_refuses(
        start_service, zhidu_config, rpc, event_tap):
    from zhidu.config import database_name
    from zhidu.mongo import connect

    container = start_service(CanteenConsumer)
    store = CanteenStore(connect(container.config["MONGO_URI"])[
        database_name(container.config, "canteen_consumer")])
    event = make_envelope("canteen", "meal_refused", {"cook": "e-1", "ticket": {"id": "T-1"}})
    marker = make_envelope("canteen", "meal_refused", {"cook": "e-1", "ticket": {"id": "T-2"}})
    bad = make_envelope("canteen", "meal_refused", {"ticket": {"id": "T-3"}})
    with event_tap("canteen_consumer") as tap:
        for envelope in (event, event, bad, marker):
            publish_event(zhidu_config["AMQP_URI"], envelope)
        tap.wait("canteen_consumer.booked", 2)
        wait_for(lambda: store.booked("canteen.meal_refused:T-2") == 1, message="marker")
        # Handlers run concurrently: the two bookings may arrive in either order.
        assert sorted(e["causation_id"] for e in tap.of_type("canteen_consumer.booked")) == \
            sorted([event["id"], marker["id"]])
    assert store.booked("canteen.meal_refused:T-1") == 1
    [letter] = wait_for(lambda: rpc.canteen_consumer.dead_letters({}), message="dead letter")
    assert letter["event"]["id"] == bad["id"] and letter["attempts"] == 1
    assert "employee_id" in letter["error"]
