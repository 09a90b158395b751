"""The directory service: who works where and who answers for whom.

It is also the suite's own token issuer: people log in here with their
employee id and password, and the public keys every service verifies
tokens with are served at ``/.well-known/jwks.json``.
"""
from datetime import timedelta

from nameko.web.handlers import http
from zhidu.config import setting
from zhidu.identity import KeyRing, issue_token, key_dir
from zhidu.mongo import Mongo
from zhidu.operations import Route, operation
from zhidu.rulebook import RuleBook
from zhidu.service import ZhiduService, json_response

from . import app, schemas
from .store import DirectoryStore


def _login_policy(config) -> app.LoginPolicy:
    return app.LoginPolicy(
        max_failures=int(setting(config, "ZHIDU_LOGIN_MAX_FAILURES")),
        window=timedelta(seconds=float(setting(config, "ZHIDU_LOGIN_WINDOW_SECONDS"))),
        token_ttl=int(setting(config, "ZHIDU_TOKEN_TTL")))


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
    login_policy = RuleBook(_login_policy)
    # The directory reads roles from its own records, not from a copy of its events.
    remember_person = None
    forget_person = None

    @operation(schemas.UpsertEmployee)
    def upsert_employee(self, payload):
        employee = app.upsert_employee(self.store, self.outbox, payload, payload["actor"])
        self.identity.forget(employee["employee_id"])
        return employee

    @operation(schemas.EmployeeRef)
    def get_employee(self, payload):
        return app.get_employee(self.store, payload["employee_id"])

    @operation(schemas.ListEmployees)
    def list_employees(self, payload):
        return self.store.list(**payload)

    @operation(schemas.Departure)
    def employee_departed(self, payload):
        employee = app.depart(self.store, self.outbox, payload["employee_id"], payload["at"],
                              payload["actor"])
        self.identity.forget(payload["employee_id"])
        return employee

    # -- the suite's own issuer -------------------------------------------------------
    # Not one unit: a failed attempt must be recorded although the call fails.
    @operation(schemas.Login, unit=False)
    def login(self, payload):
        return app.login(self.store, payload["employee_id"], payload["password"],
                         self.login_policy, self._mint)

    # Hashing takes tens of milliseconds; one write needs no transaction held open.
    @operation(schemas.SetPassword, unit=False)
    def set_password(self, payload):
        return app.set_password(self.store, payload["employee_id"], payload["password"],
                                payload["actor"])

    @operation(schemas.ChangePassword, unit=False)
    def change_password(self, payload):
        return app.change_password(self.store, payload["employee_id"],
                                   payload["current_password"], payload["new_password"])

    def _mint(self, employee_id: str, ttl: int) -> str:
        return issue_token(self.config, employee_id, ttl=ttl)

    @http("GET", "/.well-known/jwks.json")
    def http_jwks(self, request):
        return json_response(200, KeyRing(key_dir(self.config)).ensure().public_jwks())
