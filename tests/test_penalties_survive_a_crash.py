"""Kill -9 the penalties service while events flow: nothing lost, nothing doubled."""
import eventlet
import pytest
from zhidu.envelope import make_envelope
from zhidu.testing import ServiceProcess, event_tap_for, publish_event, service_db, wait_for

pytestmark = pytest.mark.integration

EVENTS = 300


def violation(i: int) -> dict:
    return make_envelope("dormitory", "violation_recorded", {
        "violation_id": f"V{i:04d}", "incident_id": f"INSP-{i // 2}",
        "employee_id": f"E{i % 7}", "code": "D16", "points": 3,
        "at": "2026-11-12T20:00:00+08:00", "building": "A", "room_no": "101"})


def test_killing_penalties_mid_stream_loses_and_doubles_nothing(zhidu_config, service_process):
    ledger = service_db(zhidu_config, "penalties")
    first = service_process("penalties")
    events = [violation(i) for i in range(EVENTS)]

    with event_tap_for(zhidu_config, "penalties") as tap:
        def produce():
            for envelope in events:
                publish_event(zhidu_config["AMQP_URI"], envelope)
                eventlet.sleep(0.005)

        producer = eventlet.spawn(produce)
        wait_for(lambda: ledger.entries.count_documents({}) >= EVENTS // 4, timeout=60,
                 message="a quarter booked before the crash")
        first.kill()
        booked_at_crash = ledger.entries.count_documents({})
        producer.wait()
        # Some events are redelivered too, as a broker may after a failover.
        for envelope in events[:20]:
            publish_event(zhidu_config["AMQP_URI"], envelope)
        assert booked_at_crash < EVENTS

        second = ServiceProcess("penalties", zhidu_config).start()
        try:
            wait_for(lambda: ledger.entries.count_documents({}) >= EVENTS, timeout=90,
                     message="every violation booked")
            issued = wait_for(lambda: len({e["data"]["entry_id"] for e in
                                           tap.of_type("penalties.penalty_issued")})
                              >= EVENTS and tap.of_type("penalties.penalty_issued"),
                              timeout=30, message="every penalty announced")
            wait_for(lambda: ledger.outbox.count_documents({}) == 0, timeout=30,
                     message="outbox drained")
        finally:
            second.stop()

    assert ledger.entries.count_documents({}) == EVENTS
    assert {d["incident_id"] for d in ledger.entries.find({}, {"incident_id": 1})} == \
        {f"V{i:04d}" for i in range(EVENTS)}
    points = sum(d["points"] for d in ledger.entries.find({}, {"points": 1}))
    assert points == 3 * EVENTS
    assert {e["data"]["entry_id"] for e in issued} == \
        {d["_id"] for d in ledger.entries.find({}, {"_id": 1})}
    # The handler keeps no handled-record (its entries are keyed by the
    # violation): what a killed run committed is found again by the redelivery.
    assert ledger.processed_events.count_documents(
        {"_id": {"$regex": "^on_dormitory_violation:"}}) == 0
