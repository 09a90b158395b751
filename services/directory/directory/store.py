from __future__ import annotations

from pymongo import ASCENDING, IndexModel, ReturnDocument
from zhidu.mongo import Store

# Kept on the record, not part of the employee others copy.
BOOKKEEPING = ("departed_at", "departed_by", "updated_by", "as_of", "revision")


class DirectoryStore(Store):
    INDEXES = {
        "employees": [
            IndexModel([("department", ASCENDING), ("unit", ASCENDING)]),
            IndexModel([("unit", ASCENDING)]),
            # The default listing: people still employed, in id order.
            IndexModel([("departed_at", ASCENDING), ("_id", ASCENDING)]),
        ],
        # Password hashes live apart from the employee record, which is
        # announced to every service; failures are kept for the rate limit.
        "credentials": [],
    }

    def upsert(self, employee: dict, actor: dict) -> tuple[dict, bool]:
        """Store the employee's facts; returns (employee, changed).

        Only the facts are set, never the whole document, so a departure
        recorded meanwhile is not written over.
        """
        facts = {k: v for k, v in employee.items() if k != "employee_id"}
        before = self.db.employees.find_one_and_update(
            {"_id": employee["employee_id"]},
            {"$set": facts, "$setOnInsert": {"departed_at": None, "departed_by": None}},
            upsert=True, return_document=ReturnDocument.BEFORE)
        changed = before is None or any(before.get(k) != v for k, v in facts.items())
        if changed:
            # Each change numbers the record anew: its announcements carry the
            # number in their ids, so a change undone later (A, B, A again) is
            # announced again instead of looking like a repeat of the first.
            self.db.employees.update_one({"_id": employee["employee_id"]},
                                         {"$set": {"updated_by": actor},
                                          "$inc": {"revision": 1}})
        return self.get(employee["employee_id"]), changed

    def get(self, employee_id: str) -> dict | None:
        return self._out(self.db.employees.find_one({"_id": employee_id}))

    def list(self, department=None, unit=None, include_departed=False) -> list[dict]:
        query = {}
        if department:
            query["department"] = department
        if unit:
            query["unit"] = unit
        if not include_departed:
            query["departed_at"] = None
        return [self._out(doc) for doc in self.db.employees.find(query).sort("_id", 1)]

    def mark_departed(self, employee_id: str, at, actor: dict) -> dict | None:
        doc = self.db.employees.find_one_and_update(
            {"_id": employee_id}, {"$set": {"departed_at": at, "departed_by": actor}},
            return_document=ReturnDocument.AFTER)
        return self._out(doc)

    # -- identity ---------------------------------------------------------------------
    def person(self, employee_id: str) -> dict | None:
        """The directory is its own copy: callers' roles come from the record itself."""
        return self.get(employee_id)

    def credentials(self, employee_id: str) -> dict | None:
        return self.db.credentials.find_one({"_id": employee_id})

    def set_password_hash(self, employee_id: str, password_hash: str, at, actor: dict) -> None:
        self.db.credentials.update_one(
            {"_id": employee_id},
            {"$set": {"hash": password_hash, "set_at": at, "set_by": actor["id"],
                      "failures": []}}, upsert=True)

    def record_attempt(self, employee_id: str, attempt: dict, keep: int) -> list | None:
        """Record a log-in attempt (``{"at", "id"}``); the attempts recorded before
        it, or None for a person with no password (only known people have a
        record; unknown ids are limited by their cost)."""
        doc = self.db.credentials.find_one_and_update(
            {"_id": employee_id},
            {"$push": {"failures": {"$each": [attempt], "$slice": -keep}}},
            projection={"failures": 1}, return_document=ReturnDocument.AFTER)
        if doc is None:
            return None
        # The update appended this attempt last, atomically with the read.
        return list(doc.get("failures") or [])[:-1]

    def forget_attempt(self, employee_id: str, attempt_id: str) -> None:
        self.db.credentials.update_one({"_id": employee_id},
                                       {"$pull": {"failures": {"id": attempt_id}}})

    def clear_failures(self, employee_id: str) -> None:
        self.db.credentials.update_one({"_id": employee_id}, {"$set": {"failures": []}})

    @staticmethod
    def _out(doc):
        if doc is None:
            return None
        out = dict(doc)
        out["employee_id"] = out.pop("_id")
        return out
