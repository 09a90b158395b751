"""The dormitory store inside real units of work, on a MongoDB-wire database (no broker).

Every command the store sends is recorded, so what an inspection costs the
database — the first link of the inspection → penalty → inbox chain — is held
here, command by command.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from dormitory import app
from dormitory.catalogue import load_catalogue
from dormitory.store import DormitoryStore
from zhidu.events import PendingEvents
from zhidu.mongo import connect
from zhidu.testing import CommandNames

pytestmark = pytest.mark.integration

RULES = load_catalogue()
T = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
ADMIN = {"id": "DA1", "role": "dorm_admin"}


@pytest.fixture
def dorm(mongo_uri):
    commands = CommandNames()
    client = connect(mongo_uri, event_listeners=[commands])
    store = DormitoryStore(client[f"t{uuid.uuid4().hex[:10]}_zhidu_dormitory"])
    store.ensure_indexes()
    for employee_id in ("E1", "E2"):
        store.copy_employee({"employee_id": employee_id, "gender": "M", "name": employee_id},
                            T)
    app.add_room(store, {"building": "A", "room_no": "101", "capacity": 2, "gender": "M",
                         "at": T, "actor": ADMIN})
    outbox = PendingEvents(None, "dormitory", store, None)
    for employee_id in ("E1", "E2"):
        app.assign_bed(store, outbox, {"employee_id": employee_id, "building": "A",
                                       "room_no": "101", "at": T, "bed_no": None,
                                       "actor": ADMIN})
    yield store, commands
    client.drop_database(store.db.name)
    client.close()


def call(store, fn, *args):
    """Run ``fn`` as an operation does: one unit, its events stored before commit."""
    outbox = PendingEvents(None, "dormitory", store, None)

    def body():
        result = fn(store, outbox, *args)
        outbox.persist()
        return result
    return store.unit(body), outbox


def inspection(findings, at=T + timedelta(hours=11)):
    return {"building": "A", "room_no": "101", "inspector_id": "I1", "at": at,
            "findings": findings, "actor": {"id": "I1", "role": "inspector"}}


def test_an_inspection_with_two_findings_costs_two_writes_two_reads_and_the_commit(dorm):
    store, commands = dorm
    payload = inspection([{"code": "D16", "employee_ids": ["E1"], "note": None},
                          {"code": "D13", "employee_ids": ["E2"], "note": None}])
    commands.names.clear()
    result, outbox = call(store, app.record_inspection, RULES, payload)
    assert len(result["violations"]) == 2 and len(outbox.envelopes) == 2
    # Reads: the room, the two named people in one query. Writes: the
    # inspection carrying both violations, both outbox entries in one batch.
    assert commands.names == ["find", "find", "findAndModify", "update", "commitTransaction"]
    [incident] = store.db.incidents.find({})
    assert len(incident["violations"]) == 2
    assert store.db.outbox.count_documents({}) == 2

    # The same inspection again: the same reads, the upsert hands back the
    # stored one, and nothing goes to the outbox.
    commands.names.clear()
    again, outbox = call(store, app.record_inspection, RULES, payload)
    assert again == result and outbox.envelopes == []
    assert commands.names == ["find", "find", "findAndModify", "commitTransaction"]
    assert store.db.incidents.count_documents({}) == 1


def test_an_unnamed_finding_adds_the_two_reads_of_the_rooms_bed_history(dorm):
    store, commands = dorm
    commands.names.clear()
    result, _ = call(store, app.record_inspection, RULES,
                     inspection([{"code": "D09", "employee_ids": None, "note": None},
                                 {"code": "D15", "employee_ids": None, "note": None}]))
    assert len(result["violations"]) == 4  # two findings, two occupants
    assert commands.names == ["find", "find", "find", "findAndModify", "update",
                              "commitTransaction"]


def test_an_older_copy_or_a_second_departure_changes_nothing_inside_a_unit(dorm):
    store, _ = dorm
    newer = T + timedelta(days=1)
    assert store.unit(lambda: store.copy_employee(
        {"employee_id": "E1", "gender": "M", "name": "新"}, newer))
    # An event that arrives late must neither win nor break the unit.
    assert not store.unit(lambda: store.copy_employee(
        {"employee_id": "E1", "gender": "M", "name": "旧"}, T))
    assert store.employee("E1")["name"] == "新"
    store.unit(lambda: store.mark_departed("E1", T, T + timedelta(days=3)))
    store.unit(lambda: store.settle_move_out("E1", "d01-incident", T + timedelta(days=3)))
    assert not store.unit(lambda: store.mark_departed("E1", newer, newer + timedelta(days=3)))
    assert store.employee("E1")["departed_at"] == T
