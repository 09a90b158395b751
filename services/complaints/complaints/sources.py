"""Cases opened by another service's event, as that service's package declares it.

A department whose records can turn into complaints (a repair the customer is
still unhappy with) publishes a :class:`zhidu.plugins.EventSource` under
``zhidu.complaint_sources``; the service attaches a handler for it at import
(service.py) and this module opens the case. The declaration maps the event's
data onto the intake of ``file`` (:data:`REQUIRED` at least, any other intake
field as well) and onto ``links.<name>``, the originating records the case
keeps; its ``key`` names the record, and one record opens one case however
often, or under however many event ids, it arrives.
"""
from __future__ import annotations

from marshmallow import ValidationError as SchemaError
from zhidu.domain import DomainValidation
from zhidu.plugins import EventSource

from . import schemas

GROUP = "zhidu.complaint_sources"
REQUIRED = ("channel", "kind", "category", "complainant", "subject", "description",
            "received_at")
# What a source may fill: the intake a desk files, less who files it.
INTAKE = frozenset(schemas.File().fields) - {"actor", "request_id"}


def check(source: EventSource) -> EventSource:
    """Refuse, at start-up, a declaration that could never open a case."""
    targets = {t.split(".", 1)[0] for t in source.provides()}
    unknown = sorted(targets - INTAKE - {"links"})
    missing = [f for f in REQUIRED if f not in targets]
    problems = [f"unknown intake fields {', '.join(unknown)}"] if unknown else []
    problems += [f"no field for {', '.join(missing)}"] if missing else []
    problems += ["a key naming the originating record is required"] if not source.key else []
    if problems:
        raise ValueError(f"{GROUP}: {source.event}: {'; '.join(problems)}")
    return source


def open_case(handling, source: EventSource, envelope: dict) -> dict:
    """Open the case an event asks for, once per originating record.

    The claim on the record's key is written with the case: a second event
    about the record finds it and opens nothing, and one racing this unit
    conflicts on the key and, run again, finds this case.
    """
    key = source.key_of(envelope["data"])
    if key is None:
        raise DomainValidation.one(source.key, f"not in {envelope['type']}: the record "
                                               "the complaint is about")
    opened = handling.store.opened_from(key)
    if opened is not None:
        return {"number": opened, "opened": False}
    data = source.read(envelope["data"])
    links = data.pop("links", {})
    if not all(isinstance(v, str) and 0 < len(v) <= 64 for v in links.values()):
        raise DomainValidation.one("links", "each link is a record's id, 1-64 characters")
    try:
        intake = schemas.File().load(data)
    except SchemaError as exc:
        raise DomainValidation(exc.messages) from None
    intake.update(
        links=links, origin={"event": envelope["type"], "event_id": envelope["id"]},
        actor=envelope.get("actor") or {"id": source.source, "role": "system"})
    filed = handling.file(intake)
    handling.store.record_opened_from(key, filed["number"], envelope["id"])
    return {**filed, "opened": True}


def handler(source: EventSource):
    """The service's handler of one declared source (see service.py)."""
    check(source)

    def handle(service, envelope):
        return open_case(service._app(), source, envelope)
    return handle
