"""The notifications service's application functions, each run in the unit of work it is given.

A unit is the store (bound to the unit's transaction), the rules and, for an
event, the webhook subscribers; the service emits no events, so it has no
outbox to hand on. Nothing here sends: an event's unit stores the inbox items
and the deliveries and returns the new ones (:class:`Notified`), and they are
sent once the unit has committed. So the driver may re-run any of these as
often as a conflict asks, and nobody hears twice.
"""
from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from zhidu.domain import DomainNotFound, DomainValidation
from zhidu.times import parse_time, utcnow
from zhidu.uow import on_commit

from . import rota
from .alerts import alerts_in
from .dispatch import Courier, Notified
from .fanout import fan_out, pack, person_ids_in, shown_target
from .people import StoreDirectory
from .routing import Resolution
from .rulebook import Rules

log = logging.getLogger(__name__)


class UnknownNotice(LookupError):
    """A decision about a penalty notice this service has not seen (yet).

    Not a refusal: the notice may still arrive, so the event is retried on
    the back-off schedule and then parked for a replay, like any failure.
    """


# -- the directory copy ----------------------------------------------------------------
def remember_person(store, event: dict) -> str:
    data = event["data"]
    if not data.get("employee_id"):
        raise DomainValidation.one("data.employee_id", "missing")
    store.upsert_person(data["employee_id"], data, parse_time(event["time"]))
    return data["employee_id"]


def person_departed(store, event: dict) -> str:
    data = event["data"]
    if not data.get("employee_id"):
        raise DomainValidation.one("data.employee_id", "missing")
    store.mark_departed(data["employee_id"], parse_time(data.get("at") or event["time"]))
    return data["employee_id"]


# -- the duty rota and Alertmanager's alerts ----------------------------------------------
def duty_rostered(store, event: dict) -> int:
    """Keep attendance's on-call entries; returns how many were newer than the copy."""
    return store.remember_duty(rota.duty_entries(event.get("data") or {}),
                               parse_time(event["time"]))


def who_is_on_call(store, rules: Rules, department: str, at) -> rota.OnCall:
    oncall = rules.oncall
    entries = store.duty_around(department, at)
    departed = {pid for pid, p in store.people(e["employee_id"] for e in entries).items()
                if p.get("departed_at")}
    fallback = [pid for role in oncall.fallback_roles for pid in store.with_role(role)]
    return rota.on_call([e for e in entries if e["employee_id"] not in departed],
                        department, at,
                        managers=store.with_role("dept_manager", department),
                        fallback=[*fallback, *rules.oncall_fallback],
                        last_resort=oncall.last_resort_inbox)


def receive_alerts(store, rules: Rules, payload: dict, now=None) -> tuple[dict, Notified]:
    """Tell whoever is on call about each alert that is news; the rest were told already.

    Returns the caller's answer and what to send once the unit committed.
    """
    now = now or utcnow()
    told, repeats, items = [], 0, []
    for alert in alerts_in(payload, rules.oncall):
        if store.alert_told(alert.key, now):
            repeats += 1
            continue
        duty = who_is_on_call(store, rules, alert.department, now)
        recipients = list(duty.people)
        out = fan_out(
            alert.envelope(now.isoformat()), rules.oncall.route(alert.receiver, alert.status),
            recipients, people=store.people(recipients),
            preferences=store.preferences(recipients), subscriptions=[],
            catalogue=rules.catalogue, policy=rules.policy, channels=rules.channels,
            default_locale=rules.default_locale, tz=rules.tz, now=now)
        parcels = pack(out, lease=uuid.uuid4().hex, lease_seconds=rules.policy.lease_seconds,
                       now=now)
        new, _ = store.add_notices(parcels.items, [])
        items += new
        told.append({"alertname": alert.data["alertname"], "status": alert.status,
                     "fingerprint": alert.data["fingerprint"], "department": alert.department,
                     "recipients": recipients, "chosen_by": duty.source})
    return {"told": told, "repeats": repeats}, Notified("alertmanager.alerts", items, [])


# -- events that concern people ----------------------------------------------------------
def concerns_anyone(rules: Rules, subscribers, event: dict) -> bool:
    """Whether ``notify`` could write anything for ``event``, from memory alone.

    An event whose route tells no one (it exists for webhooks) and that no
    subscription takes is the chain's commonest case: the resident hears of a
    dormitory violation through the penalty notice, not the violation. It is
    acknowledged without a transaction; the subscriptions are the cached ones,
    so a subscription made a moment ago takes the next event.
    """
    if event["source"] == "complaints":
        return True  # notify remembers the case's owner even when no one is told
    route = rules.routes.route(event["type"])
    if route is not None and route.recipients:
        return True
    return bool(subscribers(event["type"]))


def notify(store, rules: Rules, subscribers, event: dict, known: dict | None = None,
           now=None, metrics=None) -> Notified:
    """Store the inbox items and deliveries ``event`` calls for; return the new ones.

    ``subscribers(event_type)`` gives the active webhook subscriptions for
    the event; ``known`` is what the service remembers about the event's
    subject, for the templates; ``metrics`` the service's, to count an
    event whose route found nobody.
    """
    now = now or utcnow()
    data = event.get("data") or {}
    if event["source"] == "complaints" and data.get("number") and data.get("owner_id"):
        # sla_warning / sla_breached name only the case: remember its owner.
        store.remember_case(str(data["number"]), data["owner_id"], data.get("department"),
                            parse_time(event["time"]))
    table = rules.routes
    route = table.route(event["type"])
    recipients = []
    if route is not None:
        resolution = table.resolve(event["type"], data, StoreDirectory(store, rules.groups))
        recipients = resolution.recipients
        if resolution.unrouted:
            # Once, for the unit that commits: a re-run unit would count again.
            on_commit(lambda: unrouted(event, resolution, metrics))
    # Names and addresses only matter to someone told: a webhook carries the envelope.
    people = store.people(person_ids_in(event, recipients, known)) if recipients else {}
    out = fan_out(
        event, route, recipients, people=people, preferences=store.preferences(recipients),
        subscriptions=subscribers(event["type"]), catalogue=rules.catalogue,
        policy=rules.policy, channels=rules.channels, default_locale=rules.default_locale,
        tz=rules.tz, now=now, known=known)
    parcels = pack(out, lease=uuid.uuid4().hex, lease_seconds=rules.policy.lease_seconds,
                   now=now)
    items, webhooks = store.add_notices(parcels.items, parcels.webhooks)
    return Notified(event["type"], items, webhooks)


def unrouted(event: dict, resolution: Resolution, metrics=None) -> None:
    """An event whose route names people found none of them: counted, logged
    (on-call hears of it, ZhiduNotificationsUnrouted); told instead were the
    fallback's people, if any."""
    if metrics is not None:
        metrics["unrouted"].labels(event["type"]).inc()
    if resolution.recipients:
        log.warning("%s %s: the route found nobody it names; told the fallback %s",
                    event["type"], event.get("id"), ", ".join(resolution.recipients))
    else:
        log.error("%s %s: neither the route nor its fallback found anybody: nobody was "
                  "told", event["type"], event.get("id"))


def notice_awaiting_approval(store, rules: Rules, subscribers, event: dict,
                             metrics=None) -> Notified:
    data = event["data"]
    if not data.get("notice_id"):
        raise DomainValidation.one("data.notice_id", "missing")
    # The decision names only the notice: keep who it concerns for then.
    store.remember_notice(str(data["notice_id"]), data, parse_time(event["time"]))
    return notify(store, rules, subscribers, event, metrics=metrics)


def notice_decided(store, rules: Rules, subscribers, event: dict, metrics=None) -> Notified:
    data = event["data"]
    if not data.get("notice_id"):
        raise DomainValidation.one("data.notice_id", "missing")
    notice = store.notice(str(data["notice_id"]))
    if notice is None and not data.get("employee_ids"):
        # The decision overtook its notice (a retried delivery, or this
        # service was down when the notice was raised). Telling nobody
        # would lose it; failing lets the retries wait for the notice and
        # leaves the event in the dead-letter queue for a replay after that.
        raise UnknownNotice(f"penalty notice {data['notice_id']} has not been seen")
    return notify(store, rules, subscribers, event, known=notice_context(notice, data),
                  metrics=metrics)


def notice_context(notice: dict | None, data: dict) -> dict:
    """What a decision's templates show of the notice it decides."""
    known = {k: v for k, v in (notice or {}).items() if k not in ("_id", "as_of")}
    decided_by = data.get("decided_by")
    if isinstance(decided_by, dict):  # an actor {id, role} rather than a bare id
        decided_by = decided_by.get("id")
    if isinstance(decided_by, str) and decided_by:
        known["decider_id"] = decided_by
    return known


# -- the inbox -------------------------------------------------------------------------
def inbox(store, recipient_id: str, unread_only: bool, limit: int) -> list[dict]:
    return [inbox_item(doc) for doc in store.inbox(recipient_id, unread_only, limit)]


def item_recipient(store, item_id: str, caller_id: str | None) -> str | None:
    """Whose item this is; an id naming no item is the caller's own, who then hears NotFound."""
    item = store.inbox_item(item_id or "")
    return item["recipient_id"] if item is not None else caller_id


def mark_read(store, item_id: str, now=None) -> dict:
    doc = store.mark_read(item_id, now or utcnow())
    if doc is None:
        raise DomainNotFound(f"inbox item {item_id} not found")
    return inbox_item(doc)


def inbox_item(doc: dict) -> dict:
    return {"id": doc["_id"], "event_id": doc["event_id"], "event_type": doc["event_type"],
            "title": doc["title"], "body": doc["body"], "created_at": doc["created_at"],
            "read": doc["read"]}


# -- preferences -----------------------------------------------------------------------
def get_preferences(store, rules: Rules, recipient_id: str) -> dict:
    return preferences(recipient_id, store.preferences([recipient_id]).get(recipient_id), rules)


def set_preferences(store, rules: Rules, payload: dict, now=None) -> dict:
    changes = {"updated_at": now or utcnow(), "updated_by": payload["actor"]}
    if payload["locale"] is not None:
        if payload["locale"] not in rules.catalogue.locales:
            raise DomainValidation.one(
                "locale", f"expected one of {', '.join(sorted(rules.catalogue.locales))}")
        changes["locale"] = payload["locale"]
    if payload["channels"] is not None:
        # The inbox is always on, and listed first.
        changes["channels"] = ["inbox", *dict.fromkeys(
            c for c in payload["channels"] if c != "inbox")]
    doc = store.set_preferences(payload["recipient_id"], changes)
    return preferences(payload["recipient_id"], doc, rules)


def preferences(recipient_id: str, doc: dict | None, rules: Rules) -> dict:
    doc = doc or {}
    return {"recipient_id": recipient_id,
            "channels": doc.get("channels") or list(rules.policy.default_channels),
            "locale": doc.get("locale") or rules.default_locale}


# -- webhook subscriptions ---------------------------------------------------------------
def subscribe(store, rules: Rules, hooks, payload: dict, now=None) -> dict:
    """Register a webhook to a URL ``hooks`` lets webhooks reach (the name is
    resolved now, and again before every attempt); its secret is stored sealed."""
    known = set(rules.routes.routes)
    sources = {t.split(".", 1)[0] for t in known}
    unknown = [t for t in payload["event_types"] if t != "*" and t not in known and not (
        t.endswith(".*") and t[:-2] in sources)]
    if unknown:
        raise DomainValidation.one(
            "event_types", f"not an event type this service delivers: {', '.join(unknown)}")
    hooks.vet(payload["url"])
    doc = store.add_subscription(payload["url"], list(dict.fromkeys(payload["event_types"])),
                                 hooks.seal(payload["secret"]), payload["actor"],
                                 now or utcnow())
    hooks.changed()
    return {"subscription_id": doc["_id"]}


def rotate_secret(store, hooks, payload: dict, now=None) -> dict:
    """A new secret signs every delivery from now on; for ``overlap_seconds`` the
    one it replaces signs them too, so receivers can switch at their own pace."""
    now = now or utcnow()
    until = now + timedelta(seconds=payload["overlap_seconds"])
    doc = store.rotate_secret(payload["subscription_id"], hooks.seal(payload["secret"]),
                              until if payload["overlap_seconds"] else None,
                              payload["actor"], now)
    if doc is None:
        raise DomainNotFound(f"subscription {payload['subscription_id']} not found")
    return {"subscription_id": doc["_id"], "previous_secret_until": doc["previous_until"]}


def unsubscribe(store, changed, subscription_id: str, actor: dict, now=None) -> dict:
    doc = store.remove_subscription(subscription_id, actor, now or utcnow())
    if doc is None:
        raise DomainNotFound(f"subscription {subscription_id} not found")
    changed()
    return {"subscription_id": doc["_id"], "active": False}


def subscriptions(store) -> list[dict]:
    return [{"subscription_id": doc["_id"], "url": doc["url"],
             "event_types": doc["event_types"], "active": doc["active"],
             "created_at": doc["created_at"],
             "secret_rotated_at": doc.get("rotated_at"),
             "previous_secret_until": doc.get("previous_until")}
            for doc in store.list_subscriptions()]


# -- the delivery log and the sweep ------------------------------------------------------
def deliveries(store, event_id=None, recipient_id=None, subscription_id=None,
               limit: int = 100) -> list[dict]:
    return [delivery(doc) for doc in store.deliveries(event_id, recipient_id, subscription_id,
                                                      limit)]


def delivery(doc: dict) -> dict:
    return {"id": doc["_id"], "event_id": doc["event_id"], "event_type": doc["event_type"],
            "channel": doc["channel"], "recipient_id": doc.get("recipient_id"),
            "subscription_id": doc.get("subscription_id"), "target": shown_target(doc),
            "state": doc["state"], "attempts": doc.get("attempts") or [],
            "next_attempt_at": doc.get("next_attempt_at"), "created_at": doc["created_at"],
            "updated_at": doc.get("updated_at")}


def sweep(courier: Courier, now=None) -> dict:
    """Attempt one batch of what is due at ``now``: a unit per delivery, none around the sends."""
    counts, _more = courier.sweep(now or utcnow())
    return counts


def sweep_due(courier: Courier, max_batches: int) -> None:
    """The timer's sweep: batch after batch while they come back full; webhooks
    in a sweep of their own beside it, so no subscriber holds up people's mail."""
    courier.sweep_due(max_batches)
