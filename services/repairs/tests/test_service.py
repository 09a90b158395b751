"""The repairs service over RPC and REST, against the real broker and database."""
import pytest
import requests
from nameko.exceptions import RemoteError

pytestmark = pytest.mark.integration

DESK = {"id": "fd-01", "role": "staff"}
SUPERVISOR = {"id": "eng-mgr", "role": "dept_manager"}
ENGINEER = {"id": "eng-07", "role": "staff"}
OTHER_ENGINEER = {"id": "eng-08", "role": "staff"}
AUDITOR = {"id": "aud-01", "role": "staff"}
PEOPLE = [(DESK, "customer_service"), (SUPERVISOR, "engineering"), (ENGINEER, "engineering"),
          (OTHER_ENGINEER, "engineering"), (AUDITOR, "audit")]
REQUEST = {"household": {"unit": "3-1202", "name": "李先生", "phone": "13900001111"},
           "location": "厨房", "trades": ["plumbing"], "description": "水管漏水",
           "kind": "paid", "urgency": "urgent", "channel": "phone"}


class Counter:
    """Drives the repairs service over RPC as the people of the rules."""

    def __init__(self, rpc, people):
        self.api = rpc.repairs
        for actor, department in PEOPLE:
            people.add(actor["id"], actor["role"], department=department)

    def take(self, received_at, **fields):
        return self.api.take_request({**REQUEST, "received_at": received_at, "actor": DESK,
                                      **fields})

    def do(self, command, number, at, actor, **fields):
        return getattr(self.api, command)({"number": number, "at": at, "actor": actor,
                                           **fields})


@pytest.fixture
def repairs_service(start_service):
    from repairs.service import RepairsService
    return start_service(RepairsService)


@pytest.fixture
def counter(repairs_service, rpc, people):
    return Counter(rpc, people)


def refused(call):
    with pytest.raises(RemoteError) as err:
        call()
    return err.value


def test_paid_order_from_intake_to_finance_and_callback(counter, event_tap):
    with event_tap("repairs") as tap:
        taken = counter.take("2026-11-13T10:00")
        number = taken["number"]
        assert number == "R2611-0001" and taken["status"] == "received"
        counter.do("dispatch", number, "2026-11-13T10:05", SUPERVISOR, engineer_id="eng-07")
        counter.do("record_arrival", number, "2026-11-13T10:20", ENGINEER)
        counter.do("quote", number, "2026-11-13T10:22", ENGINEER,
                   items=[{"code": "PL01", "quantity": 1}])
        counter.do("record_consent", number, "2026-11-13T10:23", ENGINEER, consented=True)
        done = counter.do("complete", number, "2026-11-13T11:00", ENGINEER,
                          items=[{"code": "PL01"}], signed_off_by="李先生", report="换接头")
        assert done["payment"]["status"] == "released"
        assert done["deadlines"] == {"callback": "2026-11-17T03:00:00+00:00"}
        paid = tap.wait("repairs.order_paid")[0]
        closed = counter.do("call_back", number, "2026-11-16T10:00", DESK, satisfied=True)
        assert closed["status"] == "closed"
        tap.wait("repairs.closed")
    assert paid["data"]["amount_yuan"] == 50 and paid["actor"]["id"] == "eng-07"
    order = counter.api.get({"number": number, "actor": DESK})
    assert [h["to"] for h in order["history"]][:3] == ["received", "dispatched", "on_site"]
    assert order["clocks"][0]["name"] == "arrival" and order["clocks"][0]["on_time"]


def test_who_may_do_what_names_the_seed(counter):
    number = counter.take("2026-11-13T10:00")["number"]
    err = refused(lambda: counter.do("dispatch", number, "2026-11-13T10:05", DESK,
                                     engineer_id="eng-07"))
    assert err.exc_type == "PermissionDenied" and "001 §11 3.3" in err.value
    counter.do("dispatch", number, "2026-11-13T10:05", SUPERVISOR, engineer_id="eng-07")
    err = refused(lambda: counter.do("record_arrival", number, "2026-11-13T10:10",
                                     OTHER_ENGINEER))
    assert err.exc_type == "PermissionDenied"
    err = refused(lambda: counter.take("2026-11-13T10:00") and counter.api.take_request(
        {**REQUEST, "received_at": "2026-11-13T10:00", "actor": ENGINEER}))
    assert err.exc_type == "PermissionDenied" and "002 §4 4.9" in err.value


def test_large_repair_is_audited_by_the_audit_department_003_s1_2_7(counter, event_tap):
    number = counter.take("2026-11-13T10:00", kind="warranty")["number"]
    counter.do("dispatch", number, "2026-11-13T10:05", SUPERVISOR, engineer_id="eng-07")
    counter.do("record_arrival", number, "2026-11-13T10:15", ENGINEER)
    done = counter.do("complete", number, "2026-11-13T15:00", ENGINEER,
                      items=[{"code": "GN02", "quantity": 22000}], signed_off_by="李先生",
                      report="更换主管道")
    assert done["payment"]["status"] == "awaiting_audit"
    # The engineer who completed it cannot audit it, whatever department they are in.
    err = refused(lambda: counter.do("decide_audit", number, "2026-11-16T10:00", ENGINEER,
                                     approved=True))
    assert err.exc_type == "PermissionDenied"
    with event_tap("repairs") as tap:
        counter.do("decide_audit", number, "2026-11-16T10:00", AUDITOR, approved=True)
        paid = tap.wait("repairs.order_paid")[0]["data"]
    assert (paid["payer"], paid["audited_by"]) == ("company", "aud-01")


def test_rest_and_openapi_show_the_rules(counter, repairs_service, auth_headers):
    url = f"{repairs_service.web_url}/api/v1/repairs"
    reply = requests.post(f"{url}/orders", json={**REQUEST, "received_at": "2026-11-13T10:00"},
                          headers=auth_headers("fd-01"), timeout=10)
    assert reply.status_code == 201, reply.text
    number = reply.json()["number"]
    assert requests.get(f"{url}/orders/{number}", timeout=10).status_code == 401
    tariff = requests.get(f"{url}/tariff", headers=auth_headers("eng-07"), timeout=10).json()
    assert {"PL01", "GN02"} <= {item["code"] for item in tariff}
    document = requests.get(f"{repairs_service.web_url}/openapi.json", timeout=10).json()
    dispatch = document["paths"]["/api/v1/repairs/orders/{number}/dispatch"]["post"]
    assert dispatch["x-zhidu-permission"]["relations"] == ["engineering_supervisor"]
    metrics = requests.get(f"{repairs_service.web_url}/metrics", timeout=10).text
    assert 'zhidu_repairs_received_total{kind="paid"} 1.0' in metrics
