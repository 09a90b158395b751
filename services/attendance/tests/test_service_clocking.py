"""Shifts, rosters and clocking against the real broker and database."""
import time

import pytest
import requests
from attendance.store import ROSTER_COPY_SECONDS
from attendance.testing import (
    CLERK,
    FINANCE_CLERK,
    MANAGER,
    SUPERVISOR,
    local,
    person,
    store_of,
    violations_of,
)
from nameko.exceptions import RemoteError
from zhidu.testing import wait_for

pytestmark = pytest.mark.integration


def three_shifts(rpc):
    for code, start, end in (("A", "08:00", "16:00"), ("B", "16:00", "00:00"),
                             ("C", "00:00", "08:00"), ("N", "22:00", "06:00")):
        rpc.attendance.define_shift({"code": code, "start": start, "end": end})


def test_night_shift_across_midnight_lateness_and_idempotent_close(attendance, rpc, seed,
                                                                    event_tap):
    seed(person("E1"), person("E2"), person("E3"))
    three_shifts(rpc)
    assert rpc.attendance.define_shift({"code": "N", "start": "22:00", "end": "06:00"}
                                       )["crosses_midnight"] is True
    with event_tap("attendance") as tap:
        rpc.attendance.set_roster({"entries": [
            {"employee_id": e, "date": "2026-03-02", "shift_code": "N"}
            for e in ("E1", "E2", "E3")],
            "published": True, "actor": CLERK, "at": local(2026, 2, 20, 9)})
        # E1: 10 minutes late, leaves on time the next morning.
        reply = rpc.attendance.clock({"employee_id": "E1", "kind": "in",
                                      "at": local(2026, 3, 2, 22, 10)})
        assert (reply["roster_date"], reply["late_minutes"]) == ("2026-03-02", 10)
        out = rpc.attendance.clock({"employee_id": "E1", "kind": "out",
                                    "at": local(2026, 3, 3, 6, 1)})
        assert out["roster_date"] == "2026-03-02" and out["early_minutes"] == 0
        # E2: 31 minutes late → absence; E3: never came → absence.
        rpc.attendance.clock({"employee_id": "E2", "kind": "in", "at": local(2026, 3, 2, 22, 31)})
        rpc.attendance.clock({"employee_id": "E2", "kind": "out", "at": local(2026, 3, 3, 6, 0)})

        # Closed before the shift is over, nobody is judged yet.
        early = rpc.attendance.close_day({"date": "2026-03-02", "at": local(2026, 3, 2, 23)})
        assert early["evaluations"] == [] and early["open"] == ["E1", "E2", "E3"]

        first = rpc.attendance.close_day({"date": "2026-03-02"})
        by = {e["employee_id"]: e for e in first["evaluations"]}
        assert by["E1"]["status"] == "present" and by["E1"]["late_minutes"] == 10
        assert by["E2"]["absence_reason"] == "late_over_limit"
        assert by["E3"]["absence_reason"] == "no_clock_in"
        assert (first["violations_booked"], first["absences_recorded"]) == (3, 2)
        tap.wait("attendance.violation_recorded", 3)
        tap.wait("attendance.absence_recorded", 2)

        second = rpc.attendance.close_day({"date": "2026-03-02"})
        assert (second["violations_booked"], second["absences_recorded"],
                second["changed"]) == (0, 0, 0)
        assert second["evaluations"] == first["evaluations"]
        rpc.attendance.health({})          # give stray events time to arrive
        assert len(tap.of_type("attendance.violation_recorded")) == 3
        assert len(tap.of_type("attendance.absence_recorded")) == 2
        [late] = [e["data"] for e in tap.of_type("attendance.violation_recorded")
                  if e["data"]["employee_id"] == "E1"]
        assert (late["code"], late["points"], late["domain"]) == ("A01", 3, "attendance")
        assert late["at"] == "2026-03-02T14:10:00+00:00"
        assert set(late) >= {"violation_id", "incident_id", "employee_id", "code", "points",
                             "at", "domain"}
    assert violations_of(rpc, "E1") == [("A01", 3)]
    assert violations_of(rpc, "E3") == [("A04", 10)]


def test_published_shift_changes_need_the_supervisor(attendance, rpc, seed):
    seed(person("E1"), person("S1", role="staff", manager_id="H1"))
    three_shifts(rpc)
    entry = {"employee_id": "E1", "date": "2026-03-10", "shift_code": "A"}
    rpc.attendance.set_roster({"entries": [entry], "published": True, "actor": CLERK,
                               "at": local(2026, 2, 25, 9)})
    change = {"entries": [dict(entry, shift_code="B")], "actor": CLERK,
              "at": local(2026, 3, 5, 9)}
    # The clerk draws up the roster but cannot approve a change to a published one.
    with pytest.raises(RemoteError) as err:
        rpc.attendance.set_roster(change)
    assert err.value.exc_type == "PermissionDenied" and "002 §1.1.5" in err.value.value
    # S1 is E1's manager in the directory: a supervisor by reporting line.
    done = rpc.attendance.set_roster(dict(change, actor=SUPERVISOR, reason="swap"))
    assert done["changes"][0]["approved_by"] == {"id": "S1", "role": "supervisor"}
    with pytest.raises(RemoteError) as err:      # after the shift began: too late
        rpc.attendance.set_roster(dict(change, entries=[dict(entry, shift_code="A")],
                                       actor=MANAGER, at=local(2026, 3, 10, 16, 30)))
    assert err.value.exc_type == "Conflict"
    [stored] = rpc.attendance.get_roster({"employee_id": "E1", "date_from": "2026-03-01",
                                          "date_to": "2026-03-31"})
    assert stored["shift_code"] == "B" and stored["published_at"] == "2026-02-25T01:00:00+00:00"


def test_incidents_off_post_and_asleep(attendance, rpc, seed):
    seed(person("E1"), person("E2"))
    three_shifts(rpc)
    rpc.attendance.set_roster({"entries": [
        {"employee_id": e, "date": "2026-03-04", "shift_code": "C"} for e in ("E1", "E2")],
        "published": True, "actor": CLERK, "at": local(2026, 2, 20, 9)})
    for e in ("E1", "E2"):
        rpc.attendance.clock({"employee_id": e, "kind": "in", "at": local(2026, 3, 4, 0, 0)})
        rpc.attendance.clock({"employee_id": e, "kind": "out", "at": local(2026, 3, 4, 8, 0)})
    with pytest.raises(RemoteError) as err:           # nobody in E1's line
        rpc.attendance.report_incident({"employee_id": "E1", "kind": "off_post",
                                        "at": local(2026, 3, 4, 3), "minutes": 20,
                                        "actor": {"id": "X", "role": "staff"}})
    assert err.value.exc_type == "PermissionDenied"
    assert "report_incident" in err.value.value
    off = rpc.attendance.report_incident({"employee_id": "E1", "kind": "off_post",
                                          "at": local(2026, 3, 4, 3), "minutes": 20,
                                          "actor": SUPERVISOR})
    assert off["violation"]["code"] == "A02" and off["violation"]["points"] == 3
    asleep = rpc.attendance.report_incident({"employee_id": "E2", "kind": "sleeping_on_duty",
                                             "at": local(2026, 3, 4, 4), "actor": SUPERVISOR})
    assert asleep["violation"]["points"] == 2
    with pytest.raises(RemoteError) as err:
        rpc.attendance.report_incident({"employee_id": "E2", "kind": "sleeping_on_duty",
                                        "at": local(2026, 3, 4, 12), "actor": SUPERVISOR})
    assert err.value.exc_type == "Conflict"
    closed = rpc.attendance.close_day({"date": "2026-03-04"})
    assert closed["violations_booked"] == 0                # booked when reported, once
    # Off post for longer than 30 minutes, reported after the close: the day
    # becomes an absence at once.
    rpc.attendance.report_incident({"employee_id": "E2", "kind": "off_post",
                                    "at": local(2026, 3, 4, 6), "minutes": 45,
                                    "actor": SUPERVISOR})
    assert violations_of(rpc, "E1") == [("A02", 3)]
    assert sorted(violations_of(rpc, "E2")) == [("A03", 2), ("A04", 10)]


def test_holiday_roster_is_due_a_week_ahead(attendance, rpc, seed, event_tap):
    seed(person("E1"), person("E2"), person("F1", department="finance"))
    three_shifts(rpc)
    # Customer service works the weekend before: it runs shift duty. Each
    # department's clerk draws up its own roster.
    rpc.attendance.set_roster({"entries": [
        {"employee_id": "E1", "date": "2026-09-13", "shift_code": "A"}],
        "published": True, "actor": CLERK, "at": local(2026, 9, 1, 9)})
    rpc.attendance.set_roster({"entries": [
        {"employee_id": "F1", "date": "2026-09-14", "shift_code": "A"}],
        "published": True, "actor": FINANCE_CLERK, "at": local(2026, 9, 1, 9)})
    with event_tap("attendance") as tap:
        swept = rpc.attendance.sweep({"now": local(2026, 9, 25, 9)})
        # The sweep also closes finished roster days (nobody clocked: absences).
        assert swept["days_closed"] == ["2026-09-13", "2026-09-14"]
        assert rpc.attendance.absenteeism({"employee_id": "F1",
                                           "as_of": "2026-09-30"})["days"] == 1
        national = [g for g in swept["holiday_rosters_overdue"] if g["holiday"] == "National Day"]
        assert [(g["department"], g["deadline"]) for g in national] == [
            ("customer_service", "2026-09-23T16:00:00+00:00")]
        assert national[0]["uncovered_days"] == [f"2026-10-0{d}" for d in range(1, 8)]
        tap.wait("attendance.holiday_roster_overdue", 2)     # mid-autumn and national day
        assert rpc.attendance.sweep({"now": local(2026, 9, 25, 10)})[
            "holiday_rosters_overdue"] == []
    # Handed in late, one day missing.
    rpc.attendance.set_roster({"entries": [
        {"employee_id": "E2", "date": f"2026-10-0{d}", "shift_code": "C"} for d in range(1, 7)],
        "published": True, "actor": CLERK, "at": local(2026, 9, 26, 9)})
    [gap] = rpc.attendance.holiday_roster_check({"year": 2026, "month": 10,
                                                 "department": "customer_service"})
    assert gap["uncovered_days"] == ["2026-10-07"] and len(gap["late_days"]) == 6


def test_a_close_that_dies_half_way_keeps_whole_batches_and_its_rerun_books_the_rest(
        attendance, rpc, seed, event_tap, monkeypatch):
    """A day is closed in units of a few people: a crash loses no batch half-booked."""
    from attendance.app import closing

    monkeypatch.setattr(closing, "PEOPLE_PER_UNIT", 1)
    seed(person("E1"), person("E2"))
    three_shifts(rpc)
    rpc.attendance.set_roster({"entries": [
        {"employee_id": e, "date": "2026-03-02", "shift_code": "A"} for e in ("E1", "E2")],
        "published": True, "actor": CLERK, "at": local(2026, 2, 20, 9)})
    store, calls = store_of(attendance), []
    real = store.save_evaluations

    def dies_in_the_second_unit(*args, **kwargs):
        calls.append(True)
        if len(calls) == 2:
            raise RuntimeError("the process was killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "save_evaluations", dies_in_the_second_unit)
    with event_tap("attendance") as tap:
        with pytest.raises(RemoteError):
            rpc.attendance.close_day({"date": "2026-03-02"})
        assert violations_of(rpc, "E1") == [("A04", 10)]
        assert violations_of(rpc, "E2") == []
        again = rpc.attendance.close_day({"date": "2026-03-02"})
        assert (again["changed"], again["absences_recorded"]) == (1, 1)
        tap.wait("attendance.absence_recorded", 2)
        rpc.attendance.health({})          # give stray events time to arrive
        absences = tap.of_type("attendance.absence_recorded")
        assert sorted(a["data"]["employee_id"] for a in absences) == ["E1", "E2"]
    assert violations_of(rpc, "E2") == [("A04", 10)]


def test_a_roster_change_on_one_replica_reaches_the_others_clock_ins_at_once_002_s1_1_1_5(
        attendance, start_service, rpc, seed, auth_headers):
    """Each replica answers clock-ins from its own copy of the day's roster; a
    change made through one replica reaches the other's copy when its event
    does, not when the copy expires."""
    from attendance.service import AttendanceService

    seed(person("E1"), person("E2"))
    three_shifts(rpc)
    replica = start_service(AttendanceService)
    day = "2026-03-09"
    rpc.attendance.set_roster({"entries": [
        {"employee_id": e, "date": day, "shift_code": "A"} for e in ("E1", "E2")],
        "published": True, "actor": CLERK, "at": local(2026, 2, 25, 9)})

    def post(container, path, body, who):
        reply = requests.post(f"{container.web_url}/api/v1/attendance{path}", json=body,
                              headers=auth_headers(who), timeout=30)
        assert reply.status_code in (200, 201), reply.text
        return reply.json()

    def shift_on(container, employee_id):
        # 15:55 falls in the day shift A and, widened, in the evening shift B.
        return post(container, "/clocks", {"employee_id": employee_id, "kind": "in",
                                           "at": local(2026, 3, 9, 15, 55)},
                    employee_id)["shift_code"]

    assert (shift_on(replica, "E1"), shift_on(replica, "E2")) == ("A", "A")
    assert day in store_of(replica).__dict__["_roster_copies"]   # the replica's copy
    # Through the first replica, approved by E1's supervisor: roster_changed;
    # putting E2 on call is a change too, and announces duty_rostered.
    post(attendance, "/rosters", {"entries": [{"employee_id": "E1", "date": day,
                                               "shift_code": "B"}],
                                  "at": local(2026, 3, 5, 9), "reason": "swap"}, "S1")
    post(attendance, "/rosters", {"entries": [{"employee_id": "E2", "date": day,
                                               "shift_code": "A", "on_call": True}],
                                  "at": local(2026, 3, 5, 9)}, "S1")
    started = time.monotonic()
    wait_for(lambda: shift_on(replica, "E1") == "B", 10, message="the change on the replica")
    [on_call] = wait_for(lambda: [e for e in store_of(replica).roster_for_clock("E2", [day])
                                  if e["on_call"]], 10, message="E2 on call on the replica")
    assert time.monotonic() - started < ROSTER_COPY_SECONDS / 3
    assert on_call["shift_code"] == "A" and shift_on(attendance, "E1") == "B"
