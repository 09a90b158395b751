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
  violations embedded: one document, one write.
- ``revocations``: loss of accommodation (取消住宿资格), with reinstatement.

Every write runs inside the caller's unit of work (one transaction), where a
duplicate key aborts the whole transaction: no method here catches one and
carries on. Where "already there" is an answer rather than an error, the
method asks with an upsert or reads first; otherwise the error leaves the
unit, which is run again and then sees what the other writer committed.
"""
from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
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
    def add_room(self, room: dict) -> None:
        self.db.rooms.insert_one(room)

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

    def known_employees(self, employee_ids) -> set[str]:
        """Which of these employees the dormitory knows (ids only)."""
        ids = list(dict.fromkeys(employee_ids))
        if not ids:
            return set()
        return {doc["_id"] for doc in self.db.employees.find({"_id": {"$in": ids}},
                                                             {"_id": 1})}

    def copy_employee(self, data: dict, published: datetime) -> bool:
        """Keep the directory's data unless a newer event already wrote it.

        Events can arrive out of order after a retry; ``copied_at`` (the event's
        publication time) decides which one wins. Read first: an upsert whose
        filter misses a newer copy would collide on ``_id`` and abort the unit.
        """
        employee_id = data["employee_id"]
        current = self.db.employees.find_one({"_id": employee_id}, {"copied_at": 1})
        if current is not None and current.get("copied_at") is not None \
                and current["copied_at"] > published:
            return False
        fields = {k: v for k, v in data.items() if k != "employee_id"}
        self.db.employees.update_one({"_id": employee_id},
                                     {"$set": {**fields, "copied_at": published}},
                                     upsert=True)
        return True

    def mark_departed(self, employee_id: str, at: datetime, due: datetime) -> bool:
        """Arm the move-out deadline, unless D01 was already booked for this person."""
        current = self.db.employees.find_one({"_id": employee_id},
                                             {"move_out_incident_id": 1})
        if current is not None and current.get("move_out_incident_id") is not None:
            return False
        self.db.employees.update_one(
            {"_id": employee_id},
            {"$set": {"departed_at": at, "move_out_due": due, "move_out_pending": True}},
            upsert=True)
        return True

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

    def take_bed(self, bed: dict) -> None:
        """Occupy the bed; the unique indexes refuse a taken bed or a second bed.

        The refusal (``DuplicateKeyError``) ends the unit, which is run again
        and finds the bed, or the person, taken.
        """
        self.db.beds.insert_one(bed)

    def release(self, bed: dict, at: datetime, reason: str, actor: dict) -> dict:
        """Move the occupancy to the history; returns the finished stay."""
        stay = dict(bed, until=at, release_reason=reason, released_by=actor)
        self.db.stays.insert_one(stay)
        self.db.beds.delete_one({"_id": bed["_id"]})
        return stay

    def stay(self, assignment_id: str) -> dict | None:
        """The finished stay of an assignment (stays keep the assignment's id)."""
        return self.db.stays.find_one({"_id": assignment_id})

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
    def record_incident(self, incident: dict) -> dict | None:
        """Store the incident unless its id is taken: None, or the one stored before.

        One round trip either way: the upsert inserts a new incident and
        hands back an existing one untouched.
        """
        fields = {k: v for k, v in incident.items() if k != "_id"}
        return self.db.incidents.find_one_and_update(
            {"_id": incident["_id"]}, {"$setOnInsert": fields}, upsert=True,
            return_document=ReturnDocument.BEFORE)

    def add_incident(self, incident: dict) -> None:
        self.db.incidents.insert_one(incident)

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
        self.db.revocations.insert_one(revocation)

    def mark_reinstated(self, revocation_id: str, at: datetime, note: str | None,
                        actor: dict) -> None:
        self.db.revocations.update_one({"_id": revocation_id}, {"$set": {
            "reinstated_at": at, "reinstatement_note": note, "reinstated_by": actor}})


def _stay(doc: dict) -> Stay:
    return Stay(employee_id=doc["employee_id"], building=doc["building"],
                room_no=doc["room_no"], bed_no=doc["bed_no"], since=doc["since"],
                until=doc.get("until"))
