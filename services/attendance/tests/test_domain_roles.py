"""Authority: the ladder, and supervisors known by the reporting line."""
from attendance.policy import load_attendance_policy
from attendance.roles import effective_role, satisfies

LADDER = load_attendance_policy().ladder


def test_ladder_and_off_ladder_roles():
    assert satisfies("gm", "supervisor", LADDER)
    assert not satisfies("staff", "supervisor", LADDER)
    assert not satisfies("gm", "group_leader", LADDER)
    assert satisfies("group_leader", "group_leader", LADDER)


def test_the_direct_superior_acts_as_supervisor():
    e1 = {"employee_id": "E1", "manager_id": "S1"}
    e2 = {"employee_id": "E2", "team_leader_id": "S1"}
    other = {"employee_id": "E3", "manager_id": "S9"}
    assert effective_role({"id": "S1", "role": "staff"}, [e1, e2], LADDER) == "supervisor"
    assert effective_role({"id": "S1", "role": "staff"}, [e1, other], LADDER) == "staff"
    assert effective_role({"id": "S1", "role": "gm"}, [e1], LADDER) == "gm"
    assert effective_role({"id": "S1", "role": "staff"}, [None], LADDER) == "staff"
    assert effective_role({"id": "S1", "role": "staff"}, [], LADDER) == "staff"
