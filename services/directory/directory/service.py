"""The directory service: who works where and who answers for whom."""
import hashlib
import json

from zhidu.errors import NotFound
from zhidu.mongo import Mongo
from zhidu.operations import Route, jsonable, operation
from zhidu.service import ZhiduService

from . import schemas
from .store import BOOKKEEPING, DirectoryStore


class DirectoryService(ZhiduService):
    name = "directory"
    store = Mongo(DirectoryStore)
    routes = [
        Route("PUT", "/employees/{employee_id}", "upsert_employee"),
        Route("GET", "/employees/{employee_id}", "get_employee"),
        Route("GET", "/employees", "list_employees"),
        Route("POST", "/employees/{employee_id}/departure", "employee_departed"),
    ]

    @operation(schemas.UpsertEmployee)
    def upsert_employee(self, payload):
        actor = payload.pop("actor")
        payload.pop("request_id", None)
        hired = payload.get("hired_on")
        payload["hired_on"] = hired.isoformat() if hired else None
        employee, changed = self.store.upsert(payload, actor)
        public = _public(employee)
        digest = _digest(public)
        if changed or employee.get("announced") != digest:
            # The id follows the content, and the record remembers what was
            # announced only once the event is stored: a retry after a crash
            # announces what the first attempt did not, never a new copy.
            self.outbox.emit("employee_upserted", jsonable(public), key=digest)
            self.outbox.persist()
            self.store.mark_announced(employee["employee_id"], digest)
        return public

    @operation(schemas.EmployeeRef)
    def get_employee(self, payload):
        employee = self.store.get(payload["employee_id"])
        if employee is None:
            raise NotFound(f"employee {payload['employee_id']} not found")
        return employee

    @operation(schemas.ListEmployees)
    def list_employees(self, payload):
        return self.store.list(**payload)

    @operation(schemas.Departure)
    def employee_departed(self, payload):
        employee = self.store.mark_departed(payload["employee_id"], payload["at"],
                                            payload["actor"])
        if employee is None:
            raise NotFound(f"employee {payload['employee_id']} not found")
        data = jsonable({"employee_id": payload["employee_id"], "at": payload["at"]})
        self.outbox.emit("employee_departed", data, key=f"{data['employee_id']}:{data['at']}")
        return employee


def _digest(employee: dict) -> str:
    text = json.dumps(jsonable(employee), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _public(employee: dict) -> dict:
    return {k: v for k, v in employee.items() if k not in BOOKKEEPING}
