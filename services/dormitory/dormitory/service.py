"""The dormitory service: rooms, beds, inspections, revocations, move-out deadlines.

Entrypoints only: each validates its payload (the schema) and calls one
application function in ``dormitory.app``, which runs as one unit of work.
The rules of 000 §5 and the decisions on unclear points are in
``dormitory.domain``.
"""
from __future__ import annotations

from zhidu.config import setting
from zhidu.events import config_timer, on_event
from zhidu.mongo import Mongo
from zhidu.operations import Route, operation
from zhidu.rulebook import RuleBook
from zhidu.schemas import load
from zhidu.service import ZhiduService
from zhidu.times import parse_time, utcnow

from . import app, schemas
from .catalogue import Catalogue, load_catalogue
from .store import DormitoryStore


def load_rules(config) -> Catalogue:
    """``ZHIDU_DORMITORY_RULES_FILE`` replaces the shipped ``rules/catalog.yaml``.

    A broken file raises ``ValueError`` naming the key, and the service does
    not start.
    """
    return load_catalogue(setting(config, "ZHIDU_DORMITORY_RULES_FILE"))


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
        return app.add_room(self.store, payload)

    @operation(schemas.RoomRef)
    def get_room(self, payload):
        return app.get_room(self.store, payload["building"], payload["room_no"])

    @operation(schemas.ListRooms)
    def list_rooms(self, payload):
        return app.list_rooms(self.store, payload["building"], payload["gender"],
                              payload["free_only"])

    @operation(schemas.SetRoomLeader, idempotent=True)
    def set_room_leader(self, payload):
        return app.set_room_leader(self.store, payload)

    # -- beds ------------------------------------------------------------------------
    @operation(schemas.AssignBed, idempotent=True)
    def assign_bed(self, payload):
        return app.assign_bed(self.store, self.outbox, payload)

    @operation(schemas.ReleaseBed, idempotent=True)
    def release_bed(self, payload):
        return app.release_bed(self.store, self.outbox, payload)

    # -- inspections -----------------------------------------------------------------
    @operation(schemas.RecordInspection, idempotent=True)
    def record_inspection(self, payload):
        return app.record_inspection(self.store, self.outbox, self.rules, payload)

    @operation(schemas.ListViolations)
    def list_violations(self, payload):
        return app.list_violations(self.store, payload)

    @operation(schemas.CatalogQuery)
    def catalog(self, payload):
        return app.catalog(self.rules)

    @operation(schemas.CatalogQuery)
    def revocation_reasons(self, payload):
        return app.revocation_reasons(self.rules)

    # -- accommodation ---------------------------------------------------------------
    @operation(schemas.RevokeAccommodation, idempotent=True)
    def revoke_accommodation(self, payload):
        return app.revoke_accommodation(self.store, self.outbox, self.rules, payload)

    @operation(schemas.ReinstateAccommodation, idempotent=True)
    def reinstate_accommodation(self, payload):
        return app.reinstate_accommodation(self.store, payload)

    @operation(schemas.ResidentRef)
    def get_resident(self, payload):
        return app.get_resident(self.store, payload["employee_id"])

    # -- who may (rules/permissions.yaml) --------------------------------------------
    def relation_occupant(self, principal, payload) -> bool:
        return app.is_occupant(self.store, principal, payload.get("building"),
                               payload.get("room_no"))

    # -- timers ----------------------------------------------------------------------
    # Not one unit: the sweep opens one per departed employee.
    @operation(schemas.Sweep, unit=False)
    def sweep(self, payload):
        return app.sweep(self.store, self.outbox, self.rules, payload["now"])

    @config_timer("ZHIDU_SWEEP_INTERVAL")
    def sweep_timer(self):
        self.sweep({"now": utcnow()})

    # -- events from the directory ---------------------------------------------------
    @on_event("directory", "employee_upserted")
    def on_employee_upserted(self, envelope):
        app.copy_employee(self.store, load(schemas.EmployeeCopy, envelope["data"]),
                          parse_time(envelope["time"]))

    @on_event("directory", "employee_departed")
    def on_employee_departed(self, envelope):
        data = load(schemas.DepartureCopy, envelope["data"])
        app.depart(self.store, self.rules, data["employee_id"], data["at"])
