"""Duties with a deadline, and reminding them once overdue.

A duty is a review a post's duty log owes (``dutylog``), the awaited step
of a monthly sheet (``reports``), a meeting's minutes or a decision taken in
it (``meetings``): one record under a deterministic key, open
until the duty is done. The sweep reminds each open duty past its deadline
(``reminders``), one unit per duty: the count of reminders sent moves from n
to n+1 only where it still reads n, and the reminder's event goes out in the
same unit, so a second replica sweeping at the same moment finds the count
moved (or meets the write and runs again) and sends nothing.

Who is reminded is resolved when the reminder goes out, from the directory
copy as it stands then: the duty names standings (``department_head``,
``department_clerk``, ``supervisor``) and roles, not people — except where
the duty is a named person's (``people``: a meeting's minute taker, the
owner of a decision).
"""
from __future__ import annotations

from datetime import datetime

from zhidu.times import to_iso

from ..policy import DEPARTMENT_CLERK, DEPARTMENT_HEAD, SUPERVISOR_TERM
from ..reminders import next_reminder, reminder_key

# How many duties one sweep reminds at most; the rest wait for the next.
DUTIES_PER_SWEEP = 500


def recipients(store, holders, department: str | None, people=()) -> list[str]:
    """The people who hold any of ``holders`` towards ``department`` now, and
    the ``people`` the duty names."""
    found: set[str] = set(people or ())
    for term in holders:
        if term == DEPARTMENT_HEAD:
            found.update(store.department_role_holders(department, "dept_manager")
                         if department else [])
        elif term == DEPARTMENT_CLERK:
            found.update(store.department_role_holders(department, "attendance_clerk")
                         if department else [])
        elif term == SUPERVISOR_TERM:
            found.update(store.superiors_in_department(department) if department else [])
        else:
            found.update(store.role_holders(term))
    return sorted(found)


def remind(work, now: datetime) -> list[str]:
    """Remind every open duty past its next reminder time; the reminder keys sent."""
    sent = []
    for key in work.store.duties_to_remind(now, DUTIES_PER_SWEEP):
        done = work.unit(lambda key=key: _remind_one(work, key, now))
        if done:
            sent.append(done)
    return sent


def _remind_one(work, key: str, now: datetime) -> str | None:
    store = work.store
    duty = store.duty(key)
    if duty is None or not duty["open"]:
        return None
    plan = next_reminder(duty["due_at"], duty["sent"], duty["remind_at"], now,
                         work.rules.attendance.reminders)
    if plan is None:
        return None
    number, next_at = plan
    if not store.mark_reminded(key, duty["sent"], number, next_at):
        return None
    common = {"due_at": to_iso(duty["due_at"]), "reminder_no": number,
              "to_ids": recipients(store, duty["holders"], duty.get("department"),
                                   duty.get("people")),
              "to_roles": list(duty["holders"]), "department": duty.get("department"),
              "source": duty["source"]}
    event, fields = REMINDED[duty["kind"]]
    work.outbox.emit(event, dict(common, **{f: duty[f] for f in fields},
                                 **_about(store, duty)),
                     key=reminder_key(key, number))
    work.tally.inc("reminders", duty["kind"])
    return reminder_key(key, number)


# A duty's kind → the event reminding it, and the duty's fields it carries.
REMINDED = {
    "duty_review": ("duty_review_overdue", ("post", "review", "period")),
    "report_step": ("report_step_overdue", ("year", "month", "round", "step")),
    "meeting_minutes": ("meeting_minutes_overdue", ("meeting_id",)),
    "meeting_decision": ("meeting_decision_chased",
                         ("meeting_id", "decision_no", "item", "owner_id", "due_date")),
    "agenda_item": ("meeting_agenda_reminder", ("standing", "title", "month", "closes_at")),
}


def _about(store, duty: dict) -> dict:
    """What a meeting's reminder says of the meeting, as it stands now."""
    if not duty["kind"].startswith("meeting_"):
        return {}
    meeting = store.meeting(duty["meeting_id"]) or {}
    return {"title": meeting.get("title"), "start": to_iso(meeting.get("start")),
            "chair_id": meeting.get("chair_id")}
