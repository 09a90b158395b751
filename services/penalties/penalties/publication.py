"""Monthly publication (公示, 000 §4 附加说明.1).

"At the start of each month, last month's deductions per unit": the
``(year, month)`` given is the month of publication, and the content covers
the month before it (``covers``). Decisions:

- Only live penalties are published: an entry whose appeal was upheld is not
  shown at all (a public list is no place for a cleared person), and rewards
  are not deductions.
- Entries are grouped by the unit the person belongs to *now* (the directory
  copy the caller passes); people missing from it are under ``unit: null``.
- Units sorted by name (null last), people by employee id, entries by time.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from .accounts import totals
from .ledger import live_entries, previous_month, sort_key


def publication(entries: Iterable[Mapping], people: Mapping[str, Mapping], *,
                year: int, month: int) -> dict:
    """Deductions of the month before (year, month), per unit and person.

    ``entries``: at least the covered month's entries (others are ignored).
    ``people``: employee id → ``{"unit": str, "name": str?}``.
    """
    cy, cm = previous_month(year, month)
    covered = [e for e in live_entries(entries) if e["year"] == cy
               and e["month"] == cm and e["kind"] == "penalty"]
    by_unit: dict = defaultdict(lambda: defaultdict(list))
    for e in covered:
        info = people.get(e["employee_id"]) or {}
        by_unit[info.get("unit")][e["employee_id"]].append(e)

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
        units.append({"unit": unit, "points_total": t["points_total"],
                      "amount_yuan_total": t["amount_yuan_total"],
                      "penalty_count": t["penalty_count"], "people": persons})
    return {"year": year, "month": month, "covers": {"year": cy, "month": cm},
            "units": units}
