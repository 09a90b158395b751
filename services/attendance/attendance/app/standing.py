"""The regular meetings on their standing schedule, and the GM office
meeting's agenda (000 §3 四, 四.7).

The sweep (``sweep``) schedules each occurrence ``lead_days`` ahead through
the path ``schedule_meeting`` takes, so its notice is the usual
``meeting_scheduled``. An occurrence is one unit: it reads whether its id
(the entry's name and the nominal day) is on record and records it with
its notice, so a second replica sweeping at the same moment finds it, or
meets the write and runs again to find it. The attendees are the directory
copy's holders of the entry's roles (and members of its departments) as they
stand when it is scheduled.

The agenda of a month is one record: departments add items until it closes
(``submit_agenda_item``), the heads of departments that have sent none are
reminded through the duty reminders until they send one or it closes, the
sweep closes it after the due day, and the GM's approval
(``decide_agenda``) holds the meeting with the items approved, scheduling
it at once.
"""
from __future__ import annotations

import logging
from datetime import datetime

from zhidu.domain import DomainConflict
from zhidu.times import to_iso

from ..policy import DEPARTMENT_HEAD
from ..standing import (
    Occurrence,
    StandingMeeting,
    add_agenda_item,
    agenda_closes_at,
    agenda_key,
    agenda_lines,
    agenda_reminding_from,
    approved_items,
    close_agenda,
    month_before,
    new_agenda,
    nominal_of_month,
    occurrence,
    occurrences_ahead,
    open_agenda_month,
    standing_entry,
)
from ..standing import decide_agenda as decided_agenda
from .meetings import announce, plan
from .work import found, millis

log = logging.getLogger(__name__)


# -- who attends --------------------------------------------------------------------------
def attendees_of(store, entry: StandingMeeting) -> list[str]:
    """The entry's attendees in the directory copy now (departed people left out)."""
    spec = entry.attendees
    found_ids = set(spec.people) - set(store.departed(spec.people)) if spec.people else set()
    for role in spec.roles:
        found_ids.update(store.role_holders(role))
    if spec.everyone:
        found_ids.update(store.active_employees())
    elif spec.departments:
        found_ids.update(store.active_members(spec.departments))
    return sorted(found_ids)


def _first_holder(store, role: str | None) -> str | None:
    holders = store.role_holders(role) if role else []
    return holders[0] if holders else None


# -- the sweep ----------------------------------------------------------------------------
def sweep(work, now: datetime) -> dict:
    """Agendas closed or reminded, then the occurrences now within their lead."""
    rules = work.rules
    closed, scheduled = [], []
    for entry in rules.meetings.standing:
        if entry.agenda is not None:
            closed += _agendas(work, entry, now)
        for held in occurrences_ahead(entry, now, rules.calendar):
            meeting_id = work.unit(lambda held=held: hold(work, held))
            if meeting_id:
                scheduled.append(meeting_id)
    return {"scheduled": scheduled, "agendas_closed": closed}


def hold(work, held: Occurrence) -> str | None:
    """One unit: the occurrence scheduled with its notice, unless it is on
    record, or its agenda has not been approved, or nobody holds its chair."""
    store, entry = work.store, held.entry
    if store.meeting(held.meeting_id) is not None:
        return None
    extra = {"standing": entry.name, "occurrence": held.nominal.isoformat()}
    if entry.agenda is not None:
        agenda = store.agenda(agenda_key(entry, held.nominal.year, held.nominal.month))
        if agenda is None or agenda["status"] != "decided" or not agenda["decision"]["held"]:
            return None     # 无议程则不召开: held once the GM approves its agenda
        extra["agenda"] = [{k: item[k] for k in ("no", "department", "item", "submitted_by")}
                           for item in approved_items(agenda)]
    chair_id, attendees = _first_holder(store, entry.chair), attendees_of(store, entry)
    if chair_id is None or not attendees:
        # Every sweep until the directory names someone: not a warning each time.
        log.info("standing meeting %s: nobody holds %s or attends in the directory copy;"
                 " it is scheduled once someone does", held.meeting_id,
                 entry.chair if chair_id is None else "any attendee role")
        return None
    meeting = plan(work, {
        "meeting_id": held.meeting_id, "kind": entry.kind, "start": held.start,
        "planned_minutes": entry.minutes, "attendees": attendees, "chair_id": chair_id,
        "title": entry.title, "location": entry.location,
        "minute_taker_id": _first_holder(store, entry.minute_taker)}, **extra)
    return held.meeting_id if announce(work, meeting) else None


# -- the agenda (四.7) ------------------------------------------------------------------------
def _agendas(work, entry: StandingMeeting, now: datetime) -> list[str]:
    """Close the agenda of this month once its day is over (last month's too if
    items are waiting on it); remind this month's within its reminding window."""
    rule, tz, store = entry.agenda, work.rules.tz, work.store
    this = open_agenda_month(rule, now, tz)
    last = month_before(*this)
    closed = []
    for year, month in (month_before(*last), last):
        key = agenda_key(entry, year, month)
        held = store.agenda(key)
        # A month nobody wrote to before its day is closed once, the one just past.
        if (held is None and (year, month) != last) or (held and held["status"] != "open"):
            continue
        done = work.unit(lambda y=year, m=month: _close(work, entry, y, m, now))
        if done:
            closed.append(done)
    if now >= agenda_reminding_from(rule, *this, tz):
        work.unit(lambda: _open_reminders(work, entry, *this, now))
    return closed


def _close(work, entry: StandingMeeting, year: int, month: int, now: datetime) -> str | None:
    """One unit: the agenda closed, its reminders stopped, the GM and the
    general office told (and whoever sent items)."""
    store, tz = work.store, work.rules.tz
    key = agenda_key(entry, year, month)
    held = store.agenda(key)
    agenda = held or new_agenda(entry, year, month, tz)
    closed = close_agenda(agenda, entry.agenda, now)
    if closed is agenda:
        return None
    store.save_agenda(closed, held)
    store.close_agenda_duties(key, now)
    work.outbox.emit("meeting_agenda_closed", dict(
        _agenda_event(work, entry, closed),
        outcome="awaiting_approval" if closed["status"] == "closed" else "not_held",
        closed_at=to_iso(closed["closed_at"]), min_items=entry.agenda.min_items,
        max_items=entry.agenda.max_items), key=f"agenda:{key}:closed")
    return key


def _open_reminders(work, entry: StandingMeeting, year: int, month: int,
                    now: datetime) -> None:
    """One unit, once a month: every department with a head and no item yet owes
    its items, reminded from now until it sends one or the agenda closes."""
    store, tz = work.store, work.rules.tz
    key = agenda_key(entry, year, month)
    if store.exists("agenda_reminders", key):
        return
    agenda = store.agenda(key) or new_agenda(entry, year, month, tz)
    if agenda["status"] == "open":
        sent = {item["department"] for item in agenda["items"]}
        store.open_duties([agenda_duty(entry, agenda, department, tz)
                           for department in sorted(store.department_heads())
                           if department not in sent])
    store.insert_once("agenda_reminders", key, {"opened_at": now})


def agenda_duty(entry: StandingMeeting, agenda: dict, department: str, tz) -> dict:
    """A department's items, its head reminded from the reminding time on
    (the duty's ``due_at``) until it sends one or the agenda closes."""
    return {"key": f"agenda:{agenda['key']}:{department}", "kind": "agenda_item",
            "agenda": agenda["key"], "standing": entry.name, "title": entry.title,
            "month": _month_text(agenda), "closes_at": to_iso(agenda["closes_at"]),
            "department": department,
            "due_at": agenda_reminding_from(entry.agenda, agenda["year"], agenda["month"], tz),
            "people": [], "holders": [DEPARTMENT_HEAD], "source": "000 §3 四.7"}


def _month_text(agenda: dict) -> str:
    return f"{agenda['year']:04d}-{agenda['month']:02d}"


def _planned_start(work, entry: StandingMeeting, year: int, month: int) -> datetime | None:
    held = occurrence(entry, nominal_of_month(entry, year, month), work.rules.calendar)
    return held.start if held else None


def _item_event(item: dict) -> dict:
    return {"no": item["no"], "department": item["department"], "item": item["item"],
            "submitted_by_id": item["submitted_by"]["id"],
            "submitted_at": to_iso(item["submitted_at"])}


def _agenda_event(work, entry: StandingMeeting, agenda: dict) -> dict:
    return {"standing": entry.name, "title": entry.title, "month": _month_text(agenda),
            "closes_at": to_iso(agenda["closes_at"]),
            "meeting_start": to_iso(_planned_start(work, entry, agenda["year"],
                                                   agenda["month"])),
            "items": [_item_event(i) for i in agenda["items"]],
            "agenda": agenda_lines(agenda["items"]),
            "submitted_by_ids": sorted({i["submitted_by"]["id"] for i in agenda["items"]
                                        if i["submitted_by"].get("id")})}


def _entry(work, payload: dict) -> StandingMeeting:
    return standing_entry(work.rules.meetings.standing, payload.get("standing"),
                          with_agenda=True)


def submit_agenda_item(work, payload: dict) -> dict:
    """A department's item for the GM office meeting (四.7), on this month's
    agenda until it closes, then on the next; the department's reminders stop."""
    store, tz = work.store, work.rules.tz
    entry = _entry(work, payload)
    at = millis(payload["at"])
    year, month = open_agenda_month(entry.agenda, at, tz)
    if payload.get("year") is not None:
        wanted = (payload["year"], payload["month"])
        if wanted < (year, month):
            raise DomainConflict(f"the agenda of {wanted[0]:04d}-{wanted[1]:02d} closed at "
                                 f"{to_iso(agenda_closes_at(entry.agenda, *wanted, tz))}; "
                                 f"this item goes on {year:04d}-{month:02d}'s")
        year, month = wanted
    key = agenda_key(entry, year, month)
    held = store.agenda(key)
    agenda, item, added = add_agenda_item(held or new_agenda(entry, year, month, tz),
                                          department=payload["department"],
                                          item=payload["item"], by=payload["actor"], at=at)
    if added:
        store.save_agenda(agenda, held)
        # Recorded done before its reminding begins, so it is never reminded.
        duty = agenda_duty(entry, agenda, payload["department"], tz)
        store.open_duties([duty])
        store.close_duty(duty["key"], at)
    return dict(item, agenda=key, month=_month_text(agenda),
                closes_at=agenda["closes_at"], added=added)


def decide_agenda(work, payload: dict) -> dict:
    """The GM's approval (统一报总经理审批): with 2-5 items the meeting is held
    and scheduled at once with them as its agenda; with none it is not held."""
    store, tz = work.store, work.rules.tz
    entry = _entry(work, payload)
    year, month, at = payload["year"], payload["month"], millis(payload["at"])
    key = agenda_key(entry, year, month)
    held = store.agenda(key)
    if held is None or held["status"] == "open":
        if at < agenda_closes_at(entry.agenda, year, month, tz):
            raise DomainConflict(f"the agenda {key} takes items until "
                                 f"{to_iso(agenda_closes_at(entry.agenda, year, month, tz))}")
        _close(work, entry, year, month, at)
        held = store.agenda(key)
    agenda = decided_agenda(held, entry.agenda, approved=payload["approved"],
                            by=payload["actor"], at=at, note=payload.get("note"))
    if agenda is held:
        return _agenda_view(agenda)
    nominal = nominal_of_month(entry, year, month)
    planned = occurrence(entry, nominal, work.rules.calendar)
    if agenda["decision"]["held"] and (planned is None or planned.start <= at):
        raise DomainConflict(f"the {entry.title} of {year:04d}-{month:02d} was due at "
                             f"{to_iso(planned.start) if planned else nominal}; "
                             "schedule a meeting by hand")
    store.save_agenda(agenda, held)
    scheduled = hold(work, planned) if agenda["decision"]["held"] else None
    work.outbox.emit("meeting_agenda_decided", dict(
        _agenda_event(work, entry, agenda), held=agenda["decision"]["held"],
        outcome="held" if agenda["decision"]["held"] else "not_held",
        approved=[_item_event(i) for i in approved_items(agenda)],
        agenda=agenda_lines(approved_items(agenda)),
        meeting_id=planned.meeting_id if agenda["decision"]["held"] else None,
        decided_by=agenda["decision"]["by"], decided_at=to_iso(agenda["decision"]["at"]),
        note=agenda["decision"]["note"]), key=f"agenda:{key}:decided")
    return dict(_agenda_view(agenda), meeting_id=scheduled)


def _agenda_view(agenda: dict) -> dict:
    return dict(agenda, approved=approved_items(agenda))


def get_agenda(work, payload: dict) -> dict:
    """A month's agenda: its items, whether it is open, closed or decided, the
    meeting it holds."""
    entry = _entry(work, payload)
    key = agenda_key(entry, payload["year"], payload["month"])
    agenda = found(work.store.agenda(key), f"agenda {key}")
    view = _agenda_view(agenda)
    if (agenda.get("decision") or {}).get("held"):
        view["meeting_id"] = occurrence(entry, nominal_of_month(entry, payload["year"],
                                                                payload["month"]),
                                        work.rules.calendar).meeting_id
    return view
