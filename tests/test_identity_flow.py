"""Identity across services: the directory's record decides a person's rights
everywhere, through the copy each service keeps from its events."""
import pytest
from complaints.service import ComplaintsService
from directory.service import DirectoryService
from nameko.exceptions import RemoteError
from zhidu.testing import service_db, wait_for

pytestmark = pytest.mark.integration

CLERK = {"employee_id": "CS1", "name": "陈静", "gender": "F", "department": "customer_service",
         "unit": "centre"}
OFFICER = {"employee_id": "IO1", "name": "刘敏", "gender": "F", "department": "it",
           "unit": "hq", "role": "info_officer"}
INTAKE = {"channel": "phone", "kind": "external", "category": "service",
          "complainant": {"name": "王女士", "phone": "13812345678", "region": "domestic"},
          "subject": "态度差", "description": "电话被挂断", "received_at": "2026-11-13T10:00"}


def copied(config, employee_id, role):
    doc = service_db(config, "complaints").people.find_one({"_id": employee_id})
    return doc is not None and doc.get("role") == role


def test_roles_come_from_the_directory_copy_and_follow_its_changes(
        start_service, rpc, zhidu_config, event_tap):
    start_service(DirectoryService)
    start_service(ComplaintsService)
    for person in (CLERK, OFFICER):
        rpc.directory.upsert_employee(person)
        rpc.directory.set_password({"employee_id": person["employee_id"],
                                    "password": "a long enough secret"})
    wait_for(lambda: copied(zhidu_config, "IO1", "info_officer"), message="the copy")
    wait_for(lambda: copied(zhidu_config, "CS1", "staff"), message="the copy")

    def as_(employee_id):
        token = rpc.anonymous().directory.login({"employee_id": employee_id,
                                                 "password": "a long enough secret"})
        return rpc.as_(token["access_token"])

    clerk, officer = as_("CS1"), as_("IO1")
    with event_tap("complaints") as tap:
        number = clerk.complaints.file(INTAKE)["number"]
        [received] = tap.wait("complaints.received")
    # Events a person caused carry that person, as the directory knows them.
    assert received["actor"] == {"id": "CS1", "role": "staff"}
    assert clerk.complaints.get({"number": number})["complainant"]["phone"] == "138****5678"
    assert officer.complaints.get({"number": number})["complainant"]["phone"] == "13812345678"
    # The audit names the proven reader, whatever a payload might claim.
    with pytest.raises(RemoteError) as err:
        clerk.complaints.get({"number": number, "actor": {"id": "IO1", "role": "info_officer"}})
    assert err.value.exc_type == "PermissionDenied"
    audit = officer.complaints.audit_log({"number": number})
    assert [entry["actor"]["id"] for entry in audit] == ["IO1"]

    # HR moves the officer to an ordinary post: from the next event on, masked.
    rpc.directory.upsert_employee(dict(OFFICER, role="staff"))
    wait_for(lambda: copied(zhidu_config, "IO1", "staff"), message="the role change")
    assert officer.complaints.get({"number": number})["complainant"]["phone"] == "138****5678"
    with pytest.raises(RemoteError) as err:
        officer.complaints.audit_log({"number": number})
    assert err.value.exc_type == "PermissionDenied"

    # A departure closes the account in every service.
    rpc.directory.employee_departed({"employee_id": "CS1", "at": "2026-11-20T10:00:00"})
    wait_for(lambda: (service_db(zhidu_config, "complaints").people.find_one(
        {"_id": "CS1"}) or {}).get("departed_at"), message="the departure")
    with pytest.raises(RemoteError) as err:
        clerk.complaints.search({})
    assert err.value.exc_type == "Unauthenticated"
    # Keeping the copy never failed: nothing was parked.
    assert rpc.complaints.dead_letters({}) == []
