"""What time alone decides: ``sweep({now})``.

- sick leave without proof 5 working days after it ends becomes personal leave;
- a department's monthly report unsubmitted past its due day books R01;
- roster days whose every shift has ended are closed (as ``close_day``);
- a holiday whose roster was not handed in a week ahead is announced once per
  department running shift duty.

Every step is keyed so that two replicas sweeping at once, or one sweeping
twice, change and announce nothing twice. ``now`` is a parameter, never the
clock, so a scenario replays exactly.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from zhidu.operations import jsonable
from zhidu.times import local_date

from .leave import convert, should_convert
from .reports import monthly_report_status
from .rosters import holiday_periods, holiday_roster_deadline, holidays_lacking_roster

log = logging.getLogger(__name__)

# How many roster days one sweep closes at most; the rest wait for the next.
DAYS_PER_SWEEP = 31
# A department "runs shift duty" if it rostered anyone on a non-working day
# within this many days before a holiday; day-staff departments need no
# holiday roster.
DUTY_LOOKBACK_DAYS = 31


def _month_before(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


def _month_after(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


class Sweeper:
    def __init__(self, store, outbox, rules, booker, closer):
        self.store, self.outbox, self.rules = store, outbox, rules
        self.booker, self.closer = booker, closer

    def run(self, now: datetime) -> dict:
        return {"now": now,
                "leaves_converted": self.sick_proofs(now),
                "reports_overdue": self.reports(now),
                "days_closed": self.days(now),
                "holiday_rosters_overdue": self.holiday_rosters(now)}

    # -- sick leave proof (000 §2 四.2) -----------------------------------------
    def sick_proofs(self, now: datetime) -> list[str]:
        policy, calendar = self.rules.attendance, self.rules.calendar
        converted = []
        for leave in self.store.proofs_due(now):
            if not should_convert(leave, now, calendar, policy):
                continue
            result = convert(leave, now, policy)
            record = dict(result["converted"], proof_open=False)
            # The new record and its event first, the mark on the original last:
            # if we die in between, the next sweep finds the original unmarked
            # and repeats both under the same ids.
            self.store.insert_leave(record)
            self.outbox.emit("leave_converted", {
                "leave_id": leave["leave_id"], "converted_leave_id": record["leave_id"],
                "employee_id": leave["employee_id"], "type": leave["type"],
                "to_type": record["type"], "start": leave["start"], "end": leave["end"],
                "days": leave["days"], "status": record["status"],
                "emergency": bool(leave.get("emergency"))},
                key=f"{leave['leave_id']}:converted")
            self.outbox.persist()
            if self.store.mark_converted(leave["leave_id"], record["leave_id"]):
                converted.append(leave["leave_id"])
        return converted

    # -- the clerk's monthly report (000 §2 五.2, 六.3) --------------------------
    def reports(self, now: datetime) -> list[str]:
        policy, tz = self.rules.attendance, self.rules.tz
        local = local_date(now, tz)
        months = [_month_before(local.year, local.month), (local.year, local.month)]
        overdue = []
        for department, clerk_id in sorted(self.store.clerks_by_department().items(),
                                           key=lambda item: str(item[0])):
            for year, month in months:
                key = f"report:{department}:{year:04d}-{month:02d}"
                if self.store.report(key) is not None:
                    continue
                status = monthly_report_status(department=department, year=year, month=month,
                                               policy=policy, now=now, clerk_id=clerk_id,
                                               head_id=self.head_of(department, clerk_id), tz=tz)
                if status["status"] != "overdue":
                    continue
                doc = dict(status, submitted_at=None, clerk_id=clerk_id,
                           head_id=status["violations"][0]["detail"]["dept_manager_id"])
                # Booked (and announced) before the report is recorded as
                # overdue: a sweep that dies in between books it next time.
                self.booker.violations(status["violations"])
                if self.store.insert_report(doc):
                    overdue.append(key)
        return overdue

    def head_of(self, department: str, clerk_id: str | None) -> str | None:
        heads = self.store.department_role_holders(department, "dept_manager")
        if heads:
            return heads[0]
        clerk = self.store.employee(clerk_id) if clerk_id else None
        return (clerk or {}).get("manager_id")

    # -- closing finished roster days -----------------------------------------------
    def days(self, now: datetime) -> list[str]:
        today = local_date(now, self.rules.tz)
        closed = []
        for day_s in self.store.open_roster_days(today.isoformat(), DAYS_PER_SWEEP):
            day = date.fromisoformat(day_s)
            ends = self.closer.latest_end(day)
            if ends is not None and ends > now:
                continue
            if ends is not None:
                self.closer.close(day, at=now)
            self.store.mark_day_closed(day_s, now)
            closed.append(day_s)
        return closed

    # -- holiday rosters a week ahead (002 §1.1.6) ----------------------------------
    def holiday_rosters(self, now: datetime) -> list[dict]:
        local = local_date(now, self.rules.tz)
        announced = []
        for year, month in [(local.year, local.month), _month_after(local.year, local.month)]:
            for period in holiday_periods(year, month, self.rules.calendar,
                                          self.rules.attendance):
                deadline = holiday_roster_deadline(period["first_day"], self.rules.attendance,
                                                   self.rules.tz)
                check = f"holiday_roster:{period['holiday']}:{period['first_day']}:" \
                        f"{year:04d}-{month:02d}"
                if now <= deadline or self.store.exists("holiday_checks", check):
                    continue
                gaps = self.holiday_gaps(year, month, period, now)
                for gap in gaps:
                    data = jsonable(gap)
                    self.outbox.emit("holiday_roster_overdue", data,
                                     key=f"{check}:{gap['department']}")
                    announced.append(data)
                self.store.insert_once("holiday_checks", check,
                                       {"at": now, "gaps": jsonable(gaps)})
        return announced

    def duty_departments(self, first_day: date) -> set:
        """Departments that rostered someone on a non-working day shortly before."""
        since = first_day - timedelta(days=DUTY_LOOKBACK_DAYS)
        entries = self.store.roster_between(since.isoformat(),
                                            (first_day - timedelta(days=1)).isoformat())
        calendar = self.rules.calendar
        on_duty = {e["employee_id"] for e in entries
                   if not calendar.is_working_day(date.fromisoformat(e["date"]))}
        return set(self.store.departments_of(on_duty).values()) | (
            {None} if on_duty - set(self.store.departments_of(on_duty)) else set())

    def holiday_gaps(self, year: int, month: int, period: dict, now: datetime | None,
                     departments=None) -> list[dict]:
        days = period["days_in_month"]
        entries = self.store.roster_between(days[0].isoformat(), days[-1].isoformat())
        dept_of = self.store.departments_of({e["employee_id"] for e in entries})
        if departments is None:
            departments = self.duty_departments(period["first_day"])
        # One pass to group, not one scan of every entry per department.
        by_department: dict = {}
        for e in entries:
            by_department.setdefault(dept_of.get(e["employee_id"]), []).append(e)
        gaps = []
        for department in sorted(departments, key=str):
            mine = by_department.get(department, [])
            for gap in holidays_lacking_roster(year, month, mine, self.rules.calendar,
                                               self.rules.attendance, now=now):
                if gap["holiday"] == period["holiday"] and \
                        gap["first_day"] == period["first_day"].isoformat():
                    gaps.append(dict(gap, department=department))
        return gaps
