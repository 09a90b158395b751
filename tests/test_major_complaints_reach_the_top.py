"""A major complaint reaches the top at once, with the default settings.

000 §1 三.三.6 (报告重大投诉，必须马上报告部门负责人或分管经理), 001 §5 1(6) (部门经理
和中心领导) and 003 §4 3.4.7 (总经理、副总经理). The complaints and notifications
services run as their own nameko services on a real RabbitMQ and MongoDB-wire
server, configured with nothing but the test's broker and databases: no
group of ids (ZHIDU_GM_IDS, ZHIDU_DEPUTY_GM_IDS, ZHIDU_CENTRE_LEADERS, ...) is
set, so whoever is told is found in the directory copy. When nobody the
route names is there, the GM office and it_admin are told instead, and the
notifications service counts the event.
"""
import pytest
import requests
from complaints.service import ComplaintsService
from notifications.service import NotificationsService
from zhidu.testing import wait_for

pytestmark = pytest.mark.integration

DESK = {"id": "cs-01", "role": "staff"}
FIRE = {"channel": "phone", "kind": "external", "category": "service",
        "complainant": {"name": "王女士", "phone": "13812345678"},
        "subject": "3号楼电梯困人", "description": "两人被困二十分钟", "major_reason":
        "elevator_entrapment", "received_at": "2026-11-13T10:00", "actor": DESK}


@pytest.fixture
def suite(start_service, rpc):
    start_service(ComplaintsService)
    notifications = start_service(NotificationsService)
    # Events published before its queues are bound would reach nobody.
    wait_for(lambda: requests.get(f"{notifications.web_url}/health", timeout=5)
             .json()["status"] == "ok", timeout=30, message="notifications consuming")
    return rpc, notifications


def inbox(rpc, recipient):
    return wait_for(lambda: rpc.notifications.inbox({"recipient_id": recipient}),
                    timeout=20, message=f"an inbox item for {recipient}")


def unrouted(container, event_type) -> float:
    text = requests.get(f"{container.web_url}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("zhidu_notifications_unrouted_total{")
               and f'event_type="{event_type}"' in line)


def test_the_gm_the_deputy_gm_and_the_desks_manager_are_told(suite, people):
    rpc, notifications = suite
    people.add("gm-01", "gm", department="management", name="陈总")
    people.add("dgm-01", "deputy_gm", department="management", name="周副总")
    people.add("mgr-01", "dept_manager", department="customer_service", name="赵经理")
    people.add(DESK["id"], "staff", department="customer_service", name="钱前台",
               manager_id="mgr-01")
    people.add("gmo-01", "gm_office", department="gm_office", name="总经办")

    filed = rpc.complaints.file(FIRE)
    assert filed["major"] is True
    for person in ("gm-01", "dgm-01", "mgr-01"):
        [item] = inbox(rpc, person)
        assert item["event_type"] == "complaints.major_reported"
        assert filed["number"] in item["title"] and "电梯困人" in item["body"]
    assert rpc.notifications.inbox({"recipient_id": "gmo-01"}) == []   # not the fallback
    assert unrouted(notifications, "complaints.major_reported") == 0


def test_with_nobody_at_the_top_the_gm_office_and_it_admin_are_told(suite, people):
    rpc, notifications = suite
    people.add(DESK["id"], "staff", department="customer_service", name="钱前台")
    people.add("gmo-01", "gm_office", department="gm_office", name="总经办")
    people.add("it-01", "it_admin", department="it", name="信息部")

    filed = rpc.complaints.file(FIRE)
    for person in ("gmo-01", "it-01"):
        [item] = inbox(rpc, person)
        assert item["event_type"] == "complaints.major_reported"
        assert filed["number"] in item["title"]
    wait_for(lambda: unrouted(notifications, "complaints.major_reported") == 1,
             timeout=10, message="the unrouted event counted")
