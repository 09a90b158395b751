"""Helpers for tests that drive the attendance service (its own and
cross-service ones): actors and the directory copy they are proven against,
employees, local times, a look at its store."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

SH = ZoneInfo("Asia/Shanghai")
CLERK = {"id": "K1", "role": "attendance_clerk"}
SUPERVISOR = {"id": "S1", "role": "staff"}        # a supervisor by reporting line
MANAGER = {"id": "H1", "role": "dept_manager"}
GM = {"id": "G1", "role": "gm"}
GROUP = {"id": "GL1", "role": "group_leader"}
FINANCE_CLERK = {"id": "K2", "role": "attendance_clerk"}
FINANCE_HEAD = {"id": "H2", "role": "dept_manager"}

# The people who run attendance, as the directory describes them: permissions
# read their role, department and reporting line from that copy.
CAST = (
    ("K1", "attendance_clerk", {"department": "customer_service", "manager_id": "H1"}),
    ("S1", "staff", {"department": "customer_service", "manager_id": "H1",
                     "group_leader_id": "GL1"}),
    ("H1", "dept_manager", {"department": "customer_service", "manager_id": "G1"}),
    ("K2", "attendance_clerk", {"department": "finance", "manager_id": "H2"}),
    ("H2", "dept_manager", {"department": "finance", "manager_id": "G1"}),
    ("G1", "gm", {"department": "management"}),
    ("GL1", "group_leader", {"department": "group"}),
)


def add_cast(people) -> None:
    """Put the clerks, supervisors, heads, GM and group leader in the directory copy."""
    for employee_id, role, fields in CAST:
        people.add(employee_id, role, **fields)


def local(*args) -> str:
    """A local (Asia/Shanghai) wall time as the ISO string callers send."""
    return datetime(*args, tzinfo=SH).isoformat()


def person(employee_id: str, department: str = "customer_service", **extra) -> dict:
    """A directory employee whose supervisor is S1 and group leader GL1."""
    return dict({"employee_id": employee_id, "name": employee_id, "gender": "F",
                 "department": department, "unit": "centre", "role": "staff",
                 "manager_id": "S1", "group_leader_id": "GL1"}, **extra)


def store_of(container):
    for dep in container.dependencies:
        if type(dep).__name__ == "Mongo":
            return dep.store
    raise LookupError("no Mongo dependency")


def violations_of(rpc, employee_id: str, **query) -> list[tuple[str, int]]:
    """(code, points) of the person's standing violations, oldest first."""
    return [(v["code"], v["points"]) for v in
            rpc.attendance.list_violations(dict(query, employee_id=employee_id))
            if v.get("withdrawn_at") is None]
