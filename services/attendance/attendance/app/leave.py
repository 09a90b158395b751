"""Leave requests, their approval ladder, sick proof and seniority accounts (000 §2 四)."""
from __future__ import annotations

from datetime import date

from zhidu.domain import DomainConflict
from zhidu.times import as_utc, to_iso, utcnow

from ..leave import attach_proof, new_leave
from ..leave import decide_leave as decide
from ..seniority import apply_leave, approve_carry_over, open_year
from .closing import DayCloser
from .work import acting, found, millis, people_asked


def leave_event(leave: dict) -> dict:
    return {"leave_id": leave["leave_id"], "employee_id": leave["employee_id"],
            "type": leave["type"], "start": leave["start"], "end": leave["end"],
            "days": leave["days"], "status": leave["status"],
            "emergency": bool(leave.get("emergency"))}


def _reply(leave: dict) -> dict:
    return dict(leave, approver_role=leave["next_approver_role"])


def request_leave(work, payload: dict) -> dict:
    """File a leave form; it waits for the first step of its ladder."""
    store, rules = work.store, work.rules
    employee_id, start, end = payload["employee_id"], payload["start"], payload["end"]
    # Shift workers: the roster, not the calendar, says which days count.
    rostered = [e["date"] for e in store.roster_between(
        start.isoformat(), end.isoformat(), employee_id) if e.get("published")] \
        if end >= start else []
    back = store.next_rostered_date(employee_id, end.isoformat()) if rostered else None
    account = store.seniority_account(employee_id, start.year) \
        if payload["type"] == "seniority" else None
    leave = new_leave(leave_id="?", employee_id=employee_id, type=payload["type"],
                      start=start, end=end, submitted_at=payload["submitted_at"],
                      calendar=rules.calendar, policy=rules.attendance,
                      reason=payload["reason"], emergency=payload["emergency"],
                      seniority_year=payload["seniority_year"], seniority_account=account,
                      rostered_dates=rostered or None, first_day_back=back)
    overlapping = store.overlapping_leaves(employee_id, leave["start"], leave["end"])
    if overlapping:
        other = overlapping[0]
        raise DomainConflict(f"overlaps leave {other['leave_id']} ({other['start']} to "
                             f"{other['end']}, {other['status']}); a correction is a new "
                             "record once that one is decided")
    leave.update(leave_id=f"LV{store.next_sequence('leave'):06d}",
                 proof_open=leave["proof_due"] is not None, filed_by=payload["actor"])
    store.insert_leave(leave)
    work.outbox.emit("leave_requested", dict(
        leave_event(leave), approver_role=leave["next_approver_role"],
        required_approvals=leave["required_approvals"],
        department=(work.caller.person(employee_id) or {}).get("department")
        if work.caller else None),
        key=leave["leave_id"])
    return _reply(leave)


def decide_leave(work, payload: dict) -> dict:
    """One step of the ladder. The final approval debits the seniority account and
    judges again the days already closed inside the leave, in the same unit."""
    store, rules = work.store, work.rules
    leave = found(store.leave(payload["leave_id"]), f"leave {payload['leave_id']}")
    actor = acting(work, [leave["employee_id"]], leave.get("next_approver_role"))
    account = _seniority(store, leave)
    updated = decide(leave, approve=payload["approve"], actor=actor, at=payload["at"],
                     policy=rules.attendance, calendar=rules.calendar,
                     seniority_account=account, note=payload["note"])
    if updated["status"] == "rejected":
        updated["proof_open"] = False
    store.replace_leave(updated)
    if updated["status"] != "pending":
        work.outbox.emit("leave_decided", dict(
            leave_event(updated), decided_at=to_iso(updated["decided_at"]),
            decided_by={"id": actor.get("id"), "role": actor.get("role")}),
            key=f"{updated['leave_id']}:decided")
    if updated["status"] == "approved":
        if account is not None:
            store.save_seniority_account(apply_leave(account, updated, rules.attendance),
                                         read=account)
        # Days already closed inside the leave lose their absences now.
        closer = DayCloser(work)
        for day in store.evaluated_dates(updated["employee_id"], updated["start"],
                                         updated["end"]):
            closer.close(date.fromisoformat(day), [updated["employee_id"]])
    return _reply(updated)


def _seniority(store, leave: dict) -> dict | None:
    if leave["type"] != "seniority":
        return None
    return store.seniority_account(leave["employee_id"], int(leave["start"][:4]))


def attach_sick_proof(work, payload: dict) -> dict:
    store = work.store
    leave = found(store.leave(payload["leave_id"]), f"leave {payload['leave_id']}")
    at = millis(payload["at"])
    updated = attach_proof(leave, at, work.rules.attendance)
    if leave.get("proof_at") is None:
        on_time = leave["proof_due"] is None or at <= as_utc(leave["proof_due"])
        store.set_proof(leave["leave_id"], at, on_time)
    due = updated.get("proof_due")
    return dict(updated, on_time=due is None or as_utc(updated["proof_at"]) <= as_utc(due))


def get_leave(store, payload: dict) -> dict:
    return found(store.leave(payload["leave_id"]), f"leave {payload['leave_id']}")


def list_leaves(store, payload: dict) -> list[dict]:
    return store.leaves(status=payload["status"], approver_role=payload["approver_role"],
                        employee_ids=people_asked(store, payload))


def set_seniority_account(work, payload: dict) -> dict:
    """Open or correct a year's account; carrying days over needs the GM (四.1)."""
    store, policy = work.store, work.rules.attendance
    employee_id, year, carried = payload["employee_id"], payload["year"], \
        payload["carried_over_days"]
    actor = acting(work, [employee_id], policy.seniority.carry_over_approver if carried else None)
    carry = None
    if carried:
        previous = store.seniority_account(employee_id, year - 1) or open_year(
            employee_id, year - 1, carried)
        carry = approve_carry_over(previous, carried, actor, payload["at"] or utcnow(), policy)
    account = open_year(employee_id, year, payload["entitlement_days"], carry)
    if carry is not None:
        # Who let the days cross the year (四.1 needs the GM) stays on record.
        account["carry_over"] = carry
    existing = store.seniority_account(employee_id, year)
    if existing is not None:
        if payload["entitlement_days"] < existing["used_days"]:
            raise DomainConflict(f"{existing['used_days']} days of {year} are already used")
        account.update(used_days=existing["used_days"], parts_taken=existing["parts_taken"],
                       previous_used=existing["previous_used"] and not carry)
    store.save_seniority_account(account, read=existing)
    return account


def pending_approvals(store, metrics) -> None:
    """The waiting leave per next approver, and the age of the oldest, as gauges."""
    pending, age = metrics["pending"], metrics["pending_age"]
    pending.clear()
    age.clear()
    now = utcnow()
    for group in store.pending_approvals():
        role = group["_id"] or "unknown"
        pending.labels(role).set(group["count"])
        oldest = group.get("oldest")
        age.labels(role).set(max(0.0, (now - as_utc(oldest)).total_seconds())
                             if oldest else 0.0)
