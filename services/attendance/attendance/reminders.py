"""Reminding a duty past its deadline: when, and which reminder it is.

A duty (a review of a post's duty log, a step of the monthly sheet) has a
deadline. From the deadline on it is reminded every ``every_hours``, at most
``at_most`` times (``rules/attendance.yaml`` ``reminders``). The n-th reminder
of a duty is one fact with its own key, so a sweep run twice, or on two
replicas at once, sends it once; a sweep that did not run for days sends the
next reminder, not every one it missed.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from zhidu.times import as_utc

from .policy import ReminderPolicy


def next_reminder(due_at: datetime, sent: int, remind_at: datetime | None, now: datetime,
                  policy: ReminderPolicy) -> tuple[int, datetime | None] | None:
    """``(number, next_at)`` of the reminder to send at ``now``, or None.

    ``sent``: reminders already sent; ``remind_at``: when the next one falls
    due (the deadline, before the first; None once they are all sent).
    ``next_at`` is when the one after it falls due (None once ``at_most`` are
    sent): the next step of the schedule after ``now``, so a late sweep does
    not send a burst.
    """
    due_at, now = as_utc(due_at), as_utc(now)
    every = timedelta(hours=policy.every_hours)
    if sent >= policy.at_most or remind_at is None or now < as_utc(remind_at):
        return None
    number = sent + 1
    if number >= policy.at_most:
        return number, None
    later = due_at + number * every
    while later <= now:
        later += every
    return number, later


def reminder_key(duty_key: str, number: int) -> str:
    return f"{duty_key}:reminder:{number}"
