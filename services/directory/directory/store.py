from pymongo import ASCENDING, IndexModel, ReturnDocument
from zhidu.mongo import Store


class DirectoryStore(Store):
    INDEXES = {
        "employees": [
            IndexModel([("department", ASCENDING), ("unit", ASCENDING)]),
            IndexModel([("unit", ASCENDING)]),
        ],
    }

    def upsert(self, employee: dict) -> tuple[dict, bool]:
        """Store the employee; returns (employee, changed)."""
        before = self.db.employees.find_one({"_id": employee["employee_id"]})
        doc = {k: v for k, v in employee.items() if k != "employee_id"}
        doc["departed_at"] = before.get("departed_at") if before else None
        after = self.db.employees.find_one_and_replace(
            {"_id": employee["employee_id"]}, doc, upsert=True,
            return_document=ReturnDocument.AFTER)
        return self._out(after), before is None or self._out(before) != self._out(after)

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

    def mark_departed(self, employee_id: str, at) -> dict | None:
        doc = self.db.employees.find_one_and_update(
            {"_id": employee_id}, {"$set": {"departed_at": at}},
            return_document=ReturnDocument.AFTER)
        return self._out(doc)

    @staticmethod
    def _out(doc):
        if doc is None:
            return None
        out = dict(doc)
        out["employee_id"] = out.pop("_id")
        return out
