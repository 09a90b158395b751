"""The repairs application layer on fakes: the main flows in milliseconds."""
import pytest
from zhidu.domain import DomainConflict, DomainValidation
from zhidu.times import to_iso


def iso(desk, text):
    return to_iso(desk.t(text))


def test_numbers_follow_the_monthly_scheme_with_the_R_prefix_001_s1_8(desk):
    assert desk.take("2026-11-13 10:00") == "R2611-0001"
    assert desk.take("2026-11-30 23:59") == "R2611-0002"
    # Local month: 00:30 on 1 December in Shanghai is still November in UTC.
    assert desk.take("2026-12-01 00:30") == "R2612-0001"


def test_intake_checks_kind_and_trade_against_the_policy(desk):
    with pytest.raises(DomainValidation) as err:
        desk.take(kind="gift", trades=["plumbing", "juggling"])
    assert set(err.value.errors) == {"kind", "trades"}


def test_engineer_late_gets_warning_breach_and_the_desk_reminded_002_s4_4_9(desk):
    number = desk.take("2026-11-13 10:00")
    desk.do("dispatch", number, "2026-11-13 10:05", engineer_id="eng-07")
    assert desk.order(number)["status"] == "dispatched"
    desk.sweep("2026-11-13 10:21")                      # 80 % of 20 minutes is 10:21
    assert [e["clock"] for e in desk.events("sla_warning")] == ["arrival"]
    desk.sweep("2026-11-13 10:25")
    breach = desk.events("sla_breached")[0]
    assert breach["clock"] == "arrival" and breach["owner_id"] == "eng-07"
    reminder = desk.events("reminder_issued")[0]
    assert (reminder["clock"], reminder["to_role"]) == ("arrival", "desk")
    violation = desk.events("violation_recorded")[0]
    assert (violation["code"], violation["employee_id"], violation["domain"]) == (
        "RP01", "eng-07", "repairs")
    # The desk calls, explains and agrees a finish time: the arrival clock stops
    # (no escalation to the manager), and the agreed time is now the deadline.
    desk.do("record_call", number, "2026-11-13 10:30", finish_by=desk.t("2026-11-13 12:00"),
            note="师傅路上堵车,约12点前修好")
    order = desk.order(number)
    arrival = next(c for c in order["clocks"] if c["name"] == "arrival")
    assert arrival["state"] == "waived" and arrival["breached"]
    desk.sweep("2026-11-13 11:00")
    assert desk.events("escalated") == []
    assert desk.app.get(number)["deadlines"] == {"promise": desk.t("2026-11-13 12:00")}


def test_a_call_before_twenty_minutes_is_no_breach(desk):
    number = desk.take()
    desk.do("dispatch", number, "2026-11-13 10:05", engineer_id="eng-07")
    desk.do("record_call", number, "2026-11-13 10:15", finish_by=desk.t("2026-11-13 11:30"),
            note="师傅稍晚到")
    desk.do("record_arrival", number, "2026-11-13 10:40")
    assert desk.events("sla_breached") == []


def test_an_appointment_moves_only_with_the_customers_agreement_001_s11_3_2(desk):
    number = desk.take()
    desk.do("dispatch", number, "2026-11-13 10:05", engineer_id="eng-07")
    desk.do("set_appointment", number, "2026-11-13 10:06",
            appointment_at=desk.t("2026-11-13 14:00"))
    with pytest.raises(DomainConflict, match="customer's agreement"):
        desk.do("set_appointment", number, "2026-11-13 10:07",
                appointment_at=desk.t("2026-11-13 15:00"))
    desk.do("set_appointment", number, "2026-11-13 10:07",
            appointment_at=desk.t("2026-11-13 15:00"), customer_agreed=True)
    desk.do("record_arrival", number, "2026-11-13 15:11")   # 11 minutes late
    breached = [e["clock"] for e in desk.events("sla_breached")]
    assert "appointment" in breached
    assert {v["code"] for v in desk.events("violation_recorded")} >= {"RP02"}


def test_charge_consent_before_work_and_sign_off_release_payment_001_s11_3_4_3_6(desk):
    number = desk.take(kind="paid")
    desk.do("dispatch", number, "2026-11-13 10:05", engineer_id="eng-07")
    desk.do("record_arrival", number, "2026-11-13 10:20")
    with pytest.raises(DomainConflict):
        desk.do("complete", number, "2026-11-13 10:30", items=[], signed_off_by="李先生",
                report="修好")
    quoted = desk.do("quote", number, "2026-11-13 10:22",
                     items=[{"code": "PL01", "quantity": 1}, {"code": "PL02", "quantity": 1}])
    assert quoted["status"] == "quoted"
    assert desk.events("charge_quoted")[0]["amount_yuan"] == 130
    desk.do("record_consent", number, "2026-11-13 10:23", consented=True)
    with pytest.raises(DomainConflict, match="exceeds"):
        desk.do("complete", number, "2026-11-13 11:00",
                items=[{"code": "PL01", "quantity": 3}], signed_off_by="李先生", report="修好")
    done = desk.do("complete", number, "2026-11-13 11:00",
                   items=[{"code": "PL01", "quantity": 1}], signed_off_by="李先生", report="修好")
    assert done["status"] == "completed" and done["payment"]["status"] == "released"
    paid = desk.events("order_paid")[0]
    assert (paid["amount_yuan"], paid["payer"], paid["audited_by"]) == (50, "customer", None)
    assert done["deadlines"] == {"callback": desk.t("2026-11-17 11:00")}  # 2 working days


def test_declined_charge_ends_the_order_without_work(desk):
    number = desk.take(kind="paid")
    desk.do("dispatch", number, "2026-11-13 10:05", engineer_id="eng-07")
    desk.do("record_arrival", number, "2026-11-13 10:20")
    desk.do("quote", number, "2026-11-13 10:22", items=[{"code": "PL01"}])
    declined = desk.do("record_consent", number, "2026-11-13 10:23", consented=False)
    assert declined["status"] == "declined" and declined["deadlines"] == {}


def test_repairs_over_20000_yuan_wait_for_audit_before_payment_003_s1_2_7(desk):
    number = desk.take(kind="warranty")
    desk.do("dispatch", number, "2026-11-13 10:05", engineer_id="eng-07")
    desk.do("record_arrival", number, "2026-11-13 10:20")
    desk.do("record_survey", number, "2026-11-13 11:00",
            attendees={"customer_service": "王", "engineering": "张", "repair_team_leader": "赵",
                       "contractor": "某建筑公司"},
            responsible_party="contractor", trades=["plumbing"], estimate_yuan=25000)
    done = desk.do("complete", number, "2026-11-13 15:00",
                   items=[{"code": "GN02", "quantity": 21000}], signed_off_by="李先生",
                   report="更换主管道")
    assert done["payment"]["status"] == "awaiting_audit"
    assert desk.events("order_paid") == [] and len(desk.events("audit_requested")) == 1
    desk.do("decide_audit", number, "2026-11-16 10:00", approved=True)
    paid = desk.events("order_paid")[0]
    assert (paid["payer"], paid["audited_by"], paid["amount_yuan"]) == ("company", "aud-01",
                                                                        21000)


def test_joint_survey_needs_the_contractor_from_500_yuan_003_s4_3_4_5(desk):
    number = desk.take(kind="warranty")
    attendees = {"customer_service": "王", "engineering": "张", "repair_team_leader": "赵"}
    with pytest.raises(DomainValidation) as err:
        desk.do("record_survey", number, "2026-11-13 11:00", attendees=attendees,
                responsible_party="contractor", trades=[], estimate_yuan=500)
    assert "attendees.contractor" in err.value.errors
    desk.do("record_survey", number, "2026-11-13 11:00", attendees=attendees,
            responsible_party="contractor", trades=[], estimate_yuan=499)
    survey = next(c for c in desk.order(number)["clocks"] if c["name"] == "survey")
    assert survey["state"] == "met" and survey["on_time"]


def test_multi_trade_warranty_repair_has_7_working_days_and_extends_only_in_advance(desk):
    number = desk.take("2026-11-13 10:00", kind="warranty", trades=["plumbing", "masonry"])
    desk.do("record_survey", number, "2026-11-13 11:00", actor=desk.DESK,
            attendees={"customer_service": "王", "engineering": "张", "repair_team_leader": "赵",
                       "contractor": "某公司"},
            responsible_party="contractor", trades=["plumbing", "masonry"], estimate_yuan=3000)
    due = desk.app.get(number)["deadlines"]["completion"]
    assert due == desk.t("2026-11-24 11:00")             # 7 working days, same clock time
    desk.do("extend", number, "2026-11-20 10:00", until=desk.t("2026-11-27 11:00"),
            consent_note="客户同意延至27日")
    assert desk.app.get(number)["deadlines"]["completion"] == desk.t("2026-11-27 11:00")
    with pytest.raises(DomainConflict, match="before the deadline"):
        desk.do("extend", number, "2026-11-30 10:00", until=desk.t("2026-12-04 11:00"),
                consent_note="事后同意")


def test_unsatisfied_callback_reopens_and_after_a_breach_becomes_a_complaint_002_s2_5(desk):
    number = desk.take()
    desk.do("dispatch", number, "2026-11-13 10:05", engineer_id="eng-07")
    desk.do("record_arrival", number, "2026-11-13 10:40")      # late: arrival breached
    desk.do("quote", number, "2026-11-13 10:45", items=[{"code": "PL01"}])
    desk.do("record_consent", number, "2026-11-13 10:46", consented=True)
    desk.do("complete", number, "2026-11-13 11:30", items=[{"code": "PL01"}],
            signed_off_by="李先生", report="修好")
    reopened = desk.do("call_back", number, "2026-11-16 10:00", satisfied=False,
                       note="仍在漏水")
    assert (reopened["status"], reopened["round"], reopened["reopens"]) == ("reopened", 2, 1)
    complaint = desk.events("escalated_to_complaint")[0]
    assert complaint["reason"] == "reopened_after_breach"
    assert complaint["complaint"]["target_employee_id"] == "eng-07"
    assert complaint["breached_clocks"] == ["arrival"]
    with pytest.raises(DomainConflict, match="already escalated"):
        desk.do("escalate_to_complaint", number, "2026-11-16 10:05", note="客户要求")
    # Round 2 goes back to dispatch with a fresh arrival clock.
    again = desk.do("dispatch", number, "2026-11-16 10:10", engineer_id="eng-08")
    assert set(again["deadlines"]) == {"arrival"}


def test_callback_is_due_within_2_working_days_and_escalates_at_the_desk(desk):
    number = desk.take(kind="warranty")
    desk.do("dispatch", number, "2026-11-13 10:05", engineer_id="eng-07")
    desk.do("record_arrival", number, "2026-11-13 10:20")
    desk.do("complete", number, "2026-11-13 11:00", items=[], signed_off_by="李先生",
            report="修好")
    desk.sweep("2026-11-17 11:00")
    reminder = [r for r in desk.events("reminder_issued") if r["clock"] == "callback"][0]
    assert (reminder["to_role"], reminder["owner_id"]) == ("desk", "fd-01")
    # No penalty is booked for the desk's clock: only engineers' clocks name a rule.
    assert all(v["clock"] != "callback" for v in desk.events("violation_recorded"))


def test_monthly_timely_and_pass_rates_per_trade_and_engineer_001_s11_3_8(desk):
    for arrive, satisfied in (("10:20", True), ("10:40", False)):
        number = desk.take(kind="warranty")
        desk.do("dispatch", number, "2026-11-13 10:05", engineer_id="eng-07")
        desk.do("record_arrival", number, f"2026-11-13 {arrive}")
        desk.do("complete", number, "2026-11-13 11:00", items=[], signed_off_by="李",
                report="修好")
        desk.do("call_back", number, "2026-11-16 10:00", satisfied=satisfied)
    stats = desk.app.stats(2026, 11)
    row = stats["by_engineer"]["eng-07"]
    assert (row["completed"], row["timely_rate"], row["pass_rate"]) == (2, 0.5, 0.5)
    assert stats["by_trade"]["plumbing"]["completed"] == 2
    assert desk.app.stats(2026, 12)["total"]["completed"] == 0


def test_event_ids_are_stable_when_a_unit_runs_again(desk, rules, t):
    from repairs.app import Repairs
    from zhidu.fakes import FakeOutbox
    number = desk.take()
    order = desk.store.get(number)
    first, second = FakeOutbox("repairs"), FakeOutbox("repairs")
    for outbox in (first, second):
        app = Repairs(desk.store, rules, outbox)
        outcome = rules.dispatch(order, at=t("2026-11-13 10:05"), actor=desk.SUPERVISOR,
                                 engineer_id="eng-07")
        app._emit(outcome, None)
    assert [e["id"] for e in first.envelopes] == [e["id"] for e in second.envelopes]
