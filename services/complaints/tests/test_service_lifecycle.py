"""The lifecycle over RPC: history, refusals, remedy authority, reopen, liability."""
import pytest
from nameko.exceptions import RemoteError

pytestmark = pytest.mark.integration

DEPUTY = {"id": "dgm-01", "role": "deputy_gm"}
MANAGER = {"id": "mgr-01", "role": "dept_manager"}
GM = {"id": "gm-01", "role": "gm"}
STAFF = {"id": "cs-01", "role": "staff"}


def refused(call, payload):
    with pytest.raises(RemoteError) as err:
        call(payload)
    return err.value


def test_full_lifecycle_with_history_and_a_reopened_round(desk, event_tap):
    number = desk.file()["number"]
    with event_tap("complaints") as tap:
        desk.walk(number, *desk.TO_RESOLVED[:4],
                  ("propose_remedy", "2026-11-13T13:30", {"remedy": "补偿", "amount_yuan": 800}))
        approved = desk.walk(number, ("approve_remedy", "2026-11-13T13:40"), actor=MANAGER)
        assert approved["status"] == "remedy_approved"
        desk.walk(number, ("resolve", "2026-11-13T14:00", {"resolution": "已补偿"}))
        reopened = desk.walk(number, ("follow_up", "2026-11-16T10:00",
                                      {"satisfied": False, "note": "仍不满意"}))
        assert (reopened["number"], reopened["status"], reopened["round"]) == (
            number, "reopened", 2)
        assert reopened["deadlines"] == {"resolve": "2026-11-19T02:00:00+00:00"}
        desk.walk(number,
                  ("assign", "2026-11-16T11:00", {"department": "service", "owner_id": "emp-8"}),
                  ("agree_plan", "2026-11-16T12:00", {"plan": "换人上门"}),
                  ("submit_report", "2026-11-16T13:00", {"root_cause": "沟通"}),
                  ("resolve", "2026-11-16T14:00", {"resolution": "已解决"}))
        closed = desk.walk(number, ("follow_up", "2026-11-17T10:00", {"satisfied": True}))
        assert closed["status"] == "closed" and closed["deadlines"] == {}
        tap.wait("complaints.closed")
        types = [e["type"].split(".")[1] for e in tap.drain()]
    assert types.count("reopened") == 1 and types.count("resolved") == 2
    assert types.count("assigned") == 2 and "delay_investigation_opened" not in types
    case = desk.get(number)
    path = [(h["from"], h["to"]) for h in case["history"]]
    assert path[:3] == [(None, "received"), ("received", "accepted"), ("accepted", "assigned")]
    assert ("resolved", "reopened") in path and ("reopened", "assigned") in path
    assert path[-1] == ("resolved", "closed")
    approval = next(h for h in case["history"] if h["to"] == "remedy_approved")
    assert approval["actor"] == MANAGER and approval["at"] == "2026-11-13T05:40:00+00:00"
    assert case["round"] == 2 and case["concluded_at"] == "2026-11-17T02:00:00+00:00"
    assert [f["satisfied"] for f in case["followups"]] == [False, True]


def test_invalid_transitions_are_conflicts_that_change_nothing(desk):
    number = desk.file()["number"]
    before = desk.get(number)
    for name, extra in (("agree_plan", {"plan": "p"}), ("resolve", {"resolution": "r"}),
                        ("follow_up", {"satisfied": True}), ("resume", {}),
                        ("approve_remedy", {}), ("determine_liability", {
                            "department": "service", "employee_ids": ["emp-7"]})):
        actor = desk.GM_OFFICE if name == "determine_liability" else GM
        error = refused(getattr(desk.api, name),
                        {"number": number, "at": "2026-11-13T11:00", "actor": actor, **extra})
        assert error.exc_type == "Conflict", name
    desk.walk(number, ("pause", "2026-11-13T10:30", {"reason": "等客户"}))
    error = refused(desk.api.pause, {"number": number, "at": "2026-11-13T10:40",
                                     "reason": "again", "actor": STAFF})
    assert error.exc_type == "Conflict" and "already paused" in error.value
    earlier = refused(desk.api.resume, {"number": number, "at": "2026-11-13T10:00",
                                        "actor": STAFF})
    assert earlier.exc_type == "ValidationError" and "at" in earlier.value
    after = desk.get(number)
    assert after["version"] == before["version"] + 1 and after["status"] == "paused"


def test_remedy_approval_follows_the_amount(desk):
    number = desk.file()["number"]
    desk.walk(number, *desk.TO_RESOLVED[:4])
    cases = [(1000, MANAGER, None), (1001, MANAGER, DEPUTY), (10000, DEPUTY, None),
             (10001, DEPUTY, GM), (50, {"id": "cs-02", "role": "staff"}, MANAGER)]
    at = 0
    for amount, first, second in cases:
        at += 1
        desk.walk(number, ("propose_remedy", f"2026-11-13T13:{at:02d}",
                           {"remedy": "补偿", "amount_yuan": amount}))
        attempt = {"number": number, "at": f"2026-11-13T13:{at:02d}:30", "actor": first}
        if second is None:
            assert desk.api.approve_remedy(attempt)["status"] == "remedy_approved"
            continue
        error = refused(desk.api.approve_remedy, attempt)
        # A role below the amount's authority is refused by the remedy ladder
        # (naming the amount); a caller outside it by the permissions file.
        assert error.exc_type == "PermissionDenied"
        assert (str(amount) in error.value if first["role"] != "staff"
                else "approve_remedy is for roles deputy_gm, gm; desk" in error.value)
        assert desk.get(number)["status"] == "remedy_proposed"
        assert desk.api.approve_remedy({**attempt, "actor": second})["status"] == \
            "remedy_approved"
    remedies = desk.get(number)["remedies"]
    assert [(r["amount_yuan"], r["approver_role"]) for r in remedies] == [
        (1000, "dept_manager"), (1001, "deputy_gm"), (10000, "deputy_gm"), (10001, "gm"),
        (50, "dept_manager")]


def test_only_customer_services_manager_approves_up_to_1000_yuan_003_s4_3_6_1(desk, people):
    number = desk.file()["number"]
    desk.walk(number, *desk.TO_RESOLVED[:4],
              ("propose_remedy", "2026-11-13T13:00", {"remedy": "补偿", "amount_yuan": 800}))
    approval = {"number": number, "at": "2026-11-13T13:10"}
    # Another department's manager holds the same role, not the authority.
    people.add("eng-mgr", "dept_manager", department="engineering")
    error = refused(desk.api.approve_remedy,
                    {**approval, "actor": {"id": "eng-mgr", "role": "dept_manager"}})
    assert error.exc_type == "PermissionDenied" and "003 §4 3.6.1" in error.value
    # Customer service's own staff reach the ladder, which wants its manager.
    people.add("cs-02", "staff", department="customer_service")
    error = refused(desk.api.approve_remedy,
                    {**approval, "actor": {"id": "cs-02", "role": "staff"}})
    assert error.exc_type == "PermissionDenied"
    assert "800 yuan needs dept_manager or above" in error.value
    assert desk.get(number)["status"] == "remedy_proposed"
    approved = desk.api.approve_remedy({**approval, "actor": MANAGER})
    assert approved["status"] == "remedy_approved"
    assert desk.get(number)["remedies"][-1]["approved_by"] == MANAGER["id"]


def test_concurrent_commands_on_one_case_lose_no_update(desk):
    number = desk.file()["number"]
    for i in range(8):
        desk.rpc._people.add(f"cs-{i}", "staff", department="customer_service")
    calls = [desk.api.acknowledge.call_async({"number": number, "at": "2026-11-13T10:05",
                                              "actor": {"id": f"cs-{i}", "role": "staff"}})
             for i in range(8)]
    for call in calls:
        call.result()
    case = desk.get(number)
    assert case["version"] == 1 + 8
    assert sorted(h["actor"]["id"] for h in case["history"][1:]) == [
        f"cs-{i}" for i in range(8)]
    # a retried command with the same request_id is applied once
    retry = {"number": number, "at": "2026-11-13T10:06", "request_id": "ack-9",
             "actor": STAFF}
    first = desk.api.acknowledge(retry)
    assert desk.api.acknowledge(retry) == first
    assert desk.get(number)["version"] == first["version"] == 1 + 9


OPERATIONS = {
    "decide_validity": {"valid": True, "reason": "ok"},
    "acknowledge": {},
    "assign": {"department": "service", "owner_id": "e1"},
    "agree_plan": {"plan": "p"},
    "submit_report": {"root_cause": "r"},
    "propose_remedy": {"remedy": "x", "amount_yuan": 10},
    "approve_remedy": {},
    "resolve": {"resolution": "r"},
    "follow_up": {"satisfied": True},
    "pause": {"reason": "r"},
    "resume": {},
    "determine_liability": {"department": "service", "employee_ids": ["e1"]},
}
BAD_FIELDS = {
    "decide_validity": {"valid": "perhaps"},
    "acknowledge": {"next_reply_at": "soon"},
    "assign": {"owner_id": ""},
    "agree_plan": {"plan": ""},
    "submit_report": {"root_cause": 42},
    "propose_remedy": {"amount_yuan": -5},
    "approve_remedy": {"amount_yuan": 5},
    "resolve": {"resolution": None},
    "follow_up": {"satisfied": None},
    "pause": {"reason": ""},
    "resume": {"reason": "x"},
    "determine_liability": {"fine_yuan": 5000},
}


def test_bad_input_on_every_operation(desk, people):
    number = desk.file()["number"]
    desk.walk(number, *desk.TO_RESOLVED[:3])
    version = desk.get(number)["version"]
    # Callers who may take each step, so what is refused is the input alone.
    people.add("desk-gm", "gm", department="customer_service")
    people.add("it-01", "it_admin")
    as_gm = desk.rpc.as_person("desk-gm").complaints
    as_office = desk.rpc.as_person("gmo-01").complaints
    for name, good in OPERATIONS.items():
        call = getattr(as_office if name == "determine_liability" else as_gm, name)
        payload = {"number": number, "at": "2026-11-13T12:00", **good}
        for broken, field in (({"number": "11-1"}, "number"), ({"at": "noon"}, "at"),
                              ({"actor": {"role": "gm"}}, "actor"), ({"extra": 1}, "extra"),
                              (BAD_FIELDS[name], next(iter(BAD_FIELDS[name])))):
            error = refused(call, {**payload, **broken})
            assert error.exc_type == "ValidationError", (name, broken)
            assert field in error.value, (name, broken, error.value)
        missing = refused(call, {"at": "2026-11-13T12:00", **good})
        assert "number" in missing.value
        gone = refused(call, {**payload, "number": "2611-0999"})
        assert gone.exc_type == "NotFound", name
    liability = refused(as_office.determine_liability, {
        "number": number, "at": "2026-11-13T12:00", "department": "service",
        "employee_ids": ["e1"], "attitude": "rude", "party": "aliens"})
    assert "attitude" in liability.value and "party" in liability.value
    for name, payload in (("get", {"number": "x"}), ("search", {"breached": "maybe"}),
                          ("stats", {"year": 2026, "month": 13}), ("sweep", {"now": "later"}),
                          ("audit_log", {"limit": 0})):
        caller = desk.rpc.as_person("it-01").complaints if name == "audit_log" else as_gm
        caller = desk.api if name == "sweep" else caller
        assert refused(getattr(caller, name), payload).exc_type == "ValidationError"
    assert refused(desk.api.get, {"number": "2611-0999"}).exc_type == "NotFound"
    assert desk.get(number)["version"] == version


def test_liability_books_the_fine_and_service_quality_points(start_service, desk, rpc):
    from penalties.service import PenaltiesService

    start_service(PenaltiesService)
    number = desk.file()["number"]
    desk.walk(number, *desk.TO_RESOLVED[:3],
              ("determine_liability", "2026-11-13T12:00",
               {"department": "service", "employee_ids": ["emp-7"], "fine_yuan": 500}))
    supplier = desk.file()["number"]
    desk.walk(supplier, *desk.TO_RESOLVED[:3],
              ("determine_liability", "2026-11-13T12:00",
               {"department": "purchasing", "employee_ids": [], "party": "supplier"}))

    from zhidu.testing import wait_for

    # No money moves before the GM signs the penalty notice (001 §1 第十二条(二)).
    gm = rpc.as_person(GM["id"], role=GM["role"])
    [notice] = wait_for(lambda: gm.penalties.list_notices({"number": number})["notices"],
                        timeout=20, message="the complaint's penalty notice")
    assert notice["status"] == "awaiting_approval" and notice["employee_ids"] == ["emp-7"]

    def ledger():
        return rpc.penalties.get_account({"employee_id": "emp-7", "year": 2026, "month": 11})

    assert ledger()["entries"] == []
    rpc.penalties.decide_notice({"notice_id": notice["notice_id"], "approve": True,
                                 "actor": GM})

    def booked():
        account = ledger()
        return account if account["penalty_count"] >= 2 else None

    account = wait_for(booked, timeout=20, message="the complaint's penalties")
    booked = {(e["domain"], e["code"]): e for e in account["entries"]}
    fine, points = booked[("complaint", "C01")], booked[("service_quality", "Q01")]
    assert (fine["amount_yuan"], fine["points"]) == (500, 0)       # the case fine
    assert points["points"] == 5                                    # first complaint: 5 points
    assert account["points_total"] == 5
    assert {e["incident_id"] for e in account["entries"]} == {number}
    assert {e["entry_id"] for e in account["entries"]} == {
        e["entry_id"] for e in notice["entries"]}
    case = desk.get(number)
    assert case["liability"]["employee_ids"] == ["emp-7"]
    assert desk.get(supplier)["liability"]["party"] == "supplier"
    again = refused(desk.api.determine_liability, {
        "number": number, "at": "2026-11-13T12:30", "department": "service",
        "employee_ids": ["emp-7"], "fine_yuan": 300})
    assert again.exc_type == "Conflict"
