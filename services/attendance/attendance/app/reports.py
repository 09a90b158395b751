"""The monthly attendance sheet and its chain (000 §2 五.1-2, 六.3).

Each move of the sheet — submitted, a step cleared, sent back — is one unit:
the sheet written over the revision it was read at, the awaited step's duty
closed and the next one opened (``duties``), the move announced.
"""
from __future__ import annotations

from zhidu.times import to_iso
from zhidu.uow import StaleWrite

from ..reports import (
    SUBMISSION,
    decide_step,
    irregular_record,
    irregular_return,
    irregular_slot,
    monthly_report_due,
    report_key,
    step_holders,
    step_key,
    step_round,
    submit,
)
from ..roles import standing
from .booking import Booker
from .duties import recipients
from .work import found, millis


def head_of(store, department: str, clerk_id: str | None) -> str | None:
    """The department's head; without one on record, the clerk's manager."""
    heads = store.department_role_holders(department, "dept_manager")
    if heads:
        return heads[0]
    clerk = store.employee(clerk_id) if clerk_id else None
    return (clerk or {}).get("manager_id")


def caller_standing(work, department: str) -> frozenset[str]:
    """What the caller is towards the department: their roles, its head, its clerk."""
    caller = work.caller
    mine = (caller.person(caller.id) or {}).get("department")
    return standing(caller.roles, head="dept_manager" in caller.roles and mine == department,
                    clerk="attendance_clerk" in caller.roles and mine == department)


def submit_monthly_report(work, payload: dict) -> dict:
    """Record the submission; a late one books R01 on the clerk and the head."""
    store, actor, department = work.store, payload["actor"], payload["department"]
    year, month = payload["year"], payload["month"]
    # The clerk answers for the report (000 §2 五.1, 六.3); when the head
    # submits it, the department's clerk is still the one booked.
    by_clerk = "attendance_clerk" in work.caller.roles
    clerks = store.department_role_holders(department, "attendance_clerk")
    clerk_id = actor["id"] if by_clerk or not clerks else clerks[0]
    head_id = head_of(store, department, clerk_id)
    stored = store.report(report_key(department, year, month))
    report = submit(stored, department=department, year=year, month=month,
                    at=millis(payload["at"]), actor=actor, clerk_id=clerk_id, head_id=head_id,
                    by_head=not by_clerk and "department_head" in caller_standing(
                        work, department),
                    policy=work.rules.attendance, calendar=work.rules.calendar,
                    tz=work.rules.tz)
    store.save_report(report, stored)
    move(work, stored, report)
    Booker(work).violations(report["violations"])
    return report


def decide_monthly_report(work, payload: dict) -> dict:
    """The awaited step: the head approves, the general office reviews, the GM
    approves (000 §2 五.1); any of them may send the sheet back, and a sheet the
    office or the GM sends back is an irregular record (六.1)."""
    store, department = work.store, payload["department"]
    key = report_key(department, payload["year"], payload["month"])
    stored = found(store.report(key), f"the {department} report for {payload['year']}-"
                                      f"{payload['month']:02d}")
    policy = work.rules.attendance
    report = decide_step(stored, approve=payload["approve"], at=millis(payload["at"]),
                         actor=payload["actor"], standing=caller_standing(work, department),
                         note=payload["note"], policy=policy, calendar=work.rules.calendar)
    violations = []
    if irregular_return(report, policy):
        report, violations = irregular(work, report)
    store.save_report(report, stored)
    move(work, stored, report)
    Booker(work).violations(violations)
    return report


def irregular(work, report: dict) -> tuple[dict, list[dict]]:
    """Count the department's booked irregular records of the year, take the
    next one's place if it is booked: two sheets sent back at once in one
    department meet on the same place, and the later unit runs again."""
    store, policy = work.store, work.rules.attendance
    department, year = report["department"], report["year"]
    limit = policy.reports.irregular.booked_per_year
    earlier = 0
    while earlier < limit and store.exists("irregular_records",
                                           irregular_slot(department, year, earlier + 1)):
        earlier += 1
    report, violations = irregular_record(report, earlier=earlier, policy=policy)
    if violations:
        slot = irregular_slot(department, year, earlier + 1)
        if not store.insert_once("irregular_records", slot, {
                "report": report["key"], "round": report["round"],
                "violation_id": violations[0]["key"], "at": violations[0]["at"]}):
            raise StaleWrite(f"{slot} was taken since it was read")
    return report, violations


def move(work, before: dict | None, after: dict) -> None:
    """Close the duty the sheet awaited, open the one it awaits now, announce the move."""
    store = work.store
    step = after["steps"][-1]
    awaited = (before or {}).get("awaiting") or SUBMISSION
    store.close_duty(step_key(before or {"key": after["key"]}, awaited), step["at"])
    if after["awaiting"] is not None:
        store.open_duties([report_duty(work, after)])
    work.outbox.emit("monthly_report_advanced", {
        "department": after["department"], "year": after["year"], "month": after["month"],
        "round": after["round"], "step": step["step"], "approve": step["approve"],
        "by": {"id": step["by"].get("id"), "role": step["by"].get("role")},
        "at": to_iso(step["at"]), "note": step["note"], "status": after["status"],
        "awaiting": after["awaiting"], "awaiting_due_at": to_iso(after["awaiting_due_at"]),
        "approved": after["approved"], "to_ids": next_actors(work, after)},
        key=f"{after['key']}:{after['round']}:{len(after['steps'])}")


def next_actors(work, report: dict) -> list[str]:
    """Who the move concerns: the holders of the step it awaits now, or, once the
    GM approved, the clerk and the head whose sheet it is."""
    if report["awaiting"] is None:
        return sorted({p for p in (report.get("clerk_id"), report.get("head_id")) if p})
    holders = step_holders(report["awaiting"], work.rules.attendance)
    return recipients(work.store, holders, report["department"])


def report_duty(work, report: dict) -> dict:
    step = report["awaiting"]
    return {"key": step_key(report, step), "kind": "report_step",
            "department": report["department"], "year": report["year"],
            "month": report["month"], "round": step_round(report, step), "step": step,
            "due_at": report["awaiting_due_at"],
            "holders": list(step_holders(step, work.rules.attendance)),
            "source": "000 §2 五.1-2"}


def report_status(work, payload: dict) -> dict:
    key = report_key(payload["department"], payload["year"], payload["month"])
    stored = work.store.report(key)
    if stored is not None:
        return stored
    due = monthly_report_due(payload["department"], payload["year"], payload["month"],
                             work.rules.attendance, work.rules.tz)
    return {"key": key, "department": payload["department"], "year": payload["year"],
            "month": payload["month"], "due_at": due, "submitted_at": None,
            "status": "not_submitted", "awaiting": SUBMISSION, "awaiting_due_at": due,
            "approved": False, "steps": []}
