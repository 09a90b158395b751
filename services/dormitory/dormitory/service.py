"""The dormitory service: rooms, beds, inspections, revocations, move-out deadlines.

Entrypoints only: each operation looks things up (store), asks the rules
(domain), then writes — every check before the first write, so refused input
leaves nothing behind. Ids come from the facts (``domain.*_id``), so a retried
call finds its own earlier write and re-emits the same event ids instead of
booking twice. The rules of 000 §5 and the decisions on unclear points are in
``dormitory.domain``.
"""
from __future__ import annotations

import json
import uuid

from zhidu.errors import Conflict, NotFound
from zhidu.events import config_timer, on_event
from zhidu.mongo import Mongo
from zhidu.operations import Route, jsonable, operation
from zhidu.rulebook import RuleBook
from zhidu.schemas import load
from zhidu.service import ZhiduService
from zhidu.times import parse_time, utcnow

from . import domain, schemas
from .providers import load_rules
from .store import DormitoryStore

SYSTEM = {"id": "system", "role": "system"}


class DormitoryService(ZhiduService):
    name = "dormitory"
    store = Mongo(DormitoryStore)
    rules = RuleBook(load_rules)
    routes = [
        Route("POST", "/rooms", "add_room", status=201),
        Route("GET", "/rooms", "list_rooms"),
        Route("GET", "/rooms/{building}/{room_no}", "get_room"),
        Route("PUT", "/rooms/{building}/{room_no}/leader", "set_room_leader"),
        Route("POST", "/beds/assign", "assign_bed"),
        Route("POST", "/beds/release", "release_bed"),
        Route("POST", "/inspections", "record_inspection", status=201),
        Route("POST", "/revocations", "revoke_accommodation", status=201),
        Route("POST", "/reinstatements", "reinstate_accommodation"),
        Route("GET", "/residents/{employee_id}", "get_resident"),
        Route("GET", "/violations", "list_violations"),
        Route("GET", "/catalog", "catalog"),
        Route("GET", "/revocation-reasons", "revocation_reasons"),
        Route("POST", "/sweep", "sweep"),
    ]

    # -- rooms -----------------------------------------------------------------------
    @operation(schemas.AddRoom, idempotent=True)
    def add_room(self, payload):
        room = {"_id": uuid.uuid4().hex, "building": payload["building"],
                "room_no": payload["room_no"], "capacity": payload["capacity"],
                "gender": payload["gender"], "leader_id": None, "leader_since": None,
                "created_at": payload["at"] or utcnow(), "created_by": payload["actor"]}
        return self._room_view(self.store.add_room(room), [])

    @operation(schemas.RoomRef)
    def get_room(self, payload):
        room = self._room(payload)
        return self._room_view(room, self.store.beds_in([room["_id"]]))

    @operation(schemas.ListRooms)
    def list_rooms(self, payload):
        rooms = self.store.rooms(payload["building"], payload["gender"])
        beds: dict[str, list] = {}
        for bed in self.store.beds_in(room["_id"] for room in rooms):
            beds.setdefault(bed["room_id"], []).append(bed)
        names = self._names(bed["employee_id"] for group in beds.values() for bed in group)
        views = [self._room_view(room, beds.get(room["_id"], []), names) for room in rooms]
        return [v for v in views if v["free_beds"] > 0 or not payload["free_only"]]

    @operation(schemas.SetRoomLeader, idempotent=True)
    def set_room_leader(self, payload):
        room = self._room(payload)
        self._known(payload["employee_id"])
        beds = self.store.beds_in([room["_id"]])
        domain.check_room_leader(_room_model(room), payload["employee_id"],
                                 (bed["employee_id"] for bed in beds))
        self.store.set_leader(room["_id"], payload["employee_id"],
                              payload["at"] or utcnow(), payload["actor"])
        return self._room_view(self._room(payload), beds)

    # -- beds ------------------------------------------------------------------------
    @operation(schemas.AssignBed, idempotent=True)
    def assign_bed(self, payload):
        room = self._room(payload)
        employee_id = payload["employee_id"]
        employee = self._employee(employee_id)
        assignment_id = domain.assignment_id(employee_id, payload["at"])
        held = self.store.bed_of(employee_id)
        if held is not None:
            return self._same_assignment(held, assignment_id, payload)
        # Each lost race means another bed was taken, so capacity + 1 tries
        # end either with a bed or with the domain saying the room is full.
        for _ in range(room["capacity"] + 1):
            occupied = [bed["bed_no"] for bed in self.store.beds_in([room["_id"]])]
            bed_no = domain.choose_bed(_room_model(room), _resident(employee), occupied,
                                       payload["bed_no"])
            bed = {"_id": assignment_id, "employee_id": employee_id, "room_id": room["_id"],
                   "building": room["building"], "room_no": room["room_no"],
                   "bed_no": bed_no, "since": payload["at"], "assigned_by": payload["actor"]}
            outcome = self.store.take_bed(bed)
            if outcome == "ok":
                return self._emit_assigned(bed)
            if outcome == "has_bed":
                return self._same_assignment(self.store.bed_of(employee_id), assignment_id,
                                             payload)
            if payload["bed_no"] is not None:
                raise Conflict(f"bed {bed_no} in room {room['building']}/{room['room_no']}"
                               " is taken")
        raise Conflict(f"room {room['building']}/{room['room_no']} is full")

    @operation(schemas.ReleaseBed, idempotent=True)
    def release_bed(self, payload):
        employee_id = payload["employee_id"]
        bed = self.store.bed_of(employee_id)
        if bed is None:
            self._known(employee_id)
            done = self.store.release_of(employee_id, payload["at"], payload["reason"])
            if done is None:
                raise Conflict(f"employee {employee_id} has no bed")
            # The same release again (a retry after a crash): announce it again,
            # under the same id, rather than refuse it.
            return self._announce_release(done)
        domain.check_release_time(bed["since"], payload["at"])
        return self._release(bed, payload["at"], payload["reason"], payload["actor"])

    # -- inspections -----------------------------------------------------------------
    @operation(schemas.RecordInspection, idempotent=True)
    def record_inspection(self, payload):
        room = self._room(payload)
        findings = payload["findings"]
        domain.check_findings(self.rules, findings)
        named = {e for finding in findings for e in finding["employee_ids"] or ()}
        missing = sorted(named - set(self.store.employees(named)))
        if missing:
            raise NotFound(f"unknown employee(s): {', '.join(missing)}")
        at = payload["at"]
        incident_id = domain.inspection_id(room["building"], room["room_no"],
                                           payload["inspector_id"], at)
        occupants = domain.occupants_at(self.store.stays_in_room(room["_id"], at), at)
        violations, unattributed = domain.findings_to_violations(
            self.rules, incident_id, _room_model(room), at, findings, occupants)
        incident, new = self.store.record_incident({
            "_id": incident_id, "kind": "inspection", "room_id": room["_id"],
            "building": room["building"], "room_no": room["room_no"],
            "inspector_id": payload["inspector_id"], "at": at, "findings": findings,
            "violations": violations, "unattributed_findings": unattributed,
            "recorded_by": payload["actor"], "recorded_at": utcnow()})
        if not new and _canonical(incident["findings"]) != _canonical(findings):
            raise Conflict(f"inspection {incident_id} (same room, inspector and time) "
                           "was recorded with other findings")
        for violation in incident["violations"]:
            self._emit_violation(violation)
        return {"inspection_id": incident_id,
                "violations": [{k: v[k] for k in ("violation_id", "employee_id", "code",
                                                  "points")}
                               for v in incident["violations"]],
                "unattributed_findings": incident["unattributed_findings"]}

    @operation(schemas.ListViolations)
    def list_violations(self, payload):
        return self.store.violations(payload["employee_id"], payload["since"],
                                     payload["until"], payload["limit"])

    @operation(schemas.CatalogQuery)
    def catalog(self, payload):
        return self.rules.public()

    @operation(schemas.CatalogQuery)
    def revocation_reasons(self, payload):
        return [{"code": r.code, "title_zh": r.title_zh, "title_en": r.title_en}
                for r in self.rules.reasons.values()]

    # -- accommodation ---------------------------------------------------------------
    @operation(schemas.RevokeAccommodation, idempotent=True)
    def revoke_accommodation(self, payload):
        employee_id, at = payload["employee_id"], payload["at"]
        employee = self._known(employee_id)
        current = employee.get("revocation") or {}
        if current.get("revocation_id") == domain.revocation_id(employee_id, at):
            # The same revocation again (a retry after a crash): announce it again.
            return self._announce_revocation(self.store.revocation(current["revocation_id"]))
        domain.check_revocation(self.rules, payload["reason"],
                                bool(employee.get("revocation")), employee_id)
        bed = self.store.bed_of(employee_id)
        if bed is not None:
            domain.check_release_time(bed["since"], at)
        revocation = {
            "_id": domain.revocation_id(employee_id, at), "employee_id": employee_id,
            "reason": payload["reason"], "note": payload["note"],
            "damage_cost_yuan": payload["damage_cost_yuan"], "at": at,
            "bed": {k: bed[k] for k in ("building", "room_no", "bed_no")} if bed else None,
            "revoked_by": payload["actor"]}
        self.store.record_revocation(revocation)
        if bed is not None:
            self._release(bed, at, f"revoked: {payload['reason']}", payload["actor"])
        self.store.set_revoked(employee_id, {"revocation_id": revocation["_id"],
                                             "reason": payload["reason"], "at": at})
        return self._announce_revocation(revocation)

    def _announce_revocation(self, revocation: dict) -> dict:
        place = revocation["bed"] or {"building": None, "room_no": None, "bed_no": None}
        event = {"revocation_id": revocation["_id"], "employee_id": revocation["employee_id"],
                 "reason": revocation["reason"], "at": revocation["at"],
                 "note": revocation["note"],
                 "damage_cost_yuan": revocation["damage_cost_yuan"], **place}
        self.outbox.emit("accommodation_revoked", jsonable(event), key=revocation["_id"])
        return jsonable(event)

    @operation(schemas.ReinstateAccommodation, idempotent=True)
    def reinstate_accommodation(self, payload):
        employee_id = payload["employee_id"]
        revocation = self._known(employee_id).get("revocation")
        if not revocation:
            raise Conflict(f"employee {employee_id} has not lost the right to a bed")
        self.store.mark_reinstated(revocation["revocation_id"], payload["at"],
                                   payload["note"], payload["actor"])
        self.store.set_revoked(employee_id, None)
        return {"employee_id": employee_id, "revocation_id": revocation["revocation_id"],
                "reinstated_at": payload["at"]}

    @operation(schemas.ResidentRef)
    def get_resident(self, payload):
        employee = self._known(payload["employee_id"])
        bed = self.store.bed_of(payload["employee_id"])
        return {"employee_id": employee["_id"],
                **{k: employee.get(k) for k in ("name", "gender", "department", "unit",
                                                "departed_at", "move_out_due",
                                                "revocation")},
                "bed": _assignment_view(bed) if bed else None}

    # -- who may (rules/permissions.yaml) --------------------------------------------
    def relation_occupant(self, principal, payload) -> bool:
        """The caller holds a bed in the room the payload names (its leader does too)."""
        if principal.service_account:
            return False
        bed = self.store.bed_of(principal.id)
        return bed is not None and (bed["building"], bed["room_no"]) == (
            payload.get("building"), payload.get("room_no"))

    # -- timers ----------------------------------------------------------------------
    @operation(schemas.Sweep)
    def sweep(self, payload):
        """Book D01 for each departed employee still in a bed at the move-out deadline."""
        now = payload["now"]
        checked, booked = 0, []
        while batch := self.store.due_move_outs(now):
            for employee in batch:
                checked += 1
                violation = domain.move_out_violation(
                    self.rules, employee["_id"], employee["departed_at"],
                    employee["move_out_due"], self.store.stays_of(employee["_id"]))
                if violation is not None:
                    self._book_move_out(violation)
                    booked.append(violation)
                self.store.settle_move_out(
                    employee["_id"], violation and violation["incident_id"], now)
        return {"now": now, "checked": checked, "violations": booked}

    @config_timer("ZHIDU_SWEEP_INTERVAL")
    def sweep_timer(self):
        self.sweep({"now": utcnow()})

    # -- events from the directory ---------------------------------------------------
    @on_event("directory", "employee_upserted")
    def on_employee_upserted(self, envelope):
        self.store.copy_employee(load(schemas.EmployeeCopy, envelope["data"]),
                                 parse_time(envelope["time"]))

    @on_event("directory", "employee_departed")
    def on_employee_departed(self, envelope):
        data = load(schemas.DepartureCopy, envelope["data"])
        self.store.mark_departed(data["employee_id"], data["at"],
                                 domain.move_out_due(data["at"], self.rules))

    # -- helpers ---------------------------------------------------------------------
    def _room(self, payload) -> dict:
        room = self.store.room(payload["building"], payload["room_no"])
        if room is None:
            raise NotFound(f"room {payload['building']}/{payload['room_no']} not found")
        return room

    def _known(self, employee_id: str) -> dict:
        employee = self.store.employee(employee_id)
        if employee is None:
            raise NotFound(f"employee {employee_id} not found")
        return employee

    def _employee(self, employee_id: str) -> dict:
        """An employee the directory has described (a departure alone is not enough)."""
        employee = self.store.employee(employee_id)
        if employee is None or not employee.get("gender"):
            raise NotFound(f"employee {employee_id} not found")
        return employee

    def _names(self, employee_ids) -> dict[str, str | None]:
        return {k: v.get("name") for k, v in self.store.employees(employee_ids).items()}

    def _room_view(self, room: dict, beds: list[dict], names: dict | None = None) -> dict:
        if names is None:
            names = self._names(bed["employee_id"] for bed in beds)
        return {"room_id": room["_id"],
                **{k: room.get(k) for k in ("building", "room_no", "capacity", "gender",
                                            "leader_id")},
                "occupants": [{"bed_no": b["bed_no"], "employee_id": b["employee_id"],
                               "name": names.get(b["employee_id"]), "since": b["since"]}
                              for b in sorted(beds, key=lambda b: b["bed_no"])],
                "free_beds": room["capacity"] - len(beds)}

    def _same_assignment(self, held: dict | None, assignment_id: str, payload) -> dict:
        """A repeat of the call that made ``held`` gets it back; anything else is refused."""
        repeat = held is not None and held["_id"] == assignment_id and \
            (held["building"], held["room_no"]) == (payload["building"], payload["room_no"]) \
            and payload["bed_no"] in (None, held["bed_no"])
        if not repeat:
            where = f" (bed {held['bed_no']} in {held['building']}/{held['room_no']})" \
                if held else ""
            raise Conflict(f"the employee already has a bed{where}; release it first")
        return self._emit_assigned(held)

    def _emit_assigned(self, bed: dict) -> dict:
        view = _assignment_view(bed)
        self.outbox.emit("bed_assigned", jsonable(view), key=bed["_id"])
        return view

    def _release(self, bed: dict, at, reason: str, actor: dict) -> dict:
        stay, _ = self.store.release(bed, at, reason, actor)
        self.store.drop_leader(bed["room_id"], bed["employee_id"])
        return self._announce_release(stay)

    def _announce_release(self, stay: dict) -> dict:
        event = dict(_assignment_view(stay), since=stay["since"], at=stay["until"],
                     reason=stay["release_reason"])
        self.outbox.emit("bed_released", jsonable(event), key=stay["_id"])
        return event

    def _emit_violation(self, violation: dict) -> None:
        data = {k: violation[k] for k in ("violation_id", "incident_id", "employee_id",
                                          "code", "points", "at", "building", "room_no")}
        data.update(domain="dormitory", note=violation.get("note"))
        self.outbox.emit("violation_recorded", jsonable(data), key=violation["violation_id"])

    def _book_move_out(self, violation: dict) -> None:
        incident, _ = self.store.record_incident({
            "_id": violation["incident_id"], "kind": "move_out",
            "building": violation["building"], "room_no": violation["room_no"],
            "at": violation["at"], "violations": [violation],
            "recorded_by": SYSTEM, "recorded_at": utcnow()})
        for stored in incident["violations"]:
            self._emit_violation(stored)
        # The event must be safe in the outbox before the deadline is marked
        # settled, or a crash in between would lose it for good.
        self.outbox.persist()


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
