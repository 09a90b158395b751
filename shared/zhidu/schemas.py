"""Marshmallow building blocks shared by every service's payload schemas."""
from __future__ import annotations

from datetime import datetime, timedelta

from marshmallow import EXCLUDE, Schema, fields, validate
from marshmallow import ValidationError as MarshmallowError

from .config import setting
from .errors import ValidationError
from .times import parse_date, parse_time, to_iso, utcnow

ROLES = (
    "staff", "dept_manager", "deputy_gm", "gm", "group_leader", "it_admin",
    "info_officer", "attendance_clerk", "inspector", "hr", "supervisor", "system",
    "gm_office", "dorm_admin",
)
# Authority order for approvals (contract: staff < dept_manager < deputy_gm < gm).
AUTHORITY = {"staff": 0, "dept_manager": 1, "deputy_gm": 2, "gm": 3}


# Signed 64-bit: what BSON stores. A larger integer is refused at the door
# rather than failing in the driver.
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
# Where no schema knows better, no string is longer than this.
MAX_STRING = 10000
# The largest sum of money any payload names (yuan): remedies, fines, wages.
MAX_YUAN = 10_000_000


def time_window(config: dict | None = None) -> tuple[datetime, datetime]:
    """The earliest and latest time a caller may send (``ZHIDU_TIME_MIN`` and
    ``ZHIDU_TIME_MAX_AHEAD_DAYS``)."""
    earliest = parse_time(str(setting(config, "ZHIDU_TIME_MIN")))
    ahead = float(setting(config, "ZHIDU_TIME_MAX_AHEAD_DAYS"))
    return earliest, utcnow() + timedelta(days=ahead)


def at_tolerance(config: dict | None = None) -> timedelta:
    return timedelta(seconds=float(setting(config, "ZHIDU_AT_TOLERANCE_SECONDS")))


class Time(fields.Field):
    """ISO 8601 date-time; naive values are local time in ``ZHIDU_TZ``.

    Every value must fall in the configured window; one that records when
    something happened (``happened=True``, the default for a field named
    ``at``) may lie in the future by ``ZHIDU_AT_TOLERANCE_SECONDS`` at most.
    ``max_ahead_days`` widens the window's end for a field that plans ahead.
    """

    default_error_messages = {
        "invalid": "Not a valid ISO 8601 date-time.",
        "too_early": "Must not be before {earliest}.",
        "too_late": "Must not be after {latest}.",
        "future": "Must not be in the future (it records when something happened).",
    }

    def __init__(self, *, happened: bool | None = None, max_ahead_days: float | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.happened = happened
        self.max_ahead_days = max_ahead_days

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and len(value) > 64:
            raise self.make_error("invalid")
        try:
            moment = parse_time(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise self.make_error("invalid") from exc
        self._check(moment, attr)
        return moment

    def _check(self, moment: datetime, attr) -> None:
        earliest, latest = time_window()
        if self.max_ahead_days is not None:
            latest = utcnow() + timedelta(days=self.max_ahead_days)
        happened = self.happened if self.happened is not None else attr == "at"
        if moment < earliest:
            raise self.make_error("too_early", earliest=earliest.isoformat())
        if happened and moment > utcnow() + at_tolerance():
            raise self.make_error("future")
        if moment > latest:
            raise self.make_error("too_late", latest=latest.isoformat())

    def _serialize(self, value, attr, obj, **kwargs):
        return to_iso(value)


class Day(fields.Field):
    """ISO 8601 date inside the same window as :class:`Time`."""

    default_error_messages = {
        "invalid": "Not a valid ISO 8601 date (YYYY-MM-DD).",
        "too_early": "Must not be before {earliest}.",
        "too_late": "Must not be after {latest}.",
    }

    def __init__(self, *, max_ahead_days: float | None = None, earliest: str | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.max_ahead_days = max_ahead_days
        # A date of record older than the window (a hiring date) names its own.
        self.earliest = parse_date(earliest) if earliest else None

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and len(value) > 32:
            raise self.make_error("invalid")
        try:
            day = parse_date(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise self.make_error("invalid") from exc
        earliest, latest = time_window()
        if self.max_ahead_days is not None:
            latest = utcnow() + timedelta(days=self.max_ahead_days)
        first = self.earliest or earliest.date()
        if day < first:
            raise self.make_error("too_early", earliest=first.isoformat())
        if day > latest.date():
            raise self.make_error("too_late", latest=latest.date().isoformat())
        return day

    def _serialize(self, value, attr, obj, **kwargs):
        return value.isoformat() if value else None


def _no_lone_surrogates(value) -> None:
    # A lone surrogate cannot be encoded as UTF-8: the database driver, the
    # JSON reply and every consumer of an event would fail on it later.
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise MarshmallowError("Not valid Unicode text (a lone surrogate).") from None


def bound_field(field: fields.Field) -> None:
    """Give a field the limits every payload shares, unless it states its own:
    integers within signed 64 bits, strings of valid Unicode and bounded length."""
    if isinstance(field, fields.Integer):
        if not any(isinstance(v, validate.Range) for v in field.validators):
            field.validators.append(validate.Range(min=INT64_MIN, max=INT64_MAX))
    elif isinstance(field, fields.String):
        if not any(isinstance(v, (validate.Length, validate.OneOf, validate.Equal))
                   for v in field.validators):
            field.validators.append(validate.Length(max=MAX_STRING))
        if _no_lone_surrogates not in field.validators:
            field.validators.append(_no_lone_surrogates)
    elif isinstance(field, fields.List):
        bound_field(field.inner)
    elif isinstance(field, fields.Dict):
        for part in (field.key_field, field.value_field):
            if part is not None:
                bound_field(part)


class Actor(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.String(required=True, validate=validate.Length(min=1))
    # A claimed role proves nothing; the proven identity's role replaces it.
    role = fields.String(load_default=None, allow_none=True)

    def on_bind_field(self, field_name, field_obj):
        super().on_bind_field(field_name, field_obj)
        bound_field(field_obj)


class Payload(Schema):
    """Base for request payloads: unknown fields are an error, so typos surface."""

    class Meta:
        ordered = True

    def on_bind_field(self, field_name, field_obj):
        super().on_bind_field(field_name, field_obj)
        bound_field(field_obj)


def actor_field():
    """The caller, for the record. The operation layer replaces it with the proven
    identity, so callers may leave it out; one that names someone else is refused."""
    return fields.Nested(Actor, load_default=lambda: {"id": "system", "role": "system"},
                         metadata={"description": "optional; must name the caller"})


MAX_ERROR_ENTRIES = 20
MAX_ERROR_TEXT = 2000
MAX_ERROR_KEY = 200


def bounded_messages(value, depth: int = 0):
    """Error messages cut to a readable size: at most 20 entries a level, short
    keys and texts, a few levels deep; what was left out is counted."""
    if isinstance(value, dict):
        out = {}
        for index, (key, item) in enumerate(value.items()):
            if index == MAX_ERROR_ENTRIES:
                out["_truncated"] = [f"{len(value) - MAX_ERROR_ENTRIES} more not shown"]
                break
            if isinstance(key, str) and len(key) > MAX_ERROR_KEY:
                key = key[:MAX_ERROR_KEY] + "..."
            out[bounded_messages(key, depth) if isinstance(key, str) else key] = (
                bounded_messages(item, depth + 1) if depth < 6 else "...")
        return out
    if isinstance(value, (list, tuple)):
        items = [bounded_messages(item, depth + 1) for item in value[:MAX_ERROR_ENTRIES]]
        if len(value) > MAX_ERROR_ENTRIES:
            items.append(f"{len(value) - MAX_ERROR_ENTRIES} more not shown")
        return items
    if isinstance(value, str):
        text = value if len(value) <= MAX_ERROR_TEXT else value[:MAX_ERROR_TEXT] + "..."
        return text.encode("utf-8", "replace").decode("utf-8")
    return value


_INSTANCES: dict[type, Schema] = {}


def instance(schema: Schema | type[Schema]) -> Schema:
    """One instance per schema class: building one copies every declared field,
    which cost more than the load itself on every call and event. Our schemas
    keep no per-call state, so one instance serves every greenthread."""
    if not isinstance(schema, type):
        return schema
    found = _INSTANCES.get(schema)
    if found is None:
        found = _INSTANCES[schema] = schema()
    return found


def load(schema: Schema | type[Schema], payload) -> dict:
    """Validate a payload, raising the contract's ``ValidationError``."""
    schema = instance(schema)
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise ValidationError({"_schema": ["payload must be a JSON object"]})
    try:
        return schema.load(payload)
    except MarshmallowError as exc:
        raise ValidationError(bounded_messages(exc.normalized_messages())) from None


def dump(schema: Schema | type[Schema], obj, many: bool = False):
    return instance(schema).dump(obj, many=many)
