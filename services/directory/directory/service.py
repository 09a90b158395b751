"""The directory service: who works where and who answers for whom."""
from zhidu.errors import NotFound
from zhidu.mongo import Mongo
from zhidu.operations import Route, jsonable, operation
from zhidu.service import ZhiduService

from . import schemas
from .store import DirectoryStore


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
        payload.pop("actor", None)
        hired = payload.get("hired_on")
        payload["hired_on"] = hired.isoformat() if hired else None
        employee, changed = self.store.upsert(payload)
        if changed:
            self.outbox.emit("employee_upserted", jsonable(_public(employee)))
        return _public(employee)

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
        employee = self.store.mark_departed(payload["employee_id"], payload["at"])
        if employee is None:
            raise NotFound(f"employee {payload['employee_id']} not found")
        self.outbox.emit("employee_departed", jsonable(
            {"employee_id": payload["employee_id"], "at": payload["at"]}))
        return employee


def _public(employee: dict) -> dict:
    return {k: v for k, v in employee.items() if k != "departed_at"}
