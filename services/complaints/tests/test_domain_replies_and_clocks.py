"""What each clock measures (issue: the clocks measure what the rules say).

The reply clock is met by a reply to the customer only (002 §2 四.4-5); the
next reply time agreed is a clock of its own (000 §1 三.3; 001 §5 1(3)); an
employee complaint is investigated the same day (002 §4 5.1.2); the
department's feedback is its own step (003 §4 3.4.2.2); the follow-up call is
due within one working day (003 §4 3.5.4; 000 §6 第六条.3), the other
readings being configuration; a major complaint names the top (000 §1 三.6;
001 §5 1(6); 003 §4 3.4.7).
"""
from __future__ import annotations

import pytest
from complaints import sla
from complaints.policy import policy_from_dict
from zhidu.domain import DomainConflict, DomainValidation

STAFF = {"id": "cs-01", "role": "staff"}
MANAGER = {"id": "mgr-01", "role": "dept_manager"}

ACCEPT = ("decide_validity", "2026-11-13 10:10", {"valid": True, "reason": "成立"})
ASSIGN = ("assign", "2026-11-13 10:20", {"department": "service", "owner_id": "e1"})


def types(outcome, clock=None):
    return [e["type"] for e in outcome.events
            if clock is None or e["data"].get("clock") == clock]


# -- the 2-hour reply: a reply, never a decision alone (002 §2 四.4-5) ------------------
def test_accepting_alone_is_no_reply_002_s2_4_4(filed, walk, rules, t, clock_of):
    case = walk(filed("2026-11-13 10:00"), ACCEPT, ASSIGN)
    assert clock_of(case, "acknowledge")["state"] == "running"
    late = rules.sweep(case, now=t("2026-11-13 12:00"))
    assert types(late, "acknowledge") == ["sla_warning", "sla_breached", "reminder_issued"]
    replied = rules.acknowledge(late.case, at=t("2026-11-13 12:30"), actor=STAFF,
                                reply="已安排维修人员今日上门")
    ack = clock_of(replied.case, "acknowledge")
    assert (ack["state"], ack["on_time"]) == ("met", False)
    assert replied.case["replies"] == [{
        "at": t("2026-11-13 12:30"), "by": "cs-01", "round": 1,
        "reply": "已安排维修人员今日上门", "next_reply_at": None}]


def test_a_decision_told_to_the_customer_is_the_reply_002_s2_4_4(filed, rules, t, clock_of):
    out = rules.decide_validity(filed("2026-11-13 10:00"), valid=True, reason="成立",
                                reply="已受理，明日上门", at=t("2026-11-13 10:30"), actor=STAFF)
    ack = clock_of(out.case, "acknowledge")
    assert (ack["state"], ack["on_time"], ack["met_at"]) == ("met", True, t("2026-11-13 10:30"))
    assert out.case["acknowledged_at"] == t("2026-11-13 10:30")
    assert [(h["to"], h["note"]) for h in out.case["history"][1:]] == [("accepted", "成立")]
    assert out.case["replies"] == [{"at": t("2026-11-13 10:30"), "by": "cs-01", "round": 1,
                                    "reply": "已受理，明日上门", "next_reply_at": None}]


def test_a_rejection_owes_its_tactful_explanation_002_s2_4_5(filed, rules, t, clock_of):
    rejected = rules.decide_validity(filed("2026-11-13 10:00"), valid=False,
                                     reason="不属于本公司责任", at=t("2026-11-13 10:30"),
                                     actor=MANAGER)
    case = rejected.case
    assert case["status"] == "rejected" and case["concluded_at"] == t("2026-11-13 10:30")
    assert clock_of(case, "acknowledge")["state"] == "running"    # the reply is still owed
    assert clock_of(case, "resolve")["state"] == "waived"
    assert case["next_check_at"] == t("2026-11-13 11:36")
    assert "delay_investigation_opened" not in types(rejected)
    swept = rules.sweep(case, now=t("2026-11-13 12:00"))
    assert types(swept) == ["sla_warning", "sla_breached", "reminder_issued"]
    told = rules.acknowledge(swept.case, at=t("2026-11-13 14:00"), actor=STAFF,
                             reply="已婉转说明：该问题由业委会负责")
    ack = clock_of(told.case, "acknowledge")
    assert (ack["state"], ack["on_time"]) == ("met", False)
    assert told.case["status"] == "rejected" and told.case["next_check_at"] is None
    # Late, and nothing of it runs any more: now the delay investigation (治办单).
    assert types(told) == ["delay_investigation_opened"]
    assert told.events[0]["data"]["clocks"] == ["acknowledge"]
    again = rules.acknowledge(told.case, at=t("2026-11-13 15:00"), actor=STAFF)
    assert "delay_investigation_opened" not in types(again)


def test_a_rejection_explained_at_once_meets_the_reply_in_time_002_s2_4_5(filed, rules, t,
                                                                          clock_of):
    out = rules.decide_validity(filed("2026-11-13 10:00"), valid=False, reason="不成立",
                                reply="已婉转说明原因", at=t("2026-11-13 10:30"), actor=STAFF)
    assert [c["state"] for c in out.case["clocks"]] == ["met", "waived"]
    assert clock_of(out.case, "acknowledge")["on_time"] is True
    assert out.case["next_check_at"] is None
    assert "delay_investigation_opened" not in types(out)


def test_the_earlier_reading_where_a_decision_meets_the_reply_is_configuration(
        rules_with, intake, t, clock_of):
    def decision_meets(raw):
        raw["clocks"]["acknowledge"]["met_by"] = ["accepted", "rejected", "acknowledged"]
    rules = rules_with(decision_meets)
    case = rules.file(intake("2026-11-13 10:00"), number="2611-0001", actor=STAFF).case
    accepted = rules.decide_validity(case, valid=True, reason="ok", at=t("2026-11-13 10:30"),
                                     actor=STAFF).case
    assert clock_of(accepted, "acknowledge")["state"] == "met"


# -- the next reply time agreed (000 §1 三.三.3; 001 §5 1(3)) ---------------------------
def test_the_next_reply_time_agreed_is_a_clock_of_its_own_000_s1_3_3_3(filed, walk, rules,
                                                                        t, clock_of):
    case = walk(filed("2026-11-13 10:00"), ACCEPT)
    out = rules.acknowledge(case, at=t("2026-11-13 10:30"), actor=STAFF,
                            next_reply_at=t("2026-11-13 15:30"), reply="下午三点半前回复您")
    promise = clock_of(out.case, "next_reply")
    assert promise["due"] == t("2026-11-13 15:30") and promise["unit"] == "calendar"
    assert promise["warn_at"] == t("2026-11-13 14:30")             # 80 % of five hours
    assert sla.deadlines(out.case)["next_reply"] == t("2026-11-13 15:30")
    assert out.case["next_check_at"] == t("2026-11-13 14:30")
    warned = rules.sweep(out.case, now=t("2026-11-13 14:30"))
    assert types(warned) == ["sla_warning"]
    assert warned.events[0]["data"] == {"number": "2609-0001", "clock": "next_reply",
                                        "round": 1, "due": "2026-11-13T07:30:00+00:00"}
    breached = rules.sweep(warned.case, now=t("2026-11-13 15:30"))
    assert types(breached) == ["sla_breached", "reminder_issued"]
    assert breached.events[1]["data"]["owner_id"] == "cs-01"      # who took it, until assigned
    # The next reply keeps (late) the old promise and agrees a new one.
    again = rules.acknowledge(breached.case, at=t("2026-11-13 16:00"), actor=STAFF,
                              next_reply_at=t("2026-11-16 10:00"))
    promises = [c for c in again.case["clocks"] if c["name"] == "next_reply"]
    assert [(c["state"], c["on_time"]) for c in promises] == [("met", False), ("running", None)]
    assert promises[1]["due"] == t("2026-11-16 10:00")
    kept = rules.acknowledge(again.case, at=t("2026-11-16 09:00"), actor=STAFF)
    last = [c for c in kept.case["clocks"] if c["name"] == "next_reply"][-1]
    assert (last["state"], last["on_time"]) == ("met", True)
    assert kept.case["next_reply_at"] is None


def test_a_promise_does_not_outlive_the_resolution(filed, walk, rules, t, clock_of):
    case = walk(filed("2026-11-13 10:00"), ACCEPT,
                ("acknowledge", "2026-11-13 10:15", {"next_reply_at": t("2026-11-20 10:00")}),
                ASSIGN, ("give_feedback", "2026-11-13 10:40", {"feedback": "f"}),
                ("agree_plan", "2026-11-13 11:00", {"plan": "p"}),
                ("submit_report", "2026-11-13 12:00", {"root_cause": "r"}),
                ("resolve", "2026-11-13 13:00", {"resolution": "done"}))
    assert clock_of(case, "next_reply")["state"] == "waived"


def test_a_next_reply_time_must_lie_ahead(filed, rules, t):
    with pytest.raises(DomainValidation):
        rules.acknowledge(filed("2026-11-13 10:00"), at=t("2026-11-13 10:30"), actor=STAFF,
                          next_reply_at=t("2026-11-13 10:00"))


# -- employee complaints: investigated the same day (002 §4 5.1.2) ---------------------
def test_an_employee_complaint_is_investigated_the_same_day_002_s4_5_1_2(filed, walk, rules,
                                                                         t, clock_of):
    case = filed("2026-11-13 10:00", kind="internal")              # a Friday
    investigate = clock_of(case, "investigate")
    assert investigate["due"] == t("2026-11-13 16:20")             # the day's close
    after_hours = filed("2026-11-13 18:00", number="2611-0002", kind="internal")
    assert clock_of(after_hours, "investigate")["due"] == t("2026-11-16 16:20")   # Monday
    external = filed("2026-11-13 10:00", number="2611-0003")
    assert "investigate" not in {c["name"] for c in external["clocks"]}
    late = rules.sweep(case, now=t("2026-11-13 16:20"))
    assert "sla_breached" in types(late, "investigate")
    done = walk(case, ACCEPT, ASSIGN, ("agree_plan", "2026-11-13 11:00", {"plan": "p"}),
                ("submit_report", "2026-11-13 15:00", {"root_cause": "已调查取证并汇报"}))
    assert (clock_of(done, "investigate")["state"],
            clock_of(done, "investigate")["on_time"]) == ("met", True)


def test_an_employee_complaint_settled_at_once_owes_no_investigation(filed, rules, t,
                                                                     clock_of):
    case = filed("2026-11-13 10:00", kind="internal")
    out = rules.decide_validity(case, valid=False, reason="已当场解释", reply="已当场解释",
                                at=t("2026-11-13 10:05"), actor=STAFF)
    assert clock_of(out.case, "investigate")["state"] == "waived"
    assert out.case["next_check_at"] is None


# -- the department's feedback: its own step (003 §4 3.4.2.2) --------------------------
def test_the_department_feedback_clock_is_met_by_feedback_not_the_plan_003_s4_3_4_2_2(
        filed, walk, rules, t, clock_of):
    case = walk(filed("2026-11-13 10:00"), ACCEPT, ASSIGN,
                ("agree_plan", "2026-11-13 11:00", {"plan": "上门"}))
    assert clock_of(case, "feedback")["state"] == "running"
    assert clock_of(case, "feedback")["due"] == t("2026-11-18 10:20")
    late = rules.sweep(case, now=t("2026-11-18 10:20"))
    assert "sla_breached" in types(late, "feedback")
    out = rules.give_feedback(late.case, feedback="已上门，待配件", at=t("2026-11-18 11:00"),
                              actor={"id": "e1", "role": "staff"})
    feedback = clock_of(out.case, "feedback")
    assert (feedback["state"], feedback["on_time"]) == ("met", False)
    assert out.case["status"] == "planned" and out.events == []
    assert out.case["department_feedback"] == [{
        "at": t("2026-11-18 11:00"), "by": "e1", "department": "service", "round": 1,
        "feedback": "已上门，待配件"}]
    assert out.case["history"][-1]["note"] == "department feedback"


def test_feedback_comes_from_the_department_handling_the_case(filed, walk, rules, t):
    for case in (walk(filed("2026-11-13 10:00"), ACCEPT),
                 walk(filed("2026-11-13 10:00"), ACCEPT, ASSIGN,
                      ("pause", "2026-11-13 10:30", {"reason": "等客户"}))):
        with pytest.raises(DomainConflict):
            rules.give_feedback(case, feedback="f", at=t("2026-11-13 11:00"), actor=STAFF)
    with pytest.raises(DomainValidation):
        rules.give_feedback(walk(filed("2026-11-13 10:00"), ACCEPT, ASSIGN), feedback=" ",
                            at=t("2026-11-13 11:00"), actor=STAFF)


# -- the follow-up call (003 §4 3.5.4; 000 §6 第六条.3; 001 §13 三.1) ---------------------
RESOLVED = [ACCEPT, ASSIGN, ("agree_plan", "2026-11-13 11:00", {"plan": "p"}),
            ("submit_report", "2026-11-13 12:00", {"root_cause": "r"}),
            ("resolve", "2026-11-13 15:00", {"resolution": "done"})]


def test_the_follow_up_is_due_within_one_working_day_003_s4_3_5_4(filed, walk, clock_of, t):
    ordinary = walk(filed("2026-11-13 10:00"), *RESOLVED)
    major = walk(filed("2026-11-13 10:00", number="2611-0002", major=True), *RESOLVED)
    for case in (ordinary, major):
        assert clock_of(case, "followup")["due"] == t("2026-11-16 15:00")   # Fri → Mon


@pytest.mark.parametrize("budgets, ordinary, major", [
    ([{"by": "end_of_working_day"}], "2026-11-13 16:20", "2026-11-13 16:20"),  # 000 §6 第六条.3
    ([{"when": {"major": True}, "days": 7}, {"days": 14}],                    # 001 §13 三.1
     "2026-11-27 15:00", "2026-11-20 15:00"),
])
def test_the_other_follow_up_readings_are_configuration(rules_with, intake, t, clock_of,
                                                         budgets, ordinary, major):
    def window(raw):
        raw["clocks"]["followup"]["budgets"] = budgets
    rules = rules_with(window)
    for fields, due in (({}, ordinary), ({"major": True}, major)):
        case = rules.file(intake("2026-11-13 10:00", **fields), number="2611-0001",
                          actor=STAFF).case
        for name, when, kwargs in RESOLVED:
            case = getattr(rules, name)(case, at=t(when), actor=STAFF, **kwargs).case
        assert clock_of(case, "followup")["due"] == t(due)


# -- a major complaint names the top (000 §1 三.三.6; 001 §5 1(6); 003 §4 3.4.7) --------
def test_a_major_complaint_names_the_department_manager_the_deputy_gm_and_the_gm(rules,
                                                                                 intake):
    out = rules.file(intake(major_reason="fire"), number="2609-0001",
                     actor={"id": "cs-07", "role": "staff"})
    [report] = [e["data"] for e in out.events if e["type"] == "major_reported"]
    assert report["notify_roles"] == ["dept_manager", "deputy_gm", "gm"]
    assert report["received_by"] == "cs-07"        # whose manager hears of it too
    assert report["department"] is None            # nobody complained about by name: still told


# -- the policy's new forms are checked at start-up -------------------------------------
@pytest.mark.parametrize("change, message", [
    (lambda r: r["clocks"]["next_reply"].update(budgets=[{"hours": 1}]),
     "clocks.next_reply.budgets: a clock due at an agreed time has none"),
    (lambda r: r["clocks"]["next_reply"].update(starts_on=["received"]),
     "clocks.next_reply.starts_on: a clock due at an agreed time"),
    (lambda r: r["clocks"]["next_reply"].update(agreed="whenever"),
     "clocks.next_reply.agreed: must be one of"),
    (lambda r: r["clocks"]["investigate"]["budgets"][0].update(by="lunch"),
     r"clocks.investigate.budgets\[0\].by: must be one of"),
    (lambda r: r["clocks"]["investigate"]["budgets"][0].update(hours=2),
     r"clocks.investigate.budgets\[0\]: expected exactly one of"),
])
def test_bad_agreed_and_by_clocks_are_refused(raw_policy, change, message):
    change(raw_policy)
    with pytest.raises(ValueError, match=message):
        policy_from_dict(raw_policy)


def test_the_close_of_the_working_day(cal, t):
    assert sla.day_end(t("2026-11-13 09:00"), cal) == t("2026-11-13 16:20")
    assert sla.day_end(t("2026-11-13 07:00"), cal) == t("2026-11-13 16:20")  # before opening
    assert sla.day_end(t("2026-11-13 16:20"), cal) == t("2026-11-16 16:20")  # at the close
    assert sla.day_end(t("2026-09-30 17:00"), cal) == t("2026-10-08 16:20")  # National Day
