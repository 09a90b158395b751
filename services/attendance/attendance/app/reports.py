"""The clerk's monthly report (000 §2 五.1-2, 六.3)."""
from __future__ import annotations

from zhidu.domain import DomainConflict

from ..reports import monthly_report_due, monthly_report_status
from .booking import Booker
from .work import millis


def head_of(store, department: str, clerk_id: str | None) -> str | None:
    """The department's head; without one on record, the clerk's manager."""
    heads = store.department_role_holders(department, "dept_manager")
    if heads:
        return heads[0]
    clerk = store.employee(clerk_id) if clerk_id else None
    return (clerk or {}).get("manager_id")


def submit_monthly_report(work, payload: dict) -> dict:
    """Record the submission; a late one books R01 on the clerk and the head."""
    store, actor, department = work.store, payload["actor"], payload["department"]
    # The clerk answers for the report (000 §2 五.1, 六.3); when the head
    # submits it, the department's clerk is still the one booked.
    by_clerk = "attendance_clerk" in work.caller.roles
    clerks = store.department_role_holders(department, "attendance_clerk")
    clerk_id = actor["id"] if by_clerk or not clerks else clerks[0]
    head_id = head_of(store, department, clerk_id)
    status = monthly_report_status(department=department, year=payload["year"],
                                   month=payload["month"], policy=work.rules.attendance,
                                   submitted_at=millis(payload["at"]), clerk_id=clerk_id,
                                   head_id=head_id, tz=work.rules.tz)
    report = dict(status, clerk_id=clerk_id, head_id=head_id, submitted_by=actor)
    if not store.submit_report(report):
        raise DomainConflict(f"the {department} report for {payload['year']}-"
                             f"{payload['month']:02d} was submitted already")
    Booker(work).violations(status["violations"])
    return report


def report_status(work, payload: dict) -> dict:
    key = f"report:{payload['department']}:{payload['year']:04d}-{payload['month']:02d}"
    stored = work.store.report(key)
    if stored is not None:
        return stored
    due = monthly_report_due(payload["department"], payload["year"], payload["month"],
                             work.rules.attendance, work.rules.tz)
    return {"key": key, "department": payload["department"], "year": payload["year"],
            "month": payload["month"], "due_at": due, "submitted_at": None,
            "status": "not_submitted"}
