"""What one call works with, and the authority its caller carries."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from zhidu.domain import DomainNotFound
from zhidu.times import as_utc
from zhidu.uow import in_unit

from ..roles import acting_role, effective_role, satisfies


@dataclass(frozen=True)
class Caller:
    """The proven caller: their id, every role they hold, and the directory copy
    of anyone (``person(employee_id)``) their authority is judged against."""

    id: str
    roles: tuple[str, ...]
    person: Callable[[str], dict | None]

    @classmethod
    def of(cls, guard) -> Caller | None:
        """The caller a worker's guard proved (the service itself for timers and events)."""
        principal = guard.principal
        if principal is None:
            return None
        return cls(principal.id, tuple(principal.roles), guard.person)


@dataclass
class Work:
    """One call's unit of work."""

    store: object
    outbox: object
    rules: object
    tally: object
    caller: Caller | None = None

    def unit(self, body: Callable[[], object]):
        """Run ``body`` as one unit with the events and counts it produced.

        Inside a running unit (an operation that is one) it simply joins it.
        Otherwise the events are written to the outbox in the same
        transaction, and a re-run first drops what the last run emitted and
        counted; the counts are kept once the unit committed.
        """
        outermost = not in_unit()
        events, counts = self.outbox.mark(), self.tally.mark()

        def run():
            result = body()
            self.outbox.persist()
            return result

        def again():
            self.outbox.rollback(events)
            self.tally.rollback(counts)

        result = self.store.unit(run, on_retry=again)
        if outermost:
            self.tally.keep()
        return result


def millis(moment: datetime) -> datetime:
    """MongoDB keeps milliseconds; trimming first keeps keys and stored times equal."""
    moment = as_utc(moment)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def acting(work: Work, employee_ids: Iterable[str] = (), needed: str | None = None) -> dict:
    """The caller, in the role they act in towards these employees.

    Who may call at all is settled by the permissions file; this is how much
    authority the caller carries on the domain's ladders: the role they hold
    that carries ``needed``, or ``supervisor`` when they are the direct
    superior of every employee concerned.
    """
    caller, ladder = work.caller, work.rules.attendance.ladder
    role = acting_role(caller.roles, needed, ladder)
    if needed is None or not satisfies(role, needed, ladder):
        people = [caller.person(e) for e in sorted(set(employee_ids))]
        role = effective_role({"id": caller.id, "role": role}, people, ladder)
    return {"id": caller.id, "role": role}


def people_asked(store, payload: dict) -> list[str] | None:
    """The employees a list query names: one person, a department, both, or everyone."""
    ids = None
    if payload.get("department"):
        ids = set(store.department_members(payload["department"]))
    if payload.get("employee_id"):
        ids = {payload["employee_id"]} if ids is None else ids & {payload["employee_id"]}
    return None if ids is None else sorted(ids)


def found(record: dict | None, what: str) -> dict:
    if record is None:
        raise DomainNotFound(f"{what} not found")
    return record
