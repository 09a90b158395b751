"""REST, OpenAPI, health, metrics and the catalogue."""
import pytest
import requests
from attendance.testing import CLERK, local, person

pytestmark = pytest.mark.integration


def test_rest_openapi_health_and_metrics(attendance, rpc, seed, auth_headers):
    seed(person("E1"))
    base = f"{attendance.web_url}/api/v1/attendance"
    operator, clerk, e1 = auth_headers(), auth_headers(CLERK["id"]), auth_headers("E1")
    shift = requests.put(f"{base}/shifts/D", json={"start": "08:30", "end": "16:20"},
                         headers=operator, timeout=10)
    assert shift.status_code == 200, shift.text
    bad = requests.put(f"{base}/shifts/X", json={"start": "25:00"}, headers=operator,
                       timeout=10)
    assert bad.status_code == 400 and {"start", "end"} <= set(bad.json()["fields"])
    roster = requests.post(f"{base}/rosters", json={
        "entries": [{"employee_id": "E1", "date": "2026-03-02", "shift_code": "D"}],
        "published": True, "actor": CLERK, "at": local(2026, 2, 20)}, headers=clerk, timeout=10)
    assert roster.status_code == 200 and roster.json()["saved"] == 1
    clock = requests.post(f"{base}/clocks", json={"employee_id": "E1", "kind": "in",
                                                  "at": "2026-03-02T08:41:00"},
                          headers=e1, timeout=10)
    assert clock.status_code == 201 and clock.json()["late_minutes"] == 11
    assert clock.json()["at"] == "2026-03-02T00:41:00+00:00"        # naive = ZHIDU_TZ
    assert requests.post(f"{base}/days/2026-03-02/close", json={}, headers=operator,
                         timeout=10).json()["violations_booked"] == 1
    day = requests.get(f"{base}/days/2026-03-02", headers=operator, timeout=10).json()
    assert day[0]["anomalies"] == ["missing_clock_out"]
    leave = requests.post(f"{base}/leaves", json={
        "employee_id": "E1", "type": "personal", "start": "2026-03-09", "end": "2026-03-09",
        "submitted_at": local(2026, 3, 5, 9)}, headers=e1, timeout=10)
    assert leave.status_code == 201 and leave.json()["approver_role"] == "supervisor"
    leave_id = leave.json()["leave_id"]
    assert requests.get(f"{base}/leaves/{leave_id}", headers=e1,
                        timeout=10).json()["status"] == "pending"
    assert requests.get(f"{base}/leaves/LV404", headers=operator, timeout=10).status_code == 404
    # X is nobody in E1's line: the door refuses before the leave ladder is asked.
    denied = requests.post(f"{base}/leaves/{leave_id}/decisions", json={
        "approve": True, "at": local(2026, 3, 5, 10)},
        headers=auth_headers("X", role="staff"), timeout=10)
    assert denied.status_code == 403 and denied.json()["error"] == "PermissionDenied"
    violations = requests.get(f"{base}/violations", params={"employee_id": "E1"},
                              headers=operator, timeout=10).json()
    assert [(v["code"], v["points"]) for v in violations] == [("A01", 3)]

    doc = requests.get(f"{attendance.web_url}/openapi.json", timeout=10).json()
    assert {"/api/v1/attendance/clocks", "/api/v1/attendance/leaves/{leave_id}/decisions",
            "/api/v1/attendance/days/{date}/close"} <= set(doc["paths"])
    health = requests.get(f"{attendance.web_url}/health", timeout=10).json()
    assert health["service"] == "attendance" and health["status"] == "ok"
    metrics = requests.get(f"{attendance.web_url}/metrics", timeout=10).text
    for line in ('zhidu_attendance_clock_events_total{kind="in"} 1.0',
                 "zhidu_attendance_late_arrivals_total 1.0",
                 'zhidu_attendance_violations_total{code="A01",domain="attendance"} 1.0',
                 'zhidu_attendance_pending_approvals{approver_role="supervisor"} 1.0',
                 'zhidu_attendance_pending_approval_oldest_age_seconds{approver_role="supervisor"}'):
        assert line in metrics, line
    codes = {r["code"]: (r["domain"], r["points"]) for r in rpc.attendance.catalog({})}
    assert codes["A04"] == ("attendance", 10) and codes["M04"] == ("meeting", 10)
    assert codes["R01"] == ("attendance", 5)


def test_rest_without_a_token_is_401_contract_authentication(attendance, seed):
    """contract § Authentication; rules §8: every call proves who makes it."""
    seed(person("E1"))
    base = f"{attendance.web_url}/api/v1/attendance"
    for method, path, body in (("GET", "/leaves", None), ("GET", "/catalog", None),
                               ("POST", "/clocks", {"employee_id": "E1", "kind": "in",
                                                    "at": "2026-03-02T08:41:00"})):
        reply = requests.request(method, f"{base}{path}", json=body, timeout=10)
        assert reply.status_code == 401, (path, reply.text)
        assert reply.json()["error"] == "Unauthenticated"
        assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    forged = requests.get(f"{base}/catalog", headers={"Authorization": "Bearer not-a-jwt"},
                          timeout=10)
    assert forged.status_code == 401
    # Who may call each operation is part of the published contract.
    doc = requests.get(f"{attendance.web_url}/openapi.json", timeout=10).json()
    clocks = doc["paths"]["/api/v1/attendance/clocks"]["post"]["x-zhidu-permission"]
    assert clocks["relations"] == ["self"] and clocks["scopes"] == ["attendance:clock"]
    decisions = doc["paths"]["/api/v1/attendance/leaves/{leave_id}/decisions"]["post"]
    assert decisions["x-zhidu-permission"]["not_self"] is True
    assert requests.get(f"{attendance.web_url}/health", timeout=10).status_code == 200
