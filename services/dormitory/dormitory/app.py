"""The dormitory's application functions: each takes the unit of work it runs in.

``store`` is the service's store, ``outbox`` the worker's, ``rules`` the loaded
catalogue. An operation runs as one transaction, so what a function writes and
the events it emits commit together or not at all: a call that fails half-way
leaves nothing, and its repeat starts from the state before it. Every check is
made before the first write all the same, so a refusal costs no write.

Ids come from the facts (``domain.*_id``): the same assignment or inspection
asked for again finds the one already stored and gets it back, without a
second copy and without announcing it twice — its events were committed with
it. The rules of 000 §5 and the decisions on unclear points are in
``dormitory.domain``.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime

from zhidu.domain import DomainConflict, DomainNotFound
from zhidu.operations import jsonable
from zhidu.times import utcnow

from . import domain
from .catalogue import Catalogue

SYSTEM = {"id": "system", "role": "system"}


# -- rooms ---------------------------------------------------------------------------

def add_room(store, payload: dict) -> dict:
    building, room_no = payload["building"], payload["room_no"]
    if store.room(building, room_no) is not None:
        raise DomainConflict(f"room {building}/{room_no} exists")
    room = {"_id": uuid.uuid4().hex, "building": building, "room_no": room_no,
            "capacity": payload["capacity"], "gender": payload["gender"],
            "leader_id": None, "leader_since": None,
            "created_at": payload["at"] or utcnow(), "created_by": payload["actor"]}
    store.add_room(room)
    return _room_view(room, [], {})


def get_room(store, building: str, room_no: str) -> dict:
    room = _room(store, building, room_no)
    beds = store.beds_in([room["_id"]])
    return _room_view(room, beds, _names(store, beds))


def list_rooms(store, building: str | None, gender: str | None, free_only: bool) -> list:
    rooms = store.rooms(building, gender)
    beds: dict[str, list] = {}
    for bed in store.beds_in(room["_id"] for room in rooms):
        beds.setdefault(bed["room_id"], []).append(bed)
    names = _names(store, [bed for group in beds.values() for bed in group])
    views = [_room_view(room, beds.get(room["_id"], []), names) for room in rooms]
    return [v for v in views if v["free_beds"] > 0 or not free_only]


def set_room_leader(store, payload: dict) -> dict:
    room = _room(store, payload["building"], payload["room_no"])
    employee_id = payload["employee_id"]
    _known(store, employee_id)
    beds = store.beds_in([room["_id"]])
    domain.check_room_leader(_room_model(room), employee_id,
                             (bed["employee_id"] for bed in beds))
    at = payload["at"] or utcnow()
    store.set_leader(room["_id"], employee_id, at, payload["actor"])
    return _room_view(dict(room, leader_id=employee_id, leader_since=at), beds,
                      _names(store, beds))


# -- beds ----------------------------------------------------------------------------

def assign_bed(store, outbox, payload: dict) -> dict:
    """The bed the employee gets in the room, announced with it.

    Two calls racing for the last bed, or one person asked into two rooms at
    once, both write: the unique indexes let one commit, and the other's unit
    is run again and decides on what the winner left.
    """
    room = _room(store, payload["building"], payload["room_no"])
    employee_id = payload["employee_id"]
    employee = _employee(store, employee_id)
    assignment_id = domain.assignment_id(employee_id, payload["at"])
    held = store.bed_of(employee_id)
    if held is not None:
        return _same_assignment(held, assignment_id, payload)
    if store.stay(assignment_id) is not None:
        # The id follows the facts, so this assignment was made and has ended
        # since: a late repeat must not put the person back in the bed.
        raise DomainConflict(f"the assignment of {employee_id} at {payload['at'].isoformat()}"
                             " has already ended; assign with the current time")
    occupied = [bed["bed_no"] for bed in store.beds_in([room["_id"]])]
    bed_no = domain.choose_bed(_room_model(room), _resident(employee), occupied,
                               payload["bed_no"])
    bed = {"_id": assignment_id, "employee_id": employee_id, "room_id": room["_id"],
           "building": room["building"], "room_no": room["room_no"], "bed_no": bed_no,
           "since": payload["at"], "assigned_by": payload["actor"]}
    store.take_bed(bed)
    view = _assignment_view(bed)
    outbox.emit("bed_assigned", jsonable(view), key=bed["_id"])
    return view


def release_bed(store, outbox, payload: dict) -> dict:
    employee_id = payload["employee_id"]
    bed = store.bed_of(employee_id)
    if bed is None:
        _known(store, employee_id)
        raise DomainConflict(f"employee {employee_id} has no bed")
    domain.check_release_time(bed["since"], payload["at"])
    return _release(store, outbox, bed, payload["at"], payload["reason"], payload["actor"])


def is_occupant(store, principal, building: str | None, room_no: str | None) -> bool:
    """The caller holds a bed in the room (its leader always does)."""
    if principal.service_account:
        return False
    bed = store.bed_of(principal.id)
    return bed is not None and (bed["building"], bed["room_no"]) == (building, room_no)


# -- inspections ---------------------------------------------------------------------

def record_inspection(store, outbox, rules: Catalogue, payload: dict) -> dict:
    """One inspection document carrying its violations, and one event per violation.

    It reads the room, the people the findings name (only if any) and the
    room's bed history (only if a finding names nobody), and writes twice:
    the inspection, and the outbox entries of its violations in one batch.
    """
    room = _room(store, payload["building"], payload["room_no"])
    findings = payload["findings"]
    domain.check_findings(rules, findings)
    named = domain.named_in(findings)
    missing = sorted(named - store.known_employees(named)) if named else []
    if missing:
        raise DomainNotFound(f"unknown employee(s): {', '.join(missing)}")
    at = payload["at"]
    incident_id = domain.inspection_id(room["building"], room["room_no"],
                                       payload["inspector_id"], at)
    occupants = []
    if domain.needs_occupants(findings):
        occupants = domain.occupants_at(store.stays_in_room(room["_id"], at), at)
    violations, unattributed = domain.findings_to_violations(
        rules, incident_id, _room_model(room), at, findings, occupants)
    incident = {
        "_id": incident_id, "kind": "inspection", "room_id": room["_id"],
        "building": room["building"], "room_no": room["room_no"],
        "inspector_id": payload["inspector_id"], "at": at, "findings": findings,
        "violations": violations, "unattributed_findings": unattributed,
        "recorded_by": payload["actor"], "recorded_at": utcnow()}
    stored = store.record_incident(incident)
    if stored is not None:
        if _canonical(stored["findings"]) != _canonical(findings):
            raise DomainConflict(f"inspection {incident_id} (same room, inspector and time) "
                                 "was recorded with other findings")
        return _inspection_view(stored)
    for violation in violations:
        _emit_violation(outbox, violation)
    return _inspection_view(incident)


def list_violations(store, payload: dict) -> list:
    return store.violations(payload["employee_id"], payload["since"], payload["until"],
                            payload["limit"])


def catalog(rules: Catalogue) -> list:
    return rules.public()


def revocation_reasons(rules: Catalogue) -> list:
    return [{"code": r.code, "title_zh": r.title_zh, "title_en": r.title_en}
            for r in rules.reasons.values()]


# -- accommodation -------------------------------------------------------------------

def revoke_accommodation(store, outbox, rules: Catalogue, payload: dict) -> dict:
    """Take the right to a bed (取消住宿资格), and the bed with it if there is one."""
    employee_id, at = payload["employee_id"], payload["at"]
    employee = _known(store, employee_id)
    domain.check_revocation(rules, payload["reason"], bool(employee.get("revocation")),
                            employee_id)
    revocation_id = domain.revocation_id(employee_id, at)
    if store.revocation(revocation_id) is not None:
        # Only a revocation since reinstated can be here: its event is out
        # under this id, and a second one would be dropped as a repeat.
        raise DomainConflict(f"employee {employee_id} already lost the right to a bed at "
                             f"{at.isoformat()}; date the new revocation differently")
    bed = store.bed_of(employee_id)
    if bed is not None:
        domain.check_release_time(bed["since"], at)
    revocation = {
        "_id": revocation_id, "employee_id": employee_id, "reason": payload["reason"],
        "note": payload["note"], "damage_cost_yuan": payload["damage_cost_yuan"], "at": at,
        "bed": {k: bed[k] for k in ("building", "room_no", "bed_no")} if bed else None,
        "revoked_by": payload["actor"]}
    store.record_revocation(revocation)
    if bed is not None:
        _release(store, outbox, bed, at, f"revoked: {payload['reason']}", payload["actor"])
    store.set_revoked(employee_id, {"revocation_id": revocation_id,
                                    "reason": payload["reason"], "at": at})
    place = revocation["bed"] or {"building": None, "room_no": None, "bed_no": None}
    event = jsonable({"revocation_id": revocation_id, "employee_id": employee_id,
                      "reason": payload["reason"], "at": at, "note": payload["note"],
                      "damage_cost_yuan": payload["damage_cost_yuan"], **place})
    outbox.emit("accommodation_revoked", event, key=revocation_id)
    return event


def reinstate_accommodation(store, payload: dict) -> dict:
    employee_id = payload["employee_id"]
    revocation = _known(store, employee_id).get("revocation")
    if not revocation:
        raise DomainConflict(f"employee {employee_id} has not lost the right to a bed")
    store.mark_reinstated(revocation["revocation_id"], payload["at"], payload["note"],
                          payload["actor"])
    store.set_revoked(employee_id, None)
    return {"employee_id": employee_id, "revocation_id": revocation["revocation_id"],
            "reinstated_at": payload["at"]}


def get_resident(store, employee_id: str) -> dict:
    employee = _known(store, employee_id)
    bed = store.bed_of(employee_id)
    return {"employee_id": employee["_id"],
            **{k: employee.get(k) for k in ("name", "gender", "department", "unit",
                                            "departed_at", "move_out_due", "revocation")},
            "bed": _assignment_view(bed) if bed else None}


# -- departures and the move-out sweep ----------------------------------------------

def copy_employee(store, data: dict, published: datetime) -> None:
    store.copy_employee(data, published)


def depart(store, rules: Catalogue, employee_id: str, at: datetime) -> None:
    store.mark_departed(employee_id, at, domain.move_out_due(at, rules))


def sweep(store, outbox, rules: Catalogue, now: datetime) -> dict:
    """Book D01 for each departed employee still in a bed at the move-out deadline.

    One unit per employee, not one for the whole sweep: a thousand deadlines
    must not be one transaction, and one employee's failure must not undo the
    others. Each unit books the violation, its event and the settled mark
    together, so a deadline is never settled without its D01 being out.
    """
    checked, booked = 0, []
    while batch := store.due_move_outs(now):
        for employee in batch:
            checked += 1
            mark = outbox.mark()
            violation = store.unit(
                lambda employee_id=employee["_id"]: _settle_move_out(
                    store, outbox, rules, employee_id, now),
                on_retry=lambda mark=mark: outbox.rollback(mark))
            if violation is not None:
                booked.append(violation)
    return {"now": now, "checked": checked, "violations": booked}


def _settle_move_out(store, outbox, rules: Catalogue, employee_id: str,
                     now: datetime) -> dict | None:
    # Read again inside the unit: another sweep may have settled it meanwhile.
    employee = store.employee(employee_id)
    if not employee or not employee.get("move_out_pending") or employee["move_out_due"] > now:
        return None
    violation = domain.move_out_violation(rules, employee_id, employee["departed_at"],
                                          employee["move_out_due"],
                                          store.stays_of(employee_id))
    if violation is not None:
        store.add_incident({
            "_id": violation["incident_id"], "kind": "move_out",
            "building": violation["building"], "room_no": violation["room_no"],
            "at": violation["at"], "violations": [violation],
            "recorded_by": SYSTEM, "recorded_at": utcnow()})
        _emit_violation(outbox, violation)
    store.settle_move_out(employee_id, violation and violation["incident_id"], now)
    outbox.persist()
    return violation


# -- helpers -------------------------------------------------------------------------

def _room(store, building: str, room_no: str) -> dict:
    room = store.room(building, room_no)
    if room is None:
        raise DomainNotFound(f"room {building}/{room_no} not found")
    return room


def _known(store, employee_id: str) -> dict:
    employee = store.employee(employee_id)
    if employee is None:
        raise DomainNotFound(f"employee {employee_id} not found")
    return employee


def _employee(store, employee_id: str) -> dict:
    """An employee the directory has described (a departure alone is not enough)."""
    employee = store.employee(employee_id)
    if employee is None or not employee.get("gender"):
        raise DomainNotFound(f"employee {employee_id} not found")
    return employee


def _names(store, beds: list[dict]) -> dict[str, str | None]:
    return {k: v.get("name")
            for k, v in store.employees(bed["employee_id"] for bed in beds).items()}


def _room_view(room: dict, beds: list[dict], names: dict) -> dict:
    return {"room_id": room["_id"],
            **{k: room.get(k) for k in ("building", "room_no", "capacity", "gender",
                                        "leader_id")},
            "occupants": [{"bed_no": b["bed_no"], "employee_id": b["employee_id"],
                           "name": names.get(b["employee_id"]), "since": b["since"]}
                          for b in sorted(beds, key=lambda b: b["bed_no"])],
            "free_beds": room["capacity"] - len(beds)}


def _same_assignment(held: dict, assignment_id: str, payload: dict) -> dict:
    """A repeat of the call that made ``held`` gets it back; anything else is refused."""
    repeat = held["_id"] == assignment_id and \
        (held["building"], held["room_no"]) == (payload["building"], payload["room_no"]) \
        and payload["bed_no"] in (None, held["bed_no"])
    if not repeat:
        raise DomainConflict(f"the employee already has a bed (bed {held['bed_no']} in "
                             f"{held['building']}/{held['room_no']}); release it first")
    return _assignment_view(held)


def _release(store, outbox, bed: dict, at: datetime, reason: str, actor: dict) -> dict:
    stay = store.release(bed, at, reason, actor)
    store.drop_leader(bed["room_id"], bed["employee_id"])
    event = dict(_assignment_view(stay), since=stay["since"], at=stay["until"],
                 reason=stay["release_reason"])
    outbox.emit("bed_released", jsonable(event), key=stay["_id"])
    return event


def _emit_violation(outbox, violation: dict) -> None:
    data = {k: violation[k] for k in ("violation_id", "incident_id", "employee_id",
                                      "code", "points", "at", "building", "room_no")}
    data.update(domain="dormitory", note=violation.get("note"))
    outbox.emit("violation_recorded", jsonable(data), key=violation["violation_id"])


def _inspection_view(incident: dict) -> dict:
    return {"inspection_id": incident["_id"],
            "violations": [{k: v[k] for k in ("violation_id", "employee_id", "code",
                                              "points")}
                           for v in incident["violations"]],
            "unattributed_findings": incident["unattributed_findings"]}


def _room_model(room: dict) -> domain.Room:
    return domain.Room(building=room["building"], room_no=room["room_no"],
                       capacity=room["capacity"], gender=room["gender"])


def _resident(employee: dict) -> domain.Resident:
    return domain.Resident(employee_id=employee["_id"], gender=employee.get("gender"),
                           departed_at=employee.get("departed_at"),
                           revoked=bool(employee.get("revocation")))


def _assignment_view(bed: dict) -> dict:
    return {"assignment_id": bed["_id"], "employee_id": bed["employee_id"],
            "building": bed["building"], "room_no": bed["room_no"],
            "bed_no": bed["bed_no"], "at": bed["since"]}


def _canonical(findings) -> str:
    return json.dumps(jsonable(findings), sort_keys=True, ensure_ascii=False)
