"""The dormitory's application functions over a fake unit of work: no broker, no database.

The fake store keeps the collections in dictionaries and records which of its
methods each call used, so a test can also hold what a call costs.
"""
from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from dormitory import app, domain
from dormitory.catalogue import load_catalogue
from zhidu.domain import DomainConflict, DomainNotFound, DomainValidation
from zhidu.fakes import FakeOutbox, FakeUnits

RULES = load_catalogue()
T = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # Friday 10:00 in Shanghai
ADMIN = {"id": "DA1", "role": "dorm_admin"}
INSPECTOR = {"id": "I1", "role": "inspector"}


class Duplicate(Exception):
    """What the unique indexes raise: the unit would be run again."""


class FakeStore(FakeUnits):
    """The dormitory store's methods the application functions use, in memory."""

    def __init__(self):
        super().__init__()
        self.rooms_: dict[str, dict] = {}
        self.employees_: dict[str, dict] = {}
        self.beds: dict[str, dict] = {}
        self.stays: dict[str, dict] = {}
        self.incidents: dict[str, dict] = {}
        self.revocations: dict[str, dict] = {}
        self.calls: list[str] = []

    def _call(self, name):
        self.calls.append(name)

    # -- rooms
    def room(self, building, room_no):
        self._call("room")
        return next((copy.deepcopy(r) for r in self.rooms_.values()
                     if (r["building"], r["room_no"]) == (building, room_no)), None)

    def add_room(self, room):
        self._call("add_room")
        self.rooms_[room["_id"]] = copy.deepcopy(room)

    def set_leader(self, room_id, employee_id, at, actor):
        self._call("set_leader")
        self.rooms_[room_id].update(leader_id=employee_id, leader_since=at)

    def drop_leader(self, room_id, employee_id):
        self._call("drop_leader")
        if self.rooms_[room_id].get("leader_id") == employee_id:
            self.rooms_[room_id].update(leader_id=None, leader_since=None)

    # -- employees
    def employee(self, employee_id):
        self._call("employee")
        return copy.deepcopy(self.employees_.get(employee_id))

    def employees(self, employee_ids):
        self._call("employees")
        return {e: copy.deepcopy(self.employees_[e]) for e in employee_ids
                if e in self.employees_}

    def known_employees(self, employee_ids):
        self._call("known_employees")
        return {e for e in employee_ids if e in self.employees_}

    def set_revoked(self, employee_id, revocation):
        self._call("set_revoked")
        self.employees_[employee_id]["revocation"] = revocation

    def mark_departed(self, employee_id, at, due):
        self._call("mark_departed")
        current = self.employees_.setdefault(employee_id, {"_id": employee_id})
        if current.get("move_out_incident_id") is None:
            current.update(departed_at=at, move_out_due=due, move_out_pending=True)

    def due_move_outs(self, now, limit=200):
        self._call("due_move_outs")
        return [copy.deepcopy(e) for e in self.employees_.values()
                if e.get("move_out_pending") and e["move_out_due"] <= now][:limit]

    def settle_move_out(self, employee_id, incident_id, now):
        self._call("settle_move_out")
        self.employees_[employee_id].update(move_out_pending=False,
                                            move_out_incident_id=incident_id)

    # -- beds
    def bed_of(self, employee_id):
        self._call("bed_of")
        return next((copy.deepcopy(b) for b in self.beds.values()
                     if b["employee_id"] == employee_id), None)

    def beds_in(self, room_ids):
        self._call("beds_in")
        ids = set(room_ids)
        return sorted((copy.deepcopy(b) for b in self.beds.values() if b["room_id"] in ids),
                      key=lambda b: (b["room_id"], b["bed_no"]))

    def take_bed(self, bed):
        self._call("take_bed")
        for held in self.beds.values():
            if held["employee_id"] == bed["employee_id"] or \
                    (held["room_id"], held["bed_no"]) == (bed["room_id"], bed["bed_no"]):
                raise Duplicate(bed["_id"])
        self.beds[bed["_id"]] = copy.deepcopy(bed)

    def release(self, bed, at, reason, actor):
        self._call("release")
        stay = dict(bed, until=at, release_reason=reason, released_by=actor)
        if stay["_id"] in self.stays:
            raise Duplicate(stay["_id"])
        self.stays[stay["_id"]] = stay
        del self.beds[bed["_id"]]
        return copy.deepcopy(stay)

    def stay(self, assignment_id):
        self._call("stay")
        return copy.deepcopy(self.stays.get(assignment_id))

    def stays_in_room(self, room_id, moment):
        self._call("stays_in_room")
        docs = [b for b in self.beds.values() if b["room_id"] == room_id] + \
            [s for s in self.stays.values() if s["room_id"] == room_id and s["until"] > moment]
        return [_stay(d) for d in docs]

    def stays_of(self, employee_id):
        self._call("stays_of")
        docs = [d for d in (*self.stays.values(), *self.beds.values())
                if d["employee_id"] == employee_id]
        return [_stay(d) for d in sorted(docs, key=lambda d: d["since"])]

    # -- incidents and revocations
    def record_incident(self, incident):
        self._call("record_incident")
        if incident["_id"] in self.incidents:
            return copy.deepcopy(self.incidents[incident["_id"]])
        self.incidents[incident["_id"]] = copy.deepcopy(incident)
        return None

    def add_incident(self, incident):
        self._call("add_incident")
        if incident["_id"] in self.incidents:
            raise Duplicate(incident["_id"])
        self.incidents[incident["_id"]] = copy.deepcopy(incident)

    def revocation(self, revocation_id):
        self._call("revocation")
        return copy.deepcopy(self.revocations.get(revocation_id))

    def record_revocation(self, revocation):
        self._call("record_revocation")
        if revocation["_id"] in self.revocations:
            raise Duplicate(revocation["_id"])
        self.revocations[revocation["_id"]] = copy.deepcopy(revocation)

    def mark_reinstated(self, revocation_id, at, note, actor):
        self._call("mark_reinstated")
        self.revocations[revocation_id].update(reinstated_at=at, reinstatement_note=note)


def _stay(doc):
    return domain.Stay(employee_id=doc["employee_id"], building=doc["building"],
                       room_no=doc["room_no"], bed_no=doc["bed_no"], since=doc["since"],
                       until=doc.get("until"))


@pytest.fixture
def store():
    store = FakeStore()
    for employee_id, gender in (("E1", "M"), ("E2", "M"), ("E3", "M"), ("F1", "F")):
        store.employees_[employee_id] = {"_id": employee_id, "gender": gender,
                                         "name": f"员工{employee_id}"}
    app.add_room(store, {"building": "A", "room_no": "101", "capacity": 2, "gender": "M",
                         "at": T, "actor": ADMIN})
    store.calls.clear()
    return store


def assign(store, outbox, employee_id, at=T, **extra):
    return app.assign_bed(store, outbox, {"employee_id": employee_id, "building": "A",
                                          "room_no": "101", "at": at, "bed_no": None,
                                          "actor": ADMIN, **extra})


def inspect(store, outbox, findings, at=T + timedelta(hours=11), inspector="I1"):
    return app.record_inspection(store, outbox, RULES, {
        "building": "A", "room_no": "101", "inspector_id": inspector, "at": at,
        "findings": findings, "actor": INSPECTOR})


def finding(code, *employee_ids, note=None):
    return {"code": code, "employee_ids": list(employee_ids) or None, "note": note}


def revoke(store, outbox, employee_id, reason="deliberate_damage", at=T + timedelta(days=1)):
    return app.revoke_accommodation(store, outbox, RULES, {
        "employee_id": employee_id, "reason": reason, "at": at, "note": "broke the door",
        "damage_cost_yuan": 300, "actor": ADMIN})


# -- assign --------------------------------------------------------------------------

def test_an_assignment_takes_the_lowest_free_bed_and_is_announced_once(store):
    outbox = FakeOutbox("dormitory")
    first = assign(store, outbox, "E1")
    assert (first["building"], first["room_no"], first["bed_no"]) == ("A", "101", 1)
    assert assign(store, outbox, "E2")["bed_no"] == 2
    # The same call again gets the same bed back and announces nothing more:
    # its event was committed with the first.
    assert assign(store, outbox, "E1") == first
    assert [e["employee_id"] for e in outbox.of_type("bed_assigned")] == ["E1", "E2"]
    assert outbox.envelopes[0]["id"] == FakeOutbox("dormitory").emit(
        "bed_assigned", {}, key=first["assignment_id"])["id"]


def test_an_assignment_is_refused_before_anything_is_written(store):
    outbox = FakeOutbox("dormitory")
    assign(store, outbox, "E1")
    assign(store, outbox, "E2")
    written = (dict(store.beds), len(outbox.envelopes))
    with pytest.raises(DomainConflict, match="full"):
        assign(store, outbox, "E3")
    with pytest.raises(DomainConflict, match="for M residents"):
        assign(store, outbox, "F1")
    with pytest.raises(DomainConflict, match="release it first"):
        assign(store, outbox, "E1", at=T + timedelta(days=1))
    with pytest.raises(DomainNotFound):
        assign(store, outbox, "nobody")
    with pytest.raises(DomainNotFound):
        app.assign_bed(store, outbox, {"employee_id": "E3", "building": "Z", "room_no": "9",
                                       "at": T, "bed_no": None, "actor": ADMIN})
    assert (store.beds, len(outbox.envelopes)) == written


def test_a_released_assignment_is_not_made_again_by_a_late_repeat(store):
    outbox = FakeOutbox("dormitory")
    assign(store, outbox, "E1")
    released = app.release_bed(store, outbox, {"employee_id": "E1", "at": T + timedelta(days=1),
                                               "reason": "moved", "actor": ADMIN})
    assert outbox.of_type("bed_released") == [dict(
        released, at="2026-11-21T02:00:00+00:00", since="2026-11-20T02:00:00+00:00")]
    with pytest.raises(DomainConflict, match="already ended"):
        assign(store, outbox, "E1")
    with pytest.raises(DomainConflict, match="has no bed"):
        app.release_bed(store, outbox, {"employee_id": "E1", "at": T + timedelta(days=1),
                                        "reason": "moved", "actor": ADMIN})
    assert len(outbox.of_type("bed_released")) == 1


# -- inspect -------------------------------------------------------------------------

def test_an_inspection_with_two_findings_is_one_document_and_two_events(store):
    outbox = FakeOutbox("dormitory")
    assign(store, outbox, "E1")
    assign(store, outbox, "E2")
    store.calls.clear()
    result = inspect(store, outbox, [finding("D16", "E1", note="烟头"), finding("D13", "E2")])
    # Findings that name their people need no bed history: the room, the
    # named people, and one write of the inspection with its violations.
    assert store.calls == ["room", "known_employees", "record_incident"]
    [incident] = store.incidents.values()
    assert incident["_id"] == result["inspection_id"]
    assert [(v["employee_id"], v["code"], v["points"]) for v in incident["violations"]] == [
        ("E1", "D16", 3), ("E2", "D13", 3)]
    events = outbox.of_type("violation_recorded")
    assert [(e["employee_id"], e["code"], e["note"]) for e in events] == [
        ("E1", "D16", "烟头"), ("E2", "D13", None)]
    assert {e["violation_id"] for e in events} == {
        v["violation_id"] for v in result["violations"]}
    assert all(e["incident_id"] == result["inspection_id"] and e["domain"] == "dormitory"
               for e in events)


def test_the_same_inspection_again_books_nothing_and_other_findings_conflict(store):
    outbox = FakeOutbox("dormitory")
    assign(store, outbox, "E1")
    findings = [finding("D16", "E1")]
    result = inspect(store, outbox, findings)
    before = len(outbox.envelopes)
    assert inspect(store, outbox, findings) == result
    assert len(outbox.envelopes) == before and len(store.incidents) == 1
    with pytest.raises(DomainConflict, match="other findings"):
        inspect(store, outbox, [finding("D05")])
    # Another inspector in the same room at the same moment is another inspection.
    assert inspect(store, outbox, findings, inspector="I2")["inspection_id"] != \
        result["inspection_id"]


def test_an_unnamed_finding_falls_on_whoever_held_a_bed_at_the_inspection_time(store):
    outbox = FakeOutbox("dormitory")
    assign(store, outbox, "E1")
    assign(store, outbox, "E2")
    app.release_bed(store, outbox, {"employee_id": "E2", "at": T + timedelta(days=5),
                                    "reason": "left", "actor": ADMIN})
    assign(store, outbox, "E3", at=T + timedelta(days=6))
    result = inspect(store, outbox, [finding("D09")], at=T + timedelta(days=2))
    assert sorted(v["employee_id"] for v in result["violations"]) == ["E1", "E2"]
    assert "stays_in_room" in store.calls


def test_a_refused_inspection_writes_nothing(store):
    outbox = FakeOutbox("dormitory")
    with pytest.raises(DomainNotFound, match="nobody"):
        inspect(store, outbox, [finding("D16", "E1"), finding("D13", "nobody")])
    with pytest.raises(DomainValidation) as err:
        inspect(store, outbox, [finding("D16", "E1"), finding("D99", "E1")])
    assert set(err.value.errors["findings"]) == {1}
    assert store.incidents == {} and outbox.envelopes == []


# -- revoke --------------------------------------------------------------------------

def test_a_revocation_takes_the_bed_and_bars_a_new_one(store):
    outbox = FakeOutbox("dormitory")
    assign(store, outbox, "E1")
    app.set_room_leader(store, {"building": "A", "room_no": "101", "employee_id": "E1",
                                "at": T, "actor": ADMIN})
    revoked = revoke(store, outbox, "E1")
    assert revoked == {"revocation_id": revoked["revocation_id"], "employee_id": "E1",
                       "reason": "deliberate_damage", "at": "2026-11-21T02:00:00+00:00",
                       "note": "broke the door", "damage_cost_yuan": 300, "building": "A",
                       "room_no": "101", "bed_no": 1}
    assert outbox.of_type("accommodation_revoked") == [revoked]
    [released] = outbox.of_type("bed_released")
    assert released["reason"] == "revoked: deliberate_damage"
    assert store.beds == {} and store.rooms_[next(iter(store.rooms_))]["leader_id"] is None
    with pytest.raises(DomainConflict, match="lost the right"):
        assign(store, outbox, "E1", at=T + timedelta(days=2))
    # The same revocation again is a second one, refused; nothing is announced again.
    with pytest.raises(DomainConflict, match="already lost"):
        revoke(store, outbox, "E1")
    assert len(outbox.of_type("accommodation_revoked")) == 1


def test_a_refused_revocation_writes_nothing_and_one_without_a_bed_only_bars(store):
    outbox = FakeOutbox("dormitory")
    assign(store, outbox, "E1")
    with pytest.raises(DomainValidation) as err:
        revoke(store, outbox, "E1", reason="snoring")
    assert set(err.value.errors) == {"reason"}
    with pytest.raises(DomainValidation) as err:
        revoke(store, outbox, "E1", at=T - timedelta(days=1))
    assert set(err.value.errors) == {"at"}
    with pytest.raises(DomainNotFound):
        revoke(store, outbox, "nobody")
    assert store.revocations == {} and len(store.beds) == 1
    barred = revoke(store, outbox, "E2", reason="theft")
    assert barred["bed_no"] is None and outbox.of_type("bed_released") == []


def test_a_revocation_reinstated_cannot_be_made_again_under_the_same_id(store):
    outbox = FakeOutbox("dormitory")
    revoke(store, outbox, "E2", reason="theft")
    app.reinstate_accommodation(store, {"employee_id": "E2", "at": T + timedelta(days=3),
                                        "note": None, "actor": ADMIN})
    # Its event is out under that id; a second would be dropped downstream.
    with pytest.raises(DomainConflict, match="date the new revocation differently"):
        revoke(store, outbox, "E2", reason="theft")
    assert revoke(store, outbox, "E2", reason="theft", at=T + timedelta(days=4))


# -- the move-out sweep --------------------------------------------------------------

def test_the_sweep_books_d01_in_one_unit_per_departed_resident(store):
    outbox = FakeOutbox("dormitory")
    assign(store, outbox, "E1")
    assign(store, outbox, "E2")
    app.depart(store, RULES, "E1", T + timedelta(days=1))
    app.depart(store, RULES, "E2", T + timedelta(days=1))
    app.release_bed(store, outbox, {"employee_id": "E2", "at": T + timedelta(days=2),
                                    "reason": "left", "actor": ADMIN})
    opened = store.opened
    swept = app.sweep(store, outbox, RULES, T + timedelta(days=4))
    assert store.opened - opened == 2 and swept["checked"] == 2
    [d01] = swept["violations"]
    assert (d01["employee_id"], d01["code"], d01["at"]) == ("E1", "D01", T + timedelta(days=4))
    assert [e["code"] for e in outbox.of_type("violation_recorded")] == ["D01"]
    assert outbox.persisted == len(outbox.envelopes)  # stored in the resident's unit
    again = app.sweep(store, outbox, RULES, T + timedelta(days=30))
    assert again == {"now": T + timedelta(days=30), "checked": 0, "violations": []}
    # A later departure event does not re-arm a deadline already booked.
    app.depart(store, RULES, "E1", T + timedelta(days=10))
    assert app.sweep(store, outbox, RULES, T + timedelta(days=30))["violations"] == []
