"""The application functions over a fake unit of work: no broker, no database, no network.

The store is an in-memory stand-in with only the methods the functions use;
the senders record what would have left the building.
"""
import copy
import ipaddress
import uuid
from datetime import timedelta

import eventlet
import eventlet.event
import pytest
from cryptography.fernet import Fernet
from notifications import app
from notifications.channels import Outcome
from notifications.dispatch import Courier
from notifications.fanout import earliest_due, item_delivery
from notifications.outbound import Hooks, Subscribers
from notifications.rulebook import load_rules
from notifications.targets import TargetPolicy
from zhidu.domain import DomainNotFound, DomainValidation
from zhidu.envelope import make_envelope
from zhidu.secretbox import InvalidToken, SecretBox
from zhidu.times import utcnow

BOX = SecretBox([Fernet.generate_key()])

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
    def add_subscription(self, url, event_types, sealed_secret, actor, now):
        doc = {"_id": str(uuid.uuid4()), "url": url, "event_types": event_types,
               "secret_sealed": sealed_secret, "previous_secret_sealed": None,
               "previous_until": None, "active": True, "created_at": now}
        self.subs[doc["_id"]] = doc
        return dict(doc)

    def rotate_secret(self, subscription_id, sealed_secret, previous_until, actor, now):
        doc = self.subs.get(subscription_id)
        if doc is None or not doc["active"]:
            return None
        doc.update(previous_secret_sealed=doc["secret_sealed"], secret_sealed=sealed_secret,
                   previous_until=previous_until, rotated_at=now)
        return dict(doc)

    def remove_subscription(self, subscription_id, actor, now):
        doc = self.subs.get(subscription_id)
        if doc is None or not doc["active"]:
            return None
        doc["active"] = False
        return dict(doc)

    def active_subscriptions(self):
        self.subscription_reads += 1
        return [{k: v for k, v in s.items() if "secret" not in k}
                for s in self.subs.values() if s["active"]]

    def secrets(self, ids, now):
        found = {}
        for i in ids:
            doc = self.subs.get(i)
            if doc is None or not doc["active"]:
                continue
            found[i] = [doc["secret_sealed"]]
            if doc["previous_until"] is not None and doc["previous_until"] > now:
                found[i].append(doc["previous_secret_sealed"])
        return found

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
        own = [w["_id"] for w in self.webhooks.values() if w["channel"] != "webhook"
               and w["state"] == "pending" and w["next_attempt_at"] <= now]
        return items[:limit], own[:limit]

    def due_webhooks(self, now, limit):
        return [{"_id": w["_id"], "target": w["target"]} for w in self.webhooks.values()
                if w["channel"] == "webhook" and w["state"] == "pending"
                and w["next_attempt_at"] <= now][:limit]

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

    Like the real ones, a webhook without its subscription's secrets is not sent.
    """

    def __init__(self, *script):
        self.script = list(script) or [Outcome(True, status=250)]
        self.sent: list[tuple] = []

    def send(self, delivery, secrets=None):
        if delivery["channel"] == "webhook" and secrets is None:
            return Outcome(False, error="subscription no longer exists", final=True)
        self.sent.append((delivery["channel"], delivery["target"], secrets))
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
    courier = Courier(store, senders, rules.policy, lambda c, s: settled.append((c, s)),
                      box=BOX)
    return courier, senders, settled


def public(host, port):
    """A resolver for the tests' host names: each a public address."""
    return ["93.184.216.34"]


def hooks(changed=lambda: None, resolve=public, allowed=()):
    return Hooks(TargetPolicy(allowed, resolve), BOX, changed)


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
    sub = app.subscribe(store, rules, hooks(), {
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
    assert senders.sent == [("webhook", "http://hook.test/a", ["s" * 20])]
    assert store.webhooks[hook["_id"]]["state"] == "delivered"


def test_an_event_that_tells_no_one_and_that_no_subscription_takes_concerns_nobody(rules):
    """Such an event is acknowledged without a transaction; a subscription, a
    route naming people, or a complaint (whose owner is remembered) makes it
    concern someone."""
    violation = make_envelope("dormitory", "violation_recorded", {
        "violation_id": "V1", "employee_id": "E1", "code": "D16", "points": 3})
    assert not app.concerns_anyone(rules, no_subscribers, violation)
    assert app.concerns_anyone(rules, lambda event_type: [{"_id": "S1"}], violation)
    assert app.concerns_anyone(rules, no_subscribers, penalty())
    warning = make_envelope("complaints", "sla_warning", {"number": "C202611-0001"})
    assert app.concerns_anyone(rules, no_subscribers, warning)


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
    sub = app.subscribe(store, rules, hooks(), {
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
    made = app.subscribe(store, rules, hooks(changed), {
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


# -- webhooks: where they may point, their secrets, their own lane ------------------------
ADMIN = {"id": "IT1", "role": "it_admin"}


def hook_payload(url, **extra):
    return {"url": url, "event_types": ["penalties.*"], "secret": "s" * 20, "actor": ADMIN,
            **extra}


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/hook", "http://[::1]/hook", "http://[::ffff:127.0.0.1]/hook",
    "http://169.254.169.254/latest/meta-data/", "http://0.0.0.0/", "http://10.1.2.3/",
    "http://2130706433/", "http://0x7f000001/", "http://ops:hunter2@hook.test/",
])
def test_a_webhook_that_would_reach_inside_or_carries_credentials_is_refused_naming_url(
        rules, url):
    store = FakeStore()
    with pytest.raises(DomainValidation) as refused:
        app.subscribe(store, rules, hooks(), hook_payload(url))
    assert list(refused.value.errors) == ["url"]
    assert store.subs == {}


def test_a_name_is_judged_by_every_address_it_resolves_to(rules):
    store = FakeStore()
    inside = {"intranet.test": ["10.0.0.8"], "both.test": ["93.184.216.34", "192.168.1.9"]}

    def resolve(host, port):
        return inside.get(host, [])
    for host, said in (("intranet.test", "resolves to 10.0.0.8, a private address"),
                       ("both.test", "resolves to 192.168.1.9, a private address"),
                       ("nowhere.test", "does not resolve")):
        with pytest.raises(DomainValidation) as refused:
            app.subscribe(store, rules, hooks(resolve=resolve),
                          hook_payload(f"http://{host}/h"))
        assert said in refused.value.errors["url"][0], refused.value.errors
    # A network the deployment lists is reachable; a metadata address never is.
    allowed = hooks(resolve=resolve, allowed=[ipaddress.ip_network("10.0.0.0/8"),
                                              ipaddress.ip_network("169.254.0.0/16")])
    assert app.subscribe(store, rules, allowed, hook_payload("http://intranet.test/h"))
    with pytest.raises(DomainValidation, match="metadata"):
        app.subscribe(store, rules, allowed, hook_payload("http://169.254.169.254/"))


def test_the_secret_is_stored_sealed_and_only_the_key_opens_it(rules):
    store = FakeStore()
    made = app.subscribe(store, rules, hooks(), hook_payload("http://hook.test/s"))
    stored = store.subs[made["subscription_id"]]
    assert "secret" not in stored and "s" * 20 not in repr(stored)
    assert BOX.open(stored["secret_sealed"]) == "s" * 20
    with pytest.raises(InvalidToken):
        SecretBox([Fernet.generate_key()]).open(stored["secret_sealed"])


def test_a_rotated_secret_signs_beside_the_old_one_until_the_overlap_ends(rules):
    store = FakeStore()
    made = app.subscribe(store, rules, hooks(), hook_payload("http://hook.test/r"))
    now = utcnow()
    rotated = app.rotate_secret(store, hooks(), {
        "subscription_id": made["subscription_id"], "secret": "n" * 20,
        "overlap_seconds": 3600, "actor": ADMIN}, now=now)
    assert rotated["previous_secret_until"] == now + timedelta(seconds=3600)
    subscribers = Subscribers(store.active_subscriptions, ttl=0).matching
    down = Outcome(False, status=503, error="HTTP 503")
    courier, senders, _ = courier_for(store, rules, down, down, Outcome(True, status=200))
    # Within the overlap every delivery carries both, the new one first.
    notified = app.notify(store, rules, subscribers, penalty(), now=now)
    courier.send_now(notified)
    assert [s for s in senders.sent if s[0] == "webhook"] == [
        ("webhook", "http://hook.test/r", ["n" * 20, "s" * 20])]
    # Its retry after the overlap carries the new one only.
    app.sweep(courier, now + timedelta(seconds=3601))
    assert [s for s in senders.sent if s[0] == "webhook"][-1] == \
        ("webhook", "http://hook.test/r", ["n" * 20])
    with pytest.raises(DomainNotFound):
        app.rotate_secret(store, hooks(), {"subscription_id": "nope", "secret": "x" * 20,
                                           "overlap_seconds": 0, "actor": ADMIN})


class BlockingSenders(FakeSenders):
    """Webhooks to ``/hang`` wait until released; everything else answers at once."""

    def __init__(self):
        super().__init__()
        self.release = eventlet.event.Event()
        self.in_flight = self.most_in_flight = 0
        self.mail_sent_while_hanging = None

    def send(self, delivery, secrets=None):
        if delivery["channel"] == "email":
            self.mail_sent_while_hanging = self.in_flight > 0
        if delivery["channel"] == "webhook" and delivery["target"].endswith("/hang"):
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            try:
                self.release.wait()
            finally:
                self.in_flight -= 1
        return super().send(delivery, secrets)


def until(condition, seconds=5.0):
    timer = eventlet.Timeout(seconds)
    try:
        while not condition():
            eventlet.sleep(0.01)
    finally:
        timer.cancel()


def test_webhooks_that_hang_delay_no_mail_and_a_target_gets_at_most_its_share(rules):
    """The timer's sweeps: one whose webhooks hang does not hold up the next tick's mail."""
    store = FakeStore()
    for n in range(5):  # five subscriptions to one slow target
        app.subscribe(store, rules, hooks(), hook_payload(f"http://slow.test/{n}/hang",
                                                          event_types=["dormitory.*"]))
    senders = BlockingSenders()
    courier = Courier(store, senders, rules.policy, box=BOX)
    # Stored by a process that died: their lease has run out, the sweep sends them.
    long_ago = utcnow() - timedelta(seconds=rules.policy.lease_seconds + 1)
    app.notify(store, rules, Subscribers(store.active_subscriptions, 0).matching,
               make_envelope("dormitory", "violation_recorded", {
                   "violation_id": "V1", "employee_id": "E1", "code": "D16", "points": 3}),
               now=long_ago)
    courier.sweep_due(max_batches=1)
    until(lambda: senders.in_flight == rules.policy.webhook_per_target)
    # A mail falls due while the target holds them: the next tick sends it at once.
    app.notify(store, rules, no_subscribers, penalty(), now=long_ago)
    courier.sweep_due(max_batches=1)
    assert [s[1] for s in senders.sent] == ["li@example.com"]
    assert senders.mail_sent_while_hanging is True
    assert senders.in_flight == rules.policy.webhook_per_target and courier.webhooks_sweeping
    senders.release.send()
    until(lambda: not courier.webhooks_sweeping)
    assert all(w["state"] == "delivered" for w in store.webhooks.values())
    assert len(store.webhooks) == 5
    assert senders.most_in_flight == rules.policy.webhook_per_target


def test_a_target_that_does_not_answer_is_left_for_the_next_sweep(rules):
    store = FakeStore()
    for n in range(4):
        app.subscribe(store, rules, hooks(), hook_payload(f"http://dead.test/{n}"))
    app.subscribe(store, rules, hooks(), hook_payload("http://alive.test/x"))
    silent = Outcome(False, error="no reply within 5 s", unanswered=True)
    courier, senders, _ = courier_for(store, rules)
    notified = app.notify(store, rules, Subscribers(store.active_subscriptions, 0).matching,
                          make_envelope("penalties", "threshold_reached", {
                              "employee_id": "E9", "kind": "admonishment", "year": 2026}))
    senders.script = [silent]
    senders.send = lambda d, secrets=None, real=senders.send: (
        real(d, secrets) if "dead" in d["target"] else Outcome(True, status=200))
    due = max(w["next_attempt_at"] for w in notified.webhooks)
    counts = app.sweep(courier, due)  # the lease they were stored with has run out
    # No more of the dead target was tried than its slots allow (those already
    # under way when the first went unanswered), the rest left due; the other
    # target was served all the same.
    dead_tries = [s for s in senders.sent if "dead" in s[1]]
    assert 1 <= len(dead_tries) <= rules.policy.webhook_per_target
    assert counts["delivered"] == 1 and counts["attempted"] == 1 + len(dead_tries)
    untried = [w for w in store.webhooks.values() if "dead" in w["target"] and not w["attempts"]]
    assert len(untried) == 4 - len(dead_tries)
