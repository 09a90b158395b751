"""The notifications service: tells people about the events that concern them.

One handler per consumed event type. Each runs as one unit of work that
stores the inbox items and the deliveries and returns the new ones; they are
sent once the unit has committed (:mod:`notifications.outbound`), and the
sweep sends whatever is still due, so neither a re-run unit nor a crash
sends anything twice or loses it.
"""
from zhidu.events import config_timer, on_event
from zhidu.metrics import Metrics
from zhidu.mongo import Mongo
from zhidu.operations import Route, operation
from zhidu.rulebook import RuleBook
from zhidu.service import ZhiduService

from . import app, people, schemas
from .contributed import attach_handlers
from .outbound import Outbound
from .plugin import CONTRIBUTED
from .rulebook import load_rules
from .store import NotificationsStore


def _concerns_anyone(service, event) -> bool:
    return app.concerns_anyone(service.rules, service.outbound.subscribers, event)


# A timer's sweep handles one batch at a time, and keeps going while batches are full.
MAX_BATCHES_PER_TICK = 20


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
        "unrouted": Counter("zhidu_notifications_unrouted_total",
                            "Events whose route found none of the people it names (the "
                            "fallback was told), by event type.", ["event_type"],
                            registry=registry),
    }


class NotificationsService(ZhiduService):
    name = "notifications"
    store = Mongo(NotificationsStore)
    metrics = Metrics(_declare_metrics)
    rules = RuleBook(load_rules)
    outbound = Outbound()
    routes = [
        Route("GET", "/inbox/{recipient_id}", "inbox"),
        Route("POST", "/inbox/items/{id}/read", "mark_read"),
        Route("GET", "/preferences/{recipient_id}", "get_preferences"),
        Route("PUT", "/preferences/{recipient_id}", "set_preferences"),
        Route("GET", "/subscriptions", "subscriptions"),
        Route("POST", "/subscriptions", "subscribe", status=201),
        Route("DELETE", "/subscriptions/{subscription_id}", "unsubscribe"),
        Route("POST", "/subscriptions/{subscription_id}/secret", "rotate_secret"),
        Route("GET", "/deliveries", "deliveries"),
        Route("POST", "/sweep", "sweep"),
        Route("POST", "/alerts", "receive_alerts"),
    ]

    # -- the directory copy -----------------------------------------------------
    # One copy, kept by the two handlers below with only the fields routing and
    # callers' rights need (names and addresses, role, reporting lines): the
    # library's generic handlers would store the whole record beside it.
    remember_person = None
    forget_person = None

    @on_event("directory", "employee_upserted")
    def on_employee_upserted(self, event):
        self.identity.forget(app.remember_person(self.store, event))

    @on_event("directory", "employee_departed")
    def on_employee_departed(self, event):
        # A departed person's token stops working here at once, not when the cache ages.
        self.identity.forget(app.person_departed(self.store, event))

    @on_event("directory", "employee_contact_changed")
    def on_employee_contact_changed(self, event):
        people.remember_contact(self.store, event)

    # -- penalties -----------------------------------------------------------------
    # Items and deliveries are keyed by the event; only new ones are sent.
    @on_event("penalties", "penalty_issued", keyed=True)
    def on_penalty_issued(self, event):
        return self._notify(event)

    @on_event("penalties", "penalty_reversed")
    def on_penalty_reversed(self, event):
        return self._notify(event)

    @on_event("penalties", "threshold_reached")
    def on_threshold_reached(self, event):
        return self._notify(event)

    @on_event("penalties", "publication_issued")
    def on_publication_issued(self, event):
        return self._notify(event)

    @on_event("penalties", "notice_awaiting_approval")
    def on_notice_awaiting_approval(self, event):
        return app.notice_awaiting_approval(self.store, self.rules, self.outbound.subscribers,
                                            event, self.metrics)

    @on_event("penalties", "notice_decided")
    def on_notice_decided(self, event):
        return app.notice_decided(self.store, self.rules, self.outbound.subscribers, event,
                                  self.metrics)

    @on_event("penalties", "unit_threshold_reached")
    def on_unit_threshold_reached(self, event):
        return self._notify(event)

    # -- complaints ------------------------------------------------------------------
    @on_event("complaints", "major_reported")
    def on_major_reported(self, event):
        return self._notify(event)

    @on_event("complaints", "assigned")
    def on_complaint_assigned(self, event):
        return self._notify(event)

    @on_event("complaints", "reminder_issued")
    def on_reminder_issued(self, event):
        return self._notify(event)

    @on_event("complaints", "escalated")
    def on_escalated(self, event):
        return self._notify(event)

    @on_event("complaints", "sla_warning")
    def on_sla_warning(self, event):
        return self._notify(event)

    @on_event("complaints", "sla_breached")
    def on_sla_breached(self, event):
        return self._notify(event)

    @on_event("complaints", "delay_investigation_opened")
    def on_delay_investigation_opened(self, event):
        return self._notify(event)

    @on_event("complaints", "report_produced")
    def on_report_produced(self, event):
        return self._notify(event)

    # -- attendance ------------------------------------------------------------------
    @on_event("attendance", "violation_recorded", wanted=_concerns_anyone)
    def on_attendance_violation(self, event):
        return self._notify(event)

    @on_event("attendance", "absence_recorded")
    def on_absence_recorded(self, event):
        return self._notify(event)

    @on_event("attendance", "dismissal_review_required")
    def on_dismissal_review_required(self, event):
        return self._notify(event)

    @on_event("attendance", "leave_requested")
    def on_leave_requested(self, event):
        return self._notify(event)

    @on_event("attendance", "leave_decided")
    def on_leave_decided(self, event):
        return self._notify(event)

    @on_event("attendance", "leave_converted")
    def on_leave_converted(self, event):
        return self._notify(event)

    @on_event("attendance", "duty_rostered")
    def on_duty_rostered(self, event):
        app.duty_rostered(self.store, event)

    @on_event("attendance", "outing_requested")
    def on_outing_requested(self, event):
        return self._notify(event)

    @on_event("attendance", "outing_decided")
    def on_outing_decided(self, event):
        return self._notify(event)

    @on_event("attendance", "outing_returned")
    def on_outing_returned(self, event):
        return self._notify(event)

    @on_event("attendance", "handover_completed")
    def on_handover_completed(self, event):
        return self._notify(event)

    @on_event("attendance", "duty_review_overdue")
    def on_duty_review_overdue(self, event):
        return self._notify(event)

    @on_event("attendance", "report_step_overdue")
    def on_report_step_overdue(self, event):
        return self._notify(event)

    @on_event("attendance", "monthly_report_advanced")
    def on_monthly_report_advanced(self, event):
        return self._notify(event)

    @on_event("attendance", "holiday_roster_overdue")
    def on_holiday_roster_overdue(self, event):
        return self._notify(event)

    @on_event("attendance", "roster_changed")
    def on_roster_changed(self, event):
        return self._notify(event)

    @on_event("attendance", "meeting_scheduled")
    def on_meeting_scheduled(self, event):
        return self._notify(event)

    @on_event("attendance", "meeting_changed")
    def on_meeting_changed(self, event):
        return self._notify(event)

    @on_event("attendance", "meeting_leave_requested")
    def on_meeting_leave_requested(self, event):
        return self._notify(event)

    @on_event("attendance", "meeting_leave_decided")
    def on_meeting_leave_decided(self, event):
        return self._notify(event)

    @on_event("attendance", "meeting_minutes_issued")
    def on_meeting_minutes_issued(self, event):
        return self._notify(event)

    @on_event("attendance", "meeting_minutes_overdue")
    def on_meeting_minutes_overdue(self, event):
        return self._notify(event)

    @on_event("attendance", "meeting_decision_chased")
    def on_meeting_decision_chased(self, event):
        return self._notify(event)

    @on_event("attendance", "meeting_agenda_reminder")
    def on_meeting_agenda_reminder(self, event):
        return self._notify(event)

    @on_event("attendance", "meeting_agenda_closed")
    def on_meeting_agenda_closed(self, event):
        return self._notify(event)

    @on_event("attendance", "meeting_agenda_decided")
    def on_meeting_agenda_decided(self, event):
        return self._notify(event)

    # -- dormitory -------------------------------------------------------------------
    @on_event("dormitory", "accommodation_revoked")
    def on_accommodation_revoked(self, event):
        return self._notify(event)

    @on_event("dormitory", "violation_recorded", wanted=_concerns_anyone)
    def on_dormitory_violation(self, event):
        return self._notify(event)

    def _notify(self, event):
        # What it returns is sent by ``outbound`` once this unit has committed.
        return app.notify(self.store, self.rules, self.outbound.subscribers, event,
                          metrics=self.metrics)

    # -- operations --------------------------------------------------------------------
    @operation(schemas.InboxQuery)
    def inbox(self, payload):
        return app.inbox(self.store, payload["recipient_id"], payload["unread_only"],
                         payload["limit"])

    def subject_item_recipient(self, payload):
        # A service account has no inbox: it is still refused for an unknown id.
        return app.item_recipient(self.store, payload.get("id"),
                                  getattr(self.identity.principal, "id", None))

    @operation(schemas.MarkRead)
    def mark_read(self, payload):
        return app.mark_read(self.store, payload["id"])

    @operation(schemas.RecipientRef)
    def get_preferences(self, payload):
        return app.get_preferences(self.store, self.rules, payload["recipient_id"])

    @operation(schemas.Preferences)
    def set_preferences(self, payload):
        return app.set_preferences(self.store, self.rules, payload)

    @operation(schemas.Subscribe, idempotent=True)
    def subscribe(self, payload):
        return app.subscribe(self.store, self.rules, self.outbound.hooks, payload)

    @operation(schemas.RotateSecret, idempotent=True)
    def rotate_secret(self, payload):
        return app.rotate_secret(self.store, self.outbound.hooks, payload)

    @operation(schemas.SubscriptionRef)
    def unsubscribe(self, payload):
        return app.unsubscribe(self.store, self.outbound.subscriptions_changed,
                               payload["subscription_id"], payload["actor"])

    @operation(schemas.Subscriptions)
    def subscriptions(self, payload):
        return app.subscriptions(self.store)

    @operation(schemas.DeliveriesQuery)
    def deliveries(self, payload):
        return app.deliveries(self.store, **payload)

    # Alertmanager's webhook: each new alert to whoever is on call, sent after the commit.
    @operation(schemas.AlertWebhook)
    def receive_alerts(self, payload):
        answer, notified = app.receive_alerts(self.store, self.rules, payload)
        self.outbound.after_commit(notified)
        return answer

    # Sends leave the building: never inside a transaction the driver may re-run.
    @operation(schemas.Sweep, unit=False)
    def sweep(self, payload):
        return app.sweep(self.outbound.courier, payload["now"])

    @config_timer("ZHIDU_SWEEP_INTERVAL")
    def sweep_timer(self):
        app.sweep_due(self.outbound.courier, MAX_BATCHES_PER_TICK)

    def refresh_metrics(self) -> None:
        self.metrics["pending"].set(self.store.pending_count())


# Events other services' distributions route to people (notifications.contributed):
# each is handled as the service's own events are.
attach_handlers(NotificationsService, CONTRIBUTED, "_notify")
