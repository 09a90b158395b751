"""The application functions over a fake unit of work: no broker, no database, no network.

The store is an in-memory stand-in with only the methods the functions use;
the senders record what would have left the building.
"""
import copy
import uuid
from datetime import timedelta

import pytest
from notifications import app
from notifications.channels import Outcome
from notifications.dispatch import Courier
from notifications.fanout import earliest_due, item_delivery
from notifications.outbound import Subscribers
from notifications.rulebook import load_rules
from zhidu.domain import DomainNotFound, DomainValidation
from zhidu.envelope import make_envelope
from zhidu.times import utcnow

PEOPLE = {
    "E1": {"name": "王丽", "email": "li@example.com", "phone": "13800000001",
           "manager_id": "M1", "department": "cs", "role": "staff"},
    "M1": {"name": "赵敏", "email": "min@example.com", "department": "cs",
           "role": "dept_manager"},
}


class FakeStore:
    """The notifications store's methods the application functions use, in memory."""

    def __init__(self, people=PEOPLE):
        self.people_ = copy.deepcopy(people)
        self.prefs: dict[str, dict] = {}
        self.items: dict[str, dict] = {}
        self.webhooks: dict[str, dict] = {}
        self.subs: dict[str, dict] = {}
        self.notices: dict[str, dict] = {}
        self.cases: dict[str, dict] = {}
        self.units = 0
        self.subscription_reads = 0

    def unit(self, body, on_retry=None):
        self.units += 1
        return body()

    # -- copies
    def people(self, ids):
        return {i: {"_id": i, **self.people_[i]} for i in dict.fromkeys(ids) if i in self.people_}

    def with_role(self, role, department=None):
        return sorted(i for i, p in self.people_.items() if p.get("role") == role and (
            department is None or p.get("department") == department))

    def case_owner(self, number):
        return (self.cases.get(number) or {}).get("owner_id")

    def remember_case(self, number, owner_id, department, as_of):
        self.cases[number] = {"owner_id": owner_id, "department": department}

    def notice(self, notice_id):
        return copy.deepcopy(self.notices.get(notice_id))

    def remember_notice(self, notice_id, data, as_of):
        self.notices[notice_id] = {"_id": notice_id, "employee_ids": data.get("employee_ids")}

    def preferences(self, ids):
        return {i: dict(self.prefs[i]) for i in ids if i in self.prefs}

    def set_preferences(self, recipient_id, changes):
        self.prefs.setdefault(recipient_id, {"_id": recipient_id}).update(changes)
        return dict(self.prefs[recipient_id])

    # -- subscriptions
    def add_subscription(self, url, event_types, secret, actor, now):
        doc = {"_id": str(uuid.uuid4()), "url": url, "event_types": event_types,
               "secret": secret, "active": True, "created_at": now}
        self.subs[doc["_id"]] = doc
        return dict(doc)

    def remove_subscription(self, subscription_id, actor, now):
        doc = self.subs.get(subscription_id)
        if doc is None or not doc["active"]:
            return None
        doc["active"] = False
        return dict(doc)

    def active_subscriptions(self):
        self.subscription_reads += 1
        return [{k: v for k, v in s.items() if k != "secret"}
                for s in self.subs.values() if s["active"]]

    def secrets(self, ids):
        return {i: self.subs[i]["secret"] for i in ids if i in self.subs
                and self.subs[i]["active"]}

    # -- what events leave
    def add_notices(self, items, webhooks):
        fresh_items = [i for i in items if i["_id"] not in self.items]
        fresh_hooks = [w for w in webhooks if w["_id"] not in self.webhooks]
        self.items.update({i["_id"]: copy.deepcopy(i) for i in fresh_items})
        self.webhooks.update({w["_id"]: copy.deepcopy(w) for w in fresh_hooks})
        return fresh_items, fresh_hooks

    def inbox_item(self, item_id):
        return self.items.get(item_id)

    def mark_read(self, item_id, now):
        item = self.items.get(item_id)
        if item is not None and not item["read"]:
            item.update(read=True, read_at=now)
        return copy.deepcopy(item)

    # -- sending
    def due(self, now, limit):
        items = [i["_id"] for i in self.items.values() if i["due"] and i["due"] <= now]
        hooks = [w["_id"] for w in self.webhooks.values()
                 if w["state"] == "pending" and w["next_attempt_at"] <= now]
        return items[:limit], hooks[:limit]

    def claim_item(self, item_id, now, lease_seconds):
        item = self.items[item_id]
        if not item["due"] or item["due"] > now:
            return None
        item.update(due=now + timedelta(seconds=lease_seconds), lease=uuid.uuid4().hex)
        return copy.deepcopy(item)

    def record_item(self, item, deliveries, due):
        held = self.items[item["_id"]]
        if held["lease"] != item["lease"]:
            return False
        held.update(deliveries=copy.deepcopy(deliveries), due=due, lease=None)
        return True

    def claim(self, delivery_id, now, lease_seconds):
        doc = self.webhooks[delivery_id]
        if doc["state"] != "pending" or doc["next_attempt_at"] > now:
            return None
        doc.update(next_attempt_at=now + timedelta(seconds=lease_seconds),
                   lease=uuid.uuid4().hex)
        return copy.deepcopy(doc)

    def record_attempt(self, claimed, attempt, state, next_attempt_at, now):
        doc = self.webhooks[claimed["_id"]]
        if doc["lease"] != claimed["lease"]:
            return False
        doc["attempts"].append(attempt)
        doc.update(state=state, next_attempt_at=next_attempt_at, updated_at=now, lease=None)
        return True

    # -- what a test looks at
    def log(self, item_id):
        """The item's deliveries as the delivery log shows them."""
        item = self.items[item_id]
        return [item_delivery(item, entry) for entry in item["deliveries"]]


class FakeSenders:
    """Records every send; answers from a script whose last outcome repeats.

    Like the real ones, a webhook without its subscription's secret is not sent.
    """

    def __init__(self, *script):
        self.script = list(script) or [Outcome(True, status=250)]
        self.sent: list[tuple] = []

    def send(self, delivery, secret=None):
        if delivery["channel"] == "webhook" and secret is None:
            return Outcome(False, error="subscription no longer exists", final=True)
        self.sent.append((delivery["channel"], delivery["target"], secret))
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]


@pytest.fixture(scope="module")
def rules():
    return load_rules({"ZHIDU_SMTP_HOST": "mail.test", "ZHIDU_HR_IDS": "H9"})


def penalty(employee_id="E1", entry_id="P1"):
    return make_envelope("penalties", "penalty_issued", {
        "entry_id": entry_id, "employee_id": employee_id, "share": "individual",
        "points": 3, "amount_yuan": 30, "domain": "conduct", "code": "C07",
        "incident_id": "INC-1"})


def no_subscribers(event_type):
    return []


def courier_for(store, rules, *script):
    senders, settled = FakeSenders(*script), []
    courier = Courier(store, senders, rules.policy, lambda c, s: settled.append((c, s)))
    return courier, senders, settled


# -- notify --------------------------------------------------------------------------------
def test_a_penalty_notice_is_one_item_carrying_its_mail_and_nothing_leaves_inside_the_unit(
        rules):
    store = FakeStore()
    courier, senders, _ = courier_for(store, rules)
    now = utcnow()
    notified = app.notify(store, rules, no_subscribers, penalty(), now=now)
    [item] = notified.items
    assert notified.webhooks == [] and notified.outbound()
    assert item["recipient_id"] == "E1" and item["title"] == "奖罚通知单：C07"
    [mail] = item["deliveries"]
    assert (mail["channel"], mail["target"], mail["state"]) == ("email", "li@example.com",
                                                                 "pending")
    # Stored leased to the sender that will try it once the unit commits.
    assert item["lease"] and item["due"] == now + timedelta(seconds=rules.policy.lease_seconds)
    assert senders.sent == []  # the unit sends nothing

    assert courier.send_now(notified) == {"attempted": 1, "delivered": 1, "retrying": 0,
                                          "failed": 0}
    assert senders.sent == [("email", "li@example.com", None)]
    [logged] = store.log(item["_id"])
    assert logged["state"] == "delivered" and len(logged["attempts"]) == 1
    assert store.items[item["_id"]]["due"] is None and store.items[item["_id"]]["lease"] is None


def test_a_unit_run_again_stores_once_and_its_mail_goes_once(rules):
    """What the driver does after a write conflict: the first run's writes vanish
    and the function runs again. Only the run that committed is sent."""
    store = FakeStore()
    courier, senders, _ = courier_for(store, rules)
    before = copy.deepcopy(store.__dict__)
    app.notify(store, rules, no_subscribers, penalty())   # rolled back
    store.__dict__.update(copy.deepcopy(before))
    committed = app.notify(store, rules, no_subscribers, penalty())
    assert senders.sent == []
    courier.send_now(committed)
    assert senders.sent == [("email", "li@example.com", None)]
    assert len(store.items) == 1


def test_a_repeated_event_stores_nothing_new_and_sends_nothing(rules):
    store, event = FakeStore(), penalty()
    courier, senders, _ = courier_for(store, rules)
    courier.send_now(app.notify(store, rules, no_subscribers, event))
    again = app.notify(store, rules, no_subscribers, event)
    assert again.items == [] and not again.outbound()
    assert len(senders.sent) == 1


def test_an_event_for_subscribers_only_reads_nobody_and_posts_the_envelope(rules):
    store = FakeStore()
    sub = app.subscribe(store, rules, lambda: None, {
        "url": "http://hook.test/a", "event_types": ["dormitory.*"], "secret": "s" * 20,
        "actor": {"id": "IT1", "role": "it_admin"}})
    subscribers = Subscribers(store.active_subscriptions, ttl=60)
    violation = make_envelope("dormitory", "violation_recorded", {
        "violation_id": "V1", "employee_id": "E1", "code": "D16", "points": 3})
    store.people = None  # the violation tells nobody: no names are looked up
    notified = app.notify(store, rules, subscribers.matching, violation)
    [hook] = notified.webhooks
    assert notified.items == [] and hook["subscription_id"] == sub["subscription_id"]
    courier, senders, _ = courier_for(store, rules)
    courier.send_now(notified)
    assert senders.sent == [("webhook", "http://hook.test/a", "s" * 20)]
    assert store.webhooks[hook["_id"]]["state"] == "delivered"


def test_a_decision_before_its_notice_waits_and_one_naming_its_people_does_not(rules):
    store = FakeStore()
    decided = make_envelope("penalties", "notice_decided", {"notice_id": "N-1",
                                                            "approved": True})
    with pytest.raises(app.UnknownNotice):
        app.notice_decided(store, rules, no_subscribers, decided)
    with pytest.raises(DomainValidation) as refused:
        app.notice_decided(store, rules, no_subscribers,
                           make_envelope("penalties", "notice_decided", {}))
    assert refused.value.errors == {"data.notice_id": ["missing"]}
    app.notice_awaiting_approval(store, rules, no_subscribers, make_envelope(
        "penalties", "notice_awaiting_approval", {"notice_id": "N-1",
                                                  "employee_ids": ["E1", "M1"]}))
    notified = app.notice_decided(store, rules, no_subscribers, decided)
    assert sorted(i["recipient_id"] for i in notified.items) == ["E1", "M1"]


# -- mark_read -----------------------------------------------------------------------------
def test_an_item_is_marked_read_once_and_an_unknown_item_is_not_found(rules):
    store = FakeStore()
    [item] = app.notify(store, rules, no_subscribers, penalty()).items
    assert app.item_recipient(store, item["_id"], "E9") == "E1"
    assert app.item_recipient(store, "nope", "E9") == "E9"
    first = utcnow()
    read = app.mark_read(store, item["_id"], first)
    assert read == {"id": item["_id"], "event_id": item["event_id"],
                    "event_type": "penalties.penalty_issued", "title": item["title"],
                    "body": item["body"], "created_at": item["created_at"], "read": True}
    app.mark_read(store, item["_id"], first + timedelta(hours=1))
    assert store.items[item["_id"]]["read_at"] == first  # the first reading stands
    with pytest.raises(DomainNotFound):
        app.mark_read(store, "nope")


# -- a delivery retry ------------------------------------------------------------------------
def test_a_failed_mail_is_retried_by_the_sweep_on_the_schedule_one_unit_per_item(rules):
    store = FakeStore()
    down = Outcome(False, error="ConnectionRefusedError: [Errno 111]")
    courier, senders, settled = courier_for(store, rules, down, down, Outcome(True, status=250))
    notified = app.notify(store, rules, no_subscribers, penalty())
    [item_id] = [i["_id"] for i in notified.items]
    assert courier.send_now(notified)["retrying"] == 1
    [mail] = store.log(item_id)
    failed_at = mail["attempts"][0]["at"]
    assert mail["state"] == "pending" and mail["next_attempt_at"] == failed_at + timedelta(
        seconds=10)
    assert store.items[item_id]["due"] == mail["next_attempt_at"]

    # One second early nothing is due; on time the sweep claims the item in a unit.
    assert app.sweep(courier, failed_at + timedelta(seconds=9))["attempted"] == 0
    assert store.units == 0
    second = failed_at + timedelta(seconds=10)
    assert app.sweep(courier, second) == {"attempted": 1, "delivered": 0, "retrying": 1,
                                          "failed": 0}
    assert store.units == 1
    third = second + timedelta(seconds=60)
    assert app.sweep(courier, third)["delivered"] == 1
    [mail] = store.log(item_id)
    assert [a["ok"] for a in mail["attempts"]] == [False, False, True]
    assert [a["at"] for a in mail["attempts"][1:]] == [second, third]
    assert mail["state"] == "delivered" and store.items[item_id]["due"] is None
    assert app.sweep(courier, third + timedelta(days=1))["attempted"] == 0
    assert len(senders.sent) == 3 and store.units == 2
    assert settled == [("email", "pending"), ("email", "pending"), ("email", "delivered")]


def test_an_item_left_leased_by_a_dead_sender_is_sent_when_the_lease_runs_out(rules):
    store = FakeStore()
    courier, senders, _ = courier_for(store, rules)
    now = utcnow()
    [item] = app.notify(store, rules, no_subscribers, penalty(), now=now).items
    # The process that stored it died before sending: nobody touches it while leased.
    assert app.sweep(courier, now + timedelta(seconds=119))["attempted"] == 0
    assert app.sweep(courier, now + timedelta(seconds=120))["delivered"] == 1
    assert senders.sent == [("email", "li@example.com", None)]


def test_a_send_that_could_outlast_its_lease_is_left_to_the_sweep(rules):
    store = FakeStore()
    courier, senders, _ = courier_for(store, rules)
    # Stored long enough ago that less than one send timeout of its lease is left.
    stored = utcnow() - timedelta(seconds=rules.policy.lease_seconds - 5)
    notified = app.notify(store, rules, no_subscribers, penalty(), now=stored)
    assert courier.send_now(notified)["attempted"] == 0 and senders.sent == []
    assert app.sweep(courier, utcnow() + timedelta(seconds=5))["delivered"] == 1


def test_a_webhook_to_a_removed_subscription_fails_for_good_unsent(rules):
    store = FakeStore()
    sub = app.subscribe(store, rules, lambda: None, {
        "url": "http://hook.test/p", "event_types": ["penalties.penalty_issued"],
        "secret": "s" * 20, "actor": {"id": "IT1", "role": "it_admin"}})
    notified = app.notify(store, rules, Subscribers(store.active_subscriptions, 60).matching,
                          penalty())
    app.unsubscribe(store, lambda: None, sub["subscription_id"], {"id": "IT1"})
    courier, senders, _ = courier_for(store, rules)
    assert courier.send_now(notified) == {"attempted": 2, "delivered": 1, "retrying": 0,
                                          "failed": 1}
    assert [s[0] for s in senders.sent] == ["email"]
    [hook] = notified.webhooks
    assert store.webhooks[hook["_id"]]["attempts"][0]["ok"] is False


def test_a_person_delivery_stored_before_items_carried_them_is_still_retried(rules):
    store = FakeStore()
    failed_at = utcnow()
    store.webhooks["D-old"] = {
        "_id": "D-old", "event_id": "EV-old", "event_type": "penalties.penalty_issued",
        "channel": "email", "recipient_id": "E1", "subscription_id": None,
        "target": "li@example.com", "message": {"subject": "奖罚通知单", "body": "…"},
        "state": "pending", "attempts": [{"at": failed_at, "ok": False}],
        "next_attempt_at": failed_at + timedelta(seconds=10), "lease": None}
    courier, senders, _ = courier_for(store, rules)
    assert app.sweep(courier, failed_at + timedelta(seconds=10))["delivered"] == 1
    assert senders.sent == [("email", "li@example.com", None)]
    assert store.webhooks["D-old"]["state"] == "delivered" and store.units == 1


# -- what the handlers read ---------------------------------------------------------------------
def test_the_subscriber_list_is_read_once_a_while_and_again_after_a_change(rules):
    store, clock = FakeStore(), [0.0]
    subscribers = Subscribers(store.active_subscriptions, ttl=5, clock=lambda: clock[0])
    changed = subscribers.forget
    assert subscribers.matching("penalties.penalty_issued") == []
    made = app.subscribe(store, rules, changed, {
        "url": "http://hook.test/s", "event_types": ["penalties.*"], "secret": "s" * 20,
        "actor": {"id": "IT1", "role": "it_admin"}})
    [sub] = subscribers.matching("penalties.penalty_issued")
    assert sub["_id"] == made["subscription_id"] and "secret" not in sub
    assert subscribers.matching("complaints.assigned") == []
    assert store.subscription_reads == 2
    clock[0] = 4.9
    subscribers.matching("penalties.threshold_reached")
    assert store.subscription_reads == 2
    clock[0] = 5.0
    subscribers.matching("penalties.threshold_reached")
    assert store.subscription_reads == 3


def test_a_change_during_a_read_is_not_hidden_by_that_read():
    subscribers = Subscribers(lambda: subscribers.forget() or [{"event_types": ["*"]}], ttl=60)
    subscribers.active()
    assert subscribers.cached is None


def test_preferences_keep_the_inbox_first_and_refuse_unknown_locales(rules):
    store = FakeStore()
    set_ = {"recipient_id": "E1", "channels": ["email", "inbox", "email"], "locale": None,
            "actor": {"id": "E1", "role": "staff"}}
    assert app.set_preferences(store, rules, set_)["channels"] == ["inbox", "email"]
    with pytest.raises(DomainValidation) as refused:
        app.set_preferences(store, rules, dict(set_, channels=None, locale="fr"))
    assert "locale" in refused.value.errors
    assert app.get_preferences(store, rules, "M1") == {
        "recipient_id": "M1", "channels": ["inbox", "email"], "locale": "zh-CN"}


def test_earliest_due_is_the_first_pending_retry():
    t = utcnow()
    assert earliest_due([{"state": "delivered", "next_attempt_at": None},
                         {"state": "pending", "next_attempt_at": t + timedelta(seconds=60)},
                         {"state": "pending", "next_attempt_at": t}]) == t
    assert earliest_due([{"state": "failed", "next_attempt_at": None}]) is None
