"""What the repairs package declares to the other services, against the real
broker and database: penalties books an engineer's breach against the repairs
catalogue, and complaints opens one case, linked to the order, for a repair
escalated into a complaint — however often the event arrives."""
import pytest
from zhidu.envelope import make_envelope
from zhidu.testing import publish_event, wait_for

from .test_service import DESK, SUPERVISOR, Counter

pytestmark = pytest.mark.integration


@pytest.fixture
def counter(start_service, rpc, people):
    from complaints.service import ComplaintsService
    from penalties.service import PenaltiesService
    from repairs.service import RepairsService
    for service in (RepairsService, PenaltiesService, ComplaintsService):
        start_service(service)
    return Counter(rpc, people)


def violation(number, employee_id, code="RP02", clock="appointment"):
    return make_envelope("repairs", "violation_recorded", {
        "violation_id": f"{number}:{clock}:1:0", "incident_id": f"{number}:{clock}:1",
        "employee_id": employee_id, "code": code, "domain": "repairs",
        "at": "2026-11-13T03:00:00+00:00", "number": number, "clock": clock})


def test_an_engineers_breach_is_booked_once_against_the_repairs_catalogue(
        counter, rpc, zhidu_config, event_tap):
    with event_tap("repairs", "penalties") as tap:
        number = counter.take("2026-11-13T10:00", kind="routine")["number"]
        counter.do("dispatch", number, "2026-11-13T10:05", SUPERVISOR, engineer_id="eng-07")
        rpc.repairs.sweep({"now": "2026-11-13T10:26"})
        [recorded] = tap.wait("repairs.violation_recorded")
        [issued] = tap.wait("penalties.penalty_issued")
        # Delivered again, and the same breach re-announced under a new id; a
        # later violation marks when both have been handled.
        publish_event(zhidu_config["AMQP_URI"], recorded)
        publish_event(zhidu_config["AMQP_URI"], make_envelope(
            "repairs", "violation_recorded", recorded["data"]))
        publish_event(zhidu_config["AMQP_URI"], violation(number, "eng-08"))
        wait_for(lambda: [e for e in tap.drain() if e["type"] == "penalties.penalty_issued"
                          and e["data"]["employee_id"] == "eng-08"], message="the marker")
        issued_again = [e for e in tap.of_type("penalties.penalty_issued")
                        if e["data"]["employee_id"] == "eng-07"]
    assert issued["causation_id"] == recorded["id"] and len(issued_again) == 1
    account = rpc.penalties.get_account({"employee_id": "eng-07", "year": 2026})
    [entry] = account["entries"]
    assert (entry["domain"], entry["code"], entry["points"]) == ("repairs", "RP01", 3)
    assert entry["incident_id"] == recorded["data"]["violation_id"]
    assert entry["note"] == number and entry["source"] == "repairs.violation_recorded"


def test_a_repair_escalated_into_a_complaint_opens_one_case_linked_to_its_order(
        counter, rpc, zhidu_config, event_tap):
    with event_tap("repairs", "complaints") as tap:
        number = counter.take("2026-11-13T10:00", kind="routine")["number"]
        counter.do("dispatch", number, "2026-11-13T10:05", SUPERVISOR, engineer_id="eng-07")
        counter.do("escalate_to_complaint", number, "2026-11-13T10:30", DESK,
                   note="客户要求投诉:师傅迟迟未到")
        [escalated] = tap.wait("repairs.escalated_to_complaint")
        [received] = tap.wait("complaints.received")
        publish_event(zhidu_config["AMQP_URI"], escalated)
        publish_event(zhidu_config["AMQP_URI"], make_envelope(
            "repairs", "escalated_to_complaint", escalated["data"]))
        other = counter.take("2026-11-13T11:00", kind="routine")["number"]
        counter.do("escalate_to_complaint", other, "2026-11-13T11:10", DESK, note="再次投诉")
        wait_for(lambda: len(tap.of_type("complaints.received")) == 2,
                 message="the second order's complaint")
    assert received["causation_id"] == escalated["id"]
    case = rpc.complaints.get({"number": received["data"]["number"]})
    assert case["links"] == {"repairs_order": number}
    assert case["origin"]["event"] == "repairs.escalated_to_complaint"
    assert (case["channel"], case["kind"], case["category"]) == ("phone", "external", "service")
    assert (case["target_department"], case["target_employee_id"]) == ("engineering", "eng-07")
    assert case["received_by"] == DESK["id"] and case["complainant"]["name"] == "李先生"
    cases = rpc.complaints.search({})
    assert len(cases) == 2
    assert sorted(rpc.complaints.get({"number": c["number"]})["links"]["repairs_order"]
                  for c in cases) == sorted([number, other])
