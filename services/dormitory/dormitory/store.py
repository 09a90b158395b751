"""The dormitory's collections, their indexes, and every query next to its index.

- ``rooms``: one per room; unique (building, room_no).
- ``employees``: the dormitory's copy of the directory, plus departure,
  move-out and revocation state; ``_id`` is the employee id.
- ``beds``: who is on which bed *now*, one document per occupied bed. The two
  unique indexes are the rule "never two people on one bed, never one person
  on two beds", enforced by the database under concurrent calls.
- ``stays``: finished occupancies (``since``..``until``), so "who lived here at
  that moment" can be answered for any past moment.
- ``incidents``: an inspection, or a missed move-out deadline, with its
  violations embedded: one document, one atomic write.
- ``revocations``: loss of accommodation (取消住宿资格), with reinstatement.
"""
from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import DuplicateKeyError
from zhidu.errors import Conflict
from zhidu.mongo import Store

from .domain import Stay


class DormitoryStore(Store):
    INDEXES = {
        "rooms": [
            IndexModel([("building", ASCENDING), ("room_no", ASCENDING)], unique=True),
            IndexModel([("gender", ASCENDING), ("building", ASCENDING),
                        ("room_no", ASCENDING)]),
        ],
        "employees": [
            # sweep: departed employees whose move-out deadline has passed
            IndexModel([("move_out_pending", ASCENDING), ("move_out_due", ASCENDING)]),
        ],
        "beds": [
            IndexModel([("room_id", ASCENDING), ("bed_no", ASCENDING)], unique=True),
            IndexModel([("employee_id", ASCENDING)], unique=True),
        ],
        "stays": [
            IndexModel([("employee_id", ASCENDING), ("since", ASCENDING)]),
            IndexModel([("room_id", ASCENDING), ("until", ASCENDING)]),
        ],
        "incidents": [
            IndexModel([("violations.employee_id", ASCENDING), ("at", ASCENDING)]),
            IndexModel([("at", ASCENDING)]),
        ],
        "revocations": [
            IndexModel([("employee_id", ASCENDING), ("at", DESCENDING)]),
        ],
    }

    # -- rooms -------------------------------------------------------------------
    def add_room(self, room: dict) -> dict:
        try:
            self.db.rooms.insert_one(room)
        except DuplicateKeyError:
            raise Conflict(f"room {room['building']}/{room['room_no']} exists") from None
        return room

    def room(self, building: str, room_no: str) -> dict | None:
        return self.db.rooms.find_one({"building": building, "room_no": room_no})

    def rooms(self, building: str | None = None, gender: str | None = None) -> list[dict]:
        query = {}
        if gender:
            query["gender"] = gender
        if building:
            query["building"] = building
        order = [("building", ASCENDING), ("room_no", ASCENDING)]
        if gender:
            order.insert(0, ("gender", ASCENDING))
        return list(self.db.rooms.find(query).sort(order))

    def set_leader(self, room_id: str, employee_id: str, at: datetime, actor: dict) -> None:
        self.db.rooms.update_one({"_id": room_id}, {"$set": {
            "leader_id": employee_id, "leader_since": at, "leader_set_by": actor}})

    def drop_leader(self, room_id: str, employee_id: str) -> None:
        """A leader who leaves the room stops leading it."""
        self.db.rooms.update_one({"_id": room_id, "leader_id": employee_id},
                                 {"$set": {"leader_id": None, "leader_since": None}})

    # -- employees (copied from the directory) ----------------------------------------
    def employee(self, employee_id: str) -> dict | None:
        return self.db.employees.find_one({"_id": employee_id})

    def employees(self, employee_ids) -> dict[str, dict]:
        ids = list(dict.fromkeys(employee_ids))
        if not ids:
            return {}
        return {doc["_id"]: doc for doc in self.db.employees.find({"_id": {"$in": ids}})}

    def copy_employee(self, data: dict, published: datetime) -> None:
        """Keep the directory's data unless a newer event already wrote it.

        Events can arrive out of order after a retry; ``copied_at`` (the event's
        publication time) decides which one wins.
        """
        fields = {k: v for k, v in data.items() if k != "employee_id"}
        self.copy_newer("employees", data["employee_id"], fields, published)

    def mark_departed(self, employee_id: str, at: datetime, due: datetime) -> None:
        """Arm the move-out deadline, unless D01 was already booked for this person."""
        try:
            self.db.employees.update_one(
                {"_id": employee_id, "move_out_incident_id": None},
                {"$set": {"departed_at": at, "move_out_due": due,
                          "move_out_pending": True}},
                upsert=True)
        except DuplicateKeyError:
            pass  # D01 already booked: the filter missed and the upsert collided

    def due_move_outs(self, now: datetime, limit: int = 200) -> list[dict]:
        return list(self.db.employees.find(
            {"move_out_pending": True, "move_out_due": {"$lte": now}})
            .sort([("move_out_pending", ASCENDING), ("move_out_due", ASCENDING)])
            .limit(limit))

    def settle_move_out(self, employee_id: str, incident_id: str | None,
                        now: datetime) -> None:
        self.db.employees.update_one({"_id": employee_id}, {"$set": {
            "move_out_pending": False, "move_out_incident_id": incident_id,
            "move_out_checked_at": now}})

    def set_revoked(self, employee_id: str, revocation: dict | None) -> None:
        self.db.employees.update_one({"_id": employee_id},
                                     {"$set": {"revocation": revocation}})

    # -- beds ---------------------------------------------------------------------
    def bed_of(self, employee_id: str) -> dict | None:
        return self.db.beds.find_one({"employee_id": employee_id})

    def beds_in(self, room_ids) -> list[dict]:
        ids = list(room_ids)
        if not ids:
            return []
        return list(self.db.beds.find({"room_id": {"$in": ids}})
                    .sort([("room_id", ASCENDING), ("bed_no", ASCENDING)]))

    def take_bed(self, bed: dict) -> str:
        """``"ok"``, or why the database refused: ``"bed_taken"`` / ``"has_bed"``."""
        try:
            self.db.beds.insert_one(bed)
            return "ok"
        except DuplicateKeyError:
            pass
        return "has_bed" if self.bed_of(bed["employee_id"]) is not None else "bed_taken"

    def release(self, bed: dict, at: datetime, reason: str, actor: dict) -> tuple[dict, bool]:
        """Move the occupancy to the history; returns (stay, released_now).

        History first: a crash in between leaves the bed held and the stay
        recorded, and a retry finishes the move without a second stay.
        """
        stay = dict(bed, until=at, release_reason=reason, released_by=actor)
        try:
            self.db.stays.insert_one(stay)
        except DuplicateKeyError:
            stay = self.db.stays.find_one({"_id": bed["_id"]})
        deleted = self.db.beds.delete_one({"_id": bed["_id"]}).deleted_count
        return stay, bool(deleted)

    def release_of(self, employee_id: str, at: datetime, reason: str) -> dict | None:
        """The stay a release at ``at`` for ``reason`` ended, if there was one."""
        return self.db.stays.find_one({"employee_id": employee_id, "until": at,
                                       "release_reason": reason})

    def stays_in_room(self, room_id: str, moment: datetime) -> list[Stay]:
        """Stays in the room that may cover ``moment``: current beds and past ones."""
        current = self.db.beds.find({"room_id": room_id})
        past = self.db.stays.find({"room_id": room_id, "until": {"$gt": moment}})
        return [_stay(doc) for doc in (*current, *past)]

    def stays_of(self, employee_id: str) -> list[Stay]:
        docs = list(self.db.stays.find({"employee_id": employee_id}).sort("since", 1))
        current = self.bed_of(employee_id)
        if current is not None:
            docs.append(current)
        return [_stay(doc) for doc in docs]

    # -- incidents (inspections and missed move-outs) -------------------------------
    def record_incident(self, incident: dict) -> tuple[dict, bool]:
        """Insert the incident; returns (stored incident, inserted now)."""
        try:
            self.db.incidents.insert_one(incident)
            return incident, True
        except DuplicateKeyError:
            return self.db.incidents.find_one({"_id": incident["_id"]}), False

    def violations(self, employee_id: str | None = None, since: datetime | None = None,
                   until: datetime | None = None, limit: int = 1000) -> list[dict]:
        query: dict = {}
        if employee_id:
            query["violations.employee_id"] = employee_id
        window = {}
        if since:
            window["$gte"] = since
        if until:
            window["$lt"] = until
        if window:
            query["at"] = window
        out = []
        for incident in self.db.incidents.find(query).sort("at", 1):
            for violation in incident["violations"]:
                if employee_id is None or violation["employee_id"] == employee_id:
                    out.append(dict(violation, kind=incident["kind"]))
                    if len(out) >= limit:
                        return out
        return out

    # -- revocations ----------------------------------------------------------------
    def revocation(self, revocation_id: str) -> dict | None:
        return self.db.revocations.find_one({"_id": revocation_id})

    def record_revocation(self, revocation: dict) -> None:
        try:
            self.db.revocations.insert_one(revocation)
        except DuplicateKeyError:
            pass  # a retry of a revocation that was interrupted after this write

    def mark_reinstated(self, revocation_id: str, at: datetime, note: str | None,
                        actor: dict) -> None:
        self.db.revocations.update_one({"_id": revocation_id}, {"$set": {
            "reinstated_at": at, "reinstatement_note": note, "reinstated_by": actor}})


def _stay(doc: dict) -> Stay:
    return Stay(employee_id=doc["employee_id"], building=doc["building"],
                room_no=doc["room_no"], bed_no=doc["bed_no"], since=doc["since"],
                until=doc.get("until"))
