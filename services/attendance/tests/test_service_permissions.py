"""Who may do what in attendance, proven by token (rules/permissions.yaml, rules §8)."""
import pytest
from attendance.testing import CLERK, GM, GROUP, SUPERVISOR, local, person
from nameko.exceptions import RemoteError

pytestmark = pytest.mark.integration


def refused(call, payload, kind="PermissionDenied") -> str:
    with pytest.raises(RemoteError) as err:
        call(payload)
    assert err.value.exc_type == kind, err.value.value
    return err.value.value


def one_day_leave(rpc, employee_id, day="2026-03-09"):
    return rpc.as_person(employee_id).attendance.request_leave({
        "employee_id": employee_id, "type": "personal", "start": day, "end": day,
        "submitted_at": local(2026, 3, 2, 9)})


def test_nobody_approves_their_own_leave_even_as_gm_000_s2_4_3_2(attendance, rpc, seed):
    """000 §2 四.3(2) names who approves a leave; rules §8: nobody decides their own."""
    seed(person("E7", role="gm", department="management", manager_id="GL1"))
    leave = one_day_leave(rpc, "E7")
    decision = {"leave_id": leave["leave_id"], "approve": True, "at": local(2026, 3, 3, 9)}
    message = refused(rpc.as_person("E7").attendance.decide_leave, decision)
    assert "separation of duties" in message and "decide_leave" in message
    assert rpc.attendance.get_leave({"leave_id": leave["leave_id"]})["approvals"] == []
    # Another GM may (the ladder's top carries the supervisor's step) ...
    assert rpc.attendance.decide_leave(dict(decision, actor=GM))["status"] == "approved"
    # ... and so may the GM's own superior, for the GM's next leave.
    second = one_day_leave(rpc, "E7", day="2026-03-10")
    done = rpc.attendance.decide_leave(dict(decision, leave_id=second["leave_id"], actor=GROUP))
    assert done["status"] == "approved"
    assert [(a["actor_id"], a["role"]) for a in done["approvals"]] == [("GL1", "supervisor")]


def test_a_payload_actor_naming_someone_else_is_refused_rules_s8(attendance, rpc, seed):
    """rules §8 and contract § Authentication: a role named in a payload proves nothing."""
    seed(person("E1"), person("E2"))
    leave = one_day_leave(rpc, "E1")
    as_e2 = rpc.as_person("E2").attendance
    message = refused(as_e2.decide_leave, {"leave_id": leave["leave_id"], "approve": True,
                                           "at": local(2026, 3, 3, 9), "actor": GM})
    assert message.startswith("actor:") and "G1" in message and "E2" in message
    message = refused(as_e2.set_seniority_account, {
        "employee_id": "E1", "year": 2026, "entitlement_days": 30,
        "actor": {"id": "E2", "role": "gm"}})
    assert "set_seniority_account" in message          # the claimed role counts for nothing
    assert rpc.attendance.get_leave({"leave_id": leave["leave_id"]})["status"] == "pending"


def test_clocking_is_for_the_person_or_a_clocking_device_000_s2_6_5(attendance, rpc, seed,
                                                                    tokens):
    """000 §2 三, 六.5: arrival and departure are each person's own record."""
    seed(person("E1"), person("E2"))
    rpc.attendance.define_shift({"code": "D", "start": "08:30", "end": "16:20"})
    rpc.attendance.set_roster({"entries": [{"employee_id": "E1", "date": "2026-03-02",
                                            "shift_code": "D"}],
                               "published": True, "actor": CLERK, "at": local(2026, 2, 20)})
    clock_in = {"employee_id": "E1", "kind": "in", "at": local(2026, 3, 2, 8, 20)}
    message = refused(rpc.as_person("E2").attendance.clock, clock_in)
    assert "clock" in message and "attendance:clock" in message
    gate = rpc.as_(tokens.service("svc:gate-1", scopes=("attendance:clock",))).attendance
    done = gate.clock(clock_in)
    assert done["recorded"] is True and done["late_minutes"] == 0
    # The device clocks and nothing else.
    refused(gate.close_day, {"date": "2026-03-02"})
    refused(gate.list_violations, {"employee_id": "E1"})
    # The person clocks themself out.
    out = rpc.as_person("E1").attendance.clock({"employee_id": "E1", "kind": "out",
                                                "at": local(2026, 3, 2, 16, 25)})
    assert out["early_minutes"] == 0


def test_a_roster_is_read_by_the_department_it_concerns_002_s1_1_1_4(attendance, rpc, seed):
    """002 §1 1.1.4, 1.1.7: the roster is copied to the departments and people concerned."""
    seed(person("E1"), person("E2"), person("F1", department="finance"))
    rpc.attendance.define_shift({"code": "D", "start": "08:30", "end": "16:20"})
    rpc.attendance.set_roster({"entries": [{"employee_id": e, "date": "2026-03-02",
                                            "shift_code": "D"} for e in ("E1", "E2")],
                               "published": True, "actor": CLERK, "at": local(2026, 2, 20)})
    refused(rpc.as_person(CLERK["id"]).attendance.set_roster, {  # not the clerk's department
        "entries": [{"employee_id": "F1", "date": "2026-03-02", "shift_code": "D"}],
        "published": True})
    week = {"date_from": "2026-03-01", "date_to": "2026-03-07"}
    mine = rpc.as_person("E1").attendance.get_roster(dict(week, employee_id="E1"))
    assert [e["employee_id"] for e in mine] == ["E1"]
    colleagues = rpc.as_person("E2").attendance.get_roster(dict(week,
                                                               department="customer_service"))
    assert [e["employee_id"] for e in colleagues] == ["E1", "E2"]
    refused(rpc.as_person("F1").attendance.get_roster, dict(week, department="customer_service"))
    refused(rpc.as_person("E2").attendance.get_roster, week)            # the whole company
    assert len(rpc.attendance.get_roster(week)) == 2                     # hr


def test_a_five_day_personal_leave_climbs_the_whole_ladder_000_s2_4_3_2(attendance, rpc, seed):
    """000 §2 四.3(2): the supervisor, then the GM (more than 2 days), then group
    leadership (5 days or more); a staff colleague decides nothing."""
    seed(person("E1"), person("E2"))
    leave = rpc.as_person("E1").attendance.request_leave({
        "employee_id": "E1", "type": "personal", "start": "2026-03-16", "end": "2026-03-20",
        "submitted_at": local(2026, 3, 2, 9), "reason": "family"})
    assert leave["days"] == 5 and leave["status"] == "pending"
    assert leave["required_approvals"] == ["supervisor", "gm", "group_leader"]
    decide = rpc.attendance.decide_leave
    base = {"leave_id": leave["leave_id"], "approve": True, "at": local(2026, 3, 3, 9)}
    message = refused(decide, dict(base, actor={"id": "E2", "role": "staff"}))
    assert "000 §2 四.3(2)" in message
    assert rpc.attendance.get_leave({"leave_id": leave["leave_id"]})["approvals"] == []
    assert decide(dict(base, actor=SUPERVISOR))["approver_role"] == "gm"
    refused(decide, dict(base, actor={"id": "E2", "role": "staff"}))
    assert decide(dict(base, actor=GM))["approver_role"] == "group_leader"
    done = decide(dict(base, actor=GROUP))
    assert done["status"] == "approved"
    assert [(a["actor_id"], a["role"]) for a in done["approvals"]] == [
        ("S1", "supervisor"), ("G1", "gm"), ("GL1", "group_leader")]


def test_reading_a_leave_the_person_and_their_line_yes_a_colleague_no_rules_s8(
        attendance, rpc, seed):
    """rules §8: a person's leave is read by the person, their line managers, hr."""
    seed(person("E1"), person("E2"))
    leave = one_day_leave(rpc, "E1")
    ref = {"leave_id": leave["leave_id"]}
    assert rpc.as_person("E1").attendance.get_leave(ref)["employee_id"] == "E1"
    assert rpc.as_person("S1").attendance.get_leave(ref)["status"] == "pending"   # manager
    assert rpc.attendance.get_leave(ref)["leave_id"] == leave["leave_id"]          # hr
    message = refused(rpc.as_person("E2").attendance.get_leave, ref)
    assert "get_leave" in message and "rules §8" in message
    refused(rpc.as_person("E2").attendance.list_leaves, {"employee_id": "E1"})
    refused(rpc.as_person("E2").attendance.list_leaves, {})
    # The department's clerk keeps the forms: the department's leaves, not finance's.
    clerk = rpc.as_person(CLERK["id"]).attendance
    assert [x["leave_id"] for x in clerk.list_leaves({"department": "customer_service"})] == [
        leave["leave_id"]]
    refused(clerk.list_leaves, {"department": "finance"})


def test_the_clerk_files_a_form_only_for_an_emergency_000_s2_4_3_2(attendance, rpc, seed):
    """000 §2 四.3(2): leave is asked by the person in advance; an emergency form is
    filled on the first day back, and the department's clerk answers for it (六.4)."""
    seed(person("E1"), person("E2"))
    ask = {"employee_id": "E1", "type": "personal", "start": "2026-03-09",
           "end": "2026-03-09", "submitted_at": local(2026, 3, 2, 9)}
    clerk = rpc.as_person(CLERK["id"]).attendance
    refused(clerk.request_leave, ask)
    refused(rpc.as_person("E2").attendance.request_leave, ask)
    form = clerk.request_leave(dict(ask, emergency=True, start="2026-03-02", end="2026-03-02",
                                    submitted_at=local(2026, 3, 3, 9)))
    assert form["filed_by"]["id"] == "K1" and form["approver_role"] == "supervisor"
    # A finance clerk is not customer service's clerk.
    refused(rpc.as_person("K2").attendance.request_leave,
            dict(ask, emergency=True, start="2026-03-04", end="2026-03-04",
                 submitted_at=local(2026, 3, 5, 9)))


def test_seniority_entitlements_and_carry_over_000_s2_4_1(attendance, rpc, seed):
    """000 §2 四.1: a manager sets the entitlement; carrying it past the year needs the GM."""
    seed(person("E1"), person("E2"))
    account = {"employee_id": "E1", "year": 2026, "entitlement_days": 10}
    refused(rpc.as_person("S1").attendance.set_seniority_account, account)     # staff
    refused(rpc.as_person("K2").attendance.set_seniority_account, account)     # finance clerk
    head = rpc.as_person("H1").attendance
    assert head.set_seniority_account(account)["entitlement_days"] == 10
    message = refused(head.set_seniority_account, dict(account, carried_over_days=3))
    assert "gm" in message
    carried = rpc.as_person("G1").attendance.set_seniority_account(
        dict(account, carried_over_days=3))
    assert carried["previous_balance_days"] == 3
    assert carried["carry_over"]["approved_by"] == {"id": "G1", "role": "gm"}
    # Nor does a head set their own.
    refused(head.set_seniority_account, dict(account, employee_id="H1"))


def test_meeting_discipline_is_the_chairs_and_the_general_offices_000_s3(attendance, rpc,
                                                                           seed):
    """000 §3 七.1: attendees sign in themselves; the chair controls the meeting (七.3)
    and meeting leave is granted by the general office (三.4)."""
    seed(person("E1"), person("E2"))
    rpc.attendance.schedule_meeting({"meeting_id": "MT-9", "kind": "regular",
                                     "start": local(2026, 3, 3, 9), "planned_minutes": 30,
                                     "attendees": ["E1", "E2"], "chair_id": "H1"})
    e1, e2, chair = (rpc.as_person(p).attendance for p in ("E1", "E2", "H1"))
    assert e1.get_meeting({"meeting_id": "MT-9"})["chair_id"] == "H1"
    refused(rpc.as_person("K2").attendance.get_meeting, {"meeting_id": "MT-9"})
    refused(e2.meeting_checkin, {"meeting_id": "MT-9", "employee_id": "E1",
                                 "at": local(2026, 3, 3, 8, 45)})
    assert e1.meeting_checkin({"meeting_id": "MT-9", "employee_id": "E1",
                               "at": local(2026, 3, 3, 8, 45)})["status"] == "seated_early"
    phone = {"meeting_id": "MT-9", "employee_id": "E1", "kind": "phone",
             "at": local(2026, 3, 3, 9, 10)}
    refused(e2.meeting_incident, phone)
    assert chair.meeting_incident(phone)["violation"]["code"] == "M05"
    ended = {"meeting_id": "MT-9", "ended_at": local(2026, 3, 3, 9, 30)}
    refused(chair.close_meeting, dict(ended, excused=["E2"]))
    refused(e1.close_meeting, ended)
    assert chair.close_meeting(ended)["absent"] == ["E2"]


def test_an_approver_sees_the_leaves_waiting_for_them_000_s2_4_3_2(attendance, rpc, seed):
    seed(person("E1"))
    leave = rpc.as_person("E1").attendance.request_leave({
        "employee_id": "E1", "type": "personal", "start": "2026-03-16", "end": "2026-03-18",
        "submitted_at": local(2026, 3, 2, 9)})
    rpc.attendance.decide_leave({"leave_id": leave["leave_id"], "approve": True,
                                 "at": local(2026, 3, 3, 9), "actor": SUPERVISOR})
    gm = rpc.as_person(GM["id"]).attendance
    waiting = gm.list_leaves({"status": "pending", "approver_role": "gm"})
    assert [x["leave_id"] for x in waiting] == [leave["leave_id"]]
    assert gm.get_leave({"leave_id": leave["leave_id"]})["next_approver_role"] == "gm"
    refused(gm.list_leaves, {"status": "pending", "approver_role": "group_leader"})
    refused(rpc.as_person(GROUP["id"]).attendance.list_leaves, {"status": "pending",
                                                                "approver_role": "gm"})
