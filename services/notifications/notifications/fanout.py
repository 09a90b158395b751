"""From one event to the documents that carry it: inbox items and deliveries.

Pure: the service gathers the people, preferences and subscriptions, this
module decides what to write, and the sender works only from what was
written. Ids derive from the event id, so a re-run of the handler's unit
decides the same documents.

What is stored is one document per person per event — the inbox item,
carrying that person's e-mail, SMS and chat deliveries (:func:`pack`) — and
one per webhook subscriber and per number outside the company: a notice to
one person costs one write, not one per channel.

A number outside the company (a customer's, routed by ``phone(...)``) gets
the route's SMS template and nothing else: no inbox, no preferences. Its
delivery keeps the number to send to; the delivery log shows it masked
(:func:`shown_target`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from zhidu.envelope import derived_id

from .retry import DeliveryPolicy
from .routing import Route, mask_phone, phone_number
from .templates import Catalogue, context


@dataclass(frozen=True)
class Channels:
    """Which outbound channels this deployment has configured."""

    email: bool = False
    sms: bool = False
    chat: bool = False

    def enabled(self) -> set[str]:
        return {name for name in ("email", "sms", "chat") if getattr(self, name)}


@dataclass
class Fanout:
    inbox: list[dict]
    deliveries: list[dict]


def person_ids_in(envelope: dict, recipients: list[str], known: dict | None = None) -> list[str]:
    """Everyone whose name a notice may show: recipients, ``*_id`` and ``*_ids`` fields."""
    data = {**(known or {}), **(envelope.get("data") or {})}
    named = [v for k, v in data.items() if k.endswith("_id") and isinstance(v, str)]
    for key, value in data.items():
        if key.endswith("_ids") and isinstance(value, (list, tuple)):
            named.extend(str(v) for v in value if isinstance(v, str) and v)
    return list(dict.fromkeys([*recipients, *named]))


def fan_out(envelope: dict, route: Route | None, recipients: list[str], *,
            people: dict[str, dict], preferences: dict[str, dict],
            subscriptions: list[dict], catalogue: Catalogue, policy: DeliveryPolicy,
            channels: Channels, default_locale: str, tz: ZoneInfo,
            now: datetime, known: dict | None = None) -> Fanout:
    """``known`` fills the templates only: webhooks carry the envelope as published."""
    names = {pid: p.get("name") for pid, p in people.items() if p.get("name")}
    inbox, deliveries = [], []
    for recipient in (recipients if route is not None else []):
        number = phone_number(recipient)
        if number is not None:
            # No gateway configured, no text: as for a person's SMS channel.
            if channels.sms:
                text = catalogue.render(route.sms_template, context(
                    envelope, mask_phone(number), names, tz, known), default_locale)
                deliveries.append(_delivery(envelope, "sms", now, key=recipient,
                                            target=number, external=True, message={
                                                "subject": text.title, "body": text.body}))
            continue
        person = people.get(recipient) or {}
        prefs = preferences.get(recipient) or {}
        values = context(envelope, recipient, names, tz, known)
        message = catalogue.render(route.template, values,
                                   prefs.get("locale") or default_locale)
        inbox.append({
            "_id": derived_id(envelope["id"], "inbox", recipient),
            "event_id": envelope["id"], "event_type": envelope["type"],
            "recipient_id": recipient, "title": message.title, "body": message.body,
            "locale": message.locale, "created_at": now, "read": False, "read_at": None,
        })
        for channel in _channels_for(person, prefs, route, policy, channels):
            target = {"email": person.get("email"), "sms": person.get("phone"),
                      "chat": person.get("phone")}[channel]
            deliveries.append(_delivery(envelope, channel, now, recipient_id=recipient,
                                        target=target, message={
                                            "subject": message.title, "body": message.body}))
    for sub in subscriptions:
        deliveries.append(_delivery(envelope, "webhook", now, subscription_id=sub["_id"],
                                    target=sub["url"], message={"body": webhook_body(envelope)}))
    return Fanout(inbox=inbox, deliveries=deliveries)


def _channels_for(person: dict, prefs: dict, route: Route, policy: DeliveryPolicy,
                  channels: Channels) -> list[str]:
    wanted = set(prefs.get("channels") or policy.default_channels) | set(route.urgent_channels)
    wanted &= channels.enabled()
    # A channel needs an address: no e-mail, no e-mail; no phone, no SMS.
    if not person.get("email"):
        wanted.discard("email")
    if not person.get("phone"):
        wanted.discard("sms")
    return [c for c in ("email", "sms", "chat") if c in wanted]


def _delivery(envelope: dict, channel: str, now: datetime, *, recipient_id=None,
              subscription_id=None, target=None, message: dict, key=None,
              external: bool = False) -> dict:
    doc = {
        "_id": derived_id(envelope["id"], channel, key or recipient_id or subscription_id),
        "event_id": envelope["id"], "event_type": envelope["type"], "channel": channel,
        "recipient_id": recipient_id, "subscription_id": subscription_id,
        "target": target, "message": message, "state": "pending", "attempts": [],
        "next_attempt_at": now, "created_at": now, "updated_at": now,
    }
    if external:
        doc["external"] = True
    return doc


def shown_target(doc: dict) -> str | None:
    """The address as the delivery log shows it: a customer's number masked."""
    return mask_phone(doc.get("target")) if doc.get("external") else doc.get("target")


def webhook_body(envelope: dict) -> str:
    """The exact text POSTed (and signed) for every attempt of a delivery."""
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


@dataclass
class Parcels:
    """What one event stores: inbox items (each with its person's deliveries), and
    deliveries of their own — webhooks and texts to numbers outside the company."""

    items: list[dict]
    webhooks: list[dict]


def pack(out: Fanout, *, lease: str, lease_seconds: float, now: datetime) -> Parcels:
    """The documents to store, leased to the sender that will try them first.

    Nobody else attempts them for ``lease_seconds``: the process that stored
    them sends them once its unit has committed, without a claim of its own,
    and if it dies first the sweep takes over when the lease runs out.
    """
    leased_until = now + timedelta(seconds=lease_seconds)
    mine: dict[str, list[dict]] = {}
    for delivery in out.deliveries:
        if delivery["recipient_id"] is not None:
            mine.setdefault(delivery["recipient_id"], []).append(delivery)
    items = []
    for item in out.inbox:
        deliveries = [{"id": d["_id"], "channel": d["channel"], "target": d["target"],
                       "state": d["state"], "attempts": [],
                       "next_attempt_at": d["next_attempt_at"], "updated_at": now}
                      for d in mine.get(item["recipient_id"], [])]
        items.append({**item, "deliveries": deliveries,
                      "due": leased_until if deliveries else None,
                      "lease": lease if deliveries else None})
    webhooks = [{**d, "next_attempt_at": leased_until, "lease": lease}
                for d in out.deliveries if d["recipient_id"] is None]
    return Parcels(items=items, webhooks=webhooks)


def item_delivery(item: dict, entry: dict) -> dict:
    """One of an inbox item's deliveries as a sender and the delivery log see it."""
    return {"_id": entry["id"], "event_id": item["event_id"], "event_type": item["event_type"],
            "channel": entry["channel"], "recipient_id": item["recipient_id"],
            "subscription_id": None, "target": entry.get("target"),
            "message": {"subject": item.get("title"), "body": item.get("body")},
            "state": entry["state"], "attempts": entry.get("attempts") or [],
            "next_attempt_at": entry.get("next_attempt_at"),
            "created_at": item["created_at"], "updated_at": entry.get("updated_at")}


def earliest_due(entries: list[dict]) -> datetime | None:
    """When an item next needs a sender: its earliest pending delivery, or never."""
    pending = [e["next_attempt_at"] for e in entries
               if e["state"] == "pending" and e.get("next_attempt_at") is not None]
    return min(pending) if pending else None
