"""A repair's story across services, against the real broker and database.

A leaking pipe reported at 21:00 on the Friday before Tomb-sweeping Day
(2026-04-03; 4–6 April are holidays): the engineer is late, the desk calls the
customer (002 §4 4.9). A multi-trade warranty repair runs past its 7 working
days (003 §4 3.4.5): breach, reminder, escalation. The customer is unsatisfied
at the callback (002 §2 五.2): reopened, and handed to complaints as an event.
The engineers' breaches are booked against the repairs catalogue the penalties
service found through the repairs package's entry point.
"""
import pytest
from zhidu.testing import wait_for

from .test_service import DESK, ENGINEER, SUPERVISOR, Counter

pytestmark = pytest.mark.integration


@pytest.fixture
def suite(start_service):
    from penalties.service import PenaltiesService
    from repairs.service import RepairsService
    start_service(RepairsService)
    start_service(PenaltiesService)


def test_the_leaking_pipe_the_overdue_repair_and_the_unhappy_customer(
        suite, rpc, people, event_tap):
    counter = Counter(rpc, people)
    sweep = rpc.repairs.sweep
    with event_tap("repairs") as tap:
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
    # The penalties service loaded the catalogue the repairs package ships.
    catalogs = rpc.penalties.catalogs({})
    repairs = next(c for c in catalogs if c["domain"] == "repairs")
    assert {r["code"] for r in repairs["rules"]} == {"RP01", "RP02", "RP03", "RP04", "RP05"}
