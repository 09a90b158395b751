"""One operation, two doors: RPC and REST call the same validated function.

``@operation(Schema)`` turns a service method into a nameko RPC entrypoint that
validates its one dict payload, honours ``request_id``, maps domain errors to
the contract's, persists the events the call emitted and returns JSON-ready
data. REST routes point at operations by name, so the HTTP API can never drift
from the RPC one.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, datetime

from bson import ObjectId
from nameko.rpc import rpc
from pymongo.errors import DuplicateKeyError

from .config import setting
from .errors import CONTRACT_ERRORS, Conflict, NotFound, PermissionDenied, ValidationError
from .schemas import load
from .times import to_iso


def jsonable(value):
    """Datetimes to UTC ISO strings, ids to strings, recursively."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items() if k != "_id" or
                not isinstance(v, ObjectId)}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return to_iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, ObjectId):
        return str(value)
    return value


_BY_SUFFIX = (
    ("Validation", ValidationError), ("ValidationError", ValidationError),
    ("Conflict", Conflict), ("NotFound", NotFound),
    ("Permission", PermissionDenied), ("PermissionDenied", PermissionDenied),
)


def to_contract_error(exc: Exception) -> Exception | None:
    """The contract error a domain error stands for, or None if it is a bug.

    Domain layers stay free of the library: their errors are recognised by
    name (``DomainValidation``, ``DomainConflict``, ``DomainPermission``,
    ``DomainNotFound``), and a validation error's field messages are kept.
    """
    if type(exc) in CONTRACT_ERRORS:
        return exc
    if isinstance(exc, DuplicateKeyError):
        # A unique index refused the write: someone else got there first.
        return Conflict("already exists (a concurrent or repeated request)")
    for base in CONTRACT_ERRORS:
        if isinstance(exc, base):
            return _rebuild(base, exc)
    name = type(exc).__name__
    for suffix, base in _BY_SUFFIX:
        if name.endswith(suffix):
            return _rebuild(base, exc)
    return None


def _rebuild(base, exc):
    if base is ValidationError:
        messages = (getattr(exc, "messages", None) or getattr(exc, "errors", None)
                    or getattr(exc, "fields", None))
        if not isinstance(messages, dict):
            messages = {"_schema": [str(exc)]}
        return ValidationError(messages)
    return base(str(exc))


def operation(schema=None, *, idempotent: bool = False, expose_rpc: bool = True):
    """Declare a contract operation taking one dict payload.

    Before the function runs, the caller is proven (bearer token) and checked
    against the operation's entry in the service's permissions file; a
    payload ``actor`` must name the caller, and is replaced by the proven
    identity. ``idempotent`` operations honour the payload's optional
    ``request_id``: a repeat returns the first result and changes nothing.
    """
    declares_actor = schema is not None and "actor" in _instance(schema).fields

    def decorator(fn):
        name = fn.__name__

        def call(self, data):
            try:
                result = fn(self, data)
            except Exception as exc:
                mapped = to_contract_error(exc)
                if mapped is None or mapped is exc:
                    raise
                raise mapped from exc
            self.outbox.persist()
            return jsonable(result)

        @functools.wraps(fn)
        def run(self, payload=None):
            guard = self.identity
            with guard.entering(name) as outermost:
                principal = guard.authenticate(name) if outermost else guard.principal
                if outermost:
                    guard.precheck(name, principal, payload)
                data = load(schema, payload) if schema is not None else dict(payload or {})
                if outermost:
                    guard.authorize(name, principal, data, payload, service=self)
                if principal is not None:
                    if declares_actor:
                        data["actor"] = principal.actor()
                    self.outbox.actor = principal.actor()
                return _idempotent(self, data) if idempotent else call(self, data)

        def _idempotent(self, data):
            request_id = data.get("request_id")
            if not request_id:
                return call(self, data)
            lease = float(setting(self.config, "ZHIDU_CLAIM_LEASE"))
            first, stored = self.store.claim_request(name, request_id, lease)
            if not first:
                return stored
            try:
                result = call(self, data)
            except BaseException:
                self.store.release_request(name, request_id)
                raise
            self.store.complete_request(name, request_id, result)
            return result

        run.zhidu_schema = schema
        run.zhidu_operation = name
        return rpc(expected_exceptions=CONTRACT_ERRORS)(run) if expose_rpc else run
    return decorator


def _instance(schema):
    return schema() if isinstance(schema, type) else schema


@dataclass(frozen=True)
class Route:
    """``GET /employees/{employee_id}`` → the ``get_employee`` operation."""

    method: str
    path: str
    operation: str
    status: int = 200
    summary: str = ""
    tags: tuple = field(default_factory=tuple)

    def match(self, method: str, path: str) -> dict | None:
        if method != self.method:
            return None
        want = [p for p in self.path.strip("/").split("/") if p]
        have = [p for p in path.strip("/").split("/") if p]
        if len(want) != len(have):
            return None
        params = {}
        for pattern, part in zip(want, have, strict=True):
            if pattern.startswith("{") and pattern.endswith("}"):
                params[pattern[1:-1]] = part
            elif pattern != part:
                return None
        return params
