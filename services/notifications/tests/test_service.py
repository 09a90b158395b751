"""The service against real parts: RabbitMQ, the MongoDB-wire server, an SMTP
server (aiosmtpd, in a thread) and an HTTP receiver (http.server, in a thread).

Events are published the way their producers will: an envelope onto
``<source>.events`` with the event type as routing key. People come from the
real directory service, so its event shape is the one consumed here.

Calls that name no actor are made as the test operator (a service account
with the hr role and every scope); what a person may do is tried with that
person's own token (``rpc.as_person``).
"""
import email
import email.policy
import json
import re
from datetime import datetime, timedelta

import eventlet
import pytest
import requests
from aiosmtpd.controller import Controller
from directory.service import DirectoryService
from nameko.exceptions import RemoteError
from notifications.service import NotificationsService
from notifications.signing import verify
from pymongo.errors import OperationFailure
from pymongo.monitoring import CommandListener
from zhidu.config import database_name
from zhidu.envelope import make_envelope
from zhidu.testing import HttpReceiver, free_port, publish_event, service_db, wait_for
from zhidu.uow import StaleWrite

pytestmark = pytest.mark.integration

SECRET = "a-long-shared-webhook-secret"
# The receivers these tests start listen on 127.0.0.1, which webhooks may only
# reach where the deployment says so.
LOCAL = "127.0.0.0/8"
PEOPLE = [
    {"employee_id": "E1", "name": "王丽", "gender": "F", "department": "cs", "unit": "centre",
     "manager_id": "M1", "email": "li@example.com", "phone": "13800000001"},
    {"employee_id": "E2", "name": "李强", "gender": "M", "department": "cs", "unit": "centre",
     "manager_id": "M1", "email": "qiang@example.com"},
    {"employee_id": "M1", "name": "赵敏", "gender": "F", "department": "cs", "unit": "centre",
     "role": "dept_manager", "email": "min@example.com", "phone": "13800000002"},
    {"employee_id": "H1", "name": "孙红", "gender": "F", "department": "hr", "unit": "office",
     "role": "hr", "email": "hong@example.com"},
]


# -- the outside world ------------------------------------------------------------------
class MailSink:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted"

    def to(self, address):
        return [m for rcpts, m in self.messages if address in rcpts]


class MailServer:
    def __init__(self, port):
        self.port = port
        self.sink = MailSink()
        self.controller = None

    def start(self):
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def mail():
    server = MailServer(free_port())
    yield server
    server.stop()


@pytest.fixture
def receiver():
    with HttpReceiver() as rec:
        yield rec


@pytest.fixture
def suite_config():
    """Settings a test adds to the suite's notifications service (by parametrizing this)."""
    return {}


@pytest.fixture
def suite(start_service, rpc, mail, receiver, suite_config):
    """Directory and notifications running, the directory's people copied over."""
    start_service(DirectoryService)
    container = start_service(
        NotificationsService, **{
            "ZHIDU_SMTP_HOST": "127.0.0.1", "ZHIDU_SMTP_PORT": str(mail.port),
            "ZHIDU_SMTP_FROM": "zhidu@example.com", "ZHIDU_HR_IDS": "H9",
            "ZHIDU_CENTRE_LEADERS": "C1", "ZHIDU_DEPUTY_GM_IDS": "D1",
            "ZHIDU_SMS_WEBHOOK_URL": f"{receiver.url}/sms",
            "ZHIDU_WEBHOOK_ALLOWED_NETWORKS": LOCAL, **suite_config})
    for person in PEOPLE:
        rpc.directory.upsert_employee(person)
    # Addresses come in an event of their own (every one of PEOPLE has one).
    wait_for(lambda: handled(container, "on_employee_upserted") >= len(PEOPLE)
             and handled(container, "on_employee_contact_changed") >= len(PEOPLE),
             message="people and their addresses copied from the directory")
    return container


def metric(container, name, **labels) -> float:
    text = requests.get(f"{container.web_url}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def gauge(container, name) -> float:
    text = requests.get(f"{container.web_url}/metrics", timeout=10).text
    [value] = [line.split(" ")[1] for line in text.splitlines() if line.startswith(name + " ")]
    return float(value)


def handled(container, entrypoint) -> float:
    return metric(container, "zhidu_entrypoint_calls_total", entrypoint=entrypoint,
                  outcome="ok")


def publish(config, source, event_type, data=None, envelope=None) -> dict:
    """As the source service publishes it: as its own broker user."""
    envelope = envelope or make_envelope(source, event_type, data)
    publish_event(config["AMQP_URI"], envelope)
    return envelope


def penalty(employee_id, share, entry_id, **extra) -> dict:
    return {"entry_id": entry_id, "employee_id": employee_id, "share": share, "points": 3,
            "amount_yuan": 30, "domain": "conduct", "code": "C07", "incident_id": "INC-1",
            **extra}


def inbox(rpc, recipient, count=1, **query):
    return wait_for(lambda: len(items := rpc.notifications.inbox(
        {"recipient_id": recipient, **query})) >= count and items,
        message=f"{count} inbox item(s) for {recipient}")


def at(text) -> datetime:
    return datetime.fromisoformat(text)


# -- tests ---------------------------------------------------------------------------------
def test_penalty_notice_reaches_inbox_mail_and_a_signed_webhook(
        suite, rpc, zhidu_config, mail, receiver):
    mail.start()
    sub = rpc.notifications.subscribe({"url": f"{receiver.url}/hooks/ok", "secret": SECRET,
                                       "event_types": ["penalties.penalty_issued"]})
    # One conduct case: the person's share and the manager's share are two entries.
    own = publish(zhidu_config, "penalties", "penalty_issued", penalty("E1", "individual", "P1"))
    boss = publish(zhidu_config, "penalties", "penalty_issued",
                   penalty("M1", "dept_manager", "P2", points=1, amount_yuan=10))

    [item] = inbox(rpc, "E1")
    assert item["event_id"] == own["id"] and item["event_type"] == "penalties.penalty_issued"
    assert item["title"] == "奖罚通知单：C07" and item["read"] is False
    assert "3 分" in item["body"] and "30 元" in item["body"] and "本人" in item["body"]
    [other] = inbox(rpc, "M1")
    assert "1 分" in other["body"] and "部门经理连带" in other["body"]

    wait_for(lambda: len(mail.sink.messages) == 2, message="two mails")
    [letter] = mail.sink.to("li@example.com")
    assert letter["Subject"] == "奖罚通知单：C07" and letter["From"] == "zhidu@example.com"
    assert letter["X-Zhidu-Event-Id"] == own["id"]
    email_log = [d for d in rpc.notifications.deliveries({"event_id": own["id"]})
                 if d["channel"] == "email"]
    assert letter["Message-ID"] == f"<{email_log[0]['id']}@zhidu>"
    assert "30 元" in letter.get_content()

    hooks = wait_for(lambda: len(receiver.at("/hooks/ok")) == 2 and receiver.at("/hooks/ok"))
    for hook in hooks:
        assert verify(SECRET, hook["body"], hook["headers"]["X-Zhidu-Signature"])
        assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", hook["headers"]["X-Zhidu-Signature"])
        assert hook["headers"]["X-Zhidu-Event-Type"] == "penalties.penalty_issued"
    by_id = {h["headers"]["X-Zhidu-Event-Id"]: json.loads(h["body"]) for h in hooks}
    assert by_id == {own["id"]: own, boss["id"]: boss}

    log = wait_for(lambda: (log := rpc.notifications.deliveries({"event_id": own["id"]}))
                   and all(d["state"] == "delivered" for d in log) and log)
    assert sorted(d["channel"] for d in log) == ["email", "webhook"]
    for delivery in log:
        [attempt] = delivery["attempts"]
        assert attempt["ok"] is True and attempt["status"] in (200, 250)
        assert delivery["next_attempt_at"] is None
    assert {d["subscription_id"] for d in log} == {None, sub["subscription_id"]}
    assert [d["target"] for d in rpc.notifications.deliveries({"recipient_id": "E1"})] == \
        ["li@example.com"]

    # Only the recipient marks their item read (permissions: mark_read).
    own_rpc = rpc.as_person("E1")
    read = own_rpc.notifications.mark_read({"id": item["id"]})
    assert read["read"] is True
    assert own_rpc.notifications.mark_read({"id": item["id"]})["read"] is True
    assert rpc.notifications.inbox({"recipient_id": "E1", "unread_only": True}) == []


def test_a_redelivered_event_gives_no_second_notice(suite, rpc, zhidu_config, mail):
    mail.start()
    event = publish(zhidu_config, "penalties", "penalty_issued", penalty("E2", "individual", "P7"))
    inbox(rpc, "E2")
    wait_for(lambda: handled(suite, "on_penalty_issued") == 1)
    publish(zhidu_config, "penalties", "penalty_issued", envelope=event)
    wait_for(lambda: metric(suite, "zhidu_events_duplicate_total",
                            handler="on_penalty_issued") == 1, message="duplicate skipped")
    # A burst of copies may race past the handler's check: the unique index holds.
    for _ in range(3):
        publish(zhidu_config, "penalties", "penalty_issued", envelope=event)
    wait_for(lambda: handled(suite, "on_penalty_issued") == 5, message="all copies handled")
    wait_for(lambda: mail.sink.messages, message="the mail")
    assert len(rpc.notifications.inbox({"recipient_id": "E2"})) == 1
    [delivery] = rpc.notifications.deliveries({"event_id": event["id"]})
    assert delivery["state"] == "delivered" and len(delivery["attempts"]) == 1
    assert len(mail.sink.messages) == 1


def test_failures_are_retried_on_the_back_off_schedule_and_logged(
        suite, rpc, zhidu_config, mail, receiver):
    # The mail server is down and one webhook answers 500 for good, another once.
    receiver.script = {"/hooks/down": [500], "/hooks/flaky": [500, 200]}
    for path in ("/hooks/down", "/hooks/flaky"):
        rpc.notifications.subscribe({"url": receiver.url + path, "secret": SECRET,
                                     "event_types": ["penalties.*"]})
    event = publish(zhidu_config, "penalties", "penalty_issued", penalty("E1", "individual", "P3"))

    def log():
        return {d["target"].replace(receiver.url, ""): d
                for d in rpc.notifications.deliveries({"event_id": event["id"]})}
    first = wait_for(lambda: len(entries := log()) == 3 and all(
        len(d["attempts"]) == 1 for d in entries.values()) and entries, message="first tries")
    for delivery in first.values():
        [attempt] = delivery["attempts"]
        assert delivery["state"] == "pending" and attempt["ok"] is False
        assert at(delivery["next_attempt_at"]) == at(attempt["at"]) + timedelta(seconds=10)
    assert first["/hooks/down"]["attempts"][0]["status"] == 500
    assert gauge(suite, "zhidu_notifications_deliveries_pending") == 3
    assert "Connection" in first["li@example.com"]["attempts"][0]["error"]

    due = max(at(d["next_attempt_at"]) for d in first.values())
    early = min(at(d["next_attempt_at"]) for d in first.values()) - timedelta(seconds=1)
    assert rpc.notifications.sweep({"now": early.isoformat()})["attempted"] == 0
    mail.start()
    counts = rpc.notifications.sweep({"now": due.isoformat()})
    assert counts == {"attempted": 3, "delivered": 2, "retrying": 1, "failed": 0}
    assert len(mail.sink.to("li@example.com")) == 1
    assert log()["/hooks/flaky"]["state"] == "delivered"

    now = due
    for wait, state in ((60, "pending"), (300, "pending"), (1800, "failed")):
        # One second early nothing happens; on time the next attempt is made.
        early = now + timedelta(seconds=wait - 1)
        assert rpc.notifications.sweep({"now": early.isoformat()})["attempted"] == 0
        now += timedelta(seconds=wait)
        rpc.notifications.sweep({"now": now.isoformat()})
        assert log()["/hooks/down"]["state"] == state
    down = log()["/hooks/down"]
    assert len(down["attempts"]) == 5 and down["next_attempt_at"] is None
    assert all(a["ok"] is False and a["status"] == 500 for a in down["attempts"])
    gaps = [(at(b["at"]) - at(a["at"])).total_seconds()
            for a, b in zip(down["attempts"][1:], down["attempts"][2:], strict=False)]
    assert gaps == [60, 300, 1800]
    later = (now + timedelta(days=1)).isoformat()
    assert rpc.notifications.sweep({"now": later})["attempted"] == 0
    # Every attempt carried the same signed body.
    posts = receiver.at("/hooks/down")
    assert len(posts) == 5 and len({p["body"] for p in posts}) == 1
    assert all(verify(SECRET, p["body"], p["headers"]["X-Zhidu-Signature"]) for p in posts)


def test_unsubscribing_stops_deliveries_and_retries(suite, rpc, zhidu_config, receiver):
    receiver.script = {"/hooks/down": [500]}
    sub = rpc.notifications.subscribe({"url": f"{receiver.url}/hooks/down", "secret": SECRET,
                                       "event_types": ["dormitory.violation_recorded"],
                                       "request_id": "sub-1"})
    again = rpc.notifications.subscribe({"url": f"{receiver.url}/hooks/down", "secret": SECRET,
                                         "event_types": ["dormitory.violation_recorded"],
                                         "request_id": "sub-1"})
    assert again == sub
    event = publish(zhidu_config, "dormitory", "violation_recorded", {
        "violation_id": "V1", "incident_id": "I1", "employee_id": "E2", "code": "D16",
        "points": 3, "at": "2026-11-23T04:00:00+00:00", "building": "A", "room_no": "101"})
    [hook] = wait_for(lambda: (d := [x for x in rpc.notifications.deliveries(
        {"event_id": event["id"]}) if x["channel"] == "webhook" and x["attempts"]]) and d)
    assert rpc.notifications.unsubscribe(sub) == {**sub, "active": False}
    [listed] = rpc.notifications.subscriptions({})
    assert listed["active"] is False and "secret" not in listed
    rpc.notifications.sweep({"now": hook["next_attempt_at"]})
    [hook] = rpc.notifications.deliveries({"subscription_id": sub["subscription_id"]})
    assert hook["state"] == "failed" and len(hook["attempts"]) == 2
    assert hook["attempts"][-1]["error"] == "subscription no longer exists"
    # The violation itself reached the subscriber only: the resident hears of
    # it through the penalty notice, which the ledger sends.
    assert rpc.notifications.inbox({"recipient_id": "E2"}) == []
    second = publish(zhidu_config, "penalties", "penalty_issued", penalty("E2", "individual",
                                                                       "P9", code="D10"))
    [item] = inbox(rpc, "E2")
    assert item["title"] == "奖罚通知单：D10"
    assert [d["channel"] for d in rpc.notifications.deliveries({"event_id": second["id"]})] == \
        ["email"]


def test_threshold_goes_to_person_manager_and_hr_each_in_their_language(
        suite, rpc, zhidu_config, mail):
    mail.start()
    prefs = rpc.as_person("M1").notifications.set_preferences(
        {"recipient_id": "M1", "channels": ["inbox"], "locale": "en"})
    assert prefs == {"recipient_id": "M1", "channels": ["inbox"], "locale": "en"}
    assert rpc.notifications.get_preferences({"recipient_id": "E1"}) == {
        "recipient_id": "E1", "channels": ["inbox", "email"], "locale": "zh-CN"}
    publish(zhidu_config, "penalties", "threshold_reached",
            {"employee_id": "E1", "kind": "admonishment", "year": 2026})
    [own] = inbox(rpc, "E1")
    assert own["title"] == "奖惩提示：诫勉谈话" and "王丽（E1）2026 年" in own["body"]
    [boss] = inbox(rpc, "M1")
    assert boss["title"] == "Threshold reached: admonishment talk"
    assert boss["body"].startswith("Dear 赵敏,")
    inbox(rpc, "H1")  # HR by directory role
    inbox(rpc, "H9")  # HR by configuration, not in the directory: inbox only
    wait_for(lambda: len(mail.sink.messages) == 2, message="mail to E1 and H1")
    assert {r for rcpts, _ in mail.sink.messages for r in rcpts} == \
        {"li@example.com", "hong@example.com"}


def test_complaint_alerts_reminders_and_escalations(suite, rpc, zhidu_config, receiver):
    publish(zhidu_config, "complaints", "major_reported", {
        "number": "2611-0002", "department": "cs", "subject": "电梯困人",
        "major_reason": "elevator_entrapment"})
    [alert] = inbox(rpc, "M1")
    assert alert["title"] == "重大投诉 2611-0002：请立即处理" and "电梯困人" in alert["body"]
    inbox(rpc, "C1")  # centre leader, configured
    [sms] = wait_for(lambda: receiver.at("/sms"), message="urgent SMS")
    text = json.loads(sms["body"])
    assert text["to"] == "13800000002" and "2611-0002" in text["text"]

    publish(zhidu_config, "complaints", "assigned",
            {"number": "2611-0003", "department": "cs", "owner_id": "E2"})
    assert inbox(rpc, "E2")[0]["title"] == "投诉 2611-0003 已分派给您"
    # sla_breached names only the case: the owner comes from what was assigned.
    publish(zhidu_config, "complaints", "sla_breached",
            {"number": "2611-0003", "clock": "plan", "round": 1,
             "due": "2026-11-24T08:30:00+00:00"})
    breached = inbox(rpc, "E2", 2)[0]
    assert breached["title"] == "已超时：投诉 2611-0003"
    assert "与客户商定处理方案" in breached["body"] and "2026-11-24 16:30" in breached["body"]
    publish(zhidu_config, "complaints", "escalated", {
        "number": "2611-0003", "clock": "plan", "round": 1, "due": "2026-11-24T08:30:00+00:00",
        "owner_id": "E2", "department": "cs", "level": 2, "to_role": "deputy_gm"})
    [escalated] = inbox(rpc, "D1")
    assert escalated["title"] == "催办单（升级至副总经理）：投诉 2611-0003"
    assert "承办人：李强" in escalated["body"]
    inbox(rpc, "E2", 3)
    publish(zhidu_config, "complaints", "escalated", {
        "number": "2611-0003", "clock": "plan", "owner_id": "E2", "department": "cs",
        "level": 1, "to_role": "dept_manager"})
    inbox(rpc, "M1", 2)


def test_the_directory_copy_keeps_the_newest_version_and_drops_departed_managers(
        suite, rpc, zhidu_config):
    newer = {"employee_id": "X1", "name": "新名", "department": "qa", "unit": "u",
             "role": "dept_manager"}
    publish(zhidu_config, "directory", "employee_upserted", envelope=make_envelope(
        "directory", "employee_upserted", newer, at=datetime.fromisoformat(
            "2026-11-20T00:00:00+00:00")))
    publish(zhidu_config, "directory", "employee_upserted", envelope=make_envelope(
        "directory", "employee_upserted", dict(newer, name="旧名"),
        at=datetime.fromisoformat("2026-11-19T00:00:00+00:00")))
    wait_for(lambda: handled(suite, "on_employee_upserted") == len(PEOPLE) + 2)
    publish(zhidu_config, "complaints", "major_reported", {"number": "N1", "department": "qa"})
    [item] = inbox(rpc, "X1")
    assert item["body"].startswith("新名：")
    publish(zhidu_config, "directory", "employee_departed",
            {"employee_id": "X1", "at": "2026-11-21T00:00:00+00:00"})
    wait_for(lambda: handled(suite, "on_employee_departed") == 1)
    publish(zhidu_config, "complaints", "major_reported", {"number": "N2", "department": "qa"})
    inbox(rpc, "C1", 2)
    assert len(rpc.notifications.inbox({"recipient_id": "X1"})) == 1


def _refused(rpc_method, payload, exc_type="ValidationError"):
    with pytest.raises(RemoteError) as err:
        rpc_method(payload)
    assert err.value.exc_type == exc_type, err.value
    return err.value.value


def test_bad_input_on_every_operation(suite, rpc, receiver):
    n = rpc.notifications
    # What only the person may call is tried as that person.
    own = rpc.as_person("E1").notifications
    assert "recipient_id" in _refused(n.inbox, {})
    assert "limit" in _refused(n.inbox, {"recipient_id": "E1", "limit": 0})
    assert "colour" in _refused(n.inbox, {"recipient_id": "E1", "colour": "red"})
    assert "id" in _refused(own.mark_read, {})
    _refused(own.mark_read, {"id": "nope"}, "NotFound")
    assert "recipient_id" in _refused(n.get_preferences, {})
    assert "channels" in _refused(own.set_preferences, {"recipient_id": "E1",
                                                        "channels": ["fax"]})
    assert "locale" in _refused(own.set_preferences, {"recipient_id": "E1", "locale": "fr"})
    assert "_schema" in _refused(own.set_preferences, {"recipient_id": "E1"})
    good = {"url": f"{receiver.url}/x", "secret": SECRET,
            "event_types": ["penalties.penalty_issued"]}
    assert "url" in _refused(n.subscribe, dict(good, url="ftp://example.com/x"))
    assert "secret" in _refused(n.subscribe, dict(good, secret="short"))
    assert "event_types" in _refused(n.subscribe, dict(good, event_types=[]))
    assert "complaints.received" in _refused(n.subscribe, dict(
        good, event_types=["complaints.received"]))
    assert "nosuch.*" in _refused(n.subscribe, dict(good, event_types=["nosuch.*"]))
    assert "subscription_id" in _refused(n.unsubscribe, {})
    _refused(n.unsubscribe, {"subscription_id": "nope"}, "NotFound")
    assert "limit" in _refused(n.deliveries, {"limit": 5000})
    assert "now" in _refused(n.sweep, {"now": "yesterday"})
    _refused(n.sweep, "not a dict")
    # Nothing was half-written.
    assert n.subscriptions({}) == []
    assert n.get_preferences({"recipient_id": "E1"})["locale"] == "zh-CN"


def test_rest_api(suite, receiver, zhidu_config, rpc, auth_headers):
    base = f"{suite.web_url}/api/v1/notifications"
    operator, own = auth_headers(), auth_headers("E1")
    made = requests.post(f"{base}/subscriptions", timeout=10, headers=operator, json={
        "url": f"{receiver.url}/r", "secret": SECRET, "event_types": ["*"]})
    assert made.status_code == 201 and "subscription_id" in made.json()
    assert requests.post(f"{base}/subscriptions", json={"url": "x"}, headers=operator,
                         timeout=10).status_code == 400
    put = requests.put(f"{base}/preferences/E1", json={"locale": "en"}, headers=own,
                       timeout=10)
    assert put.status_code == 200 and put.json()["locale"] == "en"
    publish(zhidu_config, "attendance", "absence_recorded",
            {"employee_id": "E1", "date": "2026-11-20", "reason": "no_clock_in"})
    inbox(rpc, "E1")
    items = requests.get(f"{base}/inbox/E1?unread_only=true", headers=own, timeout=10).json()
    assert [i["title"] for i in items] == ["Absence recorded: 2026-11-20"]
    read = requests.post(f"{base}/inbox/items/{items[0]['id']}/read", headers=own,
                         timeout=10)
    assert read.status_code == 200 and read.json()["read"] is True
    assert requests.post(f"{base}/inbox/items/nope/read", headers=own,
                         timeout=10).status_code == 404
    log = requests.get(f"{base}/deliveries", params={"event_id": items[0]["event_id"]},
                       headers=operator, timeout=10)
    assert log.status_code == 200 and {d["channel"] for d in log.json()} >= {"webhook"}
    swept = requests.post(f"{base}/sweep", json={}, headers=operator, timeout=10)
    assert swept.status_code == 200 and set(swept.json()) == {
        "attempted", "delivered", "retrying", "failed"}
    gone = requests.delete(f"{base}/subscriptions/{made.json()['subscription_id']}",
                           headers=operator, timeout=10)
    assert gone.status_code == 200
    assert requests.delete(f"{base}/subscriptions/nope", headers=operator,
                           timeout=10).status_code == 404
    doc = requests.get(f"{suite.web_url}/openapi.json", timeout=10).json()
    assert "/api/v1/notifications/inbox/{recipient_id}" in doc["paths"]
    health = requests.get(f"{suite.web_url}/health", timeout=10).json()
    assert health["service"] == "notifications" and health["status"] == "ok"
    assert "zhidu_notifications_inbox_items_total" in requests.get(
        f"{suite.web_url}/metrics", timeout=10).text


# -- penalty notices awaiting the GM (001 §1 第十二条(二)) ---------------------------------
GMS = [
    {"employee_id": "G1", "name": "陈总", "gender": "M", "department": "office", "unit": "hq",
     "role": "gm", "email": "chen@example.com"},
    {"employee_id": "G2", "name": "吴总", "gender": "F", "department": "office", "unit": "hq",
     "role": "gm"},
]


def notice(notice_id="N-1", **extra) -> dict:
    """As the ledger raises it for a complaint: the incident is the complaint number."""
    return {"notice_id": notice_id, "number": "2611-0002", "domain": "complaint",
            "incident_id": "2611-0002", "employee_ids": ["E1", "E2"], "amount_yuan_total": 150,
            "points_total": 6.0, "approver_role": "gm", "revision": 1, **extra}


def publish_envelope(config, event_type, data) -> dict:
    envelope = make_envelope("penalties", event_type, data)
    publish_event(config["AMQP_URI"], envelope)
    return envelope


@pytest.fixture
def gms(suite, rpc):
    for person in GMS:
        rpc.directory.upsert_employee(person)
    with_address = sum(1 for p in GMS if p.get("email") or p.get("phone"))
    wait_for(lambda: handled(suite, "on_employee_upserted") >= len(PEOPLE) + len(GMS)
             and handled(suite, "on_employee_contact_changed") >= len(PEOPLE) + with_address,
             message="the GMs copied from the directory")
    return [p["employee_id"] for p in GMS]


def test_a_notice_awaiting_approval_reaches_every_gm_and_no_one_else_001_s1_12_2(
        suite, gms, rpc, zhidu_config):
    rpc.as_person("G2").notifications.set_preferences({"recipient_id": "G2", "locale": "en"})
    event = publish_envelope(zhidu_config, "notice_awaiting_approval", notice())
    [item] = inbox(rpc, "G1")
    assert item["event_id"] == event["id"]
    assert item["event_type"] == "penalties.notice_awaiting_approval"
    assert item["title"] == "待批奖罚通知单：王丽、李强（客诉）"
    for text in ("陈总：", "事件 2611-0002", "合计 6 分、150 元", "呈总经理批准",
                 "批准前不扣发任何款项", "N-1"):
        assert text in item["body"], text
    [english] = inbox(rpc, "G2")
    assert english["title"] == "Penalty notice to approve: 王丽, 李强 (complaint)"
    assert "names 王丽, 李强: 6 points and 150 yuan in all, for approval by the GM" in \
        english["body"]
    # The GM reads it in their own inbox; nobody else was told.
    assert rpc.as_person("G1").notifications.inbox({"recipient_id": "G1"}) == [item]
    for other in ("E1", "E2", "M1", "H1"):
        assert rpc.notifications.inbox({"recipient_id": other}) == [], other


def test_the_people_named_hear_the_gms_decision_001_s1_12_2(suite, gms, rpc, zhidu_config):
    publish_envelope(zhidu_config, "notice_awaiting_approval", notice())
    inbox(rpc, "G1")
    # As the ledger sends it: the decision repeats whom the notice names.
    decided = publish_envelope(zhidu_config, "notice_decided", {
        "notice_id": "N-1", "approved": True, "decided_by": "G1", "number": "2611-0002",
        "domain": "complaint", "incident_id": "2611-0002", "employee_ids": ["E1", "E2"],
        "at": "2026-11-24T02:00:00+00:00", "note": None})
    for person in ("E1", "E2"):
        [item] = inbox(rpc, person)
        assert item["event_id"] == decided["id"]
        assert item["event_type"] == "penalties.notice_decided"
        assert item["title"] == "奖罚通知单已批准：王丽、李强"
        assert "经 陈总 审批：已批准。审批意见：—" in item["body"]
        assert "合计 6 分、150 元" in item["body"]
    # The decision is news to the people named, not to the GMs who made it.
    assert len(rpc.notifications.inbox({"recipient_id": "G1"})) == 1
    assert rpc.notifications.inbox({"recipient_id": "M1"}) == []


def test_a_decision_before_its_notice_is_parked_and_replayed_not_lost(
        suite, gms, rpc, zhidu_config):
    rpc.as_person("E2").notifications.set_preferences({"recipient_id": "E2", "locale": "en"})
    # A decision naming only the notice, before the notice itself arrived.
    decided = publish_envelope(zhidu_config, "notice_decided", {
        "notice_id": "N-2", "approved": False, "decided_by": {"id": "G2", "role": "gm"}})
    wait_for(lambda: metric(suite, "zhidu_events_dead_lettered_total",
                            handler="on_notice_decided") == 1, message="decision parked")
    assert rpc.notifications.inbox({"recipient_id": "E1"}) == []
    [parked] = rpc.notifications.dead_letters({})
    assert parked["event"]["id"] == decided["id"] and "N-2" in parked["error"]

    publish_envelope(zhidu_config, "notice_awaiting_approval",
                     notice("N-2", incident_id="2611-0009", employee_ids=["E1", "E2"]))
    inbox(rpc, "G1")
    assert rpc.notifications.replay_dead_letters({}) == {"replayed": [parked["id"]]}
    [mine] = inbox(rpc, "E1")
    assert mine["event_id"] == decided["id"]
    assert mine["title"] == "奖罚通知单未批准：王丽、李强"
    assert "事件 2611-0009" in mine["body"] and "经 吴总 审批：未批准" in mine["body"]
    [theirs] = inbox(rpc, "E2")
    assert theirs["title"] == "Penalty notice not approved: 王丽, 李强"
    assert "was not approved by 吴总" in theirs["body"]


# -- who may call what (rules §8; rules/permissions.yaml) -----------------------------------
def _denied(method, payload):
    return _refused(method, payload, "PermissionDenied")


def test_an_inbox_is_read_by_the_person_their_managers_and_hr_only_rules_s8(
        suite, rpc, zhidu_config):
    publish(zhidu_config, "penalties", "penalty_issued", penalty("E1", "individual", "P11"))
    [item] = inbox(rpc, "E1")
    mine = {"recipient_id": "E1"}
    assert rpc.as_person("E1").notifications.inbox(mine) == [item]
    assert rpc.as_person("M1").notifications.inbox(mine) == [item]  # E1's manager
    assert rpc.as_person("H1").notifications.inbox(mine) == [item]  # hr by directory role
    # A colleague under the same manager is refused, and so is IT: nobody the rule names.
    refusal = _denied(rpc.as_person("E2").notifications.inbox, mine)
    assert "E2" in str(refusal) and "rules §8" in str(refusal)
    _denied(rpc.as_person("IT1", role="it_admin").notifications.inbox, mine)
    # Reporting lines run one way: E1 does not read their manager's inbox.
    _denied(rpc.as_person("E1").notifications.inbox, {"recipient_id": "M1"})


def test_nobody_marks_another_persons_item_read_rules_s8(suite, rpc, zhidu_config):
    publish(zhidu_config, "attendance", "absence_recorded",
            {"employee_id": "E1", "date": "2026-11-20", "reason": "no_clock_in"})
    [item] = inbox(rpc, "E1")
    # Those who may read the item still may not make it look seen by E1.
    for caller in (rpc.as_person("M1"), rpc.as_person("H1"), rpc.as_person("E2"), rpc):
        _denied(caller.notifications.mark_read, {"id": item["id"]})
    # Naming E1 as the actor does not make the caller E1.
    _denied(rpc.as_person("M1").notifications.mark_read,
            {"id": item["id"], "actor": {"id": "E1", "role": "staff"}})
    assert rpc.notifications.inbox({"recipient_id": "E1", "unread_only": True}) == [item]
    assert rpc.as_person("E1").notifications.mark_read({"id": item["id"]})["read"] is True


def test_only_it_admin_or_an_ops_account_registers_a_webhook_rules_s8(
        suite, rpc, tokens, receiver, zhidu_config):
    hook = {"url": f"{receiver.url}/w", "secret": SECRET, "event_types": ["penalties.*"]}
    staff, hr = rpc.as_person("E1"), rpc.as_person("H1")
    # A scope for the operation alone is not enough: the account needs ops or it_admin.
    scoped = rpc.as_(tokens.service("svc:reporting", scopes=("notifications:subscribe",)))
    for caller in (staff, rpc.as_person("M1"), hr, scoped):
        _denied(caller.notifications.subscribe, hook)
    assert rpc.notifications.subscriptions({}) == []

    admin = rpc.as_person("IT1", role="it_admin")
    ops = rpc.as_(tokens.service("svc:ops-console", scopes=("ops",)))
    by_admin = admin.notifications.subscribe(hook)
    by_ops = ops.notifications.subscribe(dict(hook, url=f"{receiver.url}/w2"))
    listed = ops.notifications.subscriptions({})
    assert {s["subscription_id"] for s in listed} == {by_admin["subscription_id"],
                                                      by_ops["subscription_id"]}
    db = service_db(zhidu_config, "notifications")
    assert db.subscriptions.find_one({"_id": by_admin["subscription_id"]})["created_by"] == \
        {"id": "IT1", "role": "it_admin"}
    assert db.subscriptions.find_one({"_id": by_ops["subscription_id"]})["created_by"]["id"] \
        == "svc:ops-console"
    # Staff neither list nor remove them.
    _denied(staff.notifications.subscriptions, {})
    _denied(staff.notifications.unsubscribe, by_admin)
    assert admin.notifications.unsubscribe(by_ops)["active"] is False
    assert ops.notifications.unsubscribe(by_admin)["active"] is False


def test_the_delivery_log_and_the_sweep_are_for_operators_rules_s8(
        suite, rpc, tokens, zhidu_config, mail):
    mail.start()
    event = publish(zhidu_config, "penalties", "penalty_issued", penalty("E1", "individual", "P12"))
    [row] = wait_for(lambda: (log := rpc.notifications.deliveries({"event_id": event["id"]}))
                     and log[0]["state"] == "delivered" and log, message="mail delivered")
    # The recipient reads the log of what was sent to them, and only that.
    own = rpc.as_person("E1").notifications
    assert own.deliveries({"recipient_id": "E1"}) == [row]
    assert own.deliveries({"recipient_id": "E1", "event_id": event["id"]}) == [row]
    for query in ({"recipient_id": "E2"}, {"event_id": event["id"]}, {}):
        _denied(own.deliveries, query)
    _denied(rpc.as_person("M1").notifications.deliveries, {"recipient_id": "E1"})
    admin = rpc.as_person("IT1", role="it_admin").notifications
    assert admin.deliveries({"event_id": event["id"]}) == [row]
    # Sweeping, at a chosen time above all, is an operator's act.
    for caller in (own, rpc.as_person("H1").notifications):
        _denied(caller.sweep, {"now": "2030-01-01T00:00:00+00:00"})
    assert admin.sweep({})["attempted"] == 0
    ops = rpc.as_(tokens.service("svc:ops-console", scopes=("ops",))).notifications
    assert ops.sweep({"now": "2030-01-01T00:00:00+00:00"})["attempted"] == 0


def test_preferences_are_the_persons_own_rules_s8(suite, rpc, zhidu_config):
    change = {"recipient_id": "E1", "channels": ["inbox"]}
    # Switching someone's e-mail off could keep a notice from them: not even HR may.
    for caller in (rpc.as_person("M1"), rpc.as_person("H1"), rpc):
        _denied(caller.notifications.set_preferences, change)
    _denied(rpc.as_person("E2").notifications.get_preferences, {"recipient_id": "E1"})
    assert rpc.as_person("H1").notifications.get_preferences(
        {"recipient_id": "E1"})["channels"] == ["inbox", "email"]
    assert rpc.as_person("E1").notifications.set_preferences(change)["channels"] == ["inbox"]
    assert rpc.as_person("IT1", role="it_admin").notifications.get_preferences(
        {"recipient_id": "E1"})["channels"] == ["inbox"]
    stored = service_db(zhidu_config, "notifications").preferences.find_one({"_id": "E1"})
    assert stored["updated_by"]["id"] == "E1"


def test_rest_needs_a_token_and_the_right_and_a_refusal_writes_nothing(
        suite, rpc, zhidu_config, auth_headers, receiver):
    base = f"{suite.web_url}/api/v1/notifications"
    publish(zhidu_config, "attendance", "absence_recorded",
            {"employee_id": "E1", "date": "2026-11-20", "reason": "no_clock_in"})
    [item] = inbox(rpc, "E1")
    hook = {"url": f"{receiver.url}/r", "secret": SECRET, "event_types": ["*"]}
    calls = [("GET", "/inbox/E1", None), ("POST", f"/inbox/items/{item['id']}/read", None),
             ("GET", "/preferences/E1", None), ("PUT", "/preferences/E1", {"locale": "en"}),
             ("GET", "/subscriptions", None), ("POST", "/subscriptions", hook),
             ("DELETE", "/subscriptions/S1", None), ("GET", "/deliveries", None),
             ("POST", "/sweep", {})]
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        for method, path, body in calls:
            reply = requests.request(method, base + path, json=body, headers=headers,
                                     timeout=10)
            assert reply.status_code == 401, (method, path, reply.text)
            assert reply.json()["error"] == "Unauthenticated"
            assert reply.headers["WWW-Authenticate"].startswith("Bearer")
    colleague = auth_headers("E2")
    for method, path, body in calls:
        reply = requests.request(method, base + path, json=body, headers=colleague,
                                 timeout=10)
        assert reply.status_code == 403, (method, path, reply.text)
        assert reply.json()["error"] == "PermissionDenied"
    # Nothing was written by any of them.
    assert rpc.notifications.inbox({"recipient_id": "E1", "unread_only": True}) == [item]
    assert rpc.notifications.get_preferences({"recipient_id": "E1"})["locale"] == "zh-CN"
    assert rpc.notifications.subscriptions({}) == []
    assert requests.get(f"{suite.web_url}/health", timeout=10).status_code == 200


@pytest.mark.parametrize("routes, complaint", [
    ("routes:\n  penalties.penalty_issued:\n    template: penalty_notice\n"
     "    recipients: [boss_of(data.employee_id)]\n", "unknown function"),
    ("routes:\n  complaints.received:\n    template: penalty_notice\n"
     "    recipients: [data.owner_id]\n", "no handler"),
    ("routes:\n  penalties.penalty_issued:\n    template: no_such_template\n"
     "    recipients: [data.employee_id]\n", "missing templates"),
])
def test_a_broken_routing_table_stops_the_service(start_service, tmp_path, routes, complaint):
    path = tmp_path / "routes.yaml"
    path.write_text(routes, encoding="utf-8")
    with pytest.raises(Exception, match=re.escape(complaint)):
        start_service(NotificationsService, ZHIDU_NOTIFY_ROUTES=str(path))


def test_the_timer_retries_on_a_deployment_policy(start_service, rpc, zhidu_config, receiver,
                                                   tmp_path):
    policy = tmp_path / "delivery.yaml"
    policy.write_text("retry_after_seconds: [0.3, 0.3]\nlease_seconds: 2\n"
                      "timeouts: {smtp_seconds: 1, http_seconds: 1}\n"
                      "webhooks: {attempt_seconds: 1}\n", encoding="utf-8")
    start_service(NotificationsService, ZHIDU_NOTIFY_DELIVERY_POLICY=str(policy),
                  ZHIDU_SWEEP_INTERVAL="0.2", ZHIDU_WEBHOOK_ALLOWED_NETWORKS=LOCAL)
    receiver.script = {"/flaky": [500, 200]}
    rpc.notifications.subscribe({"url": f"{receiver.url}/flaky", "secret": SECRET,
                                 "event_types": ["attendance.leave_decided"]})
    event = publish(zhidu_config, "attendance", "leave_decided",
                    {"leave_id": "L1", "employee_id": "E1", "status": "approved"})
    [hook] = wait_for(lambda: (log := rpc.notifications.deliveries({"event_id": event["id"]}))
                      and log[0]["state"] == "delivered" and log, message="retried by timer")
    assert [a["ok"] for a in hook["attempts"]] == [False, True]


# -- webhooks: inside addresses, rotation, and their own lane ----------------------------------
def test_a_webhook_may_not_point_inside_and_the_refusal_names_url(suite, rpc, auth_headers,
                                                                   receiver):
    n = rpc.notifications
    good = {"url": f"{receiver.url}/x", "secret": SECRET, "event_types": ["penalties.*"]}
    for url, rule in (("http://169.254.169.254/latest/meta-data/", "metadata"),
                      ("http://10.1.2.3/hook", "private"), ("http://[::1]:8080/", "loopback"),
                      ("http://2130706433/", "four decimal parts"),
                      (f"http://ops:pw@127.0.0.1:{receiver.url.rsplit(':', 1)[1]}/x",
                       "user name or password")):
        refusal = json.loads(_refused(n.subscribe, dict(good, url=url)))
        assert list(refusal) == ["url"] and rule in refusal["url"][0], refusal
    reply = requests.post(f"{suite.web_url}/api/v1/notifications/subscriptions", timeout=10,
                          headers=auth_headers(), json=dict(good, url="http://0.0.0.0/"))
    assert reply.status_code == 400 and "unspecified" in reply.json()["fields"]["url"][0]
    assert n.subscriptions({}) == []
    assert n.subscribe(good)["subscription_id"]  # 127.0.0.0/8 is listed for these tests


def test_a_rotated_secret_signs_beside_the_old_one_and_neither_is_stored_plain(
        suite, rpc, zhidu_config, receiver, auth_headers):
    sub = rpc.notifications.subscribe({"url": f"{receiver.url}/rot", "secret": SECRET,
                                       "event_types": ["penalties.penalty_issued"]})
    new_secret = "the-replacement-secret-of-2026"
    reply = requests.post(
        f"{suite.web_url}/api/v1/notifications/subscriptions/{sub['subscription_id']}/secret",
        json={"secret": new_secret, "overlap_seconds": 600}, headers=auth_headers(),
        timeout=10)
    assert reply.status_code == 200, reply.text
    until = at(reply.json()["previous_secret_until"])
    assert timedelta(seconds=590) < until - datetime.now(until.tzinfo) <= timedelta(seconds=600)
    [listed] = rpc.notifications.subscriptions({})
    assert listed["previous_secret_until"] == reply.json()["previous_secret_until"]
    stored = service_db(zhidu_config, "notifications").subscriptions.find_one(
        {"_id": sub["subscription_id"]})
    assert SECRET not in repr(stored) and new_secret not in repr(stored)
    assert "secret" not in stored and stored["secret_sealed"]

    publish(zhidu_config, "penalties", "penalty_issued", penalty("E1", "individual", "P41"))
    [hook] = wait_for(lambda: receiver.at("/rot"), message="the signed delivery")
    header = hook["headers"]["X-Zhidu-Signature"]
    assert header.count("v1=") == 2
    assert verify(new_secret, hook["body"], header) and verify(SECRET, hook["body"], header)
    # A person may not replace it, nor may an unknown subscription be rotated.
    _refused(rpc.as_person("E1").notifications.rotate_secret,
             {"subscription_id": sub["subscription_id"], "secret": "x" * 20},
             "PermissionDenied")
    _refused(rpc.notifications.rotate_secret, {"subscription_id": "nope", "secret": "x" * 20},
             "NotFound")
    assert "overlap_seconds" in _refused(rpc.notifications.rotate_secret, {
        "subscription_id": sub["subscription_id"], "secret": "x" * 20,
        "overlap_seconds": 8 * 86400})


class HangingTarget:
    """A webhook receiver that answers its first request 500 at once and holds every
    later one open, unanswered, until the sender gives up or the test closes it."""

    def __init__(self):
        self.listener = eventlet.listen(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"
        self.requests, self.holding, self.conns, self.answering = 0, 0, [], []
        self.server = eventlet.spawn(self._serve)

    def _serve(self):
        while True:
            conn, _ = self.listener.accept()
            self.conns.append(conn)
            self.answering.append(eventlet.spawn(self._answer, conn))

    def _answer(self, conn):
        self.requests += 1
        try:
            conn.recv(65536)
            if self.requests == 1:
                conn.sendall(b"HTTP/1.1 500 Internal Server Error\r\n"
                             b"Content-Length: 0\r\nConnection: close\r\n\r\n")
                return
            self.holding += 1
            try:
                while conn.recv(4096):  # until the sender hangs up
                    pass
            finally:
                self.holding -= 1
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        for thread in (self.server, *self.answering):
            thread.kill()
        for conn in self.conns:
            conn.close()
        self.listener.close()


class TestAWebhookTargetThatHangs:
    """The timer sweeps every 0.2 s; a webhook attempt may take 10 s, a mail 2 s."""

    @pytest.fixture
    def suite_config(self, tmp_path):
        policy = tmp_path / "delivery.yaml"
        policy.write_text("retry_after_seconds: [0.5, 0.5, 0.5]\nlease_seconds: 30\n"
                          "timeouts: {smtp_seconds: 2, http_seconds: 10}\n"
                          "webhooks: {attempt_seconds: 10}\n", encoding="utf-8")
        return {"ZHIDU_NOTIFY_DELIVERY_POLICY": str(policy), "ZHIDU_SWEEP_INTERVAL": "0.2"}

    def test_does_not_delay_an_email(self, suite, rpc, zhidu_config, mail):
        target = HangingTarget()
        try:
            sub = rpc.notifications.subscribe({"url": target.url, "secret": SECRET,
                                               "event_types": ["dormitory.*"]})
            publish(zhidu_config, "dormitory", "violation_recorded", {
                "violation_id": "V7", "incident_id": "I7", "employee_id": "E2",
                "code": "D16", "points": 3, "at": "2026-11-23T04:00:00+00:00",
                "building": "A", "room_no": "101"})
            # Its first attempt got a 500; the timer's retry is now held by the target.
            wait_for(lambda: target.holding == 1, message="the webhook retry held")
            # A mail falls due while it is held: its first attempt finds the mail
            # server down, so only the timer's sweep can send it.
            event = publish(zhidu_config, "penalties", "penalty_issued",
                            penalty("E1", "individual", "P51"))
            wait_for(lambda: [a for d in rpc.notifications.deliveries({"event_id": event["id"]})
                              for a in d["attempts"]], message="the mail's first attempt")
            mail.start()
            wait_for(lambda: mail.sink.to("li@example.com"), timeout=8, message="the mail")
            # Sent while the webhook attempt was still hanging, not after it gave up.
            assert target.holding == 1
            [hook] = rpc.notifications.deliveries({"subscription_id": sub["subscription_id"]})
            assert [a.get("status") for a in hook["attempts"]] == [500]
            [letter] = rpc.notifications.deliveries({"event_id": event["id"]})
            assert letter["state"] == "delivered" and len(letter["attempts"]) == 2
        finally:
            target.close()


# -- a unit re-run sends nothing twice ---------------------------------------------------
def _rerun_once(monkeypatch, failure):
    """Make the first run of every notice's unit fail after its writes, as a lost race would."""
    from notifications.store import NotificationsStore

    real, runs = NotificationsStore.add_notices, []

    def add_notices(self, items, webhooks):
        stored = real(self, items, webhooks)
        runs.append(len(stored[0]) + len(stored[1]))
        if len(runs) == 1:
            raise failure
        return stored
    monkeypatch.setattr(NotificationsStore, "add_notices", add_notices)
    return runs


@pytest.mark.parametrize("failure", [
    pytest.param(StaleWrite("the record moved"), id="stale-write"),
    # What the server says when another transaction wrote the same document first.
    pytest.param(OperationFailure("WriteConflict", code=112, details={
        "errmsg": "WriteConflict", "errorLabels": ["TransientTransactionError"]}),
        id="write-conflict"),
])
def test_a_notice_whose_unit_is_run_again_is_mailed_and_posted_once(
        suite, rpc, zhidu_config, mail, receiver, monkeypatch, failure):
    mail.start()
    rpc.notifications.subscribe({"url": f"{receiver.url}/hooks/once", "secret": SECRET,
                                 "event_types": ["penalties.penalty_issued"]})
    runs = _rerun_once(monkeypatch, failure)
    event = publish(zhidu_config, "penalties", "penalty_issued", penalty("E1", "individual", "P21"))
    log = wait_for(lambda: (log := rpc.notifications.deliveries({"event_id": event["id"]}))
                   and len(log) == 2 and all(d["state"] == "delivered" for d in log) and log,
                   message="mail and webhook delivered")
    # The first run wrote everything and was rolled back; the second wrote it again.
    assert runs == [2, 2]
    eventlet.sleep(0.5)  # time for a second send, were there one
    assert len(mail.sink.to("li@example.com")) == 1
    assert len(receiver.at("/hooks/once")) == 1
    assert all(len(d["attempts"]) == 1 for d in log)
    assert len(rpc.notifications.inbox({"recipient_id": "E1"})) == 1
    assert metric(suite, "zhidu_notifications_inbox_items_total",
                  event_type="penalties.penalty_issued") == 1
    assert gauge(suite, "zhidu_notifications_deliveries_pending") == 0


# -- what the last link of the chain costs the database -----------------------------------
class CommandLog(CommandListener):
    """Every command one client sends, as (command, collection or database)."""

    def __init__(self):
        self.seen: list[tuple[str, str, str]] = []

    def started(self, event):
        name = event.command_name
        target = event.command.get(name)
        self.seen.append((event.database_name, name,
                          target if isinstance(target, str) else event.database_name))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


@pytest.fixture
def command_logs(monkeypatch):
    """A log per database client the services open from here on."""
    import zhidu.mongo

    logs, real = [], zhidu.mongo.connect

    def connect(uri, **kwargs):
        log = CommandLog()
        logs.append(log)
        return real(uri, event_listeners=[log], **kwargs)
    monkeypatch.setattr(zhidu.mongo, "connect", connect)
    return logs


WRITES = {"insert", "update", "delete", "findAndModify"}


def test_notifying_one_person_of_one_penalty_costs_two_writes_and_three_reads(
        command_logs, suite, zhidu_config, mail):
    """The inbox item carries the e-mail, stored leased to the sender: no delivery
    document, no claim, and no handled-record (the item is keyed by the event,
    so a redelivery finds it). What is left is the recipient's copy and
    preferences (two reads), the item (one write), the commit, and the
    attempt's outcome (one write)."""
    mail.start()
    db = database_name(zhidu_config, "notifications")
    [log] = [log for log in command_logs if any(seen[0] == db for seen in log.seen)]

    def cost(employee_id, entry_id):
        before = len(log.seen)
        publish(zhidu_config, "penalties", "penalty_issued",
                penalty(employee_id, "individual", entry_id))
        # The notice is done when its attempt is recorded: the item's second write.
        wait_for(lambda: [c[1] for c in log.seen[before:] if c[2] == "inbox"].count("update")
                 == 2, message="item stored and its mail recorded")
        return _spent(log, before)

    first = cost("E1", "P31")  # the subscriber list is read once, then kept a while
    assert ("find", "subscriptions") in first
    spent = cost("E2", "P32")
    writes = [c for c in spent if c[0] in WRITES]
    reads = [c for c in spent if c[0] not in WRITES]
    assert writes == [("update", "inbox"), ("update", "inbox")], spent
    assert reads == [("find", "people"), ("find", "preferences"),
                     ("commitTransaction", "admin")], spent
    assert len(mail.sink.messages) == 2

    # The chain's violation tells no one and no subscription takes it: it is
    # acknowledged without a transaction — no handled-record, no commit.
    before = len(log.seen)
    publish(zhidu_config, "dormitory", "violation_recorded", {
        "violation_id": "V9", "incident_id": "I9", "employee_id": "E1", "code": "D16",
        "points": 3, "at": "2026-11-23T04:00:00+00:00", "building": "A", "room_no": "101"})
    wait_for(lambda: handled(suite, "on_dormitory_violation") == 1,
             message="the violation handled")
    # A scrape of /metrics reads the database, but never in a transaction.
    assert [c for c in _spent(log, before)
            if c in (("update", "processed_events"), ("commitTransaction", "admin"))] == []


def _spent(log, since):
    # The outbox relay's timer is not the event's doing.
    return [(name, target) for _db, name, target in log.seen[since:]
            if target not in ("outbox",)]
