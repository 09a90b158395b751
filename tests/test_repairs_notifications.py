"""Repairs tells people through routes it contributes to notifications.

The repairs and notifications services run as their own nameko services on a
real RabbitMQ and MongoDB-wire server; notifications finds the repairs routes
through the ``zhidu.notification_routes`` entry point only. The SMS gateway
is an HTTP endpoint recording what it is sent, as in the notifications tests.
"""
import json

import pytest
import requests
from notifications.service import NotificationsService
from repairs.service import RepairsService
from zhidu.testing import HttpReceiver, publish_event, wait_for

pytestmark = pytest.mark.integration

DESK = {"id": "fd-01", "role": "staff"}
SUPERVISOR = {"id": "eng-mgr", "role": "dept_manager"}
ENGINEER = {"id": "eng-07", "role": "staff"}
CUSTOMER_PHONE = "13900001111"


class SmsGateway(HttpReceiver):
    """The SMS gateway: the messages POSTed to it."""

    def to(self, number):
        return [m for m in map(json.loads, (r["body"] for r in self.received))
                if m["to"] == number]


@pytest.fixture
def gateway():
    with SmsGateway() as sms:
        yield sms


@pytest.fixture
def suite(start_service, rpc, people, gateway):
    people.add(DESK["id"], "staff", department="customer_service", name="钱前台")
    people.add(SUPERVISOR["id"], "dept_manager", department="engineering", name="吴主任")
    people.add(ENGINEER["id"], "staff", department="engineering", name="周工",
               phone="13700000007")
    start_service(RepairsService)
    notifications = start_service(NotificationsService, ZHIDU_SMS_WEBHOOK_URL=gateway.url,
                                  ZHIDU_REPAIRS_DESK_IDS=DESK["id"])
    # Events published before its queues are bound would reach nobody.
    wait_for(lambda: requests.get(f"{notifications.web_url}/health", timeout=5)
             .json()["status"] == "ok", timeout=30, message="notifications consuming")
    return rpc, notifications


def inbox(rpc, recipient, count=1):
    return wait_for(lambda: len(items := rpc.notifications.inbox(
        {"recipient_id": recipient})) >= count and items, timeout=15,
        message=f"{count} inbox item(s) for {recipient}")


def duplicates(container, handler) -> float:
    text = requests.get(f"{container.web_url}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("zhidu_events_duplicate_total{")
               and f'handler="{handler}"' in line)


def test_the_engineer_is_told_of_the_order_and_the_customer_texted_the_visit(
        suite, gateway, event_tap, zhidu_config):
    rpc, notifications = suite
    with event_tap("repairs") as tap:
        taken = rpc.repairs.take_request({
            "household": {"unit": "3-1202", "name": "李先生", "phone": CUSTOMER_PHONE},
            "location": "厨房", "trades": ["plumbing"], "description": "水管漏水",
            "kind": "paid", "urgency": "urgent", "received_at": "2026-11-13T10:00",
            "actor": DESK})
        number = taken["number"]
        # The supervisor hears of the new order, to dispatch it.
        [received] = inbox(rpc, SUPERVISOR["id"])
        assert received["title"] == f"新报修 {number}：请派工"
        assert "特约服务，紧急" in received["body"]

        rpc.repairs.dispatch({"number": number, "at": "2026-11-13T10:05",
                              "engineer_id": ENGINEER["id"], "actor": SUPERVISOR})
        [dispatched] = inbox(rpc, ENGINEER["id"])
        assert dispatched["event_type"] == "repairs.dispatched"
        assert dispatched["title"] == f"报修 {number} 已派给周工"
        assert "20 分钟内到场" in dispatched["body"]
        # 20 minutes to be on site: the engineer is texted too.
        [page] = wait_for(lambda: gateway.to("13700000007"), message="the engineer's SMS")
        assert number in page["text"]

        rpc.repairs.set_appointment({"number": number, "at": "2026-11-13T10:06",
                                     "appointment_at": "2026-11-13T14:00", "actor": DESK})
        [text] = wait_for(lambda: gateway.to(CUSTOMER_PHONE), message="the customer's SMS")
        assert text["text"].startswith("【物业报修】\n李先生您好，您的报修")
        assert f"{number} 已预约于 2026-11-13 14:00 上门，维修人员：周工" in text["text"]
        appointment = inbox(rpc, ENGINEER["id"], 2)[0]
        assert appointment["title"] == f"报修 {number} 预约上门：2026-11-13 14:00"
        [event] = tap.wait("repairs.appointment_set")

    # The delivery log shows the customer's number masked, and the text delivered.
    log = wait_for(lambda: (log := rpc.notifications.deliveries({"event_id": event["id"]}))
                   and all(d["state"] == "delivered" for d in log) and log,
                   message="the text delivered")
    [customer] = log
    assert customer["channel"] == "sms" and customer["recipient_id"] is None
    assert customer["target"] == "139****1111"
    assert text["delivery_id"] == customer["id"] and text["event_id"] == event["id"]

    # A redelivered event is handled once: no second text, no second inbox item.
    publish_event(zhidu_config["AMQP_URI"], event)
    wait_for(lambda: duplicates(notifications, "on_repairs_appointment_set") == 1,
             message="the repeat recognised")
    assert len(gateway.to(CUSTOMER_PHONE)) == 1
    assert len(rpc.notifications.inbox({"recipient_id": ENGINEER["id"]})) == 2


def test_a_late_engineer_reaches_the_desk_and_the_supervisor(suite, gateway):
    rpc, _ = suite
    number = rpc.repairs.take_request({
        "household": {"unit": "5-101", "name": "张女士", "phone": "13900002222"},
        "location": "卫生间", "trades": ["plumbing"], "description": "漏水",
        "kind": "routine", "urgency": "normal", "received_at": "2026-11-13T10:00",
        "actor": DESK})["number"]
    rpc.repairs.dispatch({"number": number, "at": "2026-11-13T10:05",
                          "engineer_id": ENGINEER["id"], "actor": SUPERVISOR})
    # Not on site within 20 minutes: the sweep breaches the arrival clock.
    rpc.repairs.sweep({"now": "2026-11-13T02:30:00+00:00"})
    breach = f"已超时：报修 {number}（到场）"
    for person in (DESK["id"], SUPERVISOR["id"], ENGINEER["id"]):
        wait_for(lambda p=person: breach in [i["title"] for i in rpc.notifications.inbox(
            {"recipient_id": p})], timeout=15, message=f"the breach told to {person}")
    [item] = [i for i in rpc.notifications.inbox({"recipient_id": DESK["id"]})
              if i["title"] == breach]
    assert "客服前台请致电客户" in item["body"] and "周工" in item["body"]
