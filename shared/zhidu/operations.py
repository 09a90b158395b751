"""One operation, two doors: RPC and REST call the same validated function.

``@operation(Schema)`` turns a service method into a nameko RPC entrypoint that
validates its one dict payload, honours ``request_id``, maps domain errors to
the contract's, persists the events the call emitted and returns JSON-ready
data. REST routes point at operations by name, so the HTTP API can never drift
from the RPC one.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime

from bson import ObjectId
from nameko.rpc import rpc
from pymongo.errors import DuplicateKeyError

from .domain import DomainConflict, DomainNotFound, DomainPermission, DomainValidation
from .errors import CONTRACT_ERRORS, Conflict, NotFound, PermissionDenied, ValidationError
from .schemas import load
from .times import to_iso, utcnow
from .uow import StaleWrite


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


_BY_DOMAIN_TYPE = (
    (DomainValidation, ValidationError), (DomainConflict, Conflict),
    (DomainNotFound, NotFound), (DomainPermission, PermissionDenied),
)


def to_contract_error(exc: Exception) -> Exception | None:
    """The contract error a domain error stands for, or None if it is a bug.

    Domains raise the library's pure errors (:mod:`zhidu.domain`); a validation
    error's field messages are kept.
    """
    if type(exc) in CONTRACT_ERRORS:
        return exc
    if isinstance(exc, DuplicateKeyError):
        # A unique index refused the write: someone else got there first.
        return Conflict("already exists (a concurrent or repeated request)")
    if isinstance(exc, StaleWrite):
        return Conflict("the record kept changing under this request; try again")
    for base in CONTRACT_ERRORS:
        if isinstance(exc, base):
            return exc
    for domain_type, contract in _BY_DOMAIN_TYPE:
        if isinstance(exc, domain_type):
            if contract is ValidationError:
                return ValidationError(exc.errors)
            return contract(str(exc))
    return None


def operation(schema=None, *, idempotent: bool = False, expose_rpc: bool = True,
              unit: bool = True):
    """Declare a contract operation taking one dict payload.

    Before the function runs, the caller is proven (bearer token) and checked
    against the operation's entry in the service's permissions file; a
    payload ``actor`` must name the caller, and is replaced by the proven
    identity. The function then runs as one unit of work: its writes and the
    events it emits commit together or not at all (``unit=False`` for work
    that opens its own units, such as a sweep over many cases).
    ``idempotent`` operations honour the payload's optional ``request_id``,
    scoped to the operation and the caller: a repeat returns the first result
    and changes nothing, and the same key with another payload is a conflict.
    """
    declares_actor = schema is not None and "actor" in _instance(schema).fields

    def decorator(fn):
        name = fn.__name__

        def body(self, data):
            # Each run gets its own copy: a unit re-run after a write conflict
            # must see the payload as the caller sent it, whatever the last
            # run did to it.
            result = jsonable(fn(self, copy.deepcopy(data)))
            self.outbox.persist()
            return result

        def remembered(self, data, caller: str):
            """The first result for this request id, or the call's, stored with it."""
            key = f"{name}:{caller}:{data['request_id']}"
            print_ = fingerprint(data)
            requests = self.store.db.requests
            seen = requests.find_one({"_id": key})
            if seen is not None:
                if seen.get("fingerprint") != print_:
                    raise Conflict("request_id: already used by this caller for a different "
                                   "request; send a new request_id")
                return seen["result"]
            result = body(self, data)
            requests.insert_one({"_id": key, "fingerprint": print_, "result": result,
                                 "at": utcnow()})
            return result

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
                caller = principal.id if principal is not None else "anonymous"
                if idempotent and data.get("request_id"):
                    work = functools.partial(remembered, self, data, caller)
                else:
                    work = functools.partial(body, self, data)
                try:
                    if not unit:
                        return work()
                    mark = self.outbox.mark()
                    return self.store.unit(work, on_retry=lambda: self.outbox.rollback(mark))
                except Exception as exc:
                    mapped = to_contract_error(exc)
                    if mapped is None or mapped is exc:
                        raise
                    raise mapped from exc

        run.zhidu_schema = schema
        run.zhidu_operation = name
        return rpc(expected_exceptions=CONTRACT_ERRORS)(run) if expose_rpc else run
    return decorator


def fingerprint(data: dict) -> str:
    """What makes two calls with one request id the same request."""
    meaningful = {k: v for k, v in data.items() if k not in ("request_id", "actor")}
    text = json.dumps(jsonable(meaningful), sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


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
