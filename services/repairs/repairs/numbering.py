"""Work-order numbers: ``RYYMM-NNNN``, the complaints' monthly scheme
(001 §1 第八条) with the repairs prefix — the local year and month of receipt
and a serial restarting every month, wider past 9999 rather than cut."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from zhidu.times import as_utc, local_tz


def counter_key(received_at: datetime, tz: ZoneInfo | None = None) -> str:
    """``YYMM`` of the local month: an order taken at 00:30 on the 1st belongs to it."""
    local = as_utc(received_at).astimezone(tz or local_tz())
    return f"{local.year % 100:02d}{local.month:02d}"


def number_for(prefix: str, month_key: str, serial: int, digits: int) -> str:
    if serial < 1:
        raise ValueError(f"serial must be positive: {serial}")
    return f"{prefix}{month_key}-{serial:0{digits}d}"
