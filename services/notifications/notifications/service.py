"""The notifications service: tells people about the events that concern them.

One handler per consumed event type, all delegating to :meth:`_notify`, which
resolves the routing table, writes the inbox items and the pending
deliveries, and only then asks for the first send. The sweep sends whatever
is still due, so a crash between the write and the send loses nothing.
"""
from zhidu.errors import NotFound, ValidationError
from zhidu.events import config_timer, on_event
from zhidu.metrics import Metrics
from zhidu.mongo import Mongo
from zhidu.operations import Route, operation
from zhidu.service import ZhiduService
from zhidu.times import parse_time, utcnow

from . import schemas
from .fanout import fan_out, person_ids_in
from .people import StoreDirectory
from .rulebook import Rulebook
from .store import NotificationsStore

# A sweep handles one batch at a time; the timer keeps going while batches are full.
MAX_BATCHES_PER_TICK = 20


class UnknownNotice(LookupError):
    """A decision about a penalty notice this service has not seen (yet)."""


def _declare_metrics(registry):
    from prometheus_client import Counter, Gauge

    return {
        "notified": Counter("zhidu_notifications_inbox_items_total",
                            "Inbox items written, by event type.", ["event_type"],
                            registry=registry),
        "attempts": Counter("zhidu_notifications_delivery_attempts_total",
                            "Delivery attempts by channel and resulting state.",
                            ["channel", "state"], registry=registry),
        "pending": Gauge("zhidu_notifications_deliveries_pending",
                         "Deliveries waiting for a (re)try.", registry=registry),
    }


class NotificationsService(ZhiduService):
    name = "notifications"
    store = Mongo(NotificationsStore)
    metrics = Metrics(_declare_metrics)
    rules = Rulebook()
    routes = [
        Route("GET", "/inbox/{recipient_id}", "inbox"),
        Route("POST", "/inbox/items/{id}/read", "mark_read"),
        Route("GET", "/preferences/{recipient_id}", "get_preferences"),
        Route("PUT", "/preferences/{recipient_id}", "set_preferences"),
        Route("GET", "/subscriptions", "subscriptions"),
        Route("POST", "/subscriptions", "subscribe", status=201),
        Route("DELETE", "/subscriptions/{subscription_id}", "unsubscribe"),
        Route("GET", "/deliveries", "deliveries"),
        Route("POST", "/sweep", "sweep"),
    ]

    # -- the directory copy -----------------------------------------------------
    # One copy, kept by the two handlers below with only the fields routing and
    # callers' rights need (names and addresses, role, reporting lines): the
    # library's generic handlers would store the whole record beside it.
    remember_person = None
    forget_person = None

    @on_event("directory", "employee_upserted")
    def on_employee_upserted(self, event):
        data = event["data"]
        if not data.get("employee_id"):
            raise ValidationError({"data.employee_id": ["missing"]})
        self.store.upsert_person(data["employee_id"], data, parse_time(event["time"]))
        self.identity.forget(data["employee_id"])

    @on_event("directory", "employee_departed")
    def on_employee_departed(self, event):
        data = event["data"]
        if not data.get("employee_id"):
            raise ValidationError({"data.employee_id": ["missing"]})
        self.store.mark_departed(data["employee_id"], parse_time(data.get("at") or event["time"]))
        # A departed person's token stops working here at once, not when the cache ages.
        self.identity.forget(data["employee_id"])

    # -- penalties -----------------------------------------------------------------
    @on_event("penalties", "penalty_issued")
    def on_penalty_issued(self, event):
        self._notify(event)

    @on_event("penalties", "penalty_reversed")
    def on_penalty_reversed(self, event):
        self._notify(event)

    @on_event("penalties", "threshold_reached")
    def on_threshold_reached(self, event):
        self._notify(event)

    @on_event("penalties", "publication_issued")
    def on_publication_issued(self, event):
        self._notify(event)

    @on_event("penalties", "notice_awaiting_approval")
    def on_notice_awaiting_approval(self, event):
        data = event["data"]
        if not data.get("notice_id"):
            raise ValidationError({"data.notice_id": ["missing"]})
        # The decision names only the notice: keep who it concerns for then.
        self.store.remember_notice(str(data["notice_id"]), data, parse_time(event["time"]))
        self._notify(event)

    @on_event("penalties", "notice_decided")
    def on_notice_decided(self, event):
        data = event["data"]
        if not data.get("notice_id"):
            raise ValidationError({"data.notice_id": ["missing"]})
        notice = self.store.notice(str(data["notice_id"]))
        if notice is None and not data.get("employee_ids"):
            # The decision overtook its notice (a retried delivery, or this
            # service was down when the notice was raised). Telling nobody
            # would lose it; failing lets the retries wait for the notice and
            # leaves the event in the dead-letter queue for a replay after that.
            raise UnknownNotice(f"penalty notice {data['notice_id']} has not been seen")
        self._notify(event, known=_notice_context(notice, data))

    # -- complaints ------------------------------------------------------------------
    @on_event("complaints", "major_reported")
    def on_major_reported(self, event):
        self._notify(event)

    @on_event("complaints", "assigned")
    def on_complaint_assigned(self, event):
        self._notify(event)

    @on_event("complaints", "reminder_issued")
    def on_reminder_issued(self, event):
        self._notify(event)

    @on_event("complaints", "escalated")
    def on_escalated(self, event):
        self._notify(event)

    @on_event("complaints", "sla_warning")
    def on_sla_warning(self, event):
        self._notify(event)

    @on_event("complaints", "sla_breached")
    def on_sla_breached(self, event):
        self._notify(event)

    @on_event("complaints", "delay_investigation_opened")
    def on_delay_investigation_opened(self, event):
        self._notify(event)

    # -- attendance ------------------------------------------------------------------
    @on_event("attendance", "violation_recorded")
    def on_attendance_violation(self, event):
        self._notify(event)

    @on_event("attendance", "absence_recorded")
    def on_absence_recorded(self, event):
        self._notify(event)

    @on_event("attendance", "dismissal_review_required")
    def on_dismissal_review_required(self, event):
        self._notify(event)

    @on_event("attendance", "leave_requested")
    def on_leave_requested(self, event):
        self._notify(event)

    @on_event("attendance", "leave_decided")
    def on_leave_decided(self, event):
        self._notify(event)

    @on_event("attendance", "leave_converted")
    def on_leave_converted(self, event):
        self._notify(event)

    # -- dormitory -------------------------------------------------------------------
    @on_event("dormitory", "accommodation_revoked")
    def on_accommodation_revoked(self, event):
        self._notify(event)

    @on_event("dormitory", "violation_recorded")
    def on_dormitory_violation(self, event):
        self._notify(event)

    # -- the one routing function ------------------------------------------------------
    def _notify(self, event: dict, known: dict | None = None) -> None:
        now = utcnow()
        data = event.get("data") or {}
        if event["source"] == "complaints" and data.get("number") and data.get("owner_id"):
            # sla_warning / sla_breached name only the case: remember its owner.
            self.store.remember_case(str(data["number"]), data["owner_id"],
                                     data.get("department"), parse_time(event["time"]))
        table = self.rules.routes
        route = table.route(event["type"])
        directory = StoreDirectory(self.store, self.rules.groups)
        recipients = table.recipients(event["type"], data, directory) if route else []
        source = event["type"].split(".", 1)[0]
        subscriptions = self.store.subscriptions_for([event["type"], f"{source}.*", "*"])
        out = fan_out(
            event, route, recipients,
            people=self.store.people(person_ids_in(event, recipients, known)),
            preferences=self.store.preferences(recipients),
            subscriptions=subscriptions, catalogue=self.rules.catalogue,
            policy=self.rules.policy, channels=self.rules.channels,
            default_locale=self.rules.default_locale, tz=self.rules.tz, now=now, known=known)
        # Store first, send after: the sweep picks up whatever the send misses.
        self.store.add_inbox(out.inbox)
        self.store.add_deliveries(out.deliveries)
        if out.inbox:
            self.metrics["notified"].labels(event["type"]).inc(len(out.inbox))
        if out.deliveries:
            self.rules.spawn(self._send_now, [d["_id"] for d in out.deliveries])

    def _send_now(self, delivery_ids):
        self._courier().send_now(delivery_ids, utcnow())

    def _courier(self):
        attempts = self.metrics["attempts"]
        return self.rules.courier(
            self.store, lambda channel, state: attempts.labels(channel, state).inc())

    # -- operations --------------------------------------------------------------------
    @operation(schemas.InboxQuery)
    def inbox(self, payload):
        items = self.store.inbox(payload["recipient_id"], payload["unread_only"],
                                 payload["limit"])
        return [_inbox_item(doc) for doc in items]

    def subject_item_recipient(self, payload):
        item = self.store.inbox_item(payload.get("id") or "")
        if item is None:
            # Nobody's item: the caller may hear NotFound rather than a refusal
            # that names no one (a service account is still refused: it has no inbox).
            principal = self.identity.principal
            return principal.id if principal is not None else None
        return item["recipient_id"]

    @operation(schemas.MarkRead)
    def mark_read(self, payload):
        doc = self.store.mark_read(payload["id"], utcnow())
        if doc is None:
            raise NotFound(f"inbox item {payload['id']} not found")
        return _inbox_item(doc)

    @operation(schemas.RecipientRef)
    def get_preferences(self, payload):
        doc = self.store.preferences([payload["recipient_id"]]).get(payload["recipient_id"])
        return _preferences(payload["recipient_id"], doc, self.rules)

    @operation(schemas.Preferences)
    def set_preferences(self, payload):
        changes = {"updated_at": utcnow(), "updated_by": payload["actor"]}
        if payload["locale"] is not None:
            if payload["locale"] not in self.rules.catalogue.locales:
                raise ValidationError({"locale": [
                    f"expected one of {', '.join(sorted(self.rules.catalogue.locales))}"]})
            changes["locale"] = payload["locale"]
        if payload["channels"] is not None:
            changes["channels"] = ["inbox", *dict.fromkeys(
                c for c in payload["channels"] if c != "inbox")]
        doc = self.store.set_preferences(payload["recipient_id"], changes)
        return _preferences(payload["recipient_id"], doc, self.rules)

    @operation(schemas.Subscribe, idempotent=True)
    def subscribe(self, payload):
        known = set(self.rules.routes.routes)
        sources = {t.split(".", 1)[0] for t in known}
        unknown = [t for t in payload["event_types"] if t != "*" and t not in known and not (
            t.endswith(".*") and t[:-2] in sources)]
        if unknown:
            raise ValidationError({"event_types": [
                f"not an event type this service delivers: {', '.join(unknown)}"]})
        doc = self.store.add_subscription(payload["url"], list(dict.fromkeys(
            payload["event_types"])), payload["secret"], payload["actor"], utcnow())
        return {"subscription_id": doc["_id"]}

    @operation(schemas.SubscriptionRef)
    def unsubscribe(self, payload):
        doc = self.store.remove_subscription(payload["subscription_id"], payload["actor"],
                                             utcnow())
        if doc is None:
            raise NotFound(f"subscription {payload['subscription_id']} not found")
        return {"subscription_id": doc["_id"], "active": False}

    @operation(schemas.Subscriptions)
    def subscriptions(self, payload):
        return [{"subscription_id": doc["_id"], "url": doc["url"],
                 "event_types": doc["event_types"], "active": doc["active"],
                 "created_at": doc["created_at"]} for doc in self.store.list_subscriptions()]

    @operation(schemas.DeliveriesQuery)
    def deliveries(self, payload):
        return [_delivery(doc) for doc in self.store.deliveries(**payload)]

    @operation(schemas.Sweep)
    def sweep(self, payload):
        return self._courier().sweep(payload["now"] or utcnow())

    @config_timer("ZHIDU_SWEEP_INTERVAL")
    def sweep_timer(self):
        for _ in range(MAX_BATCHES_PER_TICK):
            counts = self.sweep({})
            if counts["attempted"] < self.rules.policy.sweep_batch:
                break

    def refresh_metrics(self) -> None:
        self.metrics["pending"].set(self.store.pending_count())


def _inbox_item(doc: dict) -> dict:
    return {"id": doc["_id"], "event_id": doc["event_id"], "event_type": doc["event_type"],
            "title": doc["title"], "body": doc["body"], "created_at": doc["created_at"],
            "read": doc["read"]}


def _notice_context(notice: dict | None, data: dict) -> dict:
    """What a decision's templates show of the notice it decides."""
    known = {k: v for k, v in (notice or {}).items() if k not in ("_id", "as_of")}
    decided_by = data.get("decided_by")
    if isinstance(decided_by, dict):  # an actor {id, role} rather than a bare id
        decided_by = decided_by.get("id")
    if isinstance(decided_by, str) and decided_by:
        known["decider_id"] = decided_by
    return known


def _preferences(recipient_id: str, doc: dict | None, rules) -> dict:
    doc = doc or {}
    return {"recipient_id": recipient_id,
            "channels": doc.get("channels") or list(rules.policy.default_channels),
            "locale": doc.get("locale") or rules.default_locale}


def _delivery(doc: dict) -> dict:
    return {"id": doc["_id"], "event_id": doc["event_id"], "event_type": doc["event_type"],
            "channel": doc["channel"], "recipient_id": doc.get("recipient_id"),
            "subscription_id": doc.get("subscription_id"), "target": doc.get("target"),
            "state": doc["state"], "attempts": doc.get("attempts") or [],
            "next_attempt_at": doc.get("next_attempt_at"), "created_at": doc["created_at"],
            "updated_at": doc.get("updated_at")}
