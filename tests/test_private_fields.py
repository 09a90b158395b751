"""A person's phone, e-mail and wage reach only the services that need them.

Directory, notifications (which sends to people), penalties (whose ceiling is a
share of the wage) and complaints (which needs neither) run as they are
deployed, on a real RabbitMQ and MongoDB-wire server.
"""
import pytest
from complaints.service import ComplaintsService
from directory.service import DirectoryService
from notifications.service import NotificationsService
from penalties.service import PenaltiesService
from zhidu.envelope import make_envelope
from zhidu.testing import publish_event, service_db, wait_for

pytestmark = pytest.mark.integration

PRIVATE = ("phone", "email", "monthly_wage_yuan")
LI = {"employee_id": "E1", "name": "王丽", "gender": "F", "department": "customer_service",
      "unit": "centre", "manager_id": "M1", "phone": "13800000001",
      "email": "li@example.com", "monthly_wage_yuan": 6000}


def test_each_copy_holds_what_its_service_needs_and_no_more(start_service, rpc,
                                                           zhidu_config):
    for service in (DirectoryService, NotificationsService, PenaltiesService,
                    ComplaintsService):
        start_service(service)
    rpc.directory.upsert_employee(LI)

    def copy(service, *wanted):
        people = service_db(zhidu_config, service).people
        return wait_for(lambda: (p := people.find_one({"_id": "E1"}))
                        and all(p.get(k) for k in wanted) and p,
                        message=f"E1's {', '.join(wanted)} copied into {service}")

    notifications = copy("notifications", "name", "phone", "email")
    penalties = copy("penalties", "manager_id", "monthly_wage_yuan")
    complaints = copy("complaints", "department")
    assert (notifications["phone"], notifications["email"]) == ("13800000001",
                                                                "li@example.com")
    assert "monthly_wage_yuan" not in notifications
    assert penalties["monthly_wage_yuan"] == 6000
    assert not {"phone", "email"} & set(penalties)
    assert not set(PRIVATE) & set(complaints)

    # A new address reaches notifications; the copies elsewhere stay as they were.
    rpc.directory.upsert_employee(dict(LI, email="wang.li@example.com", unit="north"))
    wait_for(lambda: service_db(zhidu_config, "notifications").people.find_one(
        {"_id": "E1"})["email"] == "wang.li@example.com", message="the new address copied")
    wait_for(lambda: service_db(zhidu_config, "complaints").people.find_one(
        {"_id": "E1"})["unit"] == "north", message="the move copied")
    assert not set(PRIVATE) & set(service_db(zhidu_config, "complaints").people.find_one(
        {"_id": "E1"}))


def test_a_dead_letter_is_listed_masked(start_service, rpc, zhidu_config):
    start_service(NotificationsService)
    # No employee_id: the consumer refuses it, and it is parked as it came.
    event = make_envelope("directory", "employee_contact_changed", {
        "employee_id": "", "phone": "+86 138 0000 0001", "email": "li@example.com"})
    publish_event(zhidu_config["AMQP_URI"], event)
    [letter] = wait_for(lambda: rpc.notifications.dead_letters({}), timeout=15,
                        message="the event parked in the dead-letter queue")
    assert letter["event"]["id"] == event["id"]
    assert letter["event"]["data"] == {"employee_id": "", "phone": "+86 138****0001",
                                       "email": "l***@example.com"}
    assert "13800000001" not in str(letter) and "li@example.com" not in str(letter)
