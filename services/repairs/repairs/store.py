"""The repairs database: work orders (``_id`` = the number) and monthly serials.

Every query runs on an index declared here. Writes to an order are
compare-and-set on ``version``; every method joins the unit of work of the
calling green thread, so an order, the serial it drew and its events commit
together.
"""
from __future__ import annotations

from datetime import datetime, timezone

from pymongo import ASCENDING, DESCENDING, IndexModel
from zhidu.domain import DomainConflict
from zhidu.mongo import Store

# Orders with nothing left to time keep a null next_check_at, which sorts below
# every date: the lower bound keeps the sweep from walking all of them.
EARLIEST_DUE = datetime(1970, 1, 1, tzinfo=timezone.utc)


class RepairsStore(Store):
    INDEXES = {
        "orders": [
            IndexModel([("next_check_at", ASCENDING)], name="due"),
            IndexModel([("status", ASCENDING), ("received_at", DESCENDING)], name="status"),
            IndexModel([("engineer_id", ASCENDING), ("received_at", DESCENDING)],
                       name="engineer"),
            IndexModel([("received_at", DESCENDING)], name="received"),
            # The monthly statistics select orders first completed in the month.
            IndexModel([("first_completed_at", ASCENDING)], name="completed"),
        ],
    }

    def next_serial(self, month_key: str) -> int:
        """The next serial of a ``YYMM`` month, drawn inside the intake's unit (a
        failed intake gives it back)."""
        return self.next_sequence(f"repair_serial:{month_key}")

    def insert(self, order: dict) -> None:
        result = self.db.orders.update_one({"_id": order["number"]},
                                           {"$setOnInsert": _to_doc(order)}, upsert=True)
        if result.upserted_id is None:
            # The counter is behind the stored orders: a re-run would draw the same serial.
            raise DomainConflict(f"repair {order['number']} already exists")

    def get(self, number: str) -> dict | None:
        return _from_doc(self.db.orders.find_one({"_id": number}))

    def replace(self, order: dict, expected_version: int) -> bool:
        result = self.db.orders.replace_one(
            {"_id": order["number"], "version": expected_version}, _to_doc(order))
        return result.matched_count == 1

    def set_next_check(self, number: str, version: int, next_check_at) -> None:
        self.db.orders.update_one({"_id": number, "version": version},
                                  {"$set": {"next_check_at": next_check_at}})

    def due(self, now: datetime, limit: int) -> list[dict]:
        cursor = (self.db.orders.find({"next_check_at": {"$gte": EARLIEST_DUE, "$lte": now}})
                  .sort("next_check_at", ASCENDING).limit(limit))
        return [_from_doc(doc) for doc in cursor]

    def search(self, *, status=None, engineer_id=None, limit=100) -> list[dict]:
        query: dict = {}
        if status:
            query["status"] = status
        if engineer_id:
            query["engineer_id"] = engineer_id
        cursor = self.db.orders.find(query).sort("received_at", DESCENDING).limit(limit)
        return [_from_doc(doc) for doc in cursor]

    def names(self, employee_ids) -> dict[str, str]:
        """Names from the directory copy (the library keeps it): id → name."""
        ids = [i for i in dict.fromkeys(employee_ids) if i]
        if not ids:
            return {}
        return {doc["_id"]: doc["name"] for doc in self.db.people.find(
            {"_id": {"$in": ids}}, {"name": 1}) if doc.get("name")}

    def completed_between(self, start: datetime, end: datetime) -> list[dict]:
        cursor = self.db.orders.find({"first_completed_at": {"$gte": start, "$lt": end}})
        return [_from_doc(doc) for doc in cursor]


def _to_doc(order: dict) -> dict:
    return {**order, "_id": order["number"]}


def _from_doc(doc: dict | None) -> dict | None:
    if doc is None:
        return None
    doc = dict(doc)
    doc.pop("_id", None)
    return doc
