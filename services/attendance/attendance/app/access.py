"""The questions ``rules/permissions.yaml`` asks about a call, answered.

Who stands where towards the call's subject — the clerk or head of the
department concerned, someone in the employees' reporting line, an approver
the leave's ladder names, a member or the chair of the meeting — from the
directory copy and the records the payload names. Only for deciding who may
call: operations read their own fresh copies inside their unit.
"""
from __future__ import annotations

from collections.abc import Callable

from zhidu.permissions import LINE_FIELDS


class Access:
    def __init__(self, store, person: Callable[[str], dict | None], decide_roles):
        """``decide_roles``: the roles decide_leave's rule admits outright (e.g. gm)."""
        self.store, self.person, self.decide_roles = store, person, set(decide_roles)
        self.seen: dict = {}

    def department_clerk(self, principal, payload) -> bool:
        return self._of_department(principal, "attendance_clerk", payload)

    def department_head(self, principal, payload) -> bool:
        return self._of_department(principal, "dept_manager", payload)

    def same_department(self, principal, payload) -> bool:
        mine = (principal.person or {}).get("department")
        return not principal.service_account and bool(mine) and \
            self._departments_concerned(payload) == {mine}

    def emergency_clerk(self, principal, payload) -> bool:
        return bool(payload.get("emergency")) and \
            self._of_department(principal, "attendance_clerk", payload)

    def roster_supervisor(self, principal, payload) -> bool:
        employees = {e["employee_id"] for e in payload.get("entries") or []}
        return bool(employees) and all(self._in_line_of(principal.id, e) for e in employees)

    def leave_approver(self, principal, payload) -> bool:
        leave = self._looked_up("leave", payload.get("leave_id"))
        if leave is None:
            return False
        decided_by = {a.get("actor_id") for a in leave.get("approvals") or []}
        return principal.id in decided_by or \
            bool(self._approving_roles(principal) & set(leave.get("required_approvals") or []))

    def approver_queue(self, principal, payload) -> bool:
        return payload.get("status") == "pending" and \
            payload.get("approver_role") in self._approving_roles(principal)

    def meeting_member(self, principal, payload) -> bool:
        meeting = self._looked_up("meeting", payload.get("meeting_id"))
        return meeting is not None and (meeting["chair_id"] == principal.id
                                        or principal.id in meeting["attendees"])

    def meeting_chair(self, principal, payload) -> bool:
        meeting = self._looked_up("meeting", payload.get("meeting_id"))
        return meeting is not None and meeting["chair_id"] == principal.id

    def chair_closing(self, principal, payload) -> bool:
        return not payload.get("excused") and self.meeting_chair(principal, payload)

    def leave_employee(self, payload) -> str | None:
        leave = self._looked_up("leave", payload.get("leave_id"))
        return leave["employee_id"] if leave else None

    def _approving_roles(self, principal) -> set[str]:
        """The caller's roles that let them decide any leave their step comes to:
        the approvers outside the reporting line."""
        return set(principal.roles) & self.decide_roles

    def _looked_up(self, kind: str, key: str | None) -> dict | None:
        """A leave or meeting as the permission check saw it, read once per call."""
        if not key:
            return None
        if (kind, key) not in self.seen:
            self.seen[kind, key] = getattr(self.store, kind)(key)
        return self.seen[kind, key]

    def _of_department(self, principal, role: str, payload) -> bool:
        """Does the caller hold ``role`` in the one department the call concerns?"""
        mine = (principal.person or {}).get("department")
        if principal.service_account or role not in principal.roles or not mine:
            return False
        return self._departments_concerned(payload) == {mine}

    def _departments_concerned(self, payload) -> set[str] | None:
        """The departments of everything the call names; None when one is unknown."""
        departments = {payload["department"]} if payload.get("department") else set()
        employees = {e["employee_id"] for e in payload.get("entries") or []}
        if payload.get("employee_id"):
            employees.add(payload["employee_id"])
        if payload.get("leave_id"):
            employee = self.leave_employee(payload)
            if employee is None:
                return None
            employees.add(employee)
        for employee_id in employees:
            department = (self.person(employee_id) or {}).get("department")
            if not department:
                return None
            departments.add(department)
        return departments or None

    def _in_line_of(self, caller_id: str, employee_id: str) -> bool:
        person = self.person(employee_id) or {}
        return caller_id != employee_id and caller_id in (
            person.get(f) for f in LINE_FIELDS["line_manager"])
