"""The directory service: who works where and who answers for whom.

It is also the suite's own token issuer: people log in here with their
employee id and password, and the public keys every service verifies
tokens with are served at ``/.well-known/jwks.json``.
"""
import hashlib
import json
import logging
from datetime import timedelta

from nameko.web.handlers import http
from zhidu.config import setting
from zhidu.errors import NotFound, Unauthenticated, ValidationError
from zhidu.identity import KeyRing, issue_token, key_dir
from zhidu.mongo import Mongo
from zhidu.operations import Route, jsonable, operation
from zhidu.service import ZhiduService, json_response
from zhidu.times import to_iso, utcnow

from . import credentials, schemas
from .store import BOOKKEEPING, DirectoryStore

log = logging.getLogger(__name__)


class DirectoryService(ZhiduService):
    name = "directory"
    store = Mongo(DirectoryStore)
    routes = [
        Route("PUT", "/employees/{employee_id}", "upsert_employee"),
        Route("GET", "/employees/{employee_id}", "get_employee"),
        Route("GET", "/employees", "list_employees"),
        Route("POST", "/employees/{employee_id}/departure", "employee_departed"),
        Route("POST", "/login", "login"),
        Route("PUT", "/employees/{employee_id}/password", "set_password"),
        Route("POST", "/employees/{employee_id}/password", "change_password"),
    ]
    # The directory reads roles from its own records, not from a copy of its events.
    remember_person = None
    forget_person = None

    @operation(schemas.UpsertEmployee)
    def upsert_employee(self, payload):
        actor = payload.pop("actor")
        payload.pop("request_id", None)
        hired = payload.get("hired_on")
        payload["hired_on"] = hired.isoformat() if hired else None
        employee, changed = self.store.upsert(payload, actor)
        self.identity.forget(employee["employee_id"])
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
        self.identity.forget(payload["employee_id"])
        data = jsonable({"employee_id": payload["employee_id"], "at": payload["at"]})
        self.outbox.emit("employee_departed", data, key=f"{data['employee_id']}:{data['at']}")
        return employee

    # -- the suite's own issuer -------------------------------------------------------
    @operation(schemas.Login)
    def login(self, payload):
        employee_id, now = payload["employee_id"], utcnow()
        record = self.store.credentials(employee_id)
        max_failures = int(setting(self.config, "ZHIDU_LOGIN_MAX_FAILURES"))
        window = timedelta(seconds=float(setting(self.config, "ZHIDU_LOGIN_WINDOW_SECONDS")))
        until = credentials.locked_until((record or {}).get("failures", []), now,
                                         max_failures, window)
        if until is not None:
            raise Unauthenticated(f"too many failed log-ins for {employee_id}; "
                                  f"try again after {to_iso(until)}")
        employee = self.store.get(employee_id)
        if (not credentials.verify_password((record or {}).get("hash"), payload["password"])
                or employee is None or employee.get("departed_at")):
            if record is not None:
                self.store.record_failure(employee_id, now, keep=max_failures)
            log.info("failed log-in for %s", employee_id)
            raise Unauthenticated("wrong employee id or password")
        if record.get("failures"):
            self.store.clear_failures(employee_id)
        ttl = int(setting(self.config, "ZHIDU_TOKEN_TTL"))
        return {"access_token": issue_token(self.config, employee_id, ttl=ttl),
                "token_type": "Bearer", "expires_in": ttl}

    @operation(schemas.SetPassword)
    def set_password(self, payload):
        self._set_password(payload["employee_id"], payload["password"], payload["actor"])
        return {"employee_id": payload["employee_id"], "password_set": True}

    @operation(schemas.ChangePassword)
    def change_password(self, payload):
        record = self.store.credentials(payload["employee_id"]) or {}
        if not credentials.verify_password(record.get("hash"), payload["current_password"]):
            raise ValidationError({"current_password": ["is not the current password"]})
        actor = {"id": payload["employee_id"]}
        self._set_password(payload["employee_id"], payload["new_password"], actor)
        return {"employee_id": payload["employee_id"], "password_set": True}

    def _set_password(self, employee_id: str, password: str, actor: dict) -> None:
        if self.store.get(employee_id) is None:
            raise NotFound(f"employee {employee_id} not found")
        self.store.set_password_hash(employee_id, credentials.hash_password(password),
                                     utcnow(), actor)

    @http("GET", "/.well-known/jwks.json")
    def http_jwks(self, request):
        return json_response(200, KeyRing(key_dir(self.config)).ensure().public_jwks())


def _digest(employee: dict) -> str:
    text = json.dumps(jsonable(employee), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _public(employee: dict) -> dict:
    return {k: v for k, v in employee.items() if k not in BOOKKEEPING}
