"""Penalty notices (奖罚通知单, 001 §1 第十二条(二)): drafted, signed, then booked."""
import pytest
from penalties.catalog import BUILTIN_DIR, load_catalogs
from penalties.notices import (
    AWAITING,
    awaiting_data,
    decide,
    decided_data,
    draft,
    entries_to_book,
    is_repeat,
    named,
    notice_id,
    plan_steps,
    redraft,
    same_figures,
    standing_before,
    supervisors,
)
from penalties.policy import check_against, load_policy
from penalties.service_quality import complaint_entries, prior_complaints
from zhidu.domain import DomainConflict, DomainPermission

CATS = load_catalogs([BUILTIN_DIR])
POLICY = load_policy()
LINE = {"reporting_line": {"team_leader_id": "tl", "group_leader_id": "gl"}}
GM = {"id": "boss", "role": "gm"}


def liability(number, prior=0, fine=500):
    return complaint_entries({"number": number, "employee_id": "e1",
                              "at": "2026-11-13T12:00:00", "fine_yuan": fine},
                             CATS, POLICY, prior_complaints=prior, context=LINE)


def notice(number, seq, entries=None, status="awaiting_approval"):
    drafted = draft(domain="complaint", incident_id=number, number=number,
                    entries=entries if entries is not None else liability(number),
                    employee_ids=["e1"], at="2026-11-13T12:00:00", year=2026, month=11,
                    seq=seq, approver_role="gm", inputs={"kind": "liability"},
                    source="complaints.liability_determined", drafted_by=None,
                    drafted_at=None)
    return {**drafted, "status": status}


def test_a_notice_carries_the_entries_and_totals_booking_would_make_001_s1_12_2():
    entries = liability("2611-0001")
    n = notice("2611-0001", 1, entries)
    assert n["notice_id"] == notice_id("complaint", "2611-0001")
    assert n["entries"] == entries and n["status"] == "awaiting_approval"
    assert (n["amount_yuan_total"], n["points_total"]) == (550, 5)  # C01 500 + Q01 5 × 10
    assert awaiting_data(n) == {
        "notice_id": n["notice_id"], "number": "2611-0001", "domain": "complaint",
        "incident_id": "2611-0001", "employee_ids": ["e1"], "amount_yuan_total": 550,
        "points_total": 5, "approver_role": "gm", "revision": 1, "at": n["at"],
        "step": "gm"}
    with pytest.raises(DomainConflict):
        notice("2611-0009", 9, entries=[])


def test_the_notice_names_whoever_bears_an_entry_004_s2_2():
    second = liability("2611-0002", prior=1)   # the 2nd complaint: the supervisor too
    assert named(notice("2611-0002", 2, second)) == ["e1", "tl"]


def test_approval_books_the_signed_entries_rejection_nothing_and_both_are_final():
    n = notice("2611-0001", 1)
    with pytest.raises(DomainConflict, match="only an approved notice"):
        entries_to_book(n)
    approved = {**n, **decide(n, approve=True, actor=GM, at="2026-11-14T09:00:00")}
    booked = entries_to_book(approved)
    assert [e["entry_id"] for e in booked] == [e["entry_id"] for e in n["entries"]]
    assert all(e["notice_id"] == n["notice_id"] and e["approved_by"] == GM for e in booked)
    assert same_figures(booked, n["entries"])
    assert decided_data(approved)["approved"] is True
    assert decided_data(approved)["decided_by"] == "boss"
    assert is_repeat(approved, approve=True, actor=GM)
    assert not is_repeat(approved, approve=False, actor=GM)
    assert not is_repeat(approved, approve=True, actor={"id": "other", "role": "gm"})
    with pytest.raises(DomainConflict, match="final"):
        decide(approved, approve=False, actor=GM, at="2026-11-14T10:00:00")
    with pytest.raises(DomainConflict):
        redraft(approved, liability("2611-0001", prior=1))
    rejected = {**n, **decide(n, approve=False, actor=GM, at="2026-11-14T09:00:00")}
    assert decided_data(rejected)["approved"] is False


def test_complaints_count_in_drafting_order_and_a_rejection_drops_out_004_s2_2():
    first, second = notice("2611-0001", 1), notice("2611-0002", 2,
                                                   liability("2611-0002", prior=1))

    def nth(number, seq, notices, booked=()):
        return prior_complaints(standing_before(list(booked), notices, seq), "e1", number,
                                2026, 11, POLICY) + 1

    assert nth("2611-0002", 2, [first]) == 2           # the first awaits: it counts
    assert nth("2611-0001", 1, [first, second]) == 1   # a later one never counts
    first_rejected = {**first, "status": "rejected"}
    assert nth("2611-0002", 2, [first_rejected, second]) == 1
    # Booked entries of a later notice do not count for an earlier one either.
    assert nth("2611-0001", 1, [first, second], booked=second["entries"]) == 1
    fields = redraft(second, liability("2611-0002", prior=0))
    assert fields["revision"] == 2 and fields["points_total"] == 5
    assert fields["named"] == ["e1"]


def test_which_domains_wait_for_a_notice_is_policy(tmp_path):
    assert POLICY.notices.domains == ("complaint",)
    assert POLICY.notices.needed_for("complaint")
    assert not POLICY.notices.needed_for("dormitory")
    over = tmp_path / "site.yaml"
    over.write_text("notices: {domains: []}\n", encoding="utf-8")
    assert load_policy([over]).notices.domains == ()
    over.write_text("notices: {domains: [complaint, canteen]}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="domain canteen: no loaded catalogue"):
        check_against(load_policy([over]), CATS)
    over.write_text("notices: {domains: complaint}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="notices.domains: required, a list"):
        load_policy([over])


# -- 呈主管批示 (001 §1 第九条(六)): the supervisor approves before the GM ----------------
PEOPLE = {"e1": {"team_leader_id": "tl", "manager_id": "dm"},
          "e2": {"manager_id": "dm"},
          "tl": {"manager_id": "dm"},
          "dm": {"manager_id": "ceo"},
          "x1": {"team_leader_id": "gone", "manager_id": "dm"},
          "gone": {"manager_id": "dm", "departed_at": "2026-10-01T00:00:00Z"},
          "loop": {"manager_id": "loop"}}


def test_a_persons_supervisor_is_the_team_leader_else_the_manager_001_s1_9_6():
    assert supervisors(["e1", "e2", "nobody"], PEOPLE.get) == {
        "e1": "tl", "e2": "dm", "nobody": None}
    # Charged too (a joint share), the team leader hands it to his own manager.
    assert supervisors(["e1", "tl"], PEOPLE.get) == {"e1": "dm", "tl": "dm"}
    # One who has left does not approve; a line that turns on itself ends.
    assert supervisors(["x1"], PEOPLE.get) == {"x1": "dm"}
    assert supervisors(["loop"], PEOPLE.get) == {"loop": None}
    assert supervisors(["e1", "tl", "dm"], PEOPLE.get)["e1"] == "ceo"


def test_one_step_per_supervisor_then_the_gm_001_s1_9_6_and_12_2():
    heads = {"e1": "dm", "tl": "dm", "e2": "tl2"}
    steps = plan_steps(["e1", "tl", "e2"], heads, signer_role="gm", amount_yuan_total=900)
    assert [(s["step"], s.get("approver_id"), s.get("employee_ids")) for s in steps] == [
        ("supervisor", "dm", ["e1", "tl"]), ("supervisor", "tl2", ["e2"]), ("gm", None, None)]
    assert steps[-1]["approver_role"] == "gm"
    # Up to a configured sum the supervisors alone approve; above it, or for a
    # person with no supervisor, the GM still signs.
    assert [s["step"] for s in plan_steps(["e1"], heads, signer_role="gm",
                                          amount_yuan_total=500,
                                          alone_up_to_yuan=500)] == ["supervisor"]
    assert plan_steps(["e1"], heads, signer_role="gm", amount_yuan_total=501,
                      alone_up_to_yuan=500)[-1]["step"] == "gm"
    assert [s["step"] for s in plan_steps(["e1", "e9"], heads, signer_role="gm",
                                          amount_yuan_total=10, alone_up_to_yuan=500)] == [
        "supervisor", "gm"]
    assert [s["step"] for s in plan_steps(["e1"], None, signer_role="gm",
                                          amount_yuan_total=10)] == ["gm"]


def test_supervisors_approve_side_by_side_before_the_gm_and_a_refusal_is_final_001_s1_9_6():
    drafted = draft(domain="complaint", incident_id="2611-0001", number="2611-0001",
                    entries=liability("2611-0001"), employee_ids=["e1"],
                    at="2026-11-13T12:00:00", year=2026, month=11, seq=1, approver_role="gm",
                    inputs={"kind": "liability"}, source=None, drafted_by=None,
                    drafted_at=None, heads={"e1": "tl"})
    assert (drafted["step"], drafted["awaiting_ids"]) == ("supervisor", ["tl"])
    data = awaiting_data(drafted)
    assert (data["step"], data["approver_role"], data["approver_ids"]) == (
        "supervisor", "supervisor", ["tl"])
    with pytest.raises(DomainConflict, match="awaits the approval of tl first"):
        decide(drafted, approve=True, actor=GM, at="2026-11-14T09:00:00")
    with pytest.raises(DomainPermission, match="第九条"):
        decide(drafted, approve=True, actor={"id": "dm", "role": "dept_manager"},
               at="2026-11-14T09:00:00")
    tl = {"id": "tl", "role": "staff"}
    first = {**drafted, **decide(drafted, approve=True, actor=tl, at="2026-11-14T09:00:00")}
    assert (first["status"], first["step"], first["awaiting_ids"]) == (AWAITING, "gm", [])
    assert is_repeat(first, approve=True, actor=tl)
    assert awaiting_data(first)["approver_role"] == "gm"
    signed = {**first, **decide(first, approve=True, actor=GM, at="2026-11-14T10:00:00")}
    assert (signed["status"], signed["decided_by"], signed["decided_step"]) == (
        "approved", GM, "gm")
    assert decided_data(signed)["step"] == "gm"
    refused = {**drafted, **decide(drafted, approve=False, actor=tl, at="2026-11-14T09:00:00",
                                   note="不属实")}
    assert (refused["status"], refused["step"], refused["decision_note"]) == (
        "rejected", None, "不属实")
    assert decided_data(refused)["step"] == "supervisor"


def test_who_approves_first_is_policy(tmp_path):
    assert POLICY.notices.supervisor_domains == ("complaint",)
    assert POLICY.notices.alone_up_to_yuan is None
    over = tmp_path / "site.yaml"
    over.write_text("notices: {supervisor: {alone_up_to_yuan: 300}}\n", encoding="utf-8")
    assert load_policy([over]).notices.alone_up_to_yuan == 300
    over.write_text("notices: {supervisor: {domains: [], alone_up_to_yuan: 300}}\n",
                    encoding="utf-8")
    with pytest.raises(ValueError, match="alone_up_to_yuan: needs supervisor domains"):
        load_policy([over])
    over.write_text("notices: {supervisor: {domains: [canteen]}}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="domain canteen"):
        check_against(load_policy([over]), CATS)
