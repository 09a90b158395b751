"""Time conventions of the contract.

Times cross the wire as ISO 8601 strings. A string with an offset is taken as
given; a naive one is local time in ``ZHIDU_TZ``. Everything stored or replied is
UTC, so two services never disagree on what "now" meant.
"""
from __future__ import annotations

import os
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

UTC = timezone.utc
DEFAULT_TZ = "Asia/Shanghai"


def local_tz() -> ZoneInfo:
    return ZoneInfo(os.environ.get("ZHIDU_TZ", DEFAULT_TZ))


def parse_time(value, tz: ZoneInfo | None = None) -> datetime:
    """Parse an ISO string (or accept a datetime) into an aware UTC datetime.

    Raises ``ValueError`` on anything else; callers turn that into a
    field-named validation error.
    """
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        dt = datetime.fromisoformat(text)
    else:
        raise ValueError("expected an ISO 8601 date-time string")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz or local_tz())
    return dt.astimezone(UTC)


def parse_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value.strip())
    raise ValueError("expected an ISO 8601 date string")


def to_iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    if dt.tzinfo is None:  # pymongo hands back naive UTC unless tz_aware
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat()


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(dt: datetime) -> datetime:
    """Stored datetimes come back naive from some drivers; they are UTC."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def local_date(dt: datetime, tz: ZoneInfo | None = None) -> date:
    return as_utc(dt).astimezone(tz or local_tz()).date()
