"""Intake over RPC and REST: numbers, retries, major complaints, masking and audit."""
import pytest
import requests
from nameko.exceptions import RemoteError

pytestmark = pytest.mark.integration

INFO_OFFICER = {"id": "sec-1", "role": "info_officer"}


def remote_error(call, *args):
    with pytest.raises(RemoteError) as err:
        call(*args)
    return err.value


def test_file_replies_with_number_and_deadlines_and_reads_back_masked(desk):
    reply = desk.file("2026-11-13T10:00", order={
        "order_no": "SO-1", "part_no": "P-9", "delivery_date": "2026-11-01",
        "quantity": None, "note": "客户加工中未确定"})
    assert reply == {"number": "2611-0001", "status": "received", "major": False,
                     "major_reasons": [],
                     "deadlines": {"acknowledge": "2026-11-13T04:00:00+00:00",
                                   "resolve": "2026-11-18T02:00:00+00:00"}}
    case = desk.get("2611-0001")
    # every intake field of rules §2 is kept
    for key in ("channel", "kind", "category", "subject", "description", "occurred_place",
                "demand", "target_department", "target_employee_id"):
        assert case[key] == desk.INTAKE[key]
    assert case["occurred_at"] == "2026-11-12T08:00:00+00:00"
    assert case["order"]["note"] == "客户加工中未确定"
    assert case["order"]["delivery_date"] == "2026-11-01"
    assert case["complainant"] == {"name": "王女士", "phone": "138****5678",
                                   "email": "w***@example.com", "customer_id": "C-88",
                                   "region": "domestic"}
    assert case["history"][0]["to"] == "received"
    assert {c["name"]: c["due"] for c in case["clocks"]} == reply["deadlines"]
    # a masked read is not audited; a full one is, by whom and which case
    assert desk.api.audit_log({"actor": INFO_OFFICER}) == []
    assert remote_error(desk.api.audit_log, {"actor": {"id": "s", "role": "staff"}}).exc_type \
        == "PermissionDenied"
    full = desk.get("2611-0001", actor=INFO_OFFICER)
    assert full["complainant"]["phone"] == "13812345678"
    [row] = desk.api.search({"department": None, "actor": INFO_OFFICER})
    assert row["complainant"]["email"] == "wang@example.com"
    log = desk.api.audit_log({"number": "2611-0001", "actor": INFO_OFFICER})
    assert [(e["operation"], e["actor"]) for e in log] == [("search", INFO_OFFICER),
                                                          ("get", INFO_OFFICER)]
    masked = desk.api.search({"status": "received"})
    assert masked[0]["complainant"]["phone"] == "138****5678"
    assert len(desk.api.audit_log({"actor": INFO_OFFICER})) == 2


def test_numbers_are_monthly_and_unique_under_concurrent_intake(desk):
    calls = [desk.api.file.call_async({**desk.INTAKE, "received_at": f"2026-11-20T09:{i:02d}"})
             for i in range(16)]
    numbers = [call.result()["number"] for call in calls]
    assert sorted(numbers) == [f"2611-{i:04d}" for i in range(1, 17)]
    # months are local: 00:30 on 1 December in Shanghai is still November in UTC
    assert desk.file("2026-12-01T00:30")["number"] == "2612-0001"
    assert desk.file("2026-11-30T23:59")["number"] == "2611-0017"
    assert desk.file("2026-11-30T16:30:00+00:00")["number"] == "2612-0002"


def test_a_retried_intake_returns_the_same_case(desk, event_tap):
    with event_tap("complaints") as tap:
        first = desk.file(request_id="intake-42")
        again = desk.file(request_id="intake-42")
        other = desk.file(request_id="intake-43")
        assert again == first and other["number"] == "2611-0002"
        received = tap.wait("complaints.received", 2)
    assert [e["data"]["number"] for e in received] == ["2611-0001", "2611-0002"]


def test_an_intake_that_fails_after_drawing_its_number_leaves_nothing(desk, monkeypatch,
                                                                       event_tap):
    # The worker draws a serial, stores the case and dies before committing:
    # the serial, the case and its events go with the failed unit.
    from complaints.store import ComplaintsStore

    insert = ComplaintsStore.insert

    def insert_then_die(self, case):
        insert(self, case)
        raise RuntimeError("the worker died after storing the case")

    monkeypatch.setattr(ComplaintsStore, "insert", insert_then_die)
    with event_tap("complaints") as tap:
        assert remote_error(desk.file, "2026-11-13T10:00").exc_type == "RuntimeError"
        monkeypatch.undo()
        assert desk.file(request_id="intake-7")["number"] == "2611-0001"
        [received] = tap.wait("complaints.received")
    assert received["data"]["number"] == "2611-0001"
    assert [c["number"] for c in desk.api.search({})] == ["2611-0001"]
    assert desk.file()["number"] == "2611-0002"


def test_major_complaints_are_reported_at_once(desk, event_tap):
    with event_tap("complaints") as tap:
        collective = desk.file(households_affected=3)
        flagged = desk.file(major=True)
        fire = desk.file(major_reason="fire", target_department="engineering")
        ordinary = desk.file(households_affected=2)
        reports = tap.wait("complaints.major_reported", 3)
    assert collective["major_reasons"] == ["collective_complaint"]
    assert flagged["major_reasons"] == ["flagged"] and not ordinary["major"]
    assert collective["deadlines"]["resolve"] == "2026-11-16T02:00:00+00:00"   # 1 working day
    by_number = {e["data"]["number"]: e["data"] for e in reports}
    assert set(by_number) == {collective["number"], flagged["number"], fire["number"]}
    assert by_number[fire["number"]] == {
        "number": fire["number"], "reasons": ["fire"], "department": "engineering",
        "subject": "维修人员态度差", "channel": "phone",
        "received_at": "2026-11-13T02:00:00+00:00",
        "notify_roles": ["dept_manager", "deputy_gm", "gm"], "received_by": "cs-01"}


def test_bad_intake_names_the_fields_and_burns_no_number(desk):
    bad = [
        ({"channel": "fax"}, "channel"),
        ({"category": "taste"}, "category"),
        ({"complainant": {"name": "x", "region": "mars"}}, "complainant.region"),
        ({"complainant": {"name": "x", "phone": "call me"}}, "complainant"),
        ({"complainant": {"phone": "13812345678"}}, "complainant"),
        ({"received_at": "yesterday"}, "received_at"),
        ({"households_affected": -1}, "households_affected"),
        ({"major_reason": "boredom"}, "major_reason"),
        ({"order": {"order_no": "SO-1", "quantity": 5, "defect_quantity": 9}}, "order"),
        ({"order": {"part_no": "P-1"}}, "order"),
        ({"subject": ""}, "subject"),
        ({"colour": "red"}, "colour"),
        ({"actor": {"role": "gm"}}, "actor"),
    ]
    for fields, name in bad:
        payload = {**desk.INTAKE, "received_at": "2026-11-13T10:00", **fields}
        error = remote_error(desk.api.file, payload)
        assert error.exc_type == "ValidationError", fields
        assert name in error.value, (fields, error.value)
    for missing in ("channel", "kind", "subject", "description", "complainant"):
        payload = {k: v for k, v in desk.INTAKE.items() if k != missing}
        error = remote_error(desk.api.file, {**payload, "received_at": "2026-11-13T10:00"})
        assert missing in error.value
    assert remote_error(desk.api.file, ["not", "a", "dict"]).exc_type == "ValidationError"
    assert desk.api.search({}) == []
    assert desk.file()["number"] == "2611-0001"


def test_rest_api(complaints_service, auth_headers, people):
    base = f"{complaints_service.web_url}/api/v1/complaints"
    people.add("cs-9", "staff", department="customer_service")
    clerk = auth_headers("cs-9")
    intake = {"channel": "email", "kind": "internal", "category": "quality",
              "complainant": {"name": "生产部", "email": "prod@example.com"},
              "subject": "来料不良", "description": "批次缺陷",
              "received_at": "2026-11-13T10:00"}
    anonymous = requests.post(f"{base}/complaints", json=intake, timeout=10)
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "Unauthenticated"
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    created = requests.post(f"{base}/complaints", json=intake, headers=clerk, timeout=10)
    assert created.status_code == 201, created.text
    number = created.json()["number"]
    assert created.json()["deadlines"]["resolve"] == "2026-11-28T02:00:00+00:00"  # 15 days
    masked = requests.get(f"{base}/complaints/{number}", headers=clerk, timeout=10).json()
    assert masked["complainant"]["email"] == "p***@example.com"
    # Naming a role in the query string proves nothing: the proven role decides.
    claimed = requests.get(f"{base}/complaints/{number}", headers=clerk, timeout=10,
                           params={"actor_role": "it_admin"}).json()
    assert claimed["complainant"]["email"] == "p***@example.com"
    impostor = requests.get(f"{base}/complaints/{number}", headers=clerk, timeout=10,
                            params={"actor_id": "it-1", "actor_role": "it_admin"})
    assert impostor.status_code == 403 and "actor" in impostor.json()["message"]
    full = requests.get(f"{base}/complaints/{number}", headers=auth_headers("it-1", "it_admin"),
                        timeout=10)
    assert full.json()["complainant"]["email"] == "prod@example.com"
    step = requests.post(f"{base}/complaints/{number}/validity", headers=clerk,
                         json={"valid": True, "reason": "成立", "at": "2026-11-13T10:30"},
                         timeout=10)
    assert step.status_code == 200 and step.json()["status"] == "accepted"
    early = requests.post(f"{base}/complaints/{number}/resolution", headers=clerk,
                          json={"resolution": "x", "at": "2026-11-13T11:00"}, timeout=10)
    assert early.status_code == 409 and early.json()["error"] == "Conflict"
    assert requests.get(f"{base}/complaints/2611-0999", headers=clerk,
                        timeout=10).status_code == 404
    bad = requests.post(f"{base}/complaints", json={"channel": "phone"}, headers=clerk,
                        timeout=10)
    assert bad.status_code == 400 and "subject" in bad.json()["fields"]
    listed = requests.get(f"{base}/complaints", params={"status": "accepted"}, headers=clerk,
                          timeout=10)
    assert [c["number"] for c in listed.json()] == [number]
    table = requests.get(f"{base}/stats/2026/11", params={"basis": "received"},
                         headers=clerk, timeout=10)
    assert table.status_code == 200 and table.json()["by_channel"] == {"email": 1}
    refused = requests.get(f"{base}/audit", headers=clerk, timeout=10)
    assert refused.status_code == 403 and "audit_log" in refused.json()["message"]
    audit = requests.get(f"{base}/audit", headers=auth_headers("sec-1", "info_officer"),
                         timeout=10).json()
    assert [e["actor"]["id"] for e in audit] == ["it-1"]
    paths = requests.get(f"{complaints_service.web_url}/openapi.json", timeout=10).json()
    assert "/api/v1/complaints/complaints/{number}/remedy/approval" in paths["paths"]
