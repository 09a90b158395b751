"""One rostered employee-day: lateness, absence, leave, incidents, determinism."""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from attendance.clocking import evaluate_day, reconcile
from attendance.policy import load_attendance_policy
from attendance.shifts import define_shift
from zhidu.domain import DomainValidation

SH = ZoneInfo("Asia/Shanghai")
POLICY = load_attendance_policy()
DAY = define_shift("D", "08:30", "16:20")
NIGHT = define_shift("N", "22:00", "06:00")


def local(*args):
    return datetime(*args, tzinfo=SH)


def clocks(clock_in=None, clock_out=None):
    events = []
    if clock_in:
        events.append({"kind": "in", "at": clock_in})
    if clock_out:
        events.append({"kind": "out", "at": clock_out})
    return events


def run(day="2026-03-02", shift=DAY, **kwargs):
    return evaluate_day(employee_id="E1", roster_date=day, shift=shift, policy=POLICY, tz=SH,
                        **kwargs)


def codes(result):
    return [(v["code"], v["key"].rsplit(":", 1)[-1]) for v in result["violations"]]


def test_on_time_day_has_no_violation():
    result = run(clocks=clocks(local(2026, 3, 2, 8, 20), local(2026, 3, 2, 16, 25)))
    assert result["status"] == "present" and result["violations"] == []


def test_late_and_early_are_two_separate_a01():
    result = run(clocks=clocks(local(2026, 3, 2, 8, 40), local(2026, 3, 2, 16, 10)))
    assert codes(result) == [("A01", "early"), ("A01", "late")]
    assert (result["late_minutes"], result["early_minutes"]) == (10, 10)
    assert len({v["incident_id"] for v in result["violations"]}) == 2
    assert all(v["points"] == 3 and v["domain"] == "attendance" for v in result["violations"])


def test_no_grace_one_second_late_is_late():
    result = run(clocks=clocks(local(2026, 3, 2, 8, 30, 1), local(2026, 3, 2, 16, 20)))
    assert codes(result) == [("A01", "late")] and result["late_minutes"] == 1


def test_thirty_minutes_is_a01_beyond_is_absence_only():
    thirty = run(clocks=clocks(local(2026, 3, 2, 9, 0), local(2026, 3, 2, 16, 20)))
    assert codes(thirty) == [("A01", "late")]
    beyond = run(clocks=clocks(local(2026, 3, 2, 9, 0, 1), local(2026, 3, 2, 16, 0)))
    assert beyond["status"] == "absent" and beyond["absence_reason"] == "late_over_limit"
    assert codes(beyond) == [("A04", "day")]


def test_leaving_more_than_thirty_minutes_early_is_absence():
    result = run(clocks=clocks(local(2026, 3, 2, 8, 30), local(2026, 3, 2, 15, 0)))
    assert result["absence_reason"] == "early_over_limit"


def test_night_shift_clocks_across_midnight():
    result = run(day="2026-03-06", shift=NIGHT,
                 clocks=clocks(local(2026, 3, 6, 22, 5), local(2026, 3, 7, 6, 1)))
    assert codes(result) == [("A01", "late")] and result["date"] == "2026-03-06"
    assert result["clock_out"] == local(2026, 3, 7, 6, 1)


def test_no_clock_in_on_a_rostered_weekend_is_absence():
    # 2026-03-07 is a Saturday: not a calendar working day, but rostered.
    result = run(day="2026-03-07", clocks=clocks(None, local(2026, 3, 7, 16, 20)))
    assert result["absence"] and result["absence_reason"] == "no_clock_in"


def test_approved_leave_excuses_pending_leave_does_not():
    leave = {"leave_id": "L1", "status": "approved", "start": "2026-03-02", "end": "2026-03-03"}
    excused = run(leaves=[leave])
    assert excused["status"] == "on_leave" and excused["leave_id"] == "L1"
    assert excused["violations"] == []
    pending = run(leaves=[dict(leave, status="pending")])
    assert pending["status"] == "absent"
    # The day after the leave ended, not back and no extension: absence.
    assert run(day="2026-03-04", leaves=[leave])["absence"]


def test_incidents_off_post_and_sleeping():
    base = clocks(local(2026, 3, 2, 8, 30), local(2026, 3, 2, 16, 20))
    result = run(clocks=base, incidents=[
        {"kind": "off_post", "at": local(2026, 3, 2, 10), "minutes": 20, "incident_id": "i1"},
        {"kind": "sleeping_on_duty", "at": local(2026, 3, 2, 13), "incident_id": "i2"}])
    assert codes(result) == [("A02", "i1"), ("A03", "i2")]
    assert [v["points"] for v in result["violations"]] == [3, 2]
    long = run(clocks=base, incidents=[{"kind": "off_post", "at": local(2026, 3, 2, 10),
                                        "minutes": 45}])
    assert long["absence_reason"] == "off_post_over_limit"
    with pytest.raises(DomainValidation):
        run(clocks=base, incidents=[{"kind": "smoking", "at": local(2026, 3, 2, 10)}])


def test_missing_clock_out_is_flagged_not_punished():
    result = run(clocks=clocks(local(2026, 3, 2, 8, 30)))
    assert result["anomalies"] == ["missing_clock_out"] and result["violations"] == []


def test_evaluation_is_deterministic():
    kwargs = dict(clocks=list(reversed(clocks(local(2026, 3, 2, 8, 45),
                                              local(2026, 3, 2, 16))))
                  + [{"kind": "in", "at": local(2026, 3, 2, 9)}],
                  incidents=[{"kind": "sleeping_on_duty", "at": local(2026, 3, 2, 13)}])
    first, second = run(**kwargs), run(**kwargs)
    assert first == second
    assert [v["key"] for v in first["violations"]] == [v["key"] for v in second["violations"]]
    assert first["clock_in"] == local(2026, 3, 2, 8, 45)     # earliest clock-in counts


def test_reconcile_after_emergency_leave_withdraws_the_absence():
    absent = run()
    excused = run(leaves=[{"leave_id": "L9", "status": "approved",
                           "start": "2026-03-02", "end": "2026-03-02"}])
    change = reconcile(absent["violations"], excused["violations"])
    assert [v["code"] for v in change["withdrawn"]] == ["A04"] and change["added"] == []
    assert reconcile(absent["violations"], absent["violations"]) == {"added": [],
                                                                     "withdrawn": []}


def test_clock_events_of_a_neighbouring_day_are_ignored():
    result = run(clocks=[{"kind": "in", "at": local(2026, 3, 1, 8, 30)},
                         {"kind": "in", "at": local(2026, 3, 2, 8, 29)},
                         {"kind": "out", "at": local(2026, 3, 3, 16, 20)}])
    assert result["clock_in"] == local(2026, 3, 2, 8, 29)
    assert result["clock_out"] is None
    assert result["shift_end"] - result["shift_start"] == timedelta(hours=7, minutes=50)


def test_an_incident_booked_when_reported_has_the_key_the_day_books():
    from attendance.clocking import incident_outcome

    incident = {"kind": "sleeping_on_duty", "at": local(2026, 3, 2, 12), "incident_id": "I1"}
    now = incident_outcome("E1", "2026-03-02", incident, POLICY)["violation"]
    day = run(clocks=clocks(local(2026, 3, 2, 8, 30), local(2026, 3, 2, 16, 20)),
              incidents=[incident])
    assert [v["key"] for v in day["violations"]] == [now["key"]]
    long_off = incident_outcome("E1", "2026-03-02", {"kind": "off_post", "minutes": 31,
                                                     "at": local(2026, 3, 2, 12)}, POLICY)
    assert long_off == {"violation": None, "absence_reason": "off_post_over_limit"}
