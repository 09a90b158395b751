"""The daily workflows the regulations require, against the real broker and database:
the shift handover and the duty log (002 §4 4.7-4.8; 002 §2 二.1-2), going out
during working hours (002 §1 1.2.3; 000 §2 四.3(3)) and the monthly sheet's
chain (000 §2 五.1). Every event emitted here is checked against its published
schema (``ZHIDU_CHECK_EVENTS``)."""
import eventlet
import pytest
import requests
from attendance.testing import CLERK, SUPERVISOR, local, person
from nameko.exceptions import RemoteError

pytestmark = pytest.mark.integration


def refused(call, payload, kind="PermissionDenied") -> str:
    with pytest.raises(RemoteError) as err:
        call(payload)
    assert err.value.exc_type == kind, err.value.value
    return err.value.value


def staff():
    return (person("E1"), person("E2"), person("S1", manager_id="H1"),
            person("H1", role="dept_manager", manager_id="G1"),
            person("F1", department="finance", manager_id="H2"))


def test_a_handover_both_sides_sign_and_the_logs_daily_review_is_reminded_002_s4_4_7_4_8(
        attendance, rpc, seed, event_tap):
    seed(*staff())
    rpc.attendance.define_shift({"code": "N", "start": "22:00", "end": "06:00"})
    e1, e2, head = (rpc.as_person(p).attendance for p in ("E1", "E2", "H1"))
    entry = {"post": "front_desk", "at": local(2026, 3, 2, 20), "text": "lift alarm tested"}
    message = refused(rpc.as_person("F1").attendance.log_duty, entry)
    assert "permissions: log_duty" in message and "4.8" in message
    e1.log_duty(entry)
    record = {"post": "front_desk", "date": "2026-03-02", "shift_code": "N",
              "outgoing_id": "E1", "incoming_id": "E2", "at": local(2026, 3, 2, 21, 40),
              "anomalies": ["lobby door sticks"],
              "unfinished": [{"item": "complaint 2603-0007", "important": True},
                             {"item": "call back room 1203"}]}
    refused(e2.hand_over, record)                       # E2 does not sign for E1
    handover_id = e1.hand_over(record)["handover_id"]
    refused(rpc.as_person("S1").attendance.take_over, {"handover_id": handover_id,
                                                      "at": local(2026, 3, 2, 21, 55)})
    e2.clock({"employee_id": "E2", "kind": "in", "at": local(2026, 3, 2, 21, 53)})
    with event_tap("attendance") as tap:
        message = refused(e2.take_over, {"handover_id": handover_id,
                                         "at": local(2026, 3, 2, 21, 55)}, "Conflict")
        assert "complaint 2603-0007" in message and "4.7.9" in message
        done = e2.take_over({"handover_id": handover_id, "at": local(2026, 3, 2, 21, 55),
                             "accepted": ["complaint 2603-0007"]})
        assert (done["status"], done["arrived_late"], done["late_minutes"]) == (
            "completed", True, 3)
        [event] = tap.wait("attendance.handover_completed")
        assert event["data"]["arrived_at"] == "2026-03-02T13:53:00+00:00"
        assert event["data"]["follow_ups"] == ["complaint 2603-0007", "call back room 1203"]
        refused(e1.hand_over, dict(record, request_id="again"), "Conflict")

        # Nobody signed 3-02 by the end of 3-03: the head is reminded, once.
        swept = rpc.attendance.sweep({"now": local(2026, 3, 4, 1)})
        assert swept["reminders_sent"] == ["duty:front_desk:daily:2026-03-02:reminder:1"]
        assert rpc.attendance.sweep({"now": local(2026, 3, 4, 2)})["reminders_sent"] == []
        [reminder] = tap.wait("attendance.duty_review_overdue")
        assert (reminder["data"]["to_ids"], reminder["data"]["period"]) == (["H1"],
                                                                           "2026-03-02")
    daily = {"post": "front_desk", "kind": "daily", "date": "2026-03-02",
             "at": local(2026, 3, 4, 9)}
    message = refused(rpc.as_person("S1").attendance.review_duty_log, daily)
    assert "permissions: review_duty_log" in message
    signed = head.review_duty_log(daily)
    assert signed["on_time"] is False and signed["reviewer"]["id"] == "H1"
    assert rpc.attendance.sweep({"now": local(2026, 3, 5, 1)})["reminders_sent"] == []
    log = e1.get_duty_log({"post": "front_desk", "date_from": "2026-03-01",
                           "date_to": "2026-03-31"})
    assert [e["kind"] for e in log["entries"]] == ["entry", "handover"]
    assert [h["handover_id"] for h in log["handovers"]] == [handover_id]
    assert [r["kind"] for r in log["reviews"]] == ["daily"]
    refused(rpc.as_person("F1").attendance.get_duty_log, {
        "post": "front_desk", "date_from": "2026-03-01", "date_to": "2026-03-31"})


def test_going_out_needs_the_direct_superior_and_a_late_return_is_recorded_002_s1_1_2_3(
        attendance, rpc, seed, event_tap):
    seed(*staff())
    rpc.attendance.define_shift({"code": "D", "start": "08:30", "end": "16:20"})
    rpc.attendance.set_roster({"entries": [{"employee_id": "E1", "date": "2026-03-02",
                                            "shift_code": "D"}],
                               "published": True, "actor": CLERK, "at": local(2026, 2, 20)})
    e1, e2, s1 = (rpc.as_person(p).attendance for p in ("E1", "E2", "S1"))
    ask = {"employee_id": "E1", "out_at": local(2026, 3, 2, 10),
           "expected_back_at": local(2026, 3, 2, 11), "reason": "bank",
           "at": local(2026, 3, 2, 9)}
    refused(e2.request_outing, ask)                       # only for oneself
    outing = e1.request_outing(ask)
    decision = {"outing_id": outing["outing_id"], "approve": True,
                "at": local(2026, 3, 2, 9, 30)}
    message = refused(e2.decide_outing, decision)         # a colleague
    assert "permissions: decide_outing" in message and "1.2.3" in message
    refused(e1.decide_outing, decision)                   # nobody approves their own
    with event_tap("attendance") as tap:
        assert s1.decide_outing(decision)["approved_from"] == "2026-03-02T02:00:00+00:00"
        [decided] = tap.wait("attendance.outing_decided")
        assert decided["data"]["decided_by"]["id"] == "S1"
        # Out with approval is not off post.
        message = refused(rpc.attendance.report_incident, {
            "employee_id": "E1", "kind": "off_post", "at": local(2026, 3, 2, 10, 30),
            "minutes": 20, "actor": SUPERVISOR}, "Conflict")
        assert outing["outing_id"] in message
        back = e1.return_from_outing({"outing_id": outing["outing_id"],
                                      "at": local(2026, 3, 2, 11, 25)})
        assert (back["status"], back["late_minutes"]) == ("returned", 25)
        [returned] = tap.wait("attendance.outing_returned")
        assert returned["data"]["late"] is True
    assert rpc.as_person("K1").attendance.get_outing(      # the department's clerk
        {"outing_id": outing["outing_id"]})["late_minutes"] == 25
    refused(rpc.as_person("F1").attendance.get_outing, {"outing_id": outing["outing_id"]})

    # A department head asks the GM (000 §2 四.3(3)).
    head_out = rpc.as_person("H1").attendance.request_outing(dict(ask, employee_id="H1"))
    assert head_out["approver"] == "gm"
    head_decision = dict(decision, outing_id=head_out["outing_id"])
    refused(s1.decide_outing, head_decision)
    assert rpc.as_person("G1").attendance.decide_outing(head_decision)["status"] == "approved"


def test_the_monthly_sheet_climbs_its_chain_reminded_once_across_replicas_000_s2_5_1(
        attendance, start_service, rpc, seed, event_tap, auth_headers):
    from attendance.service import AttendanceService

    seed(person("K1", role="attendance_clerk", manager_id="H1"),
         person("H1", role="dept_manager", manager_id="G1"),
         person("O1", role="gm_office", department="office"),
         person("G1", role="gm", department="management"))
    replica = start_service(AttendanceService)
    clerk, head, office, gm = (rpc.as_person(p).attendance for p in ("K1", "H1", "O1", "G1"))
    sheet = {"department": "customer_service", "year": 2026, "month": 3}
    step = dict(sheet, approve=True)
    with event_tap("attendance") as tap:
        submitted = clerk.submit_monthly_report(dict(sheet, at=local(2026, 3, 24, 10)))
        assert (submitted["awaiting"], submitted["awaiting_due_at"]) == (
            "head_approval", "2026-03-25T02:00:00+00:00")
        message = refused(office.decide_monthly_report, dict(step, at=local(2026, 3, 24, 11)))
        assert "head_approval" in message and "000 §2 五.1" in message
        refused(clerk.decide_monthly_report, dict(step, at=local(2026, 3, 24, 11)))

        # The head is late; both replicas sweep at the same moment: one reminder
        # (and one for February's sheet, never submitted).
        calls = [eventlet.spawn(requests.post, f"{c.web_url}/api/v1/attendance/sweep",
                                json={"now": local(2026, 3, 25, 11)}, headers=auth_headers(),
                                timeout=30)
                 for c in (attendance, replica)]
        replies = [call.wait() for call in calls]
        assert [r.status_code for r in replies] == [200, 200]
        sent = sorted(k for r in replies for k in r.json()["reminders_sent"])
        assert sent == ["report:customer_service:2026-02:submission:1:reminder:1",
                        "report:customer_service:2026-03:head_approval:1:reminder:1"]
        [reminder] = [e for e in tap.wait("attendance.report_step_overdue", 2)
                      if e["data"]["month"] == 3]
        assert (reminder["data"]["step"], reminder["data"]["to_ids"]) == ("head_approval",
                                                                          ["H1"])

        head.decide_monthly_report(dict(step, at=local(2026, 3, 25, 12)))
        refused(head.decide_monthly_report, dict(step, at=local(2026, 3, 25, 13)))
        office.decide_monthly_report(dict(step, at=local(2026, 3, 26, 9)))
        done = gm.decide_monthly_report(dict(step, at=local(2026, 3, 27, 9)))
        assert (done["approved"], done["status"], done["awaiting"]) == (True, "on_time", None)
        moves = tap.wait("attendance.monthly_report_advanced", 4)
        assert [m["data"]["step"] for m in moves] == ["submission", "head_approval",
                                                      "office_review", "gm_approval"]
        rpc.attendance.health({})
        assert len(tap.of_type("attendance.report_step_overdue")) == 2
    assert rpc.attendance.report_status(sheet)["approved"] is True
    # Only February's sheet is still reminded, a day later.
    assert rpc.attendance.sweep({"now": local(2026, 3, 26, 12)})["reminders_sent"] == [
        "report:customer_service:2026-02:submission:1:reminder:2"]
