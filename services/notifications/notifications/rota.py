"""Who is on call (值班): the duty rota as attendance publishes it, and the fallbacks.

Attendance marks on-call shifts on its published rosters and announces every
published or approved change that touches one (``attendance.duty_rostered``);
this service keeps a copy, one entry per employee and roster date, the newest
announcement winning. :func:`on_call` answers "who is on call for department
D at instant T" from that copy alone, so the answer never waits on another
service being up — which is exactly when it is asked.

An alert must never reach nobody: no rota entry covering the instant → the
department's manager (directory copy) → the configured fallback group → the
shared on-call inbox named in ``rules/oncall.yaml``.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from zhidu.times import as_utc, parse_time

ROTA, MANAGER, FALLBACK, LAST_RESORT = "rota", "manager", "fallback", "last_resort"


@dataclass(frozen=True)
class OnCall:
    """The people to tell, and which rung of the chain named them."""

    people: tuple[str, ...]
    source: str


def covers(entry: Mapping, department: str, at: datetime) -> bool:
    """An on-call entry of ``department`` whose shift has started and not yet ended at ``at``."""
    if not entry.get("on_call") or entry.get("department") != department:
        return False
    start, end = entry.get("start"), entry.get("end")
    if start is None or end is None:
        return False
    return _instant(start) <= at < _instant(end)


def on_call(entries: Iterable[Mapping], department: str, at: datetime, *,
            managers: Iterable[str] = (), fallback: Iterable[str] = (),
            last_resort: str) -> OnCall:
    """Who is on call for ``department`` at ``at``.

    ``entries`` are the rota copy's entries (``{employee_id, department,
    start, end, on_call}``, instants in UTC; a night shift ends on the next
    day, a 24-hour duty a day after it starts). Everyone whose on-call shift
    covers ``at`` is on call — at a handover both sides are — earliest start
    first. With nobody rostered: the department's ``managers``, then the
    ``fallback`` group, then the ``last_resort`` inbox.
    """
    at = as_utc(at)
    rostered = sorted((e for e in entries if covers(e, department, at)),
                      key=lambda e: (_instant(e["start"]), str(e["employee_id"])))
    for people, source in (([e["employee_id"] for e in rostered], ROTA),
                           (list(managers), MANAGER), (list(fallback), FALLBACK)):
        people = tuple(dict.fromkeys(str(p) for p in people if p))
        if people:
            return OnCall(people, source)
    return OnCall((last_resort,), LAST_RESORT)


def duty_entries(event_data: Mapping) -> list[dict]:
    """The copy's documents for one ``attendance.duty_rostered`` event.

    Every entry the event names replaces what the copy holds for that
    employee and date: an approved change that takes someone off call comes
    as ``on_call: false`` and removes them from the rota.
    """
    found = []
    for raw in event_data.get("entries") or ():
        if not isinstance(raw, Mapping) or not raw.get("employee_id") or not raw.get("date"):
            continue
        found.append({
            "_id": f"{raw['employee_id']}:{raw['date']}",
            "employee_id": str(raw["employee_id"]), "date": str(raw["date"]),
            "department": raw.get("department"), "shift_code": raw.get("shift_code"),
            "on_call": bool(raw.get("on_call")),
            "start": _instant(raw["start"]) if raw.get("start") else None,
            "end": _instant(raw["end"]) if raw.get("end") else None,
        })
    return found


def _instant(value) -> datetime:
    return as_utc(value) if isinstance(value, datetime) else parse_time(value)
