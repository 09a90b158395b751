"""The dormitory service against a real broker and a MongoDB-wire database."""
import eventlet
import pytest
import requests
from directory.service import DirectoryService
from dormitory.service import DormitoryService
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.services import entrypoint_waiter
from pymongo.errors import DuplicateKeyError
from zhidu.envelope import make_envelope
from zhidu.mongo import Mongo
from zhidu.testing import publish_event, wait_for

pytestmark = pytest.mark.integration

T = "2026-11-20T10:00:00"  # Shanghai time, a Friday
ROOM_M = {"building": "A", "room_no": "101", "capacity": 2, "gender": "M"}
ROOM_F = {"building": "B", "room_no": "201", "capacity": 2, "gender": "F"}
# Who may do what is rules/permissions.yaml (000 §5, rules §8). Calls that name
# no actor are made by the test operator, which holds dorm_admin and hr.
DORM_ADMIN = {"id": "DA1", "role": "dorm_admin"}
INSPECTOR = {"id": "I1", "role": "inspector"}
# The directory's copy of a person is kept by the library's handlers beside the
# dormitory's own: wait for both, so the next call sees the person's role.
COPIES = {"employee_upserted": "remember_person", "employee_departed": "forget_person"}


class Dorm:
    """A running dormitory service and a way to feed it directory events."""

    def __init__(self, container, config, rpc):
        self.container = container
        self.config = config
        self.acting = rpc
        self.rpc = rpc.dormitory

    def as_(self, employee_id, role=None):
        """The dormitory's operations called with ``employee_id``'s own token only."""
        return self.acting.as_person(employee_id, role).dormitory

    def publish(self, event_type, data, envelope=None):
        envelope = envelope or make_envelope("directory", event_type, data)
        with entrypoint_waiter(self.container, f"on_{event_type}", timeout=15), \
                entrypoint_waiter(self.container, COPIES[event_type], timeout=15):
            publish_event(self.config["AMQP_URI"], envelope)  # as the directory
        return envelope

    def hire(self, employee_id, gender="M", name=None, role="staff", **lines):
        self.publish("employee_upserted", {
            "employee_id": employee_id, "name": name or f"员工{employee_id}",
            "gender": gender, "department": "customer_service", "unit": "centre",
            "email": None, "role": role, **lines})

    def depart(self, employee_id, at):
        return self.publish("employee_departed", {"employee_id": employee_id, "at": at})

    def assign(self, employee_id, room=ROOM_M, at=T, **extra):
        return self.rpc.assign_bed({"employee_id": employee_id, "building": room["building"],
                                    "room_no": room["room_no"], "at": at, **extra})


@pytest.fixture
def dorm(start_service, zhidu_config, rpc):
    container = start_service(DormitoryService)
    return Dorm(container, zhidu_config, rpc)


def refused(call, payload, exc_type="ValidationError"):
    with pytest.raises(RemoteError) as err:
        call(payload)
    assert err.value.exc_type == exc_type, err.value
    return err.value.value


def test_capacity_and_gender_are_enforced(dorm, event_tap):
    for employee_id in ("E1", "E2", "E3"):
        dorm.hire(employee_id)
    dorm.hire("F1", "F")
    room = dorm.rpc.add_room(dict(ROOM_M, actor=DORM_ADMIN))
    assert room["free_beds"] == 2 and room["occupants"] == [] and room["room_id"]
    refused(dorm.rpc.add_room, ROOM_M, "Conflict")
    with event_tap("dormitory") as tap:
        first = dorm.assign("E1")
        assert (first["building"], first["room_no"], first["bed_no"]) == ("A", "101", 1)
        assert dorm.assign("E2")["bed_no"] == 2
        assert "full" in refused(dorm.assign, "E3", "Conflict")
        assert "for M residents" in refused(dorm.assign, "F1", "Conflict")
        # A repeat of the same call gets the same bed back; another assignment is refused.
        assert dorm.assign("E1") == first
        assert "release it first" in refused(
            lambda _: dorm.assign("E1", at="2026-11-21T10:00"), None, "Conflict")
        release = {"employee_id": "E2", "at": "2026-11-21T09:00",
                   "reason": "moved to another site", "request_id": "release-E2"}
        released = dorm.rpc.release_bed(release)
        assert released["bed_no"] == 2 and released["at"] == "2026-11-21T01:00:00+00:00"
        assert dorm.assign("E3", at="2026-11-21T10:00", bed_no=2)["bed_no"] == 2
        assert "has no bed" in refused(dorm.rpc.release_bed, {
            "employee_id": "E2", "at": "2026-11-22T09:00", "reason": "x"}, "Conflict")
        # The same release again: its request id gets the first result back;
        # without one it is a release of someone who has no bed.
        assert dorm.rpc.release_bed(release) == released
        assert "has no bed" in refused(dorm.rpc.release_bed, dict(release, request_id=None),
                                       "Conflict")
        # A late repeat of E2's first assignment does not put E2 back in a bed.
        assert "already ended" in refused(dorm.assign, "E2", "Conflict")
        assigned = tap.wait("dormitory.bed_assigned", 3)
        [gone] = tap.wait("dormitory.bed_released")
        eventlet.sleep(1)
        # Each fact is announced once: a repeat's events were committed with
        # the first call, so it announces nothing again.
        assert len(tap.of_type("dormitory.bed_assigned")) == 3
        assert len(tap.of_type("dormitory.bed_released")) == 1
    assert len({e["id"] for e in assigned}) == 3
    assert [e["data"]["employee_id"] for e in assigned] == ["E1", "E2", "E3"]
    assert gone["data"] == {"assignment_id": released["assignment_id"], "employee_id": "E2",
                            "building": "A", "room_no": "101", "bed_no": 2,
                            "at": "2026-11-21T01:00:00+00:00",
                            "since": "2026-11-20T02:00:00+00:00",
                            "reason": "moved to another site"}
    view = dorm.rpc.get_room({"building": "A", "room_no": "101"})
    assert [(o["bed_no"], o["employee_id"], o["name"]) for o in view["occupants"]] == [
        (1, "E1", "员工E1"), (2, "E3", "员工E3")]
    assert dorm.rpc.list_rooms({"free_only": True}) == []
    dorm.rpc.add_room(ROOM_F)
    assert [r["room_no"] for r in dorm.rpc.list_rooms({"gender": "F"})] == ["201"]
    assert dorm.assign("F1", ROOM_F)["bed_no"] == 1


def test_two_people_never_share_a_bed_under_concurrent_calls(dorm, zhidu_config, tokens):
    people = [f"E{i}" for i in range(8)]
    for employee_id in people:
        dorm.hire(employee_id)
    dorm.rpc.add_room(dict(ROOM_M, capacity=3))
    dorm.rpc.add_room(dict(ROOM_M, room_no="102"))
    # Each call is its own client, as two administrators' desks would be.
    admin = {"authorization": f"Bearer {tokens.operator()}"}

    def assign(args):
        employee_id, room_no = args
        with ClusterRpcProxy(zhidu_config, timeout=30, context_data=admin) as proxy:
            try:
                return proxy.dormitory.assign_bed({
                    "employee_id": employee_id, "building": "A", "room_no": room_no,
                    "at": T})
            except RemoteError as exc:
                return exc.exc_type

    pool = eventlet.GreenPool(16)
    outcomes = list(pool.imap(assign, [(e, "101") for e in people]))
    beds = [o["bed_no"] for o in outcomes if isinstance(o, dict)]
    assert sorted(beds) == [1, 2, 3]
    assert outcomes.count("Conflict") == 5
    occupants = dorm.rpc.get_room({"building": "A", "room_no": "101"})["occupants"]
    assert sorted(o["bed_no"] for o in occupants) == [1, 2, 3]

    # One person asked into two rooms at once ends up on one bed.
    dorm.hire("X1")
    racing = list(pool.imap(assign, [("X1", "102")] * 2 + [("X1", "101")] * 2))
    # The same call twice is one assignment; the other room is refused.
    assert racing[0] == racing[1] and (racing[0]["room_no"], racing[0]["bed_no"]) == ("102", 1)
    assert racing[2:] == ["Conflict", "Conflict"]
    rooms = dorm.rpc.list_rooms({})
    assert sum(len(r["occupants"]) for r in rooms) == 4

    # However the calls interleave, the database itself refuses a second occupant.
    store = next(d for d in dorm.container.dependencies if isinstance(d, Mongo)).store
    taken = store.bed_of("X1")
    with pytest.raises(DuplicateKeyError, match="bed_no"):  # the bed is taken
        store.take_bed(dict(taken, _id="other", employee_id="nobody-else"))
    with pytest.raises(DuplicateKeyError, match="employee_id"):  # X1 has a bed
        store.take_bed(dict(taken, _id="other", bed_no=99))
    assert len(dorm.rpc.get_room({"building": "A", "room_no": "101"})["occupants"]) == 3


def test_an_inspection_books_each_violation_and_unnamed_findings_hit_every_occupant(
        dorm, event_tap):
    for employee_id in ("E1", "E2", "E3"):
        dorm.hire(employee_id)
    dorm.rpc.add_room(ROOM_M)
    dorm.assign("E1", at="2026-11-01T10:00")
    dorm.assign("E2", at="2026-11-01T10:00")
    dorm.rpc.release_bed({"employee_id": "E2", "at": "2026-11-15T10:00", "reason": "left"})
    dorm.assign("E3", at="2026-11-16T10:00")
    inspection = {"building": "A", "room_no": "101", "inspector_id": "I1",
                  "at": "2026-11-10T21:00", "actor": {"id": "I1", "role": "inspector"},
                  "findings": [{"code": "D16", "employee_ids": ["E1"], "note": "烟头"},
                               {"code": "D13", "employee_ids": ["E1"]},
                               {"code": "D09"}]}
    with event_tap("dormitory") as tap:
        result = dorm.rpc.record_inspection(inspection)
        events = tap.wait("dormitory.violation_recorded", 4)
    # E3 moved in after the inspection and E2 out after it: E1 and E2 were there.
    assert sorted((v["employee_id"], v["code"], v["points"]) for v in result["violations"]) \
        == [("E1", "D09", 2), ("E1", "D13", 3), ("E1", "D16", 3), ("E2", "D09", 2)]
    smoking = next(e for e in events if e["data"]["code"] == "D16")
    assert smoking["data"] == {
        "violation_id": smoking["data"]["violation_id"],
        "incident_id": result["inspection_id"], "employee_id": "E1", "code": "D16",
        "points": 3, "at": "2026-11-10T13:00:00+00:00", "building": "A", "room_no": "101",
        "domain": "dormitory", "note": "烟头"}
    assert {e["data"]["violation_id"] for e in events} == {
        v["violation_id"] for v in result["violations"]}

    # Recording it again (a retry after a lost reply) books nothing new.
    assert dorm.rpc.record_inspection(inspection) == result
    assert dorm.rpc.record_inspection(dict(inspection, request_id="r-1")) == result
    assert dorm.rpc.record_inspection(dict(inspection, request_id="r-1")) == result
    assert "other findings" in refused(dorm.rpc.record_inspection,
                                       dict(inspection, findings=[{"code": "D05"}]),
                                       "Conflict")
    mine = dorm.rpc.list_violations({"employee_id": "E1"})
    assert sorted(v["code"] for v in mine) == ["D09", "D13", "D16"]
    assert len(dorm.rpc.list_violations({})) == 4
    assert dorm.rpc.list_violations({"since": "2026-11-11T00:00"}) == []

    # Now: E1 and E3 live there; nobody to charge in an empty room.
    now = dorm.rpc.record_inspection(dict(inspection, at="2026-11-20T21:00",
                                          findings=[{"code": "D15"}]))
    assert sorted(v["employee_id"] for v in now["violations"]) == ["E1", "E3"]
    dorm.rpc.add_room(dict(ROOM_M, room_no="103"))
    empty = dorm.rpc.record_inspection(dict(inspection, room_no="103",
                                            findings=[{"code": "D10"}]))
    assert empty["violations"] == [] and empty["unattributed_findings"] == [0]
    clean = dorm.rpc.record_inspection(dict(inspection, at="2026-11-21T21:00", findings=[]))
    assert clean["violations"] == []


def test_revocation_takes_the_bed_and_bars_a_new_one(dorm, event_tap):
    dorm.hire("E1")
    dorm.hire("E2")
    dorm.rpc.add_room(ROOM_M)
    dorm.assign("E1")
    dorm.assign("E2")
    dorm.rpc.set_room_leader({"building": "A", "room_no": "101", "employee_id": "E1"})
    assert "reason" in refused(dorm.rpc.revoke_accommodation,
                               {"employee_id": "E1", "reason": "snoring", "at": T})
    with event_tap("dormitory") as tap:
        revoked = dorm.rpc.revoke_accommodation({
            "employee_id": "E1", "reason": "deliberate_damage", "at": "2026-11-21T10:00",
            "note": "broke the door", "damage_cost_yuan": 300, "actor": DORM_ADMIN})
        [event] = tap.wait("dormitory.accommodation_revoked")
        [released] = tap.wait("dormitory.bed_released")
    assert event["data"] == revoked == {
        "revocation_id": revoked["revocation_id"], "employee_id": "E1",
        "reason": "deliberate_damage", "at": "2026-11-21T02:00:00+00:00",
        "note": "broke the door", "damage_cost_yuan": 300, "building": "A",
        "room_no": "101", "bed_no": 1}
    assert released["data"]["reason"] == "revoked: deliberate_damage"
    room = dorm.rpc.get_room({"building": "A", "room_no": "101"})
    assert [o["employee_id"] for o in room["occupants"]] == ["E2"]
    assert room["leader_id"] is None  # the leader left the room
    assert "lost the right" in refused(lambda _: dorm.assign("E1", at="2026-11-22T10:00"),
                                       None, "Conflict")
    refused(dorm.rpc.revoke_accommodation,
            {"employee_id": "E1", "reason": "theft", "at": "2026-11-23T10:00"}, "Conflict")
    # The same revocation again is refused like any second one: a crashed
    # attempt left nothing to finish, and a lost reply is what request_id is for.
    assert "already lost the right" in refused(dorm.rpc.revoke_accommodation, {
        "employee_id": "E1", "reason": "deliberate_damage", "at": "2026-11-21T10:00",
        "note": "broke the door", "damage_cost_yuan": 300}, "Conflict")
    resident = dorm.rpc.get_resident({"employee_id": "E1"})
    assert resident["bed"] is None and resident["revocation"]["reason"] == "deliberate_damage"
    dorm.rpc.reinstate_accommodation({"employee_id": "E1", "at": "2026-12-01T10:00"})
    assert dorm.assign("E1", at="2026-12-01T11:00")["bed_no"] == 1
    # Revoking someone without a bed only bars them.
    dorm.hire("E3")
    barred = dorm.rpc.revoke_accommodation({"employee_id": "E3", "reason": "theft", "at": T})
    assert barred["bed_no"] is None


def test_a_call_that_fails_after_its_writes_leaves_nothing_and_its_repeat_books_once(
        dorm, event_tap):
    """One unit of work: the writes and the events of a call commit together or not at all."""
    dorm.hire("E1")
    dorm.hire("E2")
    dorm.rpc.add_room(ROOM_M)
    dorm.assign("E1")
    dorm.assign("E2")
    store = next(d for d in dorm.container.dependencies if isinstance(d, Mongo)).store

    def failing_after(name):
        real = getattr(store, name)

        def write_then_fail(*args):
            real(*args)
            raise RuntimeError("the process died here")
        return write_then_fail

    inspection = {"building": "A", "room_no": "101", "inspector_id": "I1", "at": T,
                  "actor": INSPECTOR, "findings": [{"code": "D16", "employee_ids": ["E1"]},
                                                   {"code": "D14", "employee_ids": ["E2"]}]}
    revocation = {"employee_id": "E1", "reason": "theft", "at": "2026-11-21T10:00"}
    with event_tap("dormitory") as tap:
        # The inspection is written, then the call dies before its events are.
        store.record_incident = failing_after("record_incident")
        refused(dorm.rpc.record_inspection, inspection, "RuntimeError")
        # The revocation and the release are written, then the call dies
        # before the resident is marked.
        store.set_revoked = failing_after("set_revoked")
        refused(dorm.rpc.revoke_accommodation, revocation, "RuntimeError")
        del store.record_incident, store.set_revoked
        assert dorm.rpc.list_violations({}) == []
        resident = dorm.rpc.get_resident({"employee_id": "E1"})
        assert resident["revocation"] is None and resident["bed"]["bed_no"] == 1
        eventlet.sleep(1)
        assert tap.of_type("dormitory.violation_recorded") == []
        assert tap.of_type("dormitory.accommodation_revoked") == []
        assert tap.of_type("dormitory.bed_released") == []

        # The repeat does the whole call, once.
        assert len(dorm.rpc.record_inspection(inspection)["violations"]) == 2
        assert dorm.rpc.revoke_accommodation(revocation)["bed_no"] == 1
        tap.wait("dormitory.violation_recorded", 2)
        tap.wait("dormitory.accommodation_revoked")
        tap.wait("dormitory.bed_released")
        eventlet.sleep(1)
        assert len(tap.of_type("dormitory.violation_recorded")) == 2
        assert len(tap.of_type("dormitory.accommodation_revoked")) == 1
        assert len(tap.of_type("dormitory.bed_released")) == 1
    assert sorted(v["code"] for v in dorm.rpc.list_violations({})) == ["D14", "D16"]
    assert dorm.rpc.get_resident({"employee_id": "E1"})["bed"] is None


def test_the_sweep_books_d01_once(dorm, event_tap):
    for employee_id in ("E1", "E2", "E3"):
        dorm.hire(employee_id)
    dorm.rpc.add_room(dict(ROOM_M, capacity=3))
    for employee_id in ("E1", "E2", "E3"):
        dorm.assign(employee_id, at="2026-11-01T10:00")
    departure = dorm.depart("E1", "2026-11-20T10:00")
    dorm.publish("employee_departed", None, envelope=departure)  # redelivered
    dorm.depart("E2", "2026-11-20T10:00")
    dorm.rpc.release_bed({"employee_id": "E2", "at": "2026-11-23T09:59", "reason": "left"})
    assert dorm.rpc.get_resident({"employee_id": "E1"})["move_out_due"] == \
        "2026-11-23T02:00:00+00:00"
    with event_tap("dormitory") as tap:
        early = dorm.rpc.sweep({"now": "2026-11-23T09:59"})
        assert early["checked"] == 0 and early["violations"] == []
        first = dorm.rpc.sweep({"now": "2026-11-23T10:00"})
        assert first["checked"] == 2
        [d01] = first["violations"]
        assert (d01["employee_id"], d01["code"], d01["points"], d01["at"]) == (
            "E1", "D01", 2, "2026-11-23T02:00:00+00:00")
        for _ in range(3):
            assert dorm.rpc.sweep({"now": "2026-11-30T10:00"})["violations"] == []
        dorm.rpc.release_bed({"employee_id": "E1", "at": "2026-11-24T10:00",
                              "reason": "moved out late"})
        dorm.rpc.sweep({"now": "2026-12-30T10:00"})
        [event] = tap.wait("dormitory.violation_recorded")
        eventlet.sleep(1)
        assert len(tap.of_type("dormitory.violation_recorded")) == 1
    assert event["data"]["incident_id"] == d01["incident_id"]
    assert (event["data"]["building"], event["data"]["room_no"]) == ("A", "101")
    assert [v["code"] for v in dorm.rpc.list_violations({"employee_id": "E1"})] == ["D01"]
    assert dorm.rpc.list_violations({"employee_id": "E2"}) == []
    # A departed employee gets no new bed.
    assert "left the company" in refused(lambda _: dorm.assign("E2", at="2026-11-25T10:00"),
                                         None, "Conflict")


def test_the_timer_sweeps_with_the_real_time(start_service, zhidu_config, rpc, event_tap):
    container = start_service(DormitoryService, ZHIDU_SWEEP_INTERVAL="0.3")
    dorm = Dorm(container, zhidu_config, rpc)
    dorm.hire("E1")
    dorm.rpc.add_room(ROOM_M)
    with event_tap("dormitory") as tap:
        dorm.assign("E1", at="2020-01-01T10:00")
        dorm.depart("E1", "2020-02-01T10:00")
        [event] = tap.wait("dormitory.violation_recorded")
    assert event["data"]["code"] == "D01" and event["data"]["at"] == "2020-02-04T02:00:00+00:00"


def test_bad_input_on_every_operation_names_the_field_and_writes_nothing(dorm):
    dorm.hire("E1")
    dorm.rpc.add_room(ROOM_M)
    cases = [
        (dorm.rpc.add_room, {"building": "A/B", "room_no": "", "capacity": 0,
                             "gender": "X"}, {"building", "room_no", "capacity", "gender"}),
        (dorm.rpc.add_room, dict(ROOM_M, capacity="2", colour="red"), {"capacity", "colour"}),
        (dorm.rpc.assign_bed, {"employee_id": "E1", "building": "A", "room_no": "101",
                               "at": "tomorrow", "bed_no": 0}, {"at", "bed_no"}),
        (dorm.rpc.assign_bed, {"employee_id": "E1", "building": "A", "room_no": "101",
                               "at": T, "bed_no": 5}, {"bed_no"}),
        (dorm.rpc.release_bed, {"employee_id": "E1"}, {"at", "reason"}),
        (dorm.rpc.set_room_leader, {"building": "A"}, {"room_no", "employee_id"}),
        (dorm.rpc.record_inspection, {"building": "A", "room_no": "101", "at": T,
                                      "actor": INSPECTOR,
                                      "findings": [{"code": "D16", "who": "E1"}]},
         {"inspector_id", "findings"}),
        (dorm.rpc.record_inspection, {"building": "A", "room_no": "101", "at": T,
                                      "inspector_id": "I1", "actor": INSPECTOR,
                                      "findings": [{"code": "D16"}, {"code": "D99"}]},
         {"findings"}),
        (dorm.rpc.revoke_accommodation, {"employee_id": "E1", "at": T, "reason": "snoring",
                                         "damage_cost_yuan": -1}, {"damage_cost_yuan"}),
        (dorm.rpc.revoke_accommodation, {"employee_id": "E1", "at": T, "reason": "snoring"},
         {"reason"}),
        (dorm.rpc.reinstate_accommodation, {"employee_id": "E1"}, {"at"}),
        (dorm.rpc.list_violations, {"since": "2026-11-02", "until": "2026-11-01"},
         {"until"}),
        (dorm.rpc.list_violations, {"limit": 0}, {"limit"}),
        (dorm.rpc.list_rooms, {"gender": "Z"}, {"gender"}),
        (dorm.rpc.get_room, {}, {"building", "room_no"}),
        (dorm.rpc.get_resident, {}, {"employee_id"}),
        (dorm.rpc.catalog, {"x": 1}, {"x"}),
        (dorm.rpc.sweep, {}, {"now"}),
        (dorm.rpc.sweep, {"now": "soon"}, {"now"}),
    ]
    for call, payload, fields in cases:
        message = refused(call, payload)
        assert all(f'"{field}"' in message for field in fields), (payload, message)
    unknown_room = {"building": "Z", "room_no": "9"}
    for call, payload in [
        (dorm.rpc.assign_bed, {"employee_id": "E1", "at": T, **unknown_room}),
        (dorm.rpc.assign_bed, {"employee_id": "nobody", "at": T, "building": "A",
                               "room_no": "101"}),
        (dorm.rpc.release_bed, {"employee_id": "nobody", "at": T, "reason": "x"}),
        (dorm.rpc.set_room_leader, {"employee_id": "E1", **unknown_room}),
        (dorm.rpc.set_room_leader, {"employee_id": "nobody", "building": "A",
                                    "room_no": "101"}),
        (dorm.rpc.record_inspection, {"inspector_id": "I1", "at": T, "findings": [],
                                      "actor": INSPECTOR, **unknown_room}),
        (dorm.rpc.record_inspection, {"inspector_id": "I1", "at": T, "building": "A",
                                      "actor": INSPECTOR,
                                      "room_no": "101",
                                      "findings": [{"code": "D16", "employee_ids": ["E1"]},
                                                   {"code": "D13",
                                                    "employee_ids": ["nobody"]}]}),
        (dorm.rpc.revoke_accommodation, {"employee_id": "nobody", "at": T,
                                         "reason": "theft"}),
        (dorm.rpc.get_room, unknown_room),
        (dorm.rpc.get_resident, {"employee_id": "nobody"}),
    ]:
        refused(call, payload, "NotFound")
    refused(dorm.rpc.set_room_leader, {"employee_id": "E1", "building": "A",
                                       "room_no": "101"}, "Conflict")
    dorm.assign("E1")
    refused(dorm.rpc.release_bed, {"employee_id": "E1", "at": "2026-11-19T10:00",
                                   "reason": "x"})
    # Nothing of the refused calls was written.
    assert dorm.rpc.list_violations({}) == []
    assert [r["room_no"] for r in dorm.rpc.list_rooms({})] == ["101"]
    resident = dorm.rpc.get_resident({"employee_id": "E1"})
    assert resident["revocation"] is None and resident["bed"]["bed_no"] == 1


def test_catalog_and_the_directory_feed(start_service, rpc, event_tap):
    start_service(DirectoryService)
    start_service(DormitoryService)
    catalog = rpc.dormitory.catalog({})
    assert [(r["code"], r["points"]) for r in catalog][:3] == [("D01", 2), ("D02", 2),
                                                                ("D03", 5)]
    assert len(catalog) == 17 and set(catalog[0]) == {"code", "title_zh", "title_en",
                                                      "points"}
    assert len(rpc.dormitory.revocation_reasons({})) == 6
    rpc.directory.upsert_employee({"employee_id": "E1", "name": "李强", "gender": "M",
                                   "department": "security", "unit": "airport"})
    copy = wait_for(lambda: _resident(rpc, "E1"), message="the dormitory's copy of E1")
    assert (copy["name"], copy["gender"], copy["department"]) == ("李强", "M", "security")
    rpc.dormitory.add_room(ROOM_M)
    rpc.dormitory.assign_bed({"employee_id": "E1", "building": "A", "room_no": "101",
                              "at": "2026-11-01T10:00"})
    rpc.directory.upsert_employee({"employee_id": "E1", "name": "李强强", "gender": "M",
                                   "department": "security", "unit": "airport"})
    wait_for(lambda: _resident(rpc, "E1")["name"] == "李强强", message="the rename")
    rpc.directory.employee_departed({"employee_id": "E1", "at": "2026-11-20T10:00"})
    wait_for(lambda: _resident(rpc, "E1")["move_out_due"], message="the deadline")
    with event_tap("dormitory") as tap:
        assert len(rpc.dormitory.sweep({"now": "2026-11-24T00:00"})["violations"]) == 1
        [event] = tap.wait("dormitory.violation_recorded")
    assert event["data"]["code"] == "D01" and event["data"]["employee_id"] == "E1"


def _resident(rpc, employee_id):
    try:
        return rpc.dormitory.get_resident({"employee_id": employee_id})
    except RemoteError:
        return None


def test_rest_api_and_openapi(dorm, auth_headers):
    dorm.hire("E1")
    base = f"{dorm.container.web_url}/api/v1/dormitory"
    admin = auth_headers(DORM_ADMIN["id"], role="dorm_admin")
    inspector = auth_headers(INSPECTOR["id"], role="inspector")
    resident = auth_headers("E1")

    def call(method, path, headers, **kwargs):
        return requests.request(method, f"{base}{path}", headers=headers, timeout=10,
                                **kwargs)

    created = call("POST", "/rooms", admin, json=ROOM_M)
    assert created.status_code == 201, created.text
    again = call("POST", "/rooms", admin, json=ROOM_M)
    assert again.status_code == 409
    bed = call("POST", "/beds/assign", admin, json={
        "employee_id": "E1", "building": "A", "room_no": "101", "at": T})
    assert bed.status_code == 200 and bed.json()["bed_no"] == 1, bed.text
    leader = call("PUT", "/rooms/A/101/leader", admin, json={"employee_id": "E1"})
    assert leader.status_code == 200 and leader.json()["leader_id"] == "E1"
    inspection = call("POST", "/inspections", inspector, json={
        "building": "A", "room_no": "101", "inspector_id": "I1", "at": T,
        "findings": [{"code": "D05"}]})
    assert inspection.status_code == 201, inspection.text
    listed = call("GET", "/violations", resident, params={"employee_id": "E1"})
    assert [v["code"] for v in listed.json()] == ["D05"]
    assert len(call("GET", "/catalog", resident).json()) == 17
    assert call("GET", "/rooms", admin, params={"free_only": "true"}).json()[0][
        "free_beds"] == 1
    assert call("GET", "/rooms/A/101", resident).json()["occupants"][0][
        "employee_id"] == "E1"
    assert call("GET", "/residents/E1", resident).json()["bed"]["bed_no"] == 1
    assert call("GET", "/revocation-reasons", resident).status_code == 200
    swept = call("POST", "/sweep", auth_headers(), json={"now": T})
    assert swept.status_code == 200 and swept.json()["checked"] == 0
    bad = call("POST", "/inspections", inspector, json={"building": "A"})
    assert bad.status_code == 400
    assert {"room_no", "inspector_id", "at", "findings"} <= set(bad.json()["fields"])
    assert call("GET", "/rooms/Z/9", admin).status_code == 404
    released = call("POST", "/beds/release", admin, json={
        "employee_id": "E1", "at": "2026-11-21T10:00", "reason": "moved"})
    assert released.status_code == 200
    revoked = call("POST", "/revocations", admin, json={
        "employee_id": "E1", "reason": "theft", "at": "2026-11-22T10:00"})
    assert revoked.status_code == 201
    assert call("POST", "/reinstatements", admin, json={
        "employee_id": "E1", "at": "2026-11-23T10:00"}).status_code == 200
    doc = requests.get(f"{dorm.container.web_url}/openapi.json", timeout=10).json()
    for path in ("/rooms", "/rooms/{building}/{room_no}", "/beds/assign", "/beds/release",
                 "/inspections", "/violations", "/catalog", "/sweep", "/revocations"):
        assert f"/api/v1/dormitory{path}" in doc["paths"], path
    body = doc["paths"]["/api/v1/dormitory/inspections"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    assert {"building", "room_no", "inspector_id", "at", "findings"} <= set(schema["required"])
    revoke = doc["paths"]["/api/v1/dormitory/revocations"]["post"]["x-zhidu-permission"]
    assert revoke["roles"] == ["dorm_admin"] and "000 §5" in revoke["source"]
    health = requests.get(f"{dorm.container.web_url}/health", timeout=10).json()
    assert health["service"] == "dormitory" and health["status"] == "ok"
    metrics = requests.get(f"{dorm.container.web_url}/metrics", timeout=10).text
    assert 'entrypoint="record_inspection"' in metrics


def test_a_broken_catalogue_stops_the_service(start_service, tmp_path):
    path = tmp_path / "catalog.yaml"
    path.write_text("domain: dormitory\nmove_out_days: 3\nrules:\n"
                    "  - {code: D01, points: many, title_zh: 未搬离, title_en: x}\n"
                    "revocation_reasons:\n  - {code: theft, title_zh: 偷窃, title_en: t}\n",
                    encoding="utf-8")
    with pytest.raises(ValueError, match=r"rules\[0\]\.points"):
        start_service(DormitoryService, ZHIDU_DORMITORY_RULES_FILE=str(path))


# -- who may (rules/permissions.yaml; seed 000 §5, rules §8) -----------------------------

def _lived_in(dorm):
    """E1 and E2 share room A/101; DA1 administers, I1 inspects; M1 manages E1."""
    dorm.hire("E1", manager_id="M1")
    dorm.hire("E2")
    dorm.hire("M1", role="dept_manager")
    dorm.hire(DORM_ADMIN["id"], role="dorm_admin")
    dorm.hire(INSPECTOR["id"], role="inspector")
    dorm.rpc.add_room(ROOM_M)
    dorm.assign("E1", at="2026-11-01T10:00")
    dorm.assign("E2", at="2026-11-01T10:00")


def _inspection(inspector_id, **extra):
    return {"building": "A", "room_no": "101", "inspector_id": inspector_id, "at": T,
            "findings": [{"code": "D16", "employee_ids": ["E2"]}], **extra}


def _revocation(employee_id="E2", **extra):
    return {"employee_id": employee_id, "reason": "theft", "at": T, **extra}


def _nothing_written(dorm):
    assert dorm.rpc.list_violations({}) == []
    for employee_id in ("E1", "E2"):
        resident = dorm.rpc.get_resident({"employee_id": employee_id})
        assert resident["revocation"] is None and resident["bed"] is not None


def test_an_employee_can_neither_inspect_nor_revoke_whatever_the_payload_claims_000_s5(
        dorm):
    """000 §5 七.1 / 六, rules §8: inspectors inspect, the administrator revokes."""
    _lived_in(dorm)
    e1 = dorm.as_("E1")
    # A role claimed in the payload is ignored: the directory says E1 is staff.
    claim_own = {"actor": {"id": "E1", "role": "dorm_admin"}}
    message = refused(e1.record_inspection, _inspection("E1", **claim_own),
                      "PermissionDenied")
    assert "inspector" in message and "E1 holds staff" in message and "000 §5" in message
    message = refused(e1.revoke_accommodation, _revocation(**claim_own), "PermissionDenied")
    assert "dorm_admin" in message and "E1 holds staff" in message
    # Speaking for a real administrator is refused as exactly that.
    claim_other = {"actor": DORM_ADMIN}
    for call, payload in [(e1.record_inspection, _inspection("DA1", **claim_other)),
                          (e1.revoke_accommodation, _revocation(**claim_other)),
                          (e1.revoke_accommodation, _revocation(actor_id="DA1"))]:
        message = refused(call, payload, "PermissionDenied")
        assert message.startswith("actor:") and "'DA1'" in message and "'E1'" in message
    _nothing_written(dorm)


def test_an_inspector_records_inspections_in_their_own_name_but_cannot_revoke_000_s5(dorm):
    """000 §5 七.1: the company inspects; 六 and rules §8: only the administrator revokes."""
    _lived_in(dorm)
    dorm.hire("I2", role="inspector")
    inspector = dorm.as_("I1")
    # Nobody records findings, which cost residents points and money, in another
    # inspector's name; a refused record leaves nothing behind.
    message = refused(inspector.record_inspection, _inspection("I2"), "PermissionDenied")
    assert message.startswith("inspector_id:") and "'I2'" in message
    message = refused(inspector.revoke_accommodation, _revocation(), "PermissionDenied")
    assert "dorm_admin" in message and "I1 holds inspector" in message
    _nothing_written(dorm)
    recorded = inspector.record_inspection(_inspection("I1"))
    assert [(v["employee_id"], v["code"]) for v in recorded["violations"]] == [("E2", "D16")]
    # The inspector names occupants in findings, so reads the room being inspected.
    assert len(inspector.get_room({"building": "A", "room_no": "101"})["occupants"]) == 2
    assert dorm.rpc.get_resident({"employee_id": "E2"})["revocation"] is None


def test_the_dormitory_administrator_revokes_but_never_their_own_bed_000_s5(dorm):
    """000 §5 六, rules §8: the administrator revokes; nobody decides their own matter."""
    _lived_in(dorm)
    admin = dorm.as_("DA1")
    revoked = admin.revoke_accommodation(_revocation(note="stole a phone"))
    assert revoked["employee_id"] == "E2" and revoked["bed_no"] == 2
    assert dorm.rpc.get_resident({"employee_id": "E2"})["revocation"]["reason"] == "theft"
    # The administrator also inspects, in their own name only.
    assert admin.record_inspection(_inspection("DA1", findings=[]))["violations"] == []
    refused(admin.record_inspection, _inspection("I1", at="2026-11-21T10:00"),
            "PermissionDenied")
    # Their own bed, and their own revocation, are another administrator's call.
    message = refused(admin.assign_bed, {"employee_id": "DA1", "building": "A",
                                         "room_no": "101", "at": T}, "PermissionDenied")
    assert "separation of duties" in message
    dorm.assign("DA1")  # by the operator
    refused(admin.revoke_accommodation, _revocation("DA1"), "PermissionDenied")
    refused(admin.release_bed, {"employee_id": "DA1", "at": "2026-11-21T10:00",
                                "reason": "moving out"}, "PermissionDenied")
    assert dorm.rpc.get_resident({"employee_id": "DA1"})["bed"]["bed_no"] == 2


def test_a_resident_reads_their_own_record_but_not_a_roommates_000_s5(dorm):
    """000 §5 三.1-三.2 and rules §8: a person's records are theirs, their managers', hr's."""
    _lived_in(dorm)
    dorm.rpc.add_room(ROOM_F)
    dorm.as_("I1").record_inspection(dict(_inspection("I1"), findings=[{"code": "D09"}]))
    e1 = dorm.as_("E1")
    own = e1.get_resident({"employee_id": "E1"})
    assert own["bed"]["room_no"] == "101" and own["revocation"] is None
    assert "E1 holds staff" in refused(e1.get_resident, {"employee_id": "E2"},
                                       "PermissionDenied")
    assert [v["code"] for v in e1.list_violations({"employee_id": "E1"})] == ["D09"]
    refused(e1.list_violations, {"employee_id": "E2"}, "PermissionDenied")
    refused(e1.list_violations, {}, "PermissionDenied")
    # The room they sleep in, yes; any other room or the whole list, no.
    assert e1.get_room({"building": "A", "room_no": "101"})["free_beds"] == 0
    refused(e1.get_room, {"building": "B", "room_no": "201"}, "PermissionDenied")
    refused(e1.list_rooms, {}, "PermissionDenied")
    # E1's manager reads E1's record, not E2's, whom M1 does not manage.
    manager = dorm.as_("M1")
    assert manager.get_resident({"employee_id": "E1"})["employee_id"] == "E1"
    assert [v["employee_id"] for v in manager.list_violations({"employee_id": "E1"})] == [
        "E1"]
    refused(manager.get_resident, {"employee_id": "E2"}, "PermissionDenied")
    # Anyone signed in reads the rules they must keep.
    assert len(e1.catalog({})) == 17 and len(e1.revocation_reasons({})) == 6
    refused(e1.sweep, {"now": T}, "PermissionDenied")


def test_rest_refuses_without_a_token_and_without_the_right_000_s5(dorm, auth_headers):
    """000 §5 六, 七.1: a request that proves nobody gets 401, a resident gets 403."""
    _lived_in(dorm)
    base = f"{dorm.container.web_url}/api/v1/dormitory"
    writes = [("/revocations", _revocation()), ("/inspections", _inspection("E1")),
              ("/rooms", ROOM_F),
              ("/beds/release", {"employee_id": "E2", "at": T, "reason": "x"})]
    for path, body in writes:
        anonymous = requests.post(f"{base}{path}", json=body, timeout=10)
        assert anonymous.status_code == 401, (path, anonymous.text)
        assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
        assert anonymous.json()["error"] == "Unauthenticated"
        forged = requests.post(f"{base}{path}", json=body, timeout=10,
                               headers={"Authorization": "Bearer not-a-token"})
        assert forged.status_code == 401, (path, forged.text)
        resident = requests.post(f"{base}{path}", json=body, timeout=10,
                                 headers=auth_headers("E1"))
        assert resident.status_code == 403, (path, resident.text)
        assert resident.json()["error"] == "PermissionDenied"
    assert requests.get(f"{base}/residents/E2", headers=auth_headers("E1"),
                        timeout=10).status_code == 403
    assert requests.get(f"{base}/catalog", timeout=10).status_code == 401
    _nothing_written(dorm)
    assert [r["room_no"] for r in dorm.rpc.list_rooms({})] == ["101"]
