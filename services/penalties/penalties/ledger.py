"""The ledger entry document and helpers every other module shares.

An entry is a plain dict, ready for MongoDB (``entry_id`` as the unique key,
datetimes timezone-aware UTC). The ledger is append-only: nothing is ever
updated except an entry's ``appeal`` sub-document; an upheld appeal adds a
*reversing* entry instead of deleting the original.

Entry fields::

    entry_id        str   deterministic (see ``entry_id``), unique index
    employee_id     str   whose account the entry is on
    offender_id     str   whose incident caused it (== employee_id for "individual")
    share           str   individual | team_leader | dept_manager | unit_head |
                          supervisor | group_leader   (contract enum)
    percent         int|None  the share's percentage when a split applied
    kind            str   penalty | reward
    domain, code, title_zh, title_en   the catalogue rule
    incident_id     str   the incident (inspection, complaint number, meeting ...)
    at              datetime (UTC)  when the incident happened
    year, month     int   the period of ``at`` in ZHIDU_TZ (ledgers are per year,
                          ceilings and publication per month)
    unit            str|None  the unit (单位) the person was in when it was
                          booked, from the directory copy (the ledger writer
                          sets it; units.py counts by it)
    points          int|float  signed: penalties > 0, point rewards < 0;
                          0.1-point granularity
    amount_yuan     int   money of the entry, a magnitude: to deduct for a
                          penalty, to pay for a reward (negative on reversals)
    deducted_yuan   int   the part of a penalty's money actually deducted this
                          month (after the legal ceiling); 0 for rewards
    capped_yuan     int   the part above the ceiling, recorded, not deducted
    basis           dict  how the amount was reached (value, nth, override,
                          range default, combine mode, suppressed codes ...)
    notes           list[str]  decisions taken while booking (skipped shares ...)
    reverses        str|None   on a reversing entry: the original's entry_id
                          (a reversal copies the original's fields, negates
                          points and money, and adds ``decided_at``)
    appeal          dict  {"status": "none"|"pending"|"upheld"|"rejected", ...}
    source          str|None   e.g. "dormitory.violation_recorded" or "manual"
    actor           dict|None  {"id", "role"} of a manual booking
    note            str|None   free text given with the incident
    notice_id       str   (booked from a penalty notice) the notice the GM signed
    approved_by     dict  (booked from a penalty notice) {"id", "role"} of the GM
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from zhidu.times import as_utc, local_tz

# Fixed forever: changing it would change every entry id and break idempotency.
ENTRY_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://zhidu/penalties/entry")
_SEP = "\x1f"  # cannot occur in ids, so joined keys are unambiguous


def entry_id(incident_id: str, code: str, share: str, employee_id: str,
             offender_id: str | None = None) -> str:
    """Deterministic id of the entry an incident yields for one person and share.

    Re-booking the same incident gives the same ids, so the store can insert
    with a unique index and ignore duplicates. The offender is part of the key
    (defaults to ``employee_id``): one complaint against two subordinates of the
    same supervisor yields two supervisor entries, not one.
    """
    key = _SEP.join([str(incident_id), code, share, str(employee_id),
                     str(offender_id if offender_id is not None else employee_id)])
    return str(uuid.uuid5(ENTRY_NAMESPACE, key))


def reversal_id(original_entry_id: str) -> str:
    """Deterministic id of the entry reversing ``original_entry_id``."""
    return str(uuid.uuid5(ENTRY_NAMESPACE, _SEP.join(["reversal", original_entry_id])))


def period_of(at: datetime, tz: ZoneInfo | None = None) -> tuple[int, int]:
    """(year, month) of a moment in the company's time zone.

    A penalty at 2026-11-30T20:00Z is on 1 December in Shanghai; the month the
    employee and HR see is the local one.
    """
    local = as_utc(at).astimezone(tz or local_tz())
    return local.year, local.month


def previous_month(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


def reversed_ids(entries: Iterable[Mapping]) -> set[str]:
    return {e["reverses"] for e in entries if e.get("reverses")}


def live_entries(entries: Iterable[Mapping]) -> list[Mapping]:
    """Entries still in force: originals that were reversed and the reversing
    entries themselves are dropped, so a pair nets out for counting rules
    (penalty counts, complaint ordinals, thresholds)."""
    entries = list(entries)
    gone = reversed_ids(entries)
    return [e for e in entries if not e.get("reverses") and e["entry_id"] not in gone]


def sort_key(entry: Mapping):
    return (as_utc(entry["at"]), entry["entry_id"])
