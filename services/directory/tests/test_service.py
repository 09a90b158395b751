import pytest
import requests
from directory.service import DirectoryService
from nameko.exceptions import RemoteError

pytestmark = pytest.mark.integration

ALICE = {"employee_id": "E1", "name": "王丽", "gender": "F", "department": "customer_service",
         "unit": "centre", "manager_id": "M1", "email": "li@example.com"}


def test_upsert_publishes_and_reads_back(start_service, rpc, event_tap):
    start_service(DirectoryService)
    with event_tap("directory") as tap:
        employee = rpc.directory.upsert_employee(ALICE)
        assert employee["employee_id"] == "E1"
        [event] = tap.wait("directory.employee_upserted")
        assert event["data"]["name"] == "王丽"
        assert event["source"] == "directory" and event["causation_id"] is None
        assert event["correlation_id"] == event["id"]
        # An unchanged upsert changes nothing and publishes nothing.
        rpc.directory.upsert_employee(ALICE)
        rpc.directory.upsert_employee(dict(ALICE, employee_id="E2", name="李强", gender="M"))
        tap.wait("directory.employee_upserted", 2)
        assert len(tap.of_type("directory.employee_upserted")) == 2
    assert rpc.directory.get_employee({"employee_id": "E1"})["manager_id"] == "M1"
    listed = rpc.directory.list_employees({"department": "customer_service"})
    assert [e["employee_id"] for e in listed] == ["E1", "E2"]


def test_contacts_and_wage_are_announced_apart_from_the_employee(start_service, rpc,
                                                                 event_tap):
    start_service(DirectoryService)
    private = {"phone": "13800000001", "email": "li@example.com", "monthly_wage_yuan": 6000}
    with event_tap("directory") as tap:
        rpc.directory.upsert_employee(dict(ALICE, **private))
        [public] = tap.wait("directory.employee_upserted")
        [contact] = tap.wait("directory.employee_contact_changed")
        [wage] = tap.wait("directory.employee_wage_changed")
    assert not {"phone", "email", "monthly_wage_yuan"} & set(public["data"])
    assert public["data"]["manager_id"] == "M1"
    assert contact["data"] == {"employee_id": "E1", "email": "li@example.com",
                               "phone": "13800000001"}
    assert wage["data"] == {"employee_id": "E1", "monthly_wage_yuan": 6000}
    # HR reads the whole record
    assert rpc.directory.get_employee({"employee_id": "E1"})["monthly_wage_yuan"] == 6000


def test_bad_input_names_the_field_and_writes_nothing(start_service, rpc):
    start_service(DirectoryService)
    with pytest.raises(RemoteError) as err:
        rpc.directory.upsert_employee(dict(ALICE, gender="X", email="nope"))
    assert err.value.exc_type == "ValidationError"
    assert "gender" in err.value.value and "email" in err.value.value
    with pytest.raises(RemoteError) as err:
        rpc.directory.get_employee({"employee_id": "E1"})
    assert err.value.exc_type == "NotFound"


def test_rest_api_and_openapi(start_service, auth_headers):
    container = start_service(DirectoryService)
    base = f"{container.web_url}/api/v1/directory"
    hr = auth_headers()
    anonymous = requests.put(f"{base}/employees/E1", json=ALICE, timeout=10)
    assert anonymous.status_code == 401
    reply = requests.put(f"{base}/employees/E1", json=ALICE, headers=hr, timeout=10)
    assert reply.status_code == 200, reply.text
    assert requests.get(f"{base}/employees/E1", headers=hr, timeout=10).json()["name"] == "王丽"
    bad = requests.put(f"{base}/employees/E9", json={"name": "x"}, headers=hr, timeout=10)
    assert bad.status_code == 400
    assert {"gender", "department", "unit"} <= set(bad.json()["fields"])
    assert requests.get(f"{base}/employees/nobody", headers=hr, timeout=10).status_code == 404
    gone = requests.post(f"{base}/employees/E1/departure", headers=hr,
                         json={"at": "2026-11-20T10:00:00"}, timeout=10)
    assert gone.status_code == 200 and gone.json()["departed_at"] == "2026-11-20T02:00:00+00:00"
    doc = requests.get(f"{container.web_url}/openapi.json", timeout=10).json()
    assert "/api/v1/directory/employees/{employee_id}" in doc["paths"]
    health = requests.get(f"{container.web_url}/health", timeout=10).json()
    assert health == {"service": "directory", "status": "ok", "version": "0.1.0",
                      "checks": {"mongo": "ok", "broker": "ok", "consumers": "ok"}}
    metrics = requests.get(f"{container.web_url}/metrics", timeout=10).text
    assert 'zhidu_entrypoint_calls_total{entrypoint="upsert_employee"' in metrics \
        or 'entrypoint="upsert_employee"' in metrics
