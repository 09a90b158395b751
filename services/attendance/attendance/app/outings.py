"""Going out during working hours (002 §1 1.2.3; 000 §2 四.3(3))."""
from __future__ import annotations

from zhidu.times import to_iso

from ..outings import decide_outing as decide
from ..outings import record_return, request_outing
from ..policy import SUPERVISOR_TERM
from ..roles import SUPERIOR_FIELDS, is_direct_superior, standing
from .duties import recipients
from .work import found, millis


def outing_event(outing: dict) -> dict:
    return {"outing_id": outing["outing_id"], "employee_id": outing["employee_id"],
            "department": outing["department"], "out_at": to_iso(outing["out_at"]),
            "expected_back_at": to_iso(outing["expected_back_at"]),
            "approver": outing["approver"], "status": outing["status"]}


def ask_outing(work, payload: dict) -> dict:
    store = work.store
    employee_id = payload["employee_id"]
    outing = request_outing(
        outing_id=f"OT{store.next_sequence('outing'):06d}", employee_id=employee_id,
        employee=work.caller.person(employee_id), out_at=millis(payload["out_at"]),
        expected_back_at=millis(payload["expected_back_at"]),
        submitted_at=millis(payload["at"]), reason=payload["reason"],
        policy=work.rules.attendance)
    store.insert_outing(outing)
    work.outbox.emit("outing_requested", dict(outing_event(outing), reason=outing["reason"],
                                              to_ids=approvers(work, outing)),
                     key=outing["outing_id"])
    return outing


def approvers(work, outing: dict) -> list[str]:
    """Who may approve the outing now: the person's direct superiors, or the
    holders of the role the policy names for them (a department head: the GM)."""
    if outing["approver"] == SUPERVISOR_TERM:
        employee = work.caller.person(outing["employee_id"]) or {}
        return sorted({employee[f] for f in SUPERIOR_FIELDS if employee.get(f)}
                      - {outing["employee_id"]})
    return [p for p in recipients(work.store, [outing["approver"]], outing["department"])
            if p != outing["employee_id"]]


def approver_standing(work, employee_id: str) -> frozenset[str]:
    """What the caller is towards the person going out: a direct superior, the
    head of their department, and the roles they hold."""
    caller = work.caller
    employee = caller.person(employee_id) or {}
    mine = (caller.person(caller.id) or {}).get("department")
    return standing(caller.roles, supervisor=is_direct_superior(caller.id, employee),
                    head="dept_manager" in caller.roles and bool(mine)
                    and mine == employee.get("department"))


def decide_outing(work, payload: dict) -> dict:
    store = work.store
    outing = found(store.outing(payload["outing_id"]), f"outing {payload['outing_id']}")
    decided = decide(outing, approve=payload["approve"], at=millis(payload["at"]),
                     actor=payload["actor"],
                     standing=approver_standing(work, outing["employee_id"]),
                     note=payload["note"])
    store.save_outing(decided, outing)
    # Filed with the general office (综合办公室备案, 000 §2 四.3(3)) by this event.
    work.outbox.emit("outing_decided", dict(
        outing_event(decided), decided_at=to_iso(decided["decided_at"]),
        decided_by=decided["decided_by"],
        approved_from=to_iso(decided["approved_from"])), key=f"{decided['outing_id']}:decided")
    return decided


def return_from_outing(work, payload: dict) -> dict:
    store = work.store
    outing = found(store.outing(payload["outing_id"]), f"outing {payload['outing_id']}")
    back = record_return(outing, millis(payload["at"]))
    if back is outing:
        return outing                      # the same return again
    store.save_outing(back, outing)
    work.outbox.emit("outing_returned", dict(
        outing_event(back), returned_at=to_iso(back["returned_at"]),
        late_minutes=back["late_minutes"], late=back["late_minutes"] > 0,
        decided_by=back.get("decided_by")),
        key=f"{back['outing_id']}:returned")
    return back


def get_outing(store, payload: dict) -> dict:
    return found(store.outing(payload["outing_id"]), f"outing {payload['outing_id']}")
