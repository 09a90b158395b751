"""Lifecycle: the happy path, refused transitions, authority, pause, liability."""
from __future__ import annotations

import copy

import pytest
from complaints.authority import check_approval, required_role
from complaints.lifecycle import allowed_next
from zhidu.domain import DomainConflict, DomainPermission, DomainValidation

STAFF = {"id": "cs-01", "role": "staff"}
MANAGER = {"id": "mgr-01", "role": "dept_manager"}
DEPUTY = {"id": "dgm-01", "role": "deputy_gm"}
GM = {"id": "gm-01", "role": "gm"}

ACCEPT = ("decide_validity", "2026-11-13 10:10", {"valid": True, "reason": "成立"})
ASSIGN = ("assign", "2026-11-13 10:20", {"department": "service", "owner_id": "e1"})
PLAN = ("agree_plan", "2026-11-13 11:00", {"plan": "上门道歉"})
REPORT = ("submit_report", "2026-11-13 12:00", {"root_cause": "培训不足"})


@pytest.fixture
def investigated(filed, walk):
    return walk(filed("2026-11-13 10:00"), ACCEPT, ASSIGN, PLAN, REPORT)


def test_the_whole_way_with_a_remedy(investigated, walk, rules, t):
    case = walk(investigated,
                ("propose_remedy", "2026-11-13 13:00", {"remedy": "赔偿", "amount_yuan": 800}),
                ("approve_remedy", "2026-11-13 14:00", {"actor": MANAGER}),
                ("resolve", "2026-11-13 15:00", {"resolution": "已赔偿"}))
    out = rules.follow_up(case, satisfied=True, note="满意", at=t("2026-11-16 09:00"),
                          actor=STAFF)
    case = out.case
    assert case["status"] == "closed" and case["closed_at"] == t("2026-11-16 09:00")
    path = [(h["from"], h["to"]) for h in case["history"]]
    assert path == [(None, "received"), ("received", "accepted"), ("accepted", "assigned"),
                    ("assigned", "planned"), ("planned", "investigated"),
                    ("investigated", "remedy_proposed"),
                    ("remedy_proposed", "remedy_approved"), ("remedy_approved", "resolved"),
                    ("resolved", "closed")]
    assert case["history"][6] == {"at": t("2026-11-13 14:00"), "actor": MANAGER,
                                  "from": "remedy_proposed", "to": "remedy_approved",
                                  "note": "800 yuan"}
    remedy = case["remedies"][-1]
    assert remedy["state"] == "approved" and remedy["required_role"] == "dept_manager"
    assert case["version"] == 9
    assert [f["satisfied"] for f in case["followups"]] == [True]


def test_remedy_is_optional(investigated, rules, t):
    case = rules.resolve(investigated, resolution="解释清楚", at=t("2026-11-13 13:00"),
                         actor=STAFF).case
    assert case["status"] == "resolved"


@pytest.mark.parametrize("steps, command, kwargs", [
    ((), "assign", {"department": "d", "owner_id": "o"}),            # not yet accepted
    ((), "agree_plan", {"plan": "p"}),
    ((ACCEPT,), "submit_report", {"root_cause": "r"}),
    ((ACCEPT, ASSIGN, PLAN), "resolve", {"resolution": "r"}),         # report is owed
    ((ACCEPT, ASSIGN, PLAN), "approve_remedy", {}),
    ((ACCEPT, ASSIGN), "follow_up", {"satisfied": True}),
    ((ACCEPT,), "decide_validity", {"valid": False, "reason": "again"}),
])
def test_transitions_refused(filed, walk, rules, t, steps, command, kwargs):
    case = walk(filed("2026-11-13 10:00"), *steps)
    before = copy.deepcopy(case)
    with pytest.raises(DomainConflict):
        getattr(rules, command)(case, at=t("2026-11-13 13:00"), actor=GM, **kwargs)
    assert case == before                                # nothing half-written


def test_a_proposed_remedy_must_be_approved_before_resolving(investigated, walk, rules, t):
    case = walk(investigated,
                ("propose_remedy", "2026-11-13 13:00", {"remedy": "赔偿", "amount_yuan": 50}))
    with pytest.raises(DomainConflict, match="remedy_proposed to resolved"):
        rules.resolve(case, resolution="r", at=t("2026-11-13 14:00"), actor=GM)


def test_revising_a_remedy_needs_a_new_approval(investigated, walk):
    case = walk(investigated,
                ("propose_remedy", "2026-11-13 13:00", {"remedy": "赔偿", "amount_yuan": 500}),
                ("approve_remedy", "2026-11-13 13:10", {"actor": MANAGER}),
                ("propose_remedy", "2026-11-13 13:20", {"remedy": "加赔", "amount_yuan": 5000}))
    assert case["status"] == "remedy_proposed"
    assert [r["state"] for r in case["remedies"]] == ["superseded", "proposed"]
    assert case["remedies"][-1]["required_role"] == "deputy_gm"


def test_final_statuses_allow_nothing(filed, walk, rules, t):
    rejected = rules.decide_validity(filed("2026-11-13 10:00"), valid=False,
                                     reason="不属于本公司责任", at=t("2026-11-13 10:30"),
                                     actor=STAFF, reply="已向客户说明：属物业公司责任")
    assert rejected.case["status"] == "rejected"
    assert [c["state"] for c in rejected.case["clocks"]] == ["met", "waived"]
    assert allowed_next("rejected") == allowed_next("closed") == frozenset()
    for command, kwargs in (("pause", {"reason": "x"}),
                            ("assign", {"department": "d", "owner_id": "o"})):
        with pytest.raises(DomainConflict):
            getattr(rules, command)(rejected.case, at=t("2026-11-13 11:00"), actor=GM,
                                    **kwargs)
    with pytest.raises(DomainValidation):       # the explanation is the last word
        rules.acknowledge(rejected.case, at=t("2026-11-13 11:00"), actor=GM,
                          next_reply_at=t("2026-11-14 11:00"))


def test_pause_and_resume(investigated, rules, t):
    paused = rules.pause(investigated, reason="等客户", at=t("2026-11-13 13:00"),
                         actor=STAFF).case
    assert paused["status"] == "paused" and paused["paused_from"] == "investigated"
    with pytest.raises(DomainConflict, match="already paused"):
        rules.pause(paused, reason="again", at=t("2026-11-13 13:05"), actor=STAFF)
    with pytest.raises(DomainConflict, match="resume it"):
        rules.resolve(paused, resolution="r", at=t("2026-11-13 13:05"), actor=STAFF)
    resumed = rules.resume(paused, at=t("2026-11-13 14:00"), actor=STAFF).case
    assert resumed["status"] == "investigated" and resumed["paused_from"] is None
    assert resumed["history"][-1]["from"] == "paused"
    with pytest.raises(DomainConflict, match="not paused"):
        rules.resume(resumed, at=t("2026-11-13 14:05"), actor=STAFF)


def test_a_resolved_case_cannot_be_paused(investigated, walk, rules, t):
    case = walk(investigated, ("resolve", "2026-11-13 13:00", {"resolution": "r"}))
    with pytest.raises(DomainConflict):
        rules.pause(case, reason="x", at=t("2026-11-13 14:00"), actor=STAFF)


def test_reassigning_keeps_status_and_clocks(investigated, rules, t):
    out = rules.assign(investigated, department="engineering", owner_id="e2",
                       at=t("2026-11-13 13:00"), actor=MANAGER)
    case = out.case
    assert case["status"] == "investigated" and case["owner_id"] == "e2"
    assert case["clocks"] == investigated["clocks"]
    assert out.events[-1]["data"]["reassigned"] is True


def test_acknowledge_meets_its_clock_and_records_the_next_reply(filed, rules, t):
    out = rules.acknowledge(filed("2026-11-13 10:00"), at=t("2026-11-13 10:15"), actor=STAFF,
                            next_reply_at=t("2026-11-14 10:00"))
    case = out.case
    assert case["status"] == "received" and case["acknowledged_at"] == t("2026-11-13 10:15")
    assert case["clocks"][0]["state"] == "met" and case["clocks"][0]["on_time"]
    assert case["history"][-1]["note"] == "acknowledged"


def test_steps_cannot_go_back_in_time(filed, rules, t):
    case = filed("2026-11-13 10:00")
    with pytest.raises(DomainValidation) as error:
        rules.decide_validity(case, valid=True, reason="ok", at=t("2026-11-13 09:00"),
                              actor=STAFF)
    assert "at" in error.value.errors


def test_bad_input_names_the_field(filed, rules, t):
    with pytest.raises(DomainValidation) as error:
        rules.agree_plan(filed(), plan=" ", at=t("2026-09-18 16:00"), actor=STAFF)
    assert error.value.errors == {"plan": ["must not be empty"]}
    with pytest.raises(DomainValidation) as error:
        rules.decide_validity(filed(), valid=True, reason="ok", at="yesterday", actor=STAFF)
    assert list(error.value.errors) == ["at"]


# -- authority (核决权限) --------------------------------------------------------------
@pytest.mark.parametrize("amount, needed", [
    (0, "dept_manager"), (1000, "dept_manager"), (1001, "deputy_gm"),
    (10000, "deputy_gm"), (10001, "gm"), (250000, "gm")])
def test_authority_table(policy, amount, needed):
    assert required_role(amount, policy) == needed
    ranks = ["staff", "dept_manager", "deputy_gm", "gm"]
    for role in ranks:
        if ranks.index(role) >= ranks.index(needed):
            assert check_approval(role, amount, policy) == needed
        else:
            with pytest.raises(DomainPermission):
                check_approval(role, amount, policy)
    with pytest.raises(DomainPermission):
        check_approval("it_admin", amount, policy)


def test_a_lower_role_is_refused_and_nothing_changes(investigated, walk, rules, t):
    case = walk(investigated,
                ("propose_remedy", "2026-11-13 13:00", {"remedy": "赔偿", "amount_yuan": 10001}))
    before = copy.deepcopy(case)
    with pytest.raises(DomainPermission, match="needs gm"):
        rules.approve_remedy(case, at=t("2026-11-13 14:00"), actor=DEPUTY)
    assert case == before
    assert rules.approve_remedy(case, at=t("2026-11-13 14:00"), actor=GM).case["status"] \
        == "remedy_approved"


def test_remedy_amount_must_be_whole_yuan(investigated, rules, t):
    with pytest.raises(DomainValidation) as error:
        rules.propose_remedy(investigated, remedy="r", amount_yuan=99.5,
                             at=t("2026-11-13 13:00"), actor=STAFF)
    assert list(error.value.errors) == ["amount_yuan"]


# -- liability ------------------------------------------------------------------------
def test_liability_once_within_the_fine_range(investigated, rules, t):
    out = rules.determine_liability(investigated, department="service", employee_ids=["e1"],
                                    fine_yuan=200, attitude="attitude",
                                    at=t("2026-11-13 13:00"), actor=MANAGER)
    assert out.events == [{"type": "liability_determined", "data": {
        "number": "2609-0001", "party": "company", "department": "service",
        "employee_ids": ["e1"], "fine_yuan": 200, "attitude": "attitude",
        "at": "2026-11-13T05:00:00+00:00"}}]
    assert out.case["status"] == "investigated"
    with pytest.raises(DomainConflict, match="already"):
        rules.determine_liability(out.case, department="service", employee_ids=["e1"],
                                  at=t("2026-11-13 14:00"), actor=MANAGER)


@pytest.mark.parametrize("kwargs, field", [
    ({"employee_ids": ["e1"], "fine_yuan": 199}, "fine_yuan"),
    ({"employee_ids": ["e1"], "fine_yuan": 1501}, "fine_yuan"),
    ({"employee_ids": [], "fine_yuan": 500}, "fine_yuan"),
    ({"employee_ids": ["e1"], "attitude": "rude"}, "attitude"),
    ({"employee_ids": ["e1"], "party": "supplier"}, "employee_ids"),
    ({"employee_ids": ["e1"], "party": "customer"}, "party"),
])
def test_liability_validation(investigated, rules, t, kwargs, field):
    with pytest.raises(DomainValidation) as error:
        rules.determine_liability(investigated, department="service",
                                  at=t("2026-11-13 13:00"), actor=MANAGER, **kwargs)
    assert field in error.value.errors


def test_supplier_liability_is_recorded_without_employees(investigated, rules, t):
    case = rules.determine_liability(investigated, department="供应商A", employee_ids=[],
                                     party="supplier", at=t("2026-11-13 13:00"),
                                     actor=MANAGER).case
    assert case["liability"]["party"] == "supplier" and case["liability"]["fine_yuan"] is None
