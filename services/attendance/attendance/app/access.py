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

from ..outings import may_approve
from ..roles import is_direct_superior, standing


class Access:
    def __init__(self, store, person: Callable[[str], dict | None], decide_roles,
                 policy=None):
        """``decide_roles``: the roles decide_leave's rule admits outright (e.g. gm);
        ``policy``: the attendance policy (posts, their reviewers)."""
        self.store, self.person, self.decide_roles = store, person, set(decide_roles)
        self.policy = policy
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

    def meeting_convenor(self, principal, payload) -> bool:
        meeting = self._looked_up("meeting", payload.get("meeting_id"))
        return meeting is not None and meeting.get("convened_by") == principal.id

    def meeting_minute_taker(self, principal, payload) -> bool:
        meeting = self._looked_up("meeting", payload.get("meeting_id"))
        return meeting is not None and meeting.get("minute_taker_id") == principal.id

    def decision_owner(self, principal, payload) -> bool:
        """The owner the minutes name for the payload's decision (000 §3 九.1)."""
        meeting = self._looked_up("meeting", payload.get("meeting_id"))
        decisions = ((meeting or {}).get("minutes") or {}).get("decisions") or []
        return any(d["no"] == payload.get("decision_no") and d["owner_id"] == principal.id
                   for d in decisions)

    def chair_closing(self, principal, payload) -> bool:
        return not payload.get("excused") and self.meeting_chair(principal, payload)

    def duty_log_reviewer(self, principal, payload) -> bool:
        """May the caller make the payload's kind of review (any kind, for a read)
        of the post's log (002 §4 4.8; 002 §2 二.1-2)?"""
        post = self._post(payload)
        if post is None or principal.service_account:
            return False
        reviews = self.policy.duty_log.reviews
        kinds = [payload["kind"]] if payload.get("kind") in reviews else list(reviews)
        mine = (principal.person or {}).get("department")
        terms = standing(principal.roles,
                         head="dept_manager" in principal.roles and mine == post.department,
                         supervisor=principal.id in self.store.superiors_in_department(
                             post.department))
        return any(set(reviews[k].reviewers) & terms for k in kinds)

    def outing_approver(self, principal, payload) -> bool:
        """Does the caller approve this person's outings (002 §1 1.2.3; 000 §2 四.3(3))?"""
        outing = self._looked_up("outing", payload.get("outing_id"))
        if outing is None or principal.service_account:
            return False
        employee = self.person(outing["employee_id"]) or {}
        mine = (principal.person or {}).get("department")
        terms = standing(principal.roles, supervisor=is_direct_superior(principal.id, employee),
                         head="dept_manager" in principal.roles and bool(mine)
                         and mine == employee.get("department"))
        return may_approve(outing, terms)

    def handover_incoming(self, payload) -> str | None:
        handover = self._looked_up("handover", payload.get("handover_id"))
        return handover["incoming_id"] if handover else None

    def outing_employee(self, payload) -> str | None:
        outing = self._looked_up("outing", payload.get("outing_id"))
        return outing["employee_id"] if outing else None

    def _post(self, payload):
        if payload.get("post"):
            return self.policy.duty_log.post(payload["post"])
        handover = self._looked_up("handover", payload.get("handover_id"))
        return self.policy.duty_log.post(handover["post"]) if handover else None

    def leave_employee(self, payload) -> str | None:
        leave = self._looked_up("leave", payload.get("leave_id"))
        return leave["employee_id"] if leave else None

    def _approving_roles(self, principal) -> set[str]:
        """The caller's roles that let them decide any leave their step comes to:
        the approvers outside the reporting line."""
        return set(principal.roles) & self.decide_roles

    def _looked_up(self, kind: str, key: str | None) -> dict | None:
        """A record the call names (a leave, a meeting, a handover, an outing) as the
        permission check saw it, read once per call."""
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
        if payload.get("post") or payload.get("handover_id"):
            post = self._post(payload)
            if post is None:
                return None
            departments.add(post.department)
        employees = {e["employee_id"] for e in payload.get("entries") or []}
        if payload.get("employee_id"):
            employees.add(payload["employee_id"])
        for field, of in (("leave_id", self.leave_employee),
                          ("outing_id", self.outing_employee)):
            if payload.get(field):
                employee = of(payload)
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
