"""Shifts, rosters and the holiday roster check (002 §1)."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from zhidu.domain import DomainConflict
from zhidu.times import to_iso, utcnow

from ..rosters import (
    apply_roster,
    duty_touched,
    entry_key,
    holiday_periods,
    holidays_lacking_roster,
    same_duty,
)
from ..shifts import define_shift as plan_shift
from ..shifts import shift_from_dict, shift_instants
from .work import acting, people_asked

# A department "runs shift duty" if it rostered anyone on a non-working day
# within this many days before a holiday; day-staff departments need no
# holiday roster.
DUTY_LOOKBACK_DAYS = 31


def catalog(rules) -> list[dict]:
    return rules.attendance.catalogue.as_list() + rules.meetings.catalogue.as_list()


def define_shift(work, payload: dict) -> dict:
    """Define a shift once; the same definition again answers with it."""
    shift = plan_shift(payload["code"], payload["start"], payload["end"]).as_dict()
    if work.store.insert_shift(shift):
        return shift
    existing = work.store.shift(shift["code"])
    if (existing["start"], existing["end"]) != (shift["start"], shift["end"]):
        raise DomainConflict(f"shift {shift['code']} is already defined as "
                             f"{existing['start']}-{existing['end']}; rostered days rely on "
                             "it, so define a new code instead")
    return existing


def set_roster(work, payload: dict) -> dict:
    """Add or change roster entries; a change to a published one needs the supervisor."""
    store, policy = work.store, work.rules.attendance
    at = payload["at"] or utcnow()
    entries = [dict(e, date=e["date"].isoformat()) for e in payload["entries"]]
    shifts = {s["code"]: shift_from_dict(s) for s in store.shifts()}
    existing = store.roster_entries(entry_key(e["employee_id"], e["date"]) for e in entries)
    changing = [e["employee_id"] for e in entries
                if (old := existing.get(entry_key(e["employee_id"], e["date"])))
                and old.get("published") and not same_duty(old, e)]
    actor = acting(work, changing, policy.roster.change_approver_role) \
        if changing else payload["actor"]
    plan = apply_roster(existing, entries, publish=payload["published"], actor=actor,
                        at=at, shifts=shifts, policy=policy,
                        reason=payload["reason"], tz=work.rules.tz)
    store.save_roster(plan["entries"], existing, plan["changes"])
    announce_duty(work, duty_touched(existing, plan["entries"]), shifts, at)
    announce_changes(work, plan["changes"], plan["entries"], at)
    return {"saved": len(plan["entries"]), "unchanged": len(entries) - len(plan["entries"]),
            "published": payload["published"], "changes": plan["changes"]}


def announce_duty(work, entries: list[dict], shifts: dict, at: datetime) -> None:
    """Tell who is on call (值班) when, for the services that page people."""
    if not entries:
        return
    departments = work.store.departments_of({e["employee_id"] for e in entries})
    announced = []
    for e in entries:
        start, end = shift_instants(e["date"], shifts[e["shift_code"]], work.rules.tz)
        announced.append({"employee_id": e["employee_id"],
                          "department": departments.get(e["employee_id"]),
                          "date": e["date"], "shift_code": e["shift_code"],
                          "on_call": bool(e.get("on_call")),
                          "start": start.isoformat(), "end": end.isoformat()})
    work.outbox.emit("duty_rostered", {"entries": announced},
                     key=f"duty:{at.isoformat()}:{announced[0]['employee_id']}:"
                         f"{announced[0]['date']}", at=at)


def announce_changes(work, changes: list[dict], entries: list[dict], at: datetime) -> None:
    """A changed published roster is told to each person whose shifts changed
    (排班表如经修改,需通知…相关部门及人员, 002 §1 1.1.7): one event per person."""
    if not changes:
        return
    on_call = {e["key"]: bool(e.get("on_call")) for e in entries}
    by_person: dict[str, list[dict]] = {}
    for change in sorted(changes, key=lambda c: (c["employee_id"], c["date"])):
        by_person.setdefault(change["employee_id"], []).append(change)
    departments = work.store.departments_of(set(by_person))
    for employee_id, mine in by_person.items():
        first = mine[0]
        work.outbox.emit("roster_changed", {
            "employee_id": employee_id, "department": departments.get(employee_id),
            "changes": [{"date": c["date"], "from_shift": c["from_shift"],
                         "to_shift": c["to_shift"], "on_call": on_call.get(c["key"], False)}
                        for c in mine],
            "days": [f"{c['date']} {c['from_shift']} → {c['to_shift']}" for c in mine],
            "approved_by": first["approved_by"],
            "approver_id": (first["approved_by"] or {}).get("id"), "reason": first["reason"],
            "at": to_iso(at)},
            key=f"roster_change:{employee_id}:{at.isoformat()}:{first['date']}", at=at)


def days_announced(envelope) -> list[str] | None:
    """The days a ``duty_rostered`` or ``roster_changed`` changed; None when the
    event does not say (every day is then taken as changed)."""
    data = envelope.get("data") if isinstance(envelope, dict) else None
    items = None
    if isinstance(data, dict):
        items = data.get("entries", data.get("changes"))
    if not isinstance(items, list):
        return None
    days = [item.get("date") if isinstance(item, dict) else None for item in items]
    if not all(isinstance(day, str) for day in days):
        return None
    return days


def get_roster(store, payload: dict) -> list[dict]:
    return store.roster_between(payload["date_from"].isoformat(),
                                payload["date_to"].isoformat(),
                                employee_ids=people_asked(store, payload))


def holiday_roster_check(work, payload: dict) -> list[dict]:
    rules, gaps = work.rules, []
    departments = [payload["department"]] if payload["department"] else None
    for period in holiday_periods(payload["year"], payload["month"], rules.calendar,
                                  rules.attendance):
        gaps += holiday_gaps(work, payload["year"], payload["month"], period,
                             payload["now"], departments)
    return gaps


def duty_departments(work, first_day: date) -> set:
    """Departments that rostered someone on a non-working day shortly before."""
    store = work.store
    since = first_day - timedelta(days=DUTY_LOOKBACK_DAYS)
    entries = store.roster_between(since.isoformat(),
                                   (first_day - timedelta(days=1)).isoformat())
    calendar = work.rules.calendar
    on_duty = {e["employee_id"] for e in entries
               if not calendar.is_working_day(date.fromisoformat(e["date"]))}
    known = store.departments_of(on_duty)
    return set(known.values()) | ({None} if on_duty - set(known) else set())


def holiday_gaps(work, year: int, month: int, period: dict, now: datetime | None,
                 departments=None) -> list[dict]:
    """The departments whose roster leaves days of this holiday period uncovered."""
    store, rules = work.store, work.rules
    days = period["days_in_month"]
    entries = store.roster_between(days[0].isoformat(), days[-1].isoformat())
    dept_of = store.departments_of({e["employee_id"] for e in entries})
    if departments is None:
        departments = duty_departments(work, period["first_day"])
    # One pass to group, not one scan of every entry per department.
    by_department: dict = {}
    for e in entries:
        by_department.setdefault(dept_of.get(e["employee_id"]), []).append(e)
    gaps = []
    for department in sorted(departments, key=str):
        mine = by_department.get(department, [])
        for gap in holidays_lacking_roster(year, month, mine, rules.calendar, rules.attendance,
                                           now=now):
            if gap["holiday"] == period["holiday"] and \
                    gap["first_day"] == period["first_day"].isoformat():
                gaps.append(dict(gap, department=department))
    return gaps
