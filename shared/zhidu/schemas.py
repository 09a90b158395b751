"""Marshmallow building blocks shared by every service's payload schemas."""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate
from marshmallow import ValidationError as MarshmallowError

from .errors import ValidationError
from .times import parse_date, parse_time, to_iso

ROLES = (
    "staff", "dept_manager", "deputy_gm", "gm", "group_leader", "it_admin",
    "info_officer", "attendance_clerk", "inspector", "hr", "supervisor", "system",
    "gm_office", "dorm_admin",
)
# Authority order for approvals (contract: staff < dept_manager < deputy_gm < gm).
AUTHORITY = {"staff": 0, "dept_manager": 1, "deputy_gm": 2, "gm": 3}


class Time(fields.Field):
    """ISO 8601 date-time; naive values are local time in ``ZHIDU_TZ``."""

    default_error_messages = {"invalid": "Not a valid ISO 8601 date-time."}

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return parse_time(value)
        except (TypeError, ValueError) as exc:
            raise self.make_error("invalid") from exc

    def _serialize(self, value, attr, obj, **kwargs):
        return to_iso(value)


class Day(fields.Field):
    default_error_messages = {"invalid": "Not a valid ISO 8601 date (YYYY-MM-DD)."}

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return parse_date(value)
        except (TypeError, ValueError) as exc:
            raise self.make_error("invalid") from exc

    def _serialize(self, value, attr, obj, **kwargs):
        return value.isoformat() if value else None


class Actor(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.String(required=True, validate=validate.Length(min=1))
    # A claimed role proves nothing; the proven identity's role replaces it.
    role = fields.String(load_default=None, allow_none=True)


class Payload(Schema):
    """Base for request payloads: unknown fields are an error, so typos surface."""

    class Meta:
        ordered = True


def actor_field():
    """The caller, for the record. The operation layer replaces it with the proven
    identity, so callers may leave it out; one that names someone else is refused."""
    return fields.Nested(Actor, load_default=lambda: {"id": "system", "role": "system"},
                         metadata={"description": "optional; must name the caller"})


def load(schema: Schema | type[Schema], payload) -> dict:
    """Validate a payload, raising the contract's ``ValidationError``."""
    if isinstance(schema, type):
        schema = schema()
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise ValidationError({"_schema": ["payload must be a JSON object"]})
    try:
        return schema.load(payload)
    except MarshmallowError as exc:
        raise ValidationError(exc.normalized_messages()) from None


def dump(schema: Schema | type[Schema], obj, many: bool = False):
    if isinstance(schema, type):
        schema = schema()
    return schema.dump(obj, many=many)
