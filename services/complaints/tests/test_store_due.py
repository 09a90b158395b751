"""The due index: open cases only, read in one round trip, whatever is stored."""
from __future__ import annotations

import uuid

import pytest
from complaints import sweeping
from complaints.handling import Handling
from complaints.store import ComplaintsStore
from pymongo import ASCENDING, IndexModel
from zhidu.fakes import FakeOutbox
from zhidu.mongo import connect
from zhidu.testing import CommandNames

pytestmark = pytest.mark.integration

OK = {"valid": True, "reason": "成立", "reply": "已受理"}


@pytest.fixture
def finds():
    return CommandNames(only=("find", "getMore"))


@pytest.fixture
def store(mongo_uri, finds):
    client = connect(mongo_uri, event_listeners=[finds])
    name = f"t{uuid.uuid4().hex[:10]}_zhidu_complaints"
    store = ComplaintsStore(client[name])
    store.ensure_indexes()
    yield store
    client.drop_database(name)
    client.close()


@pytest.fixture
def closed(filed, walk):
    """A case concluded with every clock met: it has nothing falling due."""
    def make(number):
        case = walk(filed("2026-10-12 10:00", number=number),
                    ("decide_validity", "2026-10-12 10:10", OK),
                    ("assign", "2026-10-12 10:20", {"department": "service",
                                                    "owner_id": "e1"}),
                    ("agree_plan", "2026-10-12 11:00", {"plan": "p"}),
                    ("submit_report", "2026-10-12 13:00", {"root_cause": "r"}),
                    ("resolve", "2026-10-12 14:00", {"resolution": "done"}),
                    ("follow_up", "2026-10-13 10:00", {"satisfied": True}))
        assert case["next_check_at"] is None
        return case
    return make


def test_concluded_cases_stay_out_of_the_due_index(store, filed, closed, t):
    store.insert_many([closed(f"2610-{i:04d}") for i in range(1, 21)])
    store.insert_many([filed("2026-11-13 10:00", number=f"2611-{i:04d}") for i in range(1, 4)])
    assert store.db.cases.find({}).hint("due").explain()["executionStats"][
        "totalKeysExamined"] == 3
    stats = store.explain_due(t("2026-11-20 09:00"))["executionStats"]
    assert (stats["totalKeysExamined"], stats["nReturned"]) == (3, 3)


def test_a_sweep_reads_every_due_case_in_one_round_trip(store, filed, rules, t, finds):
    store.insert_many([filed("2026-11-13 10:00", number=f"2611-{i:04d}")
                       for i in range(1, sweeping.DEFAULT_BATCH)])
    finds.names.clear()
    report = sweeping.sweep(Handling(store, rules, FakeOutbox()), t("2026-11-20 09:00"))
    assert report.updated == sweeping.DEFAULT_BATCH - 1
    assert finds.names == ["find"]


def test_the_index_over_every_case_is_replaced_at_start(store, filed, closed):
    store.insert_many([closed("2610-0001"), filed("2026-11-13 10:00", number="2611-0001")])
    store.db.cases.drop_index("due")
    store.db.cases.create_indexes([IndexModel([("next_check_at", ASCENDING)], name="due")])
    store.ensure_indexes()
    assert store.db.cases.index_information()["due"]["partialFilterExpression"]
    assert store.db.cases.find({}).hint("due").explain()["executionStats"][
        "totalKeysExamined"] == 1
