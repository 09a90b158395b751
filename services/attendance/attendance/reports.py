"""The attendance clerk's monthly report (考勤月报表).

Sources: 000 §2 五.2 "每月30日前上报", 002 §1.1.3 customer service "每月25日";
late: 5 points each to the clerk and the department head (000 §2 六.3).

Decisions:
- The report for month M is due in month M itself, on the department's due day
  (``reports.monthly.departments``, else ``due_day``): the seeds describe a
  report sent at the end of the month it covers.
- "By the 30th" includes the whole 30th: the deadline is local midnight at the
  end of the due day. A month shorter than the due day (February) is due on its
  last day. Weekends and holidays do not move the deadline; the seed does not
  say they do, and the clerk knows the date a month ahead.
- An unsubmitted report past its deadline is ``overdue`` and already books R01;
  submitting it later yields the same violation keys, so nothing is booked twice.

The chain (000 §2 五.1): the clerk submits, the department head approves, the
general office reviews, the GM approves (``reports.monthly.chain``). Each
step after the submission is due ``working_days`` after the step before it;
the submission itself is due on the rules' date. Any step may send the sheet
back with a note; the clerk submits it again, and the sheet is on time only
if that submission, the one that goes up the chain, is made by the rules'
date — a chain's own deadlines never make a sheet on time or late.

Decisions:
- A department head who submits the sheet has approved it in the same act
  (the head step is theirs); the steps after it are never taken by someone
  who took an earlier step of the same round (separation of duties).
- A sheet sent back after the due date is late when submitted again; the R01
  it books has the one key of that month, so it is booked once.

What the sheet answers for besides its date (000 §2 六.1-2, 六.4):

- An irregular record (初次未按规定考勤, R02 on the clerk and the head): the
  sheet sent back by a step of ``reports.monthly.irregular.returned_by`` — the
  general office's review or the GM, after the head approved it. The first
  ``booked_per_year`` of the department's calendar year are booked, each under
  the key of its sheet and round; a later one is a repeat, kept on the sheet
  (``irregular``) unbooked: 六.2 prices a repeat by deception (R03), and
  deception is a judgement the general office makes and books by hand.
- A misreported leave (R04 on the clerk): a sick leave converted to personal
  leave (its form and proof not filed in time, 四.2) after the sheet of a month
  it covers was submitted — the sheet reported sick leave that is personal
  leave. A sheet then awaiting a new submission reports the conversion itself
  and misreports nothing. One per leave and sheet: its key names both.
"""
from __future__ import annotations

import calendar as _months
from datetime import date, datetime, time, timedelta

from zhidu.domain import DomainConflict, DomainPermission, DomainValidation
from zhidu.times import UTC, as_utc, local_tz, parse_date

from .policy import DEPARTMENT_HEAD, AttendancePolicy
from .roles import holds_any
from .violations import violation

SOURCE = "000 §2 五.1"
SUBMISSION = "submission"


def monthly_report_due(department: str, year: int, month: int, policy: AttendancePolicy,
                       tz=None) -> datetime:
    """The UTC instant after which the department's report for the month is late."""
    if not 1 <= int(month) <= 12:
        raise DomainValidation.one("month", "expected 1–12")
    last = _months.monthrange(year, month)[1]
    day = date(year, month, min(policy.reports.due_day_for(department), last))
    local_end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz or local_tz())
    return local_end.astimezone(UTC)


def monthly_report_status(*, department: str, year: int, month: int,
                          policy: AttendancePolicy, submitted_at: datetime | None = None,
                          now: datetime | None = None, clerk_id: str | None = None,
                          head_id: str | None = None, tz=None) -> dict:
    """Judge one department's report for (year, month).

    Give ``submitted_at`` for a submitted report, else ``now`` (a sweep).
    Returns ``{"key", "department", "year", "month", "due_at", "submitted_at",
    "status": "on_time"|"late"|"pending"|"overdue", "violations": [...]}``; late
    and overdue carry one R01 violation for the clerk (``clerk_id``) whose
    ``detail`` names the head (``dept_manager_id``) and ``charge`` — both are
    booked the full 5 points by the penalties catalogue from that one event.
    """
    if submitted_at is None and now is None:
        raise DomainValidation.one("at", "give submitted_at or now")
    due = monthly_report_due(department, year, month, policy, tz)
    period = f"{year:04d}-{month:02d}"
    key = f"report:{department}:{period}"
    if submitted_at is not None:
        submitted_at = as_utc(submitted_at)
        status, moment = ("on_time" if submitted_at <= due else "late"), submitted_at
    else:
        status, moment = ("pending" if as_utc(now) <= due else "overdue"), due
    violations = []
    if status in ("late", "overdue"):
        code = policy.reports.rule
        violations.append(violation(
            policy.catalogue, code, key=f"{key}:{code}", employee_id=clerk_id,
            role="attendance_clerk", at=moment,
            detail={"department": department, "period": period, "due_at": due,
                    "dept_manager_id": head_id,
                    "charge": list(policy.catalogue.rule(code).applies_to)}))
    return {"key": key, "department": department, "year": year, "month": month,
            "due_at": due, "submitted_at": submitted_at, "status": status,
            "violations": violations}


def report_key(department: str, year: int, month: int) -> str:
    return f"report:{department}:{year:04d}-{month:02d}"


def step_round(report: dict, step: str) -> int:
    """The round of the chain a step belongs to: a submission opens the next one."""
    if step == SUBMISSION:
        return sum(s["step"] == SUBMISSION for s in report.get("steps") or []) + 1
    return report.get("round") or 1


def step_key(report: dict, step: str) -> str:
    """The key of one step's deadline in one round of the chain."""
    return f"{report['key']}:{step}:{step_round(report, step)}"


def step_holders(step: str, policy: AttendancePolicy) -> tuple[str, ...]:
    if step == SUBMISSION:
        return ("department_clerk", DEPARTMENT_HEAD)
    return policy.reports.step(step).holders


def submit(stored: dict | None, *, department: str, year: int, month: int, at: datetime,
           actor: dict, clerk_id: str | None, head_id: str | None, by_head: bool,
           policy: AttendancePolicy, calendar, tz=None) -> dict:
    """The clerk's (or the head's) submission: judged on time or late against the
    rules' date, and sent up the chain."""
    if stored is not None and stored.get("submitted_at") is not None:
        raise DomainConflict(f"the {department} report for {year}-{month:02d} was submitted "
                             "already")
    status = monthly_report_status(department=department, year=year, month=month,
                                   policy=policy, submitted_at=at, clerk_id=clerk_id,
                                   head_id=head_id, tz=tz)
    at = status["submitted_at"]
    previous = stored or {}
    steps = list(previous.get("steps") or [])
    round_ = step_round(previous, SUBMISSION)
    steps.append({"step": SUBMISSION, "round": round_, "by": dict(actor), "at": at,
                  "approve": True, "note": None})
    report = dict(previous, **status, clerk_id=clerk_id, head_id=head_id,
                  submitted_by=dict(actor), round=round_, steps=steps)
    first = policy.reports.chain[0]
    if by_head and DEPARTMENT_HEAD in first.holders:
        steps.append({"step": first.step, "round": round_, "by": dict(actor), "at": at,
                      "approve": True, "note": "with the submission"})
        return _advance(report, first.step, at, policy, calendar)
    return _awaiting(report, first.step, at, policy, calendar)


def _awaiting(report: dict, step: str | None, after: datetime, policy, calendar) -> dict:
    if step is None:
        return dict(report, awaiting=None, awaiting_due_at=None, approved=True)
    if step == SUBMISSION:
        due = report["due_at"]
    else:
        due = calendar.add_working_days(after, policy.reports.step(step).working_days)
    return dict(report, awaiting=step, awaiting_due_at=due, approved=False)


def _advance(report: dict, cleared: str, at: datetime, policy, calendar) -> dict:
    names = [s.step for s in policy.reports.chain]
    index = names.index(cleared)
    following = names[index + 1] if index + 1 < len(names) else None
    return _awaiting(report, following, at, policy, calendar)


def decide_step(report: dict, *, approve: bool, at: datetime, actor: dict,
                standing: frozenset[str], note: str | None, policy: AttendancePolicy,
                calendar) -> dict:
    """The awaited step of the chain, cleared or sent back to the clerk."""
    step = report.get("awaiting")
    period = f"{report['department']} {report['year']}-{report['month']:02d}"
    if step is None:
        raise DomainConflict(f"the report of {period} is approved already")
    if step == SUBMISSION:
        raise DomainConflict(f"the report of {period} awaits the clerk's submission")
    holders = step_holders(step, policy)
    if not holds_any(holders, standing):
        raise DomainPermission(f"the {step} of the {period} report is for "
                               f"{' or '.join(holders)} ({SOURCE})")
    round_ = report.get("round") or 1
    taken = {s["by"].get("id") for s in report.get("steps") or []
             if s["round"] == round_ and s["step"] != SUBMISSION}
    if actor.get("id") in taken:
        raise DomainPermission(f"separation of duties: {actor.get('id')} took an earlier step "
                               f"of the {period} report ({SOURCE})")
    at = as_utc(at)
    last = max(as_utc(s["at"]) for s in report["steps"])
    if at < last:
        raise DomainValidation.one("at", "a step comes after the one before it")
    steps = list(report["steps"]) + [{"step": step, "round": round_, "by": dict(actor),
                                      "at": at, "approve": bool(approve), "note": note}]
    updated = dict(report, steps=steps)
    if approve:
        return _advance(updated, step, at, policy, calendar)
    # Sent back: no standing submission until the clerk submits again.
    updated.update(submitted_at=None, status="pending", returned_at=at)
    return _awaiting(updated, SUBMISSION, at, policy, calendar)


# -- what the sheet answers for (000 §2 六.1-2, 六.4) -----------------------------------
def irregular_return(report: dict, policy: AttendancePolicy) -> bool:
    """Whether the move just made sent the sheet back from a step whose return
    is an irregular record."""
    steps = report.get("steps") or []
    return bool(steps) and steps[-1]["approve"] is False \
        and steps[-1]["step"] in policy.reports.irregular.returned_by


def irregular_slot(department: str, year: int, number: int) -> str:
    """The key of the department's ``number``-th booked irregular record of ``year``."""
    return f"irregular:{department}:{year:04d}:{number}"


def irregular_record(report: dict, *, earlier: int,
                     policy: AttendancePolicy) -> tuple[dict, list[dict]]:
    """The sheet just sent back, as an irregular record (000 §2 六.1).

    ``earlier``: the department's irregular records booked before this one in
    the sheet's year. Below ``booked_per_year`` the rule is booked on the clerk,
    the head named in ``detail`` as for R01; otherwise the record is a repeat
    awaiting the general office's judgement (六.2). Returns the sheet with the
    record appended to ``irregular`` and the violations to book.
    """
    rules = policy.reports.irregular
    step = report["steps"][-1]
    period = f"{report['year']:04d}-{report['month']:02d}"
    booked = earlier < rules.booked_per_year
    key = f"{report['key']}:{rules.rule}:{report['round']}"
    violations = []
    if booked:
        violations.append(violation(
            policy.catalogue, rules.rule, key=key, employee_id=report.get("clerk_id"),
            role="attendance_clerk", at=step["at"],
            detail={"department": report["department"], "period": period,
                    "round": report["round"], "returned_by": step["step"],
                    "note": step["note"], "dept_manager_id": report.get("head_id"),
                    "charge": list(policy.catalogue.rule(rules.rule).applies_to)}))
    record = {"round": report["round"], "step": step["step"], "by": dict(step["by"]),
              "at": step["at"], "note": step["note"],
              "number": earlier + 1 if booked else None, "violation_id": key if booked else None,
              "awaits_judgement": not booked}
    return dict(report, irregular=[*(report.get("irregular") or []), record]), violations


def months_of(start, end) -> list[tuple[int, int]]:
    """(year, month) of every month a leave from ``start`` to ``end`` touches."""
    first, last = parse_date(start), parse_date(end)
    months, (year, month) = [], (first.year, first.month)
    while (year, month) <= (last.year, last.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def misreported_leave(leave: dict, converted: dict, sheets: list[dict], at: datetime,
                      policy: AttendancePolicy) -> list[dict]:
    """R04 (000 §2 六.4) for each of ``sheets`` standing submitted when ``leave``
    was converted at ``at``: it reported ``leave``'s type, not ``converted``'s."""
    code = policy.reports.misreport_rule
    if code is None:
        return []
    at, found = as_utc(at), []
    for sheet in sheets:
        submitted = sheet.get("submitted_at")
        if submitted is None or as_utc(submitted) > at or not sheet.get("clerk_id"):
            continue
        found.append(violation(
            policy.catalogue, code, key=f"{sheet['key']}:{code}:{leave['leave_id']}",
            employee_id=sheet["clerk_id"], role="attendance_clerk", at=at,
            detail={"department": sheet["department"],
                    "period": f"{sheet['year']:04d}-{sheet['month']:02d}",
                    "submitted_at": as_utc(submitted), "leave_id": leave["leave_id"],
                    "leave_employee_id": leave["employee_id"],
                    "reported_as": leave["type"], "now": converted["type"],
                    "converted_leave_id": converted["leave_id"]}))
    return found
