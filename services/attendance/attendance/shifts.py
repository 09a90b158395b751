"""Shifts (班次): the clock times a roster entry stands for.

A shift is a code and local start/end clock times. Customer service runs a
three-shift duty (三班制, 002 §1.2.1), so a shift whose end is at or before its
start runs past midnight into the next day: ``22:00–06:00`` on the roster date
2026-03-01 ends at 06:00 on 2026-03-02. ``end == start`` is a full 24-hour duty
(002 §2 四.3 "24小时值班制度").

A shift belongs to the roster date on which it *starts*; that date is the
attendance day the evaluation, the leave check and the violation keys use.
Clock times are local (``ZHIDU_TZ``); instants are converted to UTC so the
store and every other service agree on them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from zhidu.domain import Problems
from zhidu.times import UTC, local_tz, parse_date

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def parse_hhmm(text) -> time:
    """``"HH:MM"`` (00:00–23:59) → ``time``; ``ValueError`` otherwise."""
    match = _HHMM.match(str(text).strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"expected HH:MM between 00:00 and 23:59, got {text!r}")
    return time(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class Shift:
    code: str
    start: time
    end: time

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    @property
    def minutes(self) -> int:
        start = self.start.hour * 60 + self.start.minute
        end = self.end.hour * 60 + self.end.minute
        return end - start if end > start else end - start + 24 * 60

    def as_dict(self) -> dict:
        """Stored shape: ``{code, start: "HH:MM", end: "HH:MM", crosses_midnight, minutes}``."""
        return {"code": self.code, "start": self.start.strftime("%H:%M"),
                "end": self.end.strftime("%H:%M"),
                "crosses_midnight": self.crosses_midnight, "minutes": self.minutes}


def define_shift(code, start, end) -> Shift:
    """Validate a ``define_shift`` payload; ``DomainValidation`` names each bad field."""
    problems = Problems()
    if not isinstance(code, str) or not _CODE.match(code):
        problems.add("code", "1–32 letters, digits, '_' or '-'")
    parsed = {}
    for name, value in (("start", start), ("end", end)):
        try:
            parsed[name] = parse_hhmm(value)
        except ValueError as exc:
            problems.add(name, str(exc))
    problems.raise_if_any()
    return Shift(code, parsed["start"], parsed["end"])


def shift_from_dict(data: dict) -> Shift:
    """Rebuild a stored shift (the ``as_dict`` shape)."""
    return define_shift(data.get("code"), data.get("start"), data.get("end"))


def shift_instants(roster_date, shift: Shift,
                   tz: ZoneInfo | None = None) -> tuple[datetime, datetime]:
    """UTC start and end of ``shift`` worked on ``roster_date`` (local ``tz``).

    Local wall times are resolved by ``zoneinfo`` (fold=0), which matters only
    in zones with daylight saving; Asia/Shanghai has none.
    """
    tz = tz or local_tz()
    day: date = parse_date(roster_date)
    start = datetime.combine(day, shift.start, tzinfo=tz)
    end_day = day + timedelta(days=1) if shift.crosses_midnight else day
    end = datetime.combine(end_day, shift.end, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)
