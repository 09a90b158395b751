"""Attendance violations land in the person's penalty ledger (penalties service)."""
import pytest
from attendance.testing import CLERK, local, person
from zhidu.testing import wait_for

pytestmark = pytest.mark.integration


def test_violations_reach_the_ledger_once(attendance, start_service, rpc, seed, event_tap):
    # Written against the penalties service as it stands; without it this test
    # must fail loudly, not skip.
    from penalties.service import PenaltiesService

    start_service(PenaltiesService)
    seed(person("E1"), person("K1", role="attendance_clerk", manager_id="H1"),
         person("H1", role="dept_manager"))
    rpc.attendance.define_shift({"code": "N", "start": "22:00", "end": "06:00"})
    rpc.attendance.set_roster({"entries": [{"employee_id": "E1", "date": "2026-03-02",
                                            "shift_code": "N"}],
                               "published": True, "actor": CLERK, "at": local(2026, 2, 20)})
    rpc.attendance.clock({"employee_id": "E1", "kind": "in", "at": local(2026, 3, 2, 22, 20)})
    rpc.attendance.clock({"employee_id": "E1", "kind": "out", "at": local(2026, 3, 3, 6, 0)})
    with event_tap("penalties") as tap:
        for _ in range(2):                              # booked once, however often closed
            rpc.attendance.close_day({"date": "2026-03-02"})
        # Four meeting penalties in a year: the award threshold is crossed.
        rpc.attendance.schedule_meeting({"meeting_id": "M1", "kind": "regular",
                                         "start": local(2026, 3, 5, 9), "planned_minutes": 30,
                                         "attendees": ["E1"], "chair_id": "H1"})
        rpc.attendance.meeting_checkin({"meeting_id": "M1", "employee_id": "E1",
                                        "at": local(2026, 3, 5, 9, 3)})
        for minute, kind in ((10, "phone"), (12, "phone"), (20, "unprepared")):
            rpc.attendance.meeting_incident({"meeting_id": "M1", "employee_id": "E1",
                                             "kind": kind, "at": local(2026, 3, 5, 9, minute)})
        rpc.attendance.submit_monthly_report({"department": "customer_service", "year": 2026,
                                              "month": 3, "at": local(2026, 3, 27, 9),
                                              "actor": CLERK})

        def account(employee_id):
            return rpc.penalties.get_account({"employee_id": employee_id, "year": 2026})

        e1 = wait_for(lambda: (a := account("E1"))["penalty_count"] >= 5 and a, 20,
                      message="E1's five entries")
        assert sorted(e["code"] for e in e1["entries"]) == ["A01", "M01", "M05", "M05", "M06"]
        assert e1["points_total"] == 3 + 2 + 2 + 2 + 5
        assert e1["flags"]["award_eligible"] is False
        threshold = tap.wait("penalties.threshold_reached")
        assert {t["data"]["kind"] for t in threshold} >= {"award_ineligible"}
        clerk = wait_for(lambda: (a := account("K1"))["points_total"] and a, 20)
        head = wait_for(lambda: (a := account("H1"))["points_total"] and a, 20)
        assert (clerk["points_total"], head["points_total"]) == (5, 5)
    rpc.attendance.close_day({"date": "2026-03-02"})
    assert account("E1")["penalty_count"] == 5
