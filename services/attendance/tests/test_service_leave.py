"""Leave: length over National Day, approval chains, emergency forms, sick
leave conversion, seniority parts, and absenteeism after leave ends."""
import json
from datetime import date, timedelta

import pytest
from attendance.testing import (
    CLERK,
    GM,
    GROUP,
    MANAGER,
    SUPERVISOR,
    local,
    person,
    store_of,
    violations_of,
)
from nameko.exceptions import RemoteError
from zhidu.calendar import load_calendar

pytestmark = pytest.mark.integration
CAL = load_calendar()


def day_roster(rpc, employees, first, last):
    """Day staff: a published roster on the calendar's working days."""
    rpc.attendance.define_shift({"code": "D", "start": "08:30", "end": "16:20"})
    days, current = [], date.fromisoformat(first)
    while current <= date.fromisoformat(last):
        if CAL.is_working_day(current):
            days.append(current.isoformat())
        current += timedelta(days=1)
    rpc.attendance.set_roster({"entries": [{"employee_id": e, "date": d, "shift_code": "D"}
                                           for e in employees for d in days],
                               "published": True, "actor": CLERK,
                               "at": local(2026, 1, 5, 9)})
    return days


def refused(call, payload, kind):
    with pytest.raises(RemoteError) as err:
        call(payload)
    assert err.value.exc_type == kind, err.value.value
    if kind == "ValidationError":
        return json.loads(err.value.value)      # {field: [messages]}
    return err.value.value


def test_leave_over_national_day_and_its_make_up_days(attendance, rpc, seed, event_tap):
    seed(person("E1"), person("S1", manager_id="H1"))
    days = day_roster(rpc, ["E1"], "2026-09-18", "2026-10-12")
    assert "2026-09-20" in days and "2026-10-10" in days and "2026-10-01" not in days
    e1 = rpc.as_person("E1").attendance
    with event_tap("attendance") as tap:
        form = {"employee_id": "E1", "type": "personal", "start": "2026-09-28",
                "end": "2026-10-10", "submitted_at": local(2026, 9, 1, 9), "reason": "family",
                "request_id": "form-1"}
        leave = e1.request_leave(form)
        # 09-28..30 and 10-08, 09 and make-up Saturday 10-10; the holiday is free.
        assert leave["days"] == 6 and leave["status"] == "pending"
        assert leave["approver_role"] == "supervisor"
        assert leave["required_approvals"] == ["supervisor", "gm", "group_leader"]
        # The form again under its request id (a retry) is the same request,
        # announced once; without it, it is a second form over the same days.
        assert e1.request_leave(form) == leave
        refused(e1.request_leave, dict(form, request_id=None), "Conflict")
        decide = rpc.attendance.decide_leave
        base = {"leave_id": leave["leave_id"], "approve": True, "at": local(2026, 9, 2, 9)}
        refused(decide, dict(base, actor=GROUP), "PermissionDenied")   # order enforced
        # Even with the directory naming E1 the GM: nobody decides their own leave.
        refused(decide, dict(base, actor={"id": "E1", "role": "gm"}), "PermissionDenied")
        step = decide(dict(base, actor=SUPERVISOR))
        assert step["approver_role"] == "gm" and step["status"] == "pending"
        refused(decide, dict(base, actor=MANAGER), "PermissionDenied")
        assert decide(dict(base, actor=GM))["approver_role"] == "group_leader"
        done = decide(dict(base, actor=GROUP, request_id="decision-3"))
        assert done["status"] == "approved" and done["approver_role"] is None
        [decided] = tap.wait("attendance.leave_decided")
        assert decided["data"]["status"] == "approved"
        # The last decision again under its request id (a retry) answers as
        # the first did, and nothing is decided or announced twice.
        assert decide(dict(base, actor=GROUP, request_id="decision-3")) == done
        [requested] = tap.wait("attendance.leave_requested")
        assert requested["data"]["leave_id"] == leave["leave_id"]
        # Decided records are immutable: a further decision is a conflict.
        refused(decide, dict(base, approve=False, actor=GM), "Conflict")
        refused(e1.request_leave, {
            "employee_id": "E1", "type": "personal", "start": "2026-10-09",
            "end": "2026-10-12", "submitted_at": local(2026, 9, 3, 9)}, "Conflict")

        # The make-up Sunday before is a working day; the make-up Saturday
        # inside the leave is excused; not coming back on Monday is absence.
        rpc.attendance.clock({"employee_id": "E1", "kind": "in",
                              "at": local(2026, 9, 20, 8, 29)})
        rpc.attendance.clock({"employee_id": "E1", "kind": "out",
                              "at": local(2026, 9, 20, 16, 40)})
        sunday = rpc.attendance.close_day({"date": "2026-09-20"})["evaluations"]
        assert [e["status"] for e in sunday] == ["present"]
        saturday = rpc.attendance.close_day({"date": "2026-10-10"})["evaluations"]
        assert [(e["status"], e["leave_id"]) for e in saturday] == [("on_leave",
                                                                      leave["leave_id"])]
        monday = rpc.attendance.close_day({"date": "2026-10-12"})["evaluations"]
        assert monday[0]["absence_reason"] == "no_clock_in"
        [absence] = tap.wait("attendance.absence_recorded")
        assert (absence["data"]["date"], absence["data"]["reason"]) == (
            "2026-10-12", "not_returned_after_leave")
        assert len(tap.of_type("attendance.leave_requested")) == 1
        assert len(tap.of_type("attendance.leave_decided")) == 1


def test_length_rules_and_bad_input(attendance, rpc, seed):
    seed(person("E1"))
    ask = rpc.as_person("E1").attendance.request_leave
    two = ask({"employee_id": "E1", "type": "personal", "start": "2026-03-09",
               "end": "2026-03-10", "submitted_at": local(2026, 3, 8, 20)})
    assert two["required_approvals"] == ["supervisor"]
    fields = refused(ask, {"employee_id": "E1", "type": "personal", "start": "2026-03-16",
                           "end": "2026-03-18", "submitted_at": local(2026, 3, 15, 9)},
                     "ValidationError")
    assert "submitted_at" in fields                 # 3 days need 2 days' notice
    fields = refused(ask, {"employee_id": "E1", "type": "holiday", "start": "2026-03-32",
                           "submitted_at": "yesterday"}, "ValidationError")
    assert {"start", "end", "submitted_at"} <= set(fields)
    refused(ask, {"employee_id": "E1", "type": "holiday", "start": "2026-03-16",
                  "end": "2026-03-16", "submitted_at": local(2026, 3, 1)}, "ValidationError")
    refused(rpc.attendance.decide_leave, {"leave_id": "LV999999", "approve": True,
                                          "at": local(2026, 3, 1), "actor": GM}, "NotFound")
    assert rpc.attendance.list_leaves({"employee_id": "E1"}) == [
        rpc.attendance.get_leave({"leave_id": two["leave_id"]})]


def test_emergency_form_on_the_first_day_back_withdraws_the_absence(attendance, rpc, seed,
                                                                     event_tap):
    seed(person("E2"))
    day_roster(rpc, ["E2"], "2026-03-06", "2026-03-09")
    with event_tap("attendance") as tap:
        closed = rpc.attendance.close_day({"date": "2026-03-06"})
        assert closed["absences_recorded"] == 1
        assert violations_of(rpc, "E2") == [("A04", 10)]
        e2 = rpc.as_person("E2").attendance
        refused(e2.request_leave, {
            "employee_id": "E2", "type": "personal", "start": "2026-03-06", "end": "2026-03-06",
            "emergency": True, "submitted_at": local(2026, 3, 10, 9)}, "ValidationError")
        form = e2.request_leave({
            "employee_id": "E2", "type": "personal", "start": "2026-03-06", "end": "2026-03-06",
            "emergency": True, "submitted_at": local(2026, 3, 9, 8, 40)})
        assert form["approver_role"] == "supervisor"
        rpc.attendance.decide_leave({"leave_id": form["leave_id"], "approve": True,
                                     "at": local(2026, 3, 9, 10), "actor": SUPERVISOR})
        [withdrawn] = tap.wait("attendance.violation_withdrawn")
        assert withdrawn["data"]["code"] == "A04"
    assert violations_of(rpc, "E2") == []
    assert rpc.attendance.get_day({"date": "2026-03-06"})[0]["status"] == "on_leave"
    assert rpc.attendance.absenteeism({"employee_id": "E2", "as_of": "2026-03-31"})["days"] == 0


def test_sick_leave_without_proof_becomes_personal_leave(attendance, rpc, seed, event_tap):
    seed(person("E3"), person("E4"))
    ids = []
    for employee in ("E3", "E4"):
        sick = rpc.as_person(employee).attendance.request_leave({
            "employee_id": employee, "type": "sick", "start": "2026-03-04", "end": "2026-03-06",
            "submitted_at": local(2026, 3, 4, 9)})
        rpc.attendance.decide_leave({"leave_id": sick["leave_id"], "approve": True,
                                     "at": local(2026, 3, 4, 10), "actor": SUPERVISOR})
        ids.append(sick["leave_id"])
    assert sick["proof_due"] == "2026-03-16T00:30:00+00:00"      # 5 working days after
    proof = rpc.attendance.attach_sick_proof({"leave_id": ids[1], "at": local(2026, 3, 13, 15)})
    assert proof["on_time"] is True
    with event_tap("attendance") as tap:
        assert rpc.attendance.sweep({"now": local(2026, 3, 13, 16)})["leaves_converted"] == []
        swept = rpc.attendance.sweep({"now": local(2026, 3, 16, 9)})
        assert swept["leaves_converted"] == [ids[0]]
        assert rpc.attendance.sweep({"now": local(2026, 3, 16, 9, 5)})["leaves_converted"] == []
        [event] = tap.wait("attendance.leave_converted")
        assert (event["data"]["leave_id"], event["data"]["to_type"]) == (ids[0], "personal")
    original = rpc.attendance.get_leave({"leave_id": ids[0]})
    assert original["type"] == "sick" and original["converted_to"] == f"{ids[0]}:converted"
    converted = rpc.attendance.get_leave({"leave_id": original["converted_to"]})
    assert (converted["type"], converted["status"], converted["days"]) == ("personal",
                                                                          "approved", 3)
    refused(rpc.attendance.attach_sick_proof, {"leave_id": ids[0], "at": local(2026, 3, 17)},
            "Conflict")


def test_seniority_leave_is_taken_in_at_most_two_parts(attendance, rpc, seed):
    seed(person("E5"))
    refused(rpc.attendance.set_seniority_account,
            {"employee_id": "E5", "year": 2026, "entitlement_days": 10, "actor": CLERK},
            "PermissionDenied")
    rpc.attendance.set_seniority_account({"employee_id": "E5", "year": 2026,
                                          "entitlement_days": 10, "actor": MANAGER})
    ask = rpc.as_person("E5").attendance.request_leave
    for start, end in (("2026-04-13", "2026-04-14"), ("2026-06-08", "2026-06-10")):
        leave = ask({"employee_id": "E5", "type": "seniority", "start": start, "end": end,
                     "submitted_at": local(2026, 4, 1, 9)})
        rpc.attendance.decide_leave({"leave_id": leave["leave_id"], "approve": True,
                                     "at": local(2026, 4, 2, 9), "actor": SUPERVISOR})
    refused(ask, {"employee_id": "E5", "type": "seniority", "start": "2026-08-03",
                  "end": "2026-08-03", "submitted_at": local(2026, 4, 1, 9)}, "Conflict")


def test_not_returning_after_leave_leads_to_dismissal_review(attendance, rpc, seed, event_tap):
    seed(person("E6"))
    days = day_roster(rpc, ["E6"], "2026-03-02", "2026-03-10")
    leave = rpc.as_person("E6").attendance.request_leave({
        "employee_id": "E6", "type": "personal", "start": "2026-03-02", "end": "2026-03-03",
        "submitted_at": local(2026, 2, 27, 9)})
    rpc.attendance.decide_leave({"leave_id": leave["leave_id"], "approve": True,
                                 "at": local(2026, 2, 27, 10), "actor": SUPERVISOR})
    with event_tap("attendance") as tap:
        for day in days:                            # 03-04 .. 03-10 absent: 5 days
            rpc.attendance.close_day({"date": day})
        [review] = tap.wait("attendance.dismissal_review_required")
        assert review["data"]["employee_id"] == "E6" and review["data"]["days"] == 4
        absences = tap.wait("attendance.absence_recorded", 5)
        assert [a["data"]["status"] for a in absences] == ["absenteeism"] * 3 + \
            ["dismissal_review"] * 2
        assert {a["data"]["reason"] for a in absences} == {"not_returned_after_leave"}
        rpc.attendance.close_day({"date": "2026-03-10"})
        assert len(tap.of_type("attendance.dismissal_review_required")) == 1
    standing = rpc.attendance.absenteeism({"employee_id": "E6", "as_of": "2026-03-10"})
    assert standing["status"] == "dismissal_review" and standing["days"] == 5


def test_a_decision_that_fails_half_way_leaves_nothing_and_its_retry_decides_once(
        attendance, rpc, seed, event_tap, monkeypatch):
    """The leave's new state, its event and the days it re-closes commit together."""
    seed(person("E7"))
    day_roster(rpc, ["E7"], "2026-03-06", "2026-03-09")
    rpc.attendance.close_day({"date": "2026-03-06"})
    assert violations_of(rpc, "E7") == [("A04", 10)]
    form = rpc.as_person("E7").attendance.request_leave({
        "employee_id": "E7", "type": "personal", "start": "2026-03-06", "end": "2026-03-06",
        "emergency": True, "submitted_at": local(2026, 3, 9, 8, 40)})
    store, failed = store_of(attendance), []
    real = store.save_evaluations

    def dies_once(*args, **kwargs):
        if not failed:
            failed.append(True)
            raise RuntimeError("the database went away")
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "save_evaluations", dies_once)
    decision = {"leave_id": form["leave_id"], "approve": True, "at": local(2026, 3, 9, 10),
                "actor": SUPERVISOR}
    with event_tap("attendance") as tap:
        with pytest.raises(RemoteError):
            rpc.attendance.decide_leave(decision)
        # Nothing of the decision stands: not the approval, not its event, not the
        # withdrawal the re-closed day implied.
        assert rpc.attendance.get_leave({"leave_id": form["leave_id"]})["status"] == "pending"
        assert violations_of(rpc, "E7") == [("A04", 10)]
        assert rpc.attendance.decide_leave(decision)["status"] == "approved"
        tap.wait("attendance.leave_decided")
        tap.wait("attendance.violation_withdrawn")
        rpc.attendance.health({})          # give stray events time to arrive
        assert len(tap.of_type("attendance.leave_decided")) == 1
        assert len(tap.of_type("attendance.violation_withdrawn")) == 1
    assert violations_of(rpc, "E7") == []
