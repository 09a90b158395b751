"""The rules a worker sees: attendance and meeting policy, and the calendar.

Loaded once per container by the shared ``RuleBook`` provider from the files
configuration names (``ZHIDU_ATTENDANCE_RULES``, ``ZHIDU_MEETING_RULES``,
``ZHIDU_CALENDAR_FILE``; unset → the shipped defaults), so a broken YAML stops
the service at start, naming the key, instead of failing the first request.
"""
from __future__ import annotations

from dataclasses import dataclass

from zhidu.calendar import WorkingCalendar, load_calendar
from zhidu.config import setting

from .policy import AttendancePolicy, MeetingPolicy, load_attendance_policy, load_meeting_policy


@dataclass(frozen=True)
class AttendanceRules:
    attendance: AttendancePolicy
    meetings: MeetingPolicy
    calendar: WorkingCalendar

    @property
    def tz(self):
        return self.calendar.tz


def load_rules(config: dict | None = None) -> AttendanceRules:
    return AttendanceRules(
        attendance=load_attendance_policy(setting(config, "ZHIDU_ATTENDANCE_RULES") or None),
        meetings=load_meeting_policy(setting(config, "ZHIDU_MEETING_RULES") or None),
        calendar=load_calendar(setting(config, "ZHIDU_CALENDAR_FILE") or None))
