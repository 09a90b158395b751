"""Monthly publication (公示, 000 §4 附加说明.1).

"At the start of each month, last month's deductions per unit": the
``(year, month)`` given is the month of publication, and the content covers
the month before it (``covers``). Decisions:

- Only live penalties are published: an entry whose appeal was upheld is not
  shown at all (a public list is no place for a cleared person), and rewards
  are not deductions.
- Entries are grouped by the unit they were booked in (each entry records
  its person's unit then); an entry without one — booked before entries
  recorded it, or for someone the directory copy did not place — goes by the
  unit the person belongs to now (the directory copy the caller passes), and
  people missing from that too are under ``unit: null``.
- Each unit carries its ``flags`` (``units.unit_flags``) as they stood at the
  end of the month covered: an admonishment's 5 % off the unit's annual
  performance pay, lost award eligibility, B02 booked on its head.
- Units sorted by name (null last), people by employee id, entries by time.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from .accounts import totals
from .ledger import live_entries, previous_month, sort_key
from .units import unit_flags


def publication(entries: Iterable[Mapping], people: Mapping[str, Mapping], *,
                year: int, month: int, raised: Iterable[Mapping] = ()) -> dict:
    """Deductions of the month before (year, month), per unit and person.

    ``entries``: at least the covered month's entries (others are ignored).
    ``people``: employee id → ``{"unit": str, "name": str?}``.
    ``raised``: the units' consequences of the covered year (store records).
    """
    cy, cm = previous_month(year, month)
    covered = [e for e in live_entries(entries) if e["year"] == cy
               and e["month"] == cm and e["kind"] == "penalty"]
    by_unit: dict = defaultdict(lambda: defaultdict(list))
    for e in covered:
        unit = e.get("unit") or (people.get(e["employee_id"]) or {}).get("unit")
        by_unit[unit][e["employee_id"]].append(e)
    raised = list(raised)

    units = []
    for unit in sorted(by_unit, key=lambda u: (u is None, u or "")):
        persons = []
        for emp in sorted(by_unit[unit]):
            es = sorted(by_unit[unit][emp], key=sort_key)
            t = totals(es)
            persons.append({"employee_id": emp,
                            "name": (people.get(emp) or {}).get("name"),
                            "points_total": t["points_total"],
                            "amount_yuan_total": t["amount_yuan_total"],
                            "penalty_count": t["penalty_count"],
                            "entries": es})
        t = totals(e for es in by_unit[unit].values() for e in es)
        flags = None if unit is None else unit_flags(
            [r for r in raised if r["unit"] == unit], year=cy, through_month=cm)
        units.append({"unit": unit, "points_total": t["points_total"],
                      "amount_yuan_total": t["amount_yuan_total"],
                      "penalty_count": t["penalty_count"], "flags": flags,
                      "people": persons})
    return {"year": year, "month": month, "covers": {"year": cy, "month": cm},
            "units": units}
