"""The directory's application functions: each takes the unit of work it runs in.

``store`` and ``outbox`` are the worker's; an upsert and its event commit
together, so an employee record never exists without its announcement.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import timedelta

from zhidu.domain import DomainNotFound, DomainValidation
from zhidu.errors import Unauthenticated
from zhidu.operations import jsonable
from zhidu.times import to_iso, utcnow

from . import credentials
from .store import BOOKKEEPING

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int
    window: timedelta
    token_ttl: int


def upsert_employee(store, outbox, payload: dict, actor: dict) -> dict:
    """Store the facts; announce them when they changed (the event id follows the content)."""
    facts = {k: v for k, v in payload.items() if k not in ("actor", "request_id")}
    hired = facts.get("hired_on")
    facts["hired_on"] = hired.isoformat() if hired else None
    employee, changed = store.upsert(facts, actor)
    public = _public(employee)
    if changed:
        outbox.emit("employee_upserted", jsonable(public), key=_digest(public))
    return public


def get_employee(store, employee_id: str) -> dict:
    employee = store.get(employee_id)
    if employee is None:
        raise DomainNotFound(f"employee {employee_id} not found")
    return employee


def depart(store, outbox, employee_id: str, at, actor: dict) -> dict:
    employee = store.mark_departed(employee_id, at, actor)
    if employee is None:
        raise DomainNotFound(f"employee {employee_id} not found")
    data = jsonable({"employee_id": employee_id, "at": at})
    outbox.emit("employee_departed", data, key=f"{employee_id}:{data['at']}")
    return employee


def login(store, employee_id: str, password: str, policy: LoginPolicy, mint) -> dict:
    """A token for a person who proves their password; failures are limited per person.

    Runs outside a unit of work: a failed attempt is recorded although the call fails.
    """
    now = utcnow()
    record = store.credentials(employee_id)
    until = credentials.locked_until((record or {}).get("failures", []), now,
                                     policy.max_failures, policy.window)
    if until is not None:
        raise Unauthenticated(f"too many failed log-ins for {employee_id}; "
                              f"try again after {to_iso(until)}")
    employee = store.get(employee_id)
    if (not credentials.verify_password((record or {}).get("hash"), password)
            or employee is None or employee.get("departed_at")):
        if record is not None:
            store.record_failure(employee_id, now, keep=policy.max_failures)
        log.info("failed log-in for %s", employee_id)
        raise Unauthenticated("wrong employee id or password")
    if record.get("failures"):
        store.clear_failures(employee_id)
    return {"access_token": mint(employee_id, policy.token_ttl), "token_type": "Bearer",
            "expires_in": policy.token_ttl}


def set_password(store, employee_id: str, password: str, actor: dict) -> dict:
    get_employee(store, employee_id)
    store.set_password_hash(employee_id, credentials.hash_password(password), utcnow(), actor)
    return {"employee_id": employee_id, "password_set": True}


def change_password(store, employee_id: str, current: str, new: str) -> dict:
    record = store.credentials(employee_id) or {}
    if not credentials.verify_password(record.get("hash"), current):
        raise DomainValidation.one("current_password", "is not the current password")
    return set_password(store, employee_id, new, {"id": employee_id})


def _digest(employee: dict) -> str:
    text = json.dumps(jsonable(employee), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _public(employee: dict) -> dict:
    return {k: v for k, v in employee.items() if k not in BOOKKEEPING}
