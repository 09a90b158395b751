"""The event envelope every service publishes and consumes (contract: Events).

``correlation_id`` follows a chain from its first cause to its last effect;
``causation_id`` names the event that directly caused this one. Ids of events a
handler emits are derived from the event it handled, so a handler that runs
twice emits the same ids and downstream de-duplication absorbs the repeat.
"""
from __future__ import annotations

import uuid

from marshmallow import INCLUDE, Schema, fields, validate
from marshmallow import ValidationError as MarshmallowError

from .errors import ValidationError
from .times import to_iso, utcnow

# Fixed namespace for derived ids: changing it would break de-duplication
# across a rolling upgrade.
_ID_NAMESPACE = uuid.UUID("6f1d2f6e-4b8a-4c55-9d1e-7a4f3c2b9e10")


class EnvelopeSchema(Schema):
    class Meta:
        unknown = INCLUDE  # consumers tolerate fields added later

    id = fields.String(required=True, validate=validate.Length(min=1))
    type = fields.String(required=True, validate=validate.Regexp(r"^[a-z_]+\.[a-z_]+$"))
    version = fields.Integer(required=True, validate=validate.Range(min=1))
    source = fields.String(required=True)
    time = fields.String(required=True)
    correlation_id = fields.String(required=True)
    causation_id = fields.String(required=True, allow_none=True)
    data = fields.Dict(required=True)


def derived_id(*parts) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, ":".join(str(p) for p in parts)))


def make_envelope(source: str, event_type: str, data: dict, *, cause: dict | None = None,
                  correlation_id: str | None = None, event_id: str | None = None,
                  version: int = 1, at=None, actor: dict | None = None) -> dict:
    """Build an envelope; ``cause`` is the envelope of the event being handled.

    ``actor`` is the proven person (or service account) whose call caused the
    event; events caused by events inherit it from their cause.
    """
    if cause is not None:
        correlation_id = cause.get("correlation_id") or cause["id"]
        actor = actor or cause.get("actor")
    event_id = event_id or str(uuid.uuid4())
    envelope = {
        "id": event_id,
        "type": f"{source}.{event_type}",
        "version": version,
        "source": source,
        "time": to_iso(at or utcnow()),
        "correlation_id": correlation_id or event_id,
        "causation_id": cause["id"] if cause else None,
        "data": data,
    }
    if actor:
        envelope["actor"] = {"id": actor["id"], "role": actor.get("role")}
    return envelope


_ENVELOPE = EnvelopeSchema()


def validate_envelope(body) -> dict:
    if not isinstance(body, dict):
        raise ValidationError({"_schema": ["event body must be a JSON object"]})
    try:
        _ENVELOPE.load(body)
    except MarshmallowError as exc:
        raise ValidationError(exc.normalized_messages()) from None
    return body


def event_name(envelope: dict) -> str:
    """The routing key (``violation_recorded``) of ``dormitory.violation_recorded``."""
    return envelope["type"].split(".", 1)[1]
