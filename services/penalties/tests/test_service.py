"""The penalties service against the real broker and database."""
import pytest
from nameko.exceptions import RemoteError
from zhidu.envelope import make_envelope
from zhidu.testing import publish_event, service_db, wait_for

pytestmark = pytest.mark.integration

# Manual entries are HR's (rules §8, 002 §4 4.1.2 b); above HR's limit the GM's.
HR = {"id": "HR", "role": "hr"}
GM = {"id": "GM", "role": "gm"}


def account(rpc, who, month=None):
    return rpc.penalties.get_account({"employee_id": who, "year": 2026, "month": month})


def test_conduct_incident_books_the_most_severe_rule_split_60_20_10_10(penalties,
                                                                        event_tap):
    rpc = penalties
    with event_tap("penalties") as tap:
        reply = rpc.penalties.record_penalty({
            "employee_id": "W1", "domain": "conduct", "codes": ["B05", "B08"],
            "incident_id": "work-17", "at": "2026-11-10T10:00", "actor": HR})
        shares = {e["share"]: (e["employee_id"], e["points"], e["code"])
                  for e in reply["entries"]}
        assert shares == {"individual": ("W1", 12, "B08"), "team_leader": ("TL", 4, "B08"),
                          "dept_manager": ("DM", 2, "B08"), "unit_head": ("UH", 2, "B08")}
        issued = tap.wait("penalties.penalty_issued", 4)
        assert {e["data"]["employee_id"] for e in issued} == {"W1", "TL", "DM", "UH"}
    assert account(rpc, "W1", 11)["points_total"] == 12
    assert account(rpc, "TL", 11)["amount_yuan_total"] == 40


def test_dormitory_events_book_each_violation_once(penalties, zhidu_config):
    rpc = penalties
    events = [make_envelope("dormitory", "violation_recorded", {
        "violation_id": f"V{i}", "incident_id": "INSP-1", "employee_id": "W1",
        "code": code, "points": points, "at": "2026-11-12T20:00:00+08:00",
        "building": "A", "room_no": "101"}) for i, (code, points) in
        enumerate([("D16", 3), ("D05", 2)])]
    for envelope in events + events:  # every event delivered twice
        publish_event(zhidu_config["AMQP_URI"], envelope)
    booked = wait_for(lambda: len(account(rpc, "W1", 11)["entries"]) == 2
                      and account(rpc, "W1", 11), message="two dormitory entries")
    assert sorted((e["code"], e["points"], e["amount_yuan"]) for e in booked["entries"]) \
        == [("D05", 2, 20), ("D16", 3, 30)]
    assert booked["points_total"] == 5 and booked["penalty_count"] == 2


def test_appeal_upheld_by_the_gm_reverses_the_entry(penalties, event_tap):
    rpc = penalties
    [entry] = rpc.penalties.record_penalty({
        "employee_id": "W1", "domain": "dormitory", "code": "D16", "incident_id": "x1",
        "at": "2026-11-03T21:00", "actor": HR})["entries"]
    with pytest.raises(RemoteError) as err:
        rpc.penalties.appeal({"entry_id": entry["entry_id"], "reason": "not me",
                              "actor": {"id": "TL", "role": "staff"}})
    assert err.value.exc_type == "PermissionDenied"
    rpc.penalties.appeal({"entry_id": entry["entry_id"], "reason": "I was on leave",
                          "actor": {"id": "W1", "role": "staff"}})
    with pytest.raises(RemoteError) as err:
        rpc.penalties.decide_appeal({"entry_id": entry["entry_id"], "upheld": True,
                                     "actor": {"id": "DM", "role": "deputy_gm"}})
    assert err.value.exc_type == "PermissionDenied"
    with event_tap("penalties") as tap:
        decided = rpc.penalties.decide_appeal({"entry_id": entry["entry_id"],
                                               "upheld": True,
                                               "actor": {"id": "GM", "role": "gm"}})
        [reversed_event] = tap.wait("penalties.penalty_reversed")
    assert reversed_event["data"]["reverses"] == entry["entry_id"]
    assert decided["entry"]["appeal"]["status"] == "upheld"
    month = account(rpc, "W1", 11)
    assert month["points_total"] == 0 and month["penalty_count"] == 0
    assert len(month["entries"]) == 2  # append-only: the original stays
    with pytest.raises(RemoteError) as err:
        rpc.penalties.decide_appeal({"entry_id": entry["entry_id"], "upheld": False,
                                     "actor": {"id": "GM", "role": "gm"}})
    assert err.value.exc_type == "Conflict"


def test_meeting_threshold_is_raised_once(penalties, event_tap):
    rpc = penalties
    with event_tap("penalties") as tap:
        for i in range(5):
            rpc.penalties.record_penalty({
                "employee_id": "W1", "domain": "meeting", "code": "M01",
                "incident_id": f"meeting-{i}", "at": f"2026-0{i + 2}-10T09:05",
                "actor": HR})
        [event] = tap.wait("penalties.threshold_reached")
        assert event["data"]["kind"] == "award_ineligible" and event["data"]["year"] == 2026
        tap.wait("penalties.penalty_issued", 5)
        assert len(tap.of_type("penalties.threshold_reached")) == 1
    assert account(rpc, "W1")["flags"]["award_eligible"] is False


def test_monthly_ceiling_caps_money_and_records_the_excess(penalties):
    rpc = penalties  # W1 earns 3,000 yuan: at most 600 deducted a month
    for i in range(3):
        rpc.penalties.record_penalty({
            "employee_id": "W1", "domain": "confidentiality", "code": "P01",
            "incident_id": f"leak-{i}", "at": "2026-11-20T10:00", "amount_yuan": 300,
            "actor": HR})
    month = account(rpc, "W1", 11)
    assert month["amount_yuan_total"] == 900
    assert month["deducted_yuan_total"] == 600 and month["capped_yuan_total"] == 300


def test_bad_input_names_the_field(penalties):
    rpc = penalties
    for payload, field in [
        ({"employee_id": "W1", "domain": "dormitory", "code": "D99", "incident_id": "i",
          "at": "2026-11-01T10:00", "actor": HR}, "code"),
        ({"employee_id": "W1", "domain": "dormitory", "code": "D16", "incident_id": "i",
          "at": "someday", "actor": HR}, "at"),
        # Above HR's limit only the GM may book, so the GM hears what is wrong.
        ({"employee_id": "W1", "domain": "complaint", "code": "C01", "incident_id": "i",
          "at": "2026-11-01T10:00", "amount_yuan": 5000, "actor": GM}, "amount_yuan"),
    ]:
        with pytest.raises(RemoteError) as err:
            rpc.penalties.record_penalty(payload)
        assert err.value.exc_type == "ValidationError", payload
        assert field in err.value.value
    with pytest.raises(RemoteError) as err:
        rpc.penalties.get_account({"employee_id": "W1"})
    assert err.value.exc_type == "ValidationError" and "year" in err.value.value
    with pytest.raises(RemoteError) as err:
        rpc.penalties.appeal({"entry_id": "nope", "reason": "x",
                              "actor": {"id": "W1", "role": "staff"}})
    assert err.value.exc_type == "NotFound"
    assert account(rpc, "W1", 11)["entries"] == []


def test_a_withdrawn_attendance_violation_is_reversed_even_out_of_order(penalties,
                                                                        zhidu_config):
    rpc = penalties
    data = {"violation_id": "A-1", "incident_id": "W1:2026-11-16", "employee_id": "W1",
            "code": "A04", "points": 10, "at": "2026-11-16T08:30:00+08:00",
            "domain": "attendance", "detail": {}}
    publish_event(zhidu_config["AMQP_URI"],
                  make_envelope("attendance", "violation_recorded", data))
    wait_for(lambda: account(rpc, "W1", 11)["penalty_count"] == 1, message="absence booked")
    publish_event(zhidu_config["AMQP_URI"], make_envelope(
        "attendance", "violation_withdrawn", dict(data, reason="emergency leave approved")))
    month = wait_for(lambda: (a := account(rpc, "W1", 11))["penalty_count"] == 0 and a,
                     message="absence reversed")
    assert month["points_total"] == 0 and len(month["entries"]) == 2

    # A withdrawal that overtakes its violation still stops the booking.
    late = dict(data, violation_id="A-2", incident_id="W1:2026-11-17")
    publish_event(zhidu_config["AMQP_URI"], make_envelope(
        "attendance", "violation_withdrawn", dict(late, reason="leave approved")))
    marker = dict(data, violation_id="A-3", code="A01", points=3)
    late_event = make_envelope("attendance", "violation_recorded", late)
    for envelope in (late_event, make_envelope("attendance", "violation_recorded", marker)):
        publish_event(zhidu_config["AMQP_URI"], envelope)
    claims = service_db(zhidu_config, "penalties").processed_events
    wait_for(lambda: claims.find_one({"_id": f"on_attendance_violation:{late_event['id']}"}),
             message="late violation handled")
    month = wait_for(lambda: (a := account(rpc, "W1", 11))["penalty_count"] == 1 and a,
                     message="only the marker booked")
    # Booked-then-reversed is allowed when the two race; only the marker stands.
    reversed_ids = {e["reverses"] for e in month["entries"] if e.get("reverses")}
    assert [e["code"] for e in month["entries"] if not e.get("reverses")
            and e["entry_id"] not in reversed_ids] == ["A01"]


def test_the_month_start_sweep_publishes_each_unit_once(penalties, event_tap):
    rpc = penalties
    for i, code in enumerate(["D16", "D05"]):
        rpc.penalties.record_penalty({
            "employee_id": "W1", "domain": "dormitory", "code": code,
            "incident_id": f"oct-{i}", "at": "2026-10-20T21:00", "actor": HR})
    with event_tap("penalties") as tap:
        early = rpc.penalties.sweep({"now": "2026-11-01T23:59"})
        first = rpc.penalties.sweep({"now": "2026-11-02T00:05"})
        again = rpc.penalties.sweep({"now": "2026-11-02T00:06"})
        [event] = tap.wait("penalties.publication_issued")
    assert early == again == {"announced": []} and first == {"announced": ["north"]}
    assert event["data"] == {
        "year": 2026, "month": 11, "covers": "2026-10", "unit": "north",
        "unit_head_id": "UH", "penalty_count": 2, "points_total": 5,
        "amount_yuan_total": 50, "people_count": 1}
    document = rpc.penalties.publication({"year": 2026, "month": 11})
    assert [p["employee_id"] for p in document["units"][0]["people"]] == ["W1"]


def test_a_decision_that_fails_midway_leaves_nothing_and_its_retry_books_once(
        penalties, zhidu_config, event_tap, monkeypatch):
    rpc = penalties
    [entry] = rpc.penalties.record_penalty({
        "employee_id": "W1", "domain": "dormitory", "code": "D16", "incident_id": "x9",
        "at": "2026-11-03T21:00", "actor": HR})["entries"]
    rpc.penalties.appeal({"entry_id": entry["entry_id"], "reason": "not me",
                          "actor": {"id": "W1", "role": "staff"}})
    # The GM's first attempt dies after its reversal is written: the decision,
    # the reversal and its event are one unit, so none of them stays.
    from penalties.ledger_writer import LedgerWriter

    reverse = LedgerWriter.reverse

    def reverse_then_die(self, reversals):
        reverse(self, reversals)
        raise RuntimeError("the process died here")

    monkeypatch.setattr(LedgerWriter, "reverse", reverse_then_die)
    decision = {"entry_id": entry["entry_id"], "upheld": True,
                "actor": {"id": "GM", "role": "gm"}}
    with pytest.raises(RemoteError):
        rpc.penalties.decide_appeal(decision)
    db = service_db(zhidu_config, "penalties")
    assert db.entries.find_one({"_id": entry["entry_id"]})["appeal"]["status"] == "pending"
    assert db.entries.count_documents({"reverses": entry["entry_id"]}) == 0
    assert db.outbox.count_documents({"envelope.type": "penalties.penalty_reversed"}) == 0

    monkeypatch.setattr(LedgerWriter, "reverse", reverse)
    with event_tap("penalties") as tap:
        decided = rpc.penalties.decide_appeal(decision)
        # Asked again after a time-out: the decision as taken, nothing booked twice.
        again = rpc.penalties.decide_appeal(decision)
        [event] = tap.wait("penalties.penalty_reversed")
    assert [r["reverses"] for r in decided["reversals"]] == [entry["entry_id"]]
    assert again["reversals"] == decided["reversals"]
    assert again["entry"]["appeal"] == decided["entry"]["appeal"]
    assert event["data"]["reverses"] == entry["entry_id"]
    assert db.entries.count_documents({"reverses": entry["entry_id"]}) == 1
    assert account(rpc, "W1", 11)["penalty_count"] == 0


def test_an_older_directory_event_never_overwrites_a_newer_copy(penalties, zhidu_config,
                                                               worker):
    from datetime import datetime, timezone

    people = service_db(zhidu_config, "penalties").people
    newer = make_envelope("directory", "employee_upserted",
                          dict(worker, employee_id="W7", monthly_wage_yuan=5000),
                          at=datetime(2026, 11, 20, tzinfo=timezone.utc))
    older = make_envelope("directory", "employee_upserted",
                          dict(worker, employee_id="W7", monthly_wage_yuan=3000),
                          at=datetime(2026, 11, 10, tzinfo=timezone.utc))
    publish_event(zhidu_config["AMQP_URI"], newer)
    wait_for(lambda: people.find_one({"_id": "W7"}), message="W7 copied")
    publish_event(zhidu_config["AMQP_URI"], older)
    claims = service_db(zhidu_config, "penalties").processed_events
    wait_for(lambda: claims.find_one({"_id": f"remember_person:{older['id']}"}),
             message="older event handled")
    assert people.find_one({"_id": "W7"})["monthly_wage_yuan"] == 5000


def test_racing_bookings_never_deduct_past_the_ceiling(penalties):
    rpc = penalties  # W1 earns 3,000 yuan: at most 600 deducted a month
    calls = [rpc.penalties.record_penalty.call_async({
        "employee_id": "W1", "domain": "confidentiality", "code": "P01",
        "incident_id": f"race-{i}", "at": "2026-11-20T10:00", "amount_yuan": 500,
        "actor": HR}) for i in range(4)]
    for call in calls:
        call.result()
    month = account(rpc, "W1", 11)
    assert month["amount_yuan_total"] == 2000
    assert month["deducted_yuan_total"] == 600 and month["capped_yuan_total"] == 1400


def test_b02_is_booked_once_per_unit_and_month_across_replicas_and_repeats_000_s4_6_1(
        penalties, start_service, zhidu_config, worker, event_tap):
    """同一单位累计扣分人次达3人以上的对该单位领导扣罚5分/次: four dress-code
    penalties in unit north, each sent twice, all at once over two replicas."""
    from penalties.service import PenaltiesService

    rpc = penalties
    start_service(PenaltiesService)                       # a second replica
    people = service_db(zhidu_config, "penalties").people
    staff = ["W1", "W2", "W3", "W4"]
    for who in staff[1:]:
        rpc.directory.upsert_employee(dict(worker, employee_id=who))
    wait_for(lambda: people.count_documents({"_id": {"$in": staff}, "unit": "north"}) == 4,
             message="W2–W4 copied into penalties")
    with event_tap("penalties") as tap:
        calls = [rpc.penalties.record_penalty.call_async({
            "employee_id": who, "domain": "conduct", "code": "B01",
            "incident_id": f"dress-{who}", "at": f"2026-11-{10 + i}T09:00", "actor": HR})
            for i, who in enumerate(staff) for _ in range(2)]
        for call in calls:
            call.result()
        [event] = tap.wait("penalties.unit_threshold_reached")
        issued = tap.wait("penalties.penalty_issued", 4 * 4 + 1)   # 4 B01 × 4 shares, B02
        told = {e["id"] for e in tap.of_type("penalties.unit_threshold_reached")}
    assert (event["data"]["unit"], event["data"]["kind"], event["data"]["month"],
            event["data"]["unit_head_id"]) == ("north", "dress_code", 11, "UH")
    db = service_db(zhidu_config, "penalties")
    # Every call has returned, so what they committed is final: one B02, one
    # record; every event of the fact carries one id, however often it is sent.
    [b02] = list(db.entries.find({"code": "B02"}))
    assert (b02["employee_id"], b02["points"], b02["amount_yuan"]) == ("UH", 5, 50)
    assert db.unit_thresholds.count_documents({}) == 1
    assert db.entries.count_documents({"code": "B01", "share": "individual"}) == 4
    assert len(told) == 1
    assert len({e["id"] for e in issued if e["data"]["code"] == "B02"}) == 1
    unit = rpc.penalties.get_unit_account({"unit": "north", "year": 2026, "month": 11})
    assert unit["flags"]["dress_code_months"] == [11]
    assert {p["employee_id"] for p in unit["people"]} >= set(staff)
    with pytest.raises(RemoteError) as err:
        rpc.as_person("W2").penalties.get_unit_account({"unit": "north", "year": 2026})
    assert err.value.exc_type == "PermissionDenied"
    published = rpc.penalties.publication({"year": 2026, "month": 12})
    [north] = [u for u in published["units"] if u["unit"] == "north"]
    assert north["flags"]["dress_code_months"] == [11]


def test_dormitory_damage_is_booked_at_cost_once_however_often_delivered_000_s5_3_9(
        penalties, zhidu_config):
    rpc = penalties
    envelope = make_envelope("dormitory", "accommodation_revoked", {
        "revocation_id": "RV-1", "employee_id": "W1", "reason": "deliberate_damage",
        "at": "2026-11-21T10:00:00+08:00", "note": "broke the door",
        "damage_cost_yuan": 300, "building": "A", "room_no": "101", "bed_no": 1})
    for _ in range(2):
        publish_event(zhidu_config["AMQP_URI"], envelope)
    month = wait_for(lambda: (a := account(rpc, "W1", 11))["entries"] and a,
                     message="the damage booked")
    [entry] = month["entries"]
    assert (entry["code"], entry["amount_yuan"], entry["points"]) == ("DC01", 300, 0)
    # W1 earns 3,000: compensation is deducted within the same monthly ceiling.
    assert (month["deducted_yuan_total"], month["capped_yuan_total"]) == (300, 0)
