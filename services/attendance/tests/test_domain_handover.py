"""Shift handover checks (002 §4 4.7)."""
import copy
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from attendance.handover import arrival, check_handover, open_handover, revise_handover, take_over
from attendance.policy import RULES_DIR, attendance_policy_from_dict, load_attendance_policy
from zhidu.domain import DomainConflict, DomainPermission, DomainValidation

POLICY = load_attendance_policy()
SH = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 3, 2, 22, 0, tzinfo=SH)
FRONT_DESK = POLICY.duty_log.post("front_desk")


def test_clean_handover_lets_the_outgoing_shift_leave():
    result = check_handover(shift_start=START, incoming_arrived_at=START - timedelta(minutes=12),
                            outgoing_signed=True, incoming_signed=True, policy=POLICY)
    assert result == {"may_leave": True, "findings": [],
                      "arrive_by": START - timedelta(minutes=10)}


def test_late_arrival_is_noted_unfinished_work_blocks():
    result = check_handover(shift_start=START, incoming_arrived_at=START - timedelta(minutes=5),
                            outgoing_signed=True, incoming_signed=False,
                            unfinished_important=["complaint 2603-0007"], policy=POLICY)
    assert result["findings"] == ["arrived_late", "unsigned_incoming", "unfinished_work"]
    assert not result["may_leave"]


def handover(**changes):
    form = dict(post=FRONT_DESK, day=date(2026, 3, 2), shift_code="N", shift_start=START,
                outgoing_id="E1", incoming_id="E2", at=START - timedelta(minutes=20),
                notes="quiet evening", property_issues=["stapler missing"],
                anomalies=[], unfinished=[{"item": "complaint 2603-0007", "important": True},
                                          {"item": "call back room 1203"}], policy=POLICY)
    form.update(changes)
    return open_handover(**form)


def test_important_unfinished_work_blocks_until_the_incoming_accepts_it_by_name_002_s4_4_7_9():
    opened = handover()
    assert opened["status"] == "awaiting_incoming"
    at = START - timedelta(minutes=15)
    with pytest.raises(DomainConflict, match=r"complaint 2603-0007.*002 §4 4.7.9"):
        take_over(opened, incoming_id="E2", at=at, accepted=[], arrived_at=at, policy=POLICY)
    # Accepting only the ordinary item does not lift the block either.
    with pytest.raises(DomainConflict):
        take_over(opened, incoming_id="E2", at=at, accepted=["call back room 1203"],
                  arrived_at=at, policy=POLICY)
    with pytest.raises(DomainValidation) as err:
        take_over(opened, incoming_id="E2", at=at, accepted=["something else"],
                  arrived_at=at, policy=POLICY)
    assert "accepted" in err.value.errors
    done = take_over(opened, incoming_id="E2", at=at, accepted=["complaint 2603-0007"],
                     arrived_at=at, policy=POLICY)
    assert done["status"] == "completed" and done["accepted"] == ["complaint 2603-0007"]
    # Every unfinished item follows the incoming shift (4.7.3).
    assert done["follow_ups"] == ["complaint 2603-0007", "call back room 1203"]
    assert (done["arrived_late"], done["late_minutes"]) == (False, 0)


def test_finished_work_hands_over_without_acceptance_002_s4_4_7_9():
    opened = handover(unfinished=[{"item": "call back room 1203", "important": False}])
    at = START - timedelta(minutes=11)
    done = take_over(opened, incoming_id="E2", at=at, accepted=[], arrived_at=at,
                     policy=POLICY)
    assert done["status"] == "completed" and done["findings"] == []


def test_both_sides_sign_only_the_named_incoming_signs_once_002_s4_4_7_5():
    opened = handover(unfinished=[])
    at = START - timedelta(minutes=12)
    with pytest.raises(DomainPermission, match="E2"):
        take_over(opened, incoming_id="E3", at=at, accepted=[], arrived_at=at, policy=POLICY)
    with pytest.raises(DomainValidation):       # before the outgoing signed
        take_over(opened, incoming_id="E2", at=START - timedelta(hours=1), accepted=[],
                  arrived_at=at, policy=POLICY)
    done = take_over(opened, incoming_id="E2", at=at, accepted=[], arrived_at=at,
                     policy=POLICY)
    assert done["outgoing_signed_at"] and done["incoming_signed_at"] == at
    with pytest.raises(DomainConflict):
        take_over(done, incoming_id="E2", at=at, accepted=[], arrived_at=at, policy=POLICY)
    with pytest.raises(DomainConflict, match="not rewritten"):
        revise_handover(done, handover())
    with pytest.raises(DomainConflict):          # someone else's shift record
        revise_handover(opened, handover(outgoing_id="E9"))
    assert revise_handover(opened, handover(notes="again"))["notes"] == "again"
    with pytest.raises(DomainValidation) as err:
        handover(incoming_id="E1", unfinished=[{"item": "a"}, {"item": "a"}])
    assert set(err.value.errors) == {"incoming_id", "unfinished"}


def test_arriving_later_than_10_minutes_before_the_shift_is_recorded_002_s4_4_7_1():
    opened = handover(unfinished=[])
    signed = START - timedelta(minutes=2)
    late = take_over(opened, incoming_id="E2", at=signed,
                     arrived_at=START - timedelta(minutes=9, seconds=30), accepted=[],
                     policy=POLICY)
    assert late["arrived_late"] is True and late["late_minutes"] == 1
    assert late["findings"] == ["arrived_late"]
    # Late is recorded, never a reason to refuse the handover.
    assert late["status"] == "completed"


def test_arrival_is_the_first_clock_in_or_the_signature_if_earlier_002_s4_4_7_1():
    signed = START - timedelta(minutes=3)
    clock_in = START - timedelta(minutes=14)
    assert arrival([clock_in, START - timedelta(minutes=5)], signed, START, POLICY) == clock_in
    assert arrival([], signed, START, POLICY) == signed
    # A clock-in from the morning belongs to another shift.
    assert arrival([START - timedelta(hours=12)], signed, START, POLICY) == signed


def test_the_arrival_margin_is_the_rules_number_not_the_codes_002_s4_4_7_1():
    with open(RULES_DIR / "attendance.yaml", encoding="utf-8") as handle:
        data = copy.deepcopy(yaml.safe_load(handle))
    data["handover"]["arrive_early_minutes"] = 15
    policy = attendance_policy_from_dict(data)
    result = check_handover(shift_start=START, incoming_arrived_at=START - timedelta(minutes=12),
                            outgoing_signed=True, incoming_signed=True, policy=policy)
    assert result["findings"] == ["arrived_late"]
    assert result["arrive_by"] == START - timedelta(minutes=15)
