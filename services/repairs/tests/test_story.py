"""A repair's story across services, against the real broker and database.

A leaking pipe reported at 21:00 on the Friday before Tomb-sweeping Day
(2026-04-03; 4–6 April are holidays): the engineer is late, the desk calls the
customer (002 §4 4.9). A multi-trade warranty repair runs past its 7 working
days (003 §4 3.4.5): breach, reminder, escalation. The customer is unsatisfied
at the callback (002 §2 五.2): reopened, and handed to complaints as an event,
which opens a case linked to the order; the GM office holds the engineer liable
(001 §1 第十二条(二)) and penalties drafts the penalty notice the GM signs. The
engineers' breaches are booked against the repairs catalogue. Penalties and
complaints learn all of this from the repairs package's entry points alone.
"""
import pytest
from zhidu.testing import wait_for

from .test_service import DESK, ENGINEER, SUPERVISOR, Counter

pytestmark = pytest.mark.integration


GM_OFFICE = {"id": "gmo-01", "role": "gm_office"}
GM = {"id": "gm-01", "role": "gm"}


@pytest.fixture
def suite(start_service):
    from complaints.service import ComplaintsService
    from penalties.service import PenaltiesService
    from repairs.service import RepairsService
    start_service(RepairsService)
    start_service(PenaltiesService)
    start_service(ComplaintsService)


def test_the_leaking_pipe_the_overdue_repair_and_the_unhappy_customer(
        suite, rpc, people, event_tap):
    counter = Counter(rpc, people)
    people.add(GM_OFFICE["id"], GM_OFFICE["role"], department="gm_office")
    people.add(GM["id"], GM["role"], department="management")
    sweep = rpc.repairs.sweep
    with event_tap("repairs", "complaints", "penalties") as tap:
        # Friday 21:00 before the holiday: the 20 minutes are plain time (24-hour duty).
        number = counter.take("2026-04-03T21:00", kind="routine")["number"]
        assert number == "R2604-0001"
        counter.do("dispatch", number, "2026-04-03T21:05", SUPERVISOR, engineer_id="eng-07")
        sweep({"now": "2026-04-03T21:26"})
        breach = tap.wait("repairs.sla_breached")[0]["data"]
        reminder = tap.wait("repairs.reminder_issued")[0]["data"]
        violation = tap.wait("repairs.violation_recorded")[0]["data"]
        assert (breach["clock"], breach["owner_id"]) == ("arrival", "eng-07")
        assert reminder["to_role"] == "desk"
        assert (violation["code"], violation["employee_id"]) == ("RP01", "eng-07")
        called = counter.do("record_call", number, "2026-04-03T21:28", DESK,
                            finish_by="2026-04-03T23:00", note="师傅在另一单,约23点前修好")
        assert called["deadlines"] == {"promise": "2026-04-03T15:00:00+00:00"}
        sweep({"now": "2026-04-03T21:50"})          # the call stopped the arrival ladder
        assert tap.of_type("repairs.escalated") == []
        counter.do("record_arrival", number, "2026-04-03T21:55", ENGINEER)
        counter.do("quote", number, "2026-04-03T22:00", ENGINEER, items=[{"code": "PL01"}])
        counter.do("record_consent", number, "2026-04-03T22:01", ENGINEER, consented=True)
        done = counter.do("complete", number, "2026-04-03T22:40", ENGINEER,
                          items=[{"code": "PL01"}], signed_off_by="李先生", report="换管件")
        # Callback: 2 working days, counted from Tuesday's opening after the holiday.
        assert done["deadlines"] == {"callback": "2026-04-09T00:30:00+00:00"}
        tap.wait("repairs.order_paid")
        counter.do("call_back", number, "2026-04-07T10:00", DESK, satisfied=True)

        # A multi-trade warranty repair surveyed on Tuesday 7 April, 10:00.
        big = counter.take("2026-04-07T09:00", kind="warranty",
                           trades=["plumbing", "masonry"], urgency="normal")["number"]
        counter.do("dispatch", big, "2026-04-07T09:10", SUPERVISOR, engineer_id="eng-07")
        counter.do("record_arrival", big, "2026-04-07T09:25", ENGINEER)
        surveyed = counter.do(
            "record_survey", big, "2026-04-07T10:00", ENGINEER,
            attendees={"customer_service": "王", "engineering": "张",
                       "repair_team_leader": "赵", "contractor": "某建筑公司"},
            responsible_party="contractor", trades=["plumbing", "masonry"],
            estimate_yuan=6000)
        assert surveyed["deadlines"]["completion"] == "2026-04-16T02:00:00+00:00"
        sweep({"now": "2026-04-17T11:00"})          # a working day and more overdue
        late = wait_for(lambda: [e["data"] for e in tap.drain()
                                 if e["data"].get("number") == big
                                 and e["type"] == "repairs.escalated"] and
                        [e["data"] for e in tap.drain() if e["data"].get("number") == big],
                        message="the overdue repair's escalation")
        kinds = {(e.get("clock"), e.get("to_role")) for e in late if "to_role" in e}
        assert ("completion", "engineer") in kinds and ("completion", "dept_manager") in kinds
        assert any(e.get("code") == "RP03" for e in late)
        counter.do("complete", big, "2026-04-17T14:00", ENGINEER, items=[],
                   signed_off_by="李先生", report="管道与墙面修复")
        reopened = counter.do("call_back", big, "2026-04-20T10:00", DESK, satisfied=False,
                              note="墙面仍渗水")
        assert (reopened["status"], reopened["round"]) == ("reopened", 2)
        handed = tap.wait("repairs.escalated_to_complaint")[0]["data"]
        assert handed["number"] == big and handed["reason"] == "reopened_after_breach"
        assert handed["breached_clocks"] == ["completion"]
        assert handed["complaint"]["target_employee_id"] == "eng-07"

        # Complaints opened the case from the event, linked to the order.
        complaint = tap.wait("complaints.received")[0]["data"]["number"]
        assert complaint == "2604-0001"
        case = rpc.complaints.get({"number": complaint, "actor": DESK})
        assert case["links"] == {"repairs_order": big}
        assert (case["subject"], case["target_employee_id"]) == (f"报修 {big} 未解决", "eng-07")
        complaints = rpc.complaints
        for command, at, actor, fields in (
                ("decide_validity", "2026-04-20T10:30", DESK, {"valid": True,
                                                               "reason": "墙面仍渗水"}),
                ("assign", "2026-04-20T10:40", DESK, {"department": "engineering",
                                                      "owner_id": SUPERVISOR["id"]}),
                ("agree_plan", "2026-04-20T11:00", SUPERVISOR, {"plan": "返修并复查墙面"}),
                ("determine_liability", "2026-04-20T11:30", GM_OFFICE, {
                    "department": "engineering", "employee_ids": ["eng-07"]})):
            getattr(complaints, command)({"number": complaint, "at": at, "actor": actor,
                                          **fields})
        tap.wait("complaints.liability_determined")
        # Penalties drafts the penalty notice (奖罚通知单) the GM signs.
        awaiting = tap.wait("penalties.notice_awaiting_approval")[0]["data"]
    gm = rpc.as_person(GM["id"], role=GM["role"])
    [notice] = gm.penalties.list_notices({"number": complaint})["notices"]
    assert notice["notice_id"] == awaiting["notice_id"]
    assert (notice["status"], notice["employee_ids"]) == ("awaiting_approval", ["eng-07"])

    def account():
        return rpc.penalties.get_account({"employee_id": "eng-07", "year": 2026, "month": 4})

    # The engineer's breaches are booked at once, against the repairs catalogue.
    booked = wait_for(lambda: {e["code"] for e in account()["entries"]} >= {"RP01", "RP03"}
                      and account()["entries"], message="the breaches booked")
    assert {e["domain"] for e in booked} == {"repairs"}
    assert {e["note"] for e in booked} == {number, big}
    rpc.penalties.decide_notice({"notice_id": notice["notice_id"], "approve": True,
                                 "actor": GM})
    entries = wait_for(lambda: len(account()["entries"]) > len(booked)
                       and account()["entries"], message="the notice booked")
    codes = {(e["domain"], e["code"]) for e in entries}
    assert {("complaint", "C01"), ("service_quality", "Q01")} <= codes
    assert {e["incident_id"] for e in entries if e["domain"] != "repairs"} == {complaint}
    # The penalties service loaded the catalogue the repairs package ships.
    catalogs = rpc.penalties.catalogs({})
    repairs = next(c for c in catalogs if c["domain"] == "repairs")
    assert {r["code"] for r in repairs["rules"]} == {"RP01", "RP02", "RP03", "RP04", "RP05"}
