"""Retries, dead letters, replay and de-duplication against the real broker."""
from pathlib import Path

import pytest
from nameko.exceptions import RemoteError
from zhidu.envelope import make_envelope
from zhidu.events import on_event
from zhidu.mongo import Mongo, Store
from zhidu.operations import operation
from zhidu.schemas import Payload, fields
from zhidu.service import ZhiduService
from zhidu.testing import publish_event, wait_for

pytestmark = pytest.mark.integration


class FlakyStore(Store):
    def failures_wanted(self) -> int:
        doc = self.db.control.find_one({"_id": "fail"})
        return doc["times"] if doc else 0

    def want_failures(self, times: int) -> None:
        self.db.control.replace_one({"_id": "fail"}, {"times": times}, upsert=True)

    def take_failure(self) -> bool:
        # The fault is in the world, not in the handler's unit of work: taking
        # one must stick although the unit that took it is rolled back.
        return self._db.control.find_one_and_update(
            {"_id": "fail", "times": {"$gt": 0}}, {"$inc": {"times": -1}}) is not None


class Things(Payload):
    what = fields.String(required=True)
    request_id = fields.String(load_default=None)


class FlakyService(ZhiduService):
    name = "flaky"
    store = Mongo(FlakyStore)

    permissions_file = Path(__file__).with_name("flaky_permissions.yaml")

    @on_event("upstream", "thing_happened")
    def on_thing(self, envelope):
        self.store.db.booked.update_one({"_id": envelope["id"]},
                                        {"$inc": {"times": 1}}, upsert=True)
        self.outbox.emit("thing_booked", {"of": envelope["id"]})
        # Crashing after the writes: the unit of work takes them back.
        if self.store.take_failure():
            raise RuntimeError("downstream trouble")

    @operation(Things, idempotent=True)
    def book(self, payload):
        count = self.store.db.manual.count_documents({})
        self.store.db.manual.insert_one({"n": count + 1, "what": payload["what"]})
        return {"n": count + 1}


@pytest.fixture
def flaky(start_service):
    container = start_service(FlakyService)
    from zhidu.config import database_name
    from zhidu.mongo import connect

    db = connect(container.config["MONGO_URI"])[database_name(container.config, "flaky")]
    return container, FlakyStore(db)


def booked(store, event_id):
    doc = store.db.booked.find_one({"_id": event_id})
    return doc["times"] if doc else 0


def test_a_handler_failing_twice_is_retried_and_books_once(flaky, zhidu_config, event_tap):
    _, store = flaky
    store.want_failures(2)
    event = make_envelope("upstream", "thing_happened", {"n": 1})
    with event_tap("flaky") as tap:
        publish_event(zhidu_config["AMQP_URI"], event)
        [out] = tap.wait("flaky.thing_booked")
    assert out["causation_id"] == event["id"]
    assert out["correlation_id"] == event["correlation_id"]
    assert booked(store, event["id"]) == 1
    assert store.failures_wanted() == 0


def test_a_handler_that_keeps_failing_is_dead_lettered_then_replayed(flaky, zhidu_config, rpc):
    _, store = flaky
    store.want_failures(100)
    event = make_envelope("upstream", "thing_happened", {"n": 2})
    publish_event(zhidu_config["AMQP_URI"], event)
    # One try plus two retries (ZHIDU_RETRY_DELAYS=0.2,0.4), then the DLQ.
    letters = wait_for(lambda: rpc.flaky.dead_letters({}), timeout=15,
                       message="a dead letter")
    assert [item["event"]["id"] for item in letters] == [event["id"]]
    assert letters[0]["attempts"] == 3
    assert "downstream trouble" in letters[0]["error"]
    assert booked(store, event["id"]) == 0
    # Listing does not consume.
    assert len(rpc.flaky.dead_letters({})) == 1

    store.want_failures(0)
    assert rpc.flaky.replay_dead_letters({})["replayed"] == [letters[0]["id"]]
    wait_for(lambda: booked(store, event["id"]) == 1, timeout=10, message="booked")
    assert rpc.flaky.dead_letters({}) == []


def test_a_redelivered_event_is_booked_once(flaky, zhidu_config, event_tap):
    _, store = flaky
    event = make_envelope("upstream", "thing_happened", {"n": 3})
    marker = make_envelope("upstream", "thing_happened", {"n": 4})
    with event_tap("flaky") as tap:
        for envelope in (event, event, event, marker):
            publish_event(zhidu_config["AMQP_URI"], envelope)
        tap.wait("flaky.thing_booked", 2)
        wait_for(lambda: booked(store, marker["id"]) == 1, message="marker booked")
        assert booked(store, event["id"]) == 1
        assert len(tap.of_type("flaky.thing_booked")) == 2


def test_a_malformed_event_goes_straight_to_the_dead_letters(flaky, zhidu_config, rpc):
    bad = make_envelope("upstream", "thing_happened", {})
    del bad["correlation_id"]
    publish_event(zhidu_config["AMQP_URI"], bad)
    [letter] = wait_for(lambda: rpc.flaky.dead_letters({}), message="dead letter")
    assert letter["attempts"] == 1 and "correlation_id" in letter["error"]


def test_request_ids_are_scoped_to_the_caller_and_bound_to_the_payload(flaky, rpc, people):
    """A repeat returns the first result; another caller's key is their own;
    the same key with another payload is refused naming request_id."""
    first = rpc.flaky.book({"what": "a", "request_id": "r-1"})
    assert rpc.flaky.book({"what": "a", "request_id": "r-1"}) == first
    people.add("E1")
    other = rpc.as_person("E1").flaky.book({"what": "a", "request_id": "r-1"})
    assert other != first                     # never another caller's record
    with pytest.raises(RemoteError) as err:
        rpc.flaky.book({"what": "b", "request_id": "r-1"})
    assert err.value.exc_type == "Conflict" and "request_id" in err.value.value
    _, store = flaky
    assert store.db.manual.count_documents({}) == 2


def test_a_connection_lost_while_acknowledging_does_not_end_the_worker():
    """nameko's ack checks the channel first but lets a socket error between the
    check and the write escape, which ended the worker's thread and killed the
    whole container during a broker restart. The broker redelivers instead."""
    from zhidu.events import ReliableEventHandler

    handler = ReliableEventHandler.__new__(ReliableEventHandler)
    settled = []

    def reset(message):
        settled.append(message)
        raise ConnectionResetError(104, "Connection reset by peer")

    handler._settle(reset, "message")
    assert settled == ["message"]

    def refused(message):
        raise ValueError("not a connection problem")

    with pytest.raises(ValueError):
        handler._settle(refused, "message")
