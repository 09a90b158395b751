"""What time alone decides: ``sweep({now})``.

- sick leave without proof 5 working days after it ends becomes personal leave,
  and a month's sheet submitted before that misreported it (R04 on its clerk);
- a department's monthly report unsubmitted past its due day books R01 (also
  one sent back and not submitted again), and its submission becomes a duty;
- every duty past its deadline — a review of a post's duty log, a step of the
  monthly sheet — is reminded (``duties``);
- roster days whose every shift has ended are closed (as ``close_day``);
- a holiday whose roster was not handed in a week ahead is announced once per
  department running shift duty.

Each item is its own unit of work — one leave, one department's month, one
batch of a day, one holiday check — holding its record, its done mark and its
events together, so a sweep that dies half-way leaves each item either done
and announced or untouched, and two replicas sweeping at once meet on the
same keys. ``now`` is a parameter, never the clock, so a scenario replays
exactly.
"""
from __future__ import annotations

from datetime import date, datetime

from zhidu.operations import jsonable
from zhidu.times import local_date

from ..leave import convert, should_convert
from ..reports import (
    SUBMISSION,
    misreported_leave,
    monthly_report_status,
    months_of,
    report_key,
)
from ..rosters import holiday_periods, holiday_roster_deadline
from . import standing
from .booking import Booker
from .closing import DayCloser
from .duties import remind
from .reports import head_of, report_duty
from .rosters import holiday_gaps

# How many roster days one sweep closes at most; the rest wait for the next.
DAYS_PER_SWEEP = 31


def _month_before(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


def _month_after(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def sweep(work, now: datetime) -> dict:
    return {"now": now,
            "leaves_converted": sick_proofs(work, now),
            "reports_overdue": reports(work, now),
            "days_closed": days(work, now),
            "holiday_rosters_overdue": holiday_rosters(work, now),
            "standing_meetings": standing.sweep(work, now),
            # Last: the duties the steps above opened are reminded in this sweep.
            "reminders_sent": remind(work, now)}


# -- sick leave proof (000 §2 四.2) -----------------------------------------
def sick_proofs(work, now: datetime) -> list[str]:
    converted = []
    for due in work.store.proofs_due(now):
        done = work.unit(lambda leave_id=due["leave_id"]: _convert(work, leave_id, now))
        if done:
            converted.append(done)
    return converted


def _convert(work, leave_id: str, now: datetime) -> str | None:
    """One unit: the original marked, its personal-leave record, the event, and
    the R04 of every sheet that had reported the leave as sick leave."""
    store, policy = work.store, work.rules.attendance
    leave = store.leave(leave_id)
    if leave is None or not should_convert(leave, now, work.rules.calendar, policy):
        return None
    record = dict(convert(leave, now, policy)["converted"], proof_open=False)
    if not store.mark_converted(leave_id, record["leave_id"]):
        return None
    store.insert_leave(record)
    work.outbox.emit("leave_converted", {
        "leave_id": leave_id, "converted_leave_id": record["leave_id"],
        "employee_id": leave["employee_id"], "type": leave["type"],
        "to_type": record["type"], "start": leave["start"], "end": leave["end"],
        "days": leave["days"], "status": record["status"],
        "emergency": bool(leave.get("emergency"))}, key=f"{leave_id}:converted")
    Booker(work).violations(misreported_leave(
        leave, record, _sheets_of(store, leave), now, policy))
    return leave_id


def _sheets_of(store, leave: dict) -> list[dict]:
    """The stored sheets of the person's department for the months the leave covers."""
    department = (store.employee(leave["employee_id"]) or {}).get("department")
    if not department:
        return []
    sheets = [store.report(report_key(department, year, month))
              for year, month in months_of(leave["start"], leave["end"])]
    return [s for s in sheets if s is not None]


# -- the clerk's monthly report (000 §2 五.2, 六.3) --------------------------
def reports(work, now: datetime) -> list[str]:
    local = local_date(now, work.rules.tz)
    months = [_month_before(local.year, local.month), (local.year, local.month)]
    overdue = []
    for department, clerk_id in sorted(work.store.clerks_by_department().items(),
                                       key=lambda item: str(item[0])):
        for year, month in months:
            key = work.unit(lambda d=department, c=clerk_id, y=year, m=month:
                            _overdue(work, d, c, y, m, now))
            if key:
                overdue.append(key)
    return overdue


def _overdue(work, department: str, clerk_id: str, year: int, month: int,
             now: datetime) -> str | None:
    """One unit: the report recorded as overdue, its R01 booked and announced, and
    its submission a duty to remind."""
    store = work.store
    stored = store.report(report_key(department, year, month))
    if stored is not None and (stored.get("submitted_at") is not None
                               or stored.get("status") == "overdue"):
        return None
    status = monthly_report_status(department=department, year=year, month=month,
                                   policy=work.rules.attendance, now=now, clerk_id=clerk_id,
                                   head_id=head_of(store, department, clerk_id),
                                   tz=work.rules.tz)
    if status["status"] != "overdue":
        return None
    head_id = status["violations"][0]["detail"]["dept_manager_id"]
    if stored is None:
        report = dict(status, submitted_at=None, clerk_id=clerk_id, head_id=head_id,
                      awaiting=SUBMISSION, awaiting_due_at=status["due_at"], approved=False,
                      steps=[])
        store.insert_report(report)
    else:      # sent back and not submitted again by the due date
        report = dict(stored, status="overdue", violations=status["violations"],
                      clerk_id=clerk_id, head_id=head_id)
        store.save_report(report, stored)
    Booker(work).violations(status["violations"])
    store.open_duties([report_duty(work, report)])
    return report["key"]


# -- closing finished roster days -----------------------------------------------
def days(work, now: datetime) -> list[str]:
    today = local_date(now, work.rules.tz)
    closer, closed = DayCloser(work), []
    for day_s in work.store.open_roster_days(today.isoformat(), DAYS_PER_SWEEP):
        day = date.fromisoformat(day_s)
        ends = closer.latest_end(day)
        if ends is not None and ends > now:
            continue
        if ends is not None:
            closer.close(day, at=now)
        # Marked after its batches: a sweep that dies before this closes the
        # day again, which books only what is missing.
        work.unit(lambda day_s=day_s: work.store.mark_day_closed(day_s, now))
        closed.append(day_s)
    return closed


# -- holiday rosters a week ahead (002 §1.1.6) ----------------------------------
def holiday_rosters(work, now: datetime) -> list[dict]:
    rules = work.rules
    local = local_date(now, rules.tz)
    announced = []
    for year, month in [(local.year, local.month), _month_after(local.year, local.month)]:
        for period in holiday_periods(year, month, rules.calendar, rules.attendance):
            deadline = holiday_roster_deadline(period["first_day"], rules.attendance, rules.tz)
            if now > deadline:
                announced += work.unit(lambda y=year, m=month, p=period:
                                       _holiday_check(work, y, m, p, now))
    return announced


def _holiday_check(work, year: int, month: int, period: dict, now: datetime) -> list[dict]:
    """One unit: the gaps of one holiday announced, and the check recorded as done."""
    check = f"holiday_roster:{period['holiday']}:{period['first_day']}:{year:04d}-{month:02d}"
    if work.store.exists("holiday_checks", check):
        return []
    announced = []
    gaps = holiday_gaps(work, year, month, period, now)
    for gap in gaps:
        data = jsonable(gap)
        work.outbox.emit("holiday_roster_overdue", data, key=f"{check}:{gap['department']}")
        announced.append(data)
    work.store.insert_once("holiday_checks", check, {"at": now, "gaps": jsonable(gaps)})
    return announced
