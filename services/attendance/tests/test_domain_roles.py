"""Authority: the ladder, and supervisors known by the reporting line."""
from attendance.policy import load_attendance_policy
from attendance.roles import acting_role, effective_role, satisfies

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


def test_the_unit_head_consents_as_supervisor_000_s2_4_3_2():
    """单位主管领导准假: the unit's leader in charge stands in for the supervisor."""
    e1 = {"employee_id": "E1", "manager_id": "S9", "unit_head_id": "U1"}
    assert effective_role({"id": "U1", "role": "staff"}, [e1], LADDER) == "supervisor"
    assert effective_role({"id": "GL1", "role": "group_leader"},
                          [dict(e1, group_leader_id="GL1")], LADDER) == "group_leader"


def test_of_several_roles_the_one_that_carries_the_step_is_used():
    assert acting_role(["staff", "gm"], "supervisor", LADDER) == "gm"
    assert acting_role(["gm", "group_leader"], "group_leader", LADDER) == "group_leader"
    assert acting_role(["hr", "attendance_clerk"], "supervisor", LADDER) == "hr"
    assert acting_role(["attendance_clerk", "dept_manager"], None, LADDER) == "dept_manager"
    assert acting_role([], "supervisor", LADDER) is None
