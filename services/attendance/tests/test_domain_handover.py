"""Shift handover checks (002 §4.7)."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from attendance.handover import check_handover
from attendance.policy import load_attendance_policy

POLICY = load_attendance_policy()
START = datetime(2026, 3, 2, 22, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


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
