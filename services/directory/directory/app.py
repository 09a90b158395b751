"""The directory's application functions: each takes the unit of work it runs in.

``store`` and ``outbox`` are the worker's; an upsert and its events commit
together, so an employee record never exists without its announcement.

The announcement is in parts. ``employee_upserted`` carries what every
service may know; a person's phone and e-mail (``employee_contact_changed``)
and wage (``employee_wage_changed``) go out in events of their own, which only
the services named in their schema's ``restricted_to`` may receive. Each part
is announced when it changed, under an id that follows its content and the
record's revision (so a retried call repeats its id, and a change undone later
does not).
"""
from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from zhidu.domain import DomainNotFound, DomainValidation
from zhidu.errors import Unauthenticated
from zhidu.operations import jsonable
from zhidu.times import to_iso, utcnow

from . import credentials
from .schemas import PRIVATE
from .store import BOOKKEEPING

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int
    window: timedelta
    token_ttl: int


def upsert_employee(store, outbox, payload: dict, actor: dict) -> dict:
    """Store the facts; announce them when they changed (ids follow content and revision)."""
    facts = {k: v for k, v in payload.items() if k not in ("actor", "request_id")}
    hired = facts.get("hired_on")
    facts["hired_on"] = hired.isoformat() if hired else None
    before = store.get(facts["employee_id"])
    employee, changed = store.upsert(facts, actor)
    record = _public(employee)
    if changed:
        revision = employee.get("revision", 0)
        for event_type, data in announcements(record, before and _public(before)):
            outbox.emit(event_type, data, key=f"{_digest(data)}:{revision}")
    return record


def announcements(employee: dict, before: dict | None) -> list[tuple[str, dict]]:
    """The events announcing ``employee``: each part that is new or changed.

    A new person's restricted parts are announced only when they hold something.
    """
    private = {name for fields in PRIVATE.values() for name in fields}
    parts = [("employee_upserted", {k: v for k, v in employee.items() if k not in private})]
    parts += [(event_type, {"employee_id": employee["employee_id"],
                            **{name: employee.get(name) for name in fields}})
              for event_type, fields in PRIVATE.items()]
    out = []
    for event_type, data in parts:
        if before is None:
            fresh = event_type == "employee_upserted" or any(
                v is not None for k, v in data.items() if k != "employee_id")
        else:
            fresh = any(before.get(k) != v for k, v in data.items())
        if fresh:
            out.append((event_type, jsonable(data)))
    return out


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
    The attempt is recorded before the password is checked, in one atomic write
    that also reads the earlier ones: checking a password takes tens of
    milliseconds, and attempts that each read the count before any of them
    wrote it would all get through. An attempt that turns out locked out is
    taken back, so hammering a locked account does not keep it locked.
    """
    now = utcnow()
    # Its own id: attempts arriving within one millisecond are still told apart.
    attempt = {"at": now, "id": uuid.uuid4().hex}
    # Room for attempts still in flight beside the failures that count, so a
    # burst of them never pushes a counted failure out of the list.
    earlier = store.record_attempt(employee_id, attempt, keep=policy.max_failures + 100)
    if earlier is not None:
        until = credentials.locked_until(earlier, now, policy.max_failures, policy.window)
        if until is not None:
            store.forget_attempt(employee_id, attempt["id"])
            raise Unauthenticated(f"too many failed log-ins for {employee_id}; "
                                  f"try again after {to_iso(until)}")
    record = store.credentials(employee_id)
    employee = store.get(employee_id)
    if (not credentials.verify_password((record or {}).get("hash"), password)
            or employee is None or employee.get("departed_at")):
        # The attempt recorded above stays: it is the failure.
        log.info("failed log-in for %s", employee_id)
        raise Unauthenticated("wrong employee id or password")
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
