"""The unit of work on a real MongoDB-wire server: all of a unit's writes, or none."""
import uuid

import eventlet
import pytest
from zhidu.mongo import Store, connect
from zhidu.uow import in_unit

pytestmark = pytest.mark.integration


@pytest.fixture
def store(mongo_uri):
    client = connect(mongo_uri)
    db = client[f"uow_{uuid.uuid4().hex[:8]}"]
    db.create_collection("things")
    db.create_collection("outbox")
    yield Store(db)
    client.drop_database(db.name)
    client.close()


def test_a_unit_that_fails_leaves_nothing(store):
    def body():
        store.db.things.insert_one({"_id": "a"})
        store.db.outbox.insert_one({"_id": "event-a"})
        raise RuntimeError("the handler crashed after both writes")

    with pytest.raises(RuntimeError):
        store.unit(body)
    assert store.db.things.count_documents({}) == 0
    assert store.db.outbox.count_documents({}) == 0
    assert not in_unit()


def test_racing_units_on_one_document_lose_no_update(store):
    store.db.things.insert_one({"_id": "counter", "n": 0})

    def bump():
        def body():
            doc = store.db.things.find_one({"_id": "counter"})
            eventlet.sleep(0)  # let the others read the same value
            store.db.things.update_one({"_id": "counter"}, {"$set": {"n": doc["n"] + 1}})
        store.unit(body)

    pool = eventlet.GreenPool(8)
    for _ in range(8):
        pool.spawn(bump)
    pool.waitall()
    assert store.db.things.find_one({"_id": "counter"})["n"] == 8


def test_a_duplicate_key_reruns_the_unit_which_then_sees_the_winner(store):
    store.db.things.insert_one({"_id": "first"})
    runs = []

    def body():
        runs.append(1)
        if store.db.things.find_one({"_id": "first"}) and len(runs) == 1:
            store.db.things.insert_one({"_id": "first"})   # lost the race
        return "saw the winner"

    assert store.unit(body, on_retry=lambda: None) == "saw the winner"
    assert len(runs) == 2


def test_nested_units_join_the_outer_one(store):
    def inner():
        store.db.things.insert_one({"_id": "inner"})

    def outer():
        store.unit(inner)
        raise RuntimeError("the outer unit fails after the inner one wrote")

    with pytest.raises(RuntimeError):
        store.unit(outer)
    assert store.db.things.count_documents({}) == 0


def test_after_commit_callbacks_run_once_and_never_for_a_rolled_back_unit(store):
    from zhidu.uow import on_commit

    ran = []
    runs = []

    def body():
        runs.append(1)
        on_commit(lambda: ran.append(len(runs)))
        if len(runs) == 1:   # the first run loses a race and is re-run
            store.db.things.insert_one({"_id": "x"})
            store.db.things.insert_one({"_id": "x"})

    store.unit(body)
    assert ran == [2]

    def failing():
        on_commit(lambda: ran.append("never"))
        raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        store.unit(failing)
    assert ran == [2]
