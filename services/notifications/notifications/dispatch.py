"""Sending what the inbox and the delivery log say is due, never inside a unit of work.

Nothing is sent that was not first committed: an event handler's unit stores
the inbox items (each carrying its person's e-mail, SMS and chat deliveries)
and the webhook deliveries, leased to this process; once the unit has
committed, :meth:`Courier.send_now` tries them. A unit the driver re-runs
therefore sends nothing twice — it sends nothing at all. The sweep sends
whatever is due later: retries on the back-off schedule, and what a process
that died after its commit left leased. Each attempt's outcome is appended
to its delivery's log and decides its next state.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import eventlet
from zhidu.times import utcnow

from .channels import Outcome, Senders
from .fanout import earliest_due, item_delivery
from .retry import DeliveryPolicy
from .store import NotificationsStore

log = logging.getLogger(__name__)


@dataclass
class Notified:
    """What one event's unit stored that is new: the handler's result, sent after commit."""

    event_type: str
    items: list[dict]
    webhooks: list[dict]

    def outbound(self) -> bool:
        return bool(self.webhooks) or any(item["deliveries"] for item in self.items)

    @property
    def nothing_new(self) -> bool:
        """A redelivered event: everything it calls for is stored already."""
        return not self.items and not self.webhooks


class Courier:
    def __init__(self, store: NotificationsStore, senders: Senders, policy: DeliveryPolicy,
                 on_settled=None):
        self.store = store
        self.senders = senders
        self.policy = policy
        self.on_settled = on_settled  # (channel, state) after each attempt, for metrics

    # -- right after the unit that stored them -------------------------------------------
    def send_now(self, notified: Notified) -> dict:
        """Try what ``notified`` stored, under the lease it was stored with."""
        now = utcnow()
        # Leave to the sweep what could not be sent before its lease runs out:
        # a send still running then could meet a sweep's second one.
        margin = now + timedelta(seconds=self._longest_timeout())
        jobs = [partial(self._deliver_item, item, now) for item in notified.items
                if item["deliveries"] and item["due"] > margin]
        jobs += [partial(self._deliver_webhook, doc, now) for doc in notified.webhooks
                 if doc["next_attempt_at"] > margin]
        return self._run(jobs)

    # -- later: retries, and what a dead process left leased -------------------------------
    def sweep(self, now) -> tuple[dict, bool]:
        """Attempt what is due at ``now`` (one batch of each kind); also whether
        a batch came back full, so there may be more."""
        batch = self.policy.sweep_batch
        item_ids, delivery_ids = self.store.due(now, batch)
        jobs = [partial(self._claim_item, i, now) for i in item_ids]
        jobs += [partial(self._claim_delivery, d, now) for d in delivery_ids]
        return self._run(jobs), batch in (len(item_ids), len(delivery_ids))

    def _claim_item(self, item_id: str, now) -> list[str]:
        # One unit per item: the claim commits before anything is sent.
        item = self.store.unit(lambda: self.store.claim_item(
            item_id, now, self.policy.lease_seconds))
        return self._deliver_item(item, now) if item is not None else []

    def _claim_delivery(self, delivery_id: str, now) -> list[str]:
        def claim():
            claimed = self.store.claim(delivery_id, now, self.policy.lease_seconds)
            secret = None
            if claimed is not None and claimed["channel"] == "webhook":
                secret = self.store.secrets([claimed["subscription_id"]]).get(
                    claimed["subscription_id"])
            return claimed, secret
        # One unit per delivery: the claim, and the subscription as it stands then.
        claimed, secret = self.store.unit(claim)
        if claimed is None:
            return []
        return [self.settle(claimed, self.senders.send(claimed, secret), now)]

    # -- one attempt ---------------------------------------------------------------------
    def _deliver_item(self, item: dict, now) -> list[str]:
        """Attempt an item's due deliveries at once; record them in one write."""
        due = [e for e in item["deliveries"]
               if e["state"] == "pending" and e["next_attempt_at"] <= now]
        outcomes = dict(zip([e["id"] for e in due], self._send_all(
            [item_delivery(item, e) for e in due]), strict=True))
        entries, states = [], []
        for entry in item["deliveries"]:
            outcome = outcomes.get(entry["id"])
            if outcome is not None:
                made = len(entry.get("attempts") or []) + 1
                state, next_at = self.decide(made, outcome, now)
                entry = {**entry, "state": state, "next_attempt_at": next_at, "updated_at": now,
                         "attempts": [*(entry.get("attempts") or []), outcome.attempt(now)]}
                states.append(self._settled(entry["id"], entry["channel"], state, made,
                                            outcome))
            entries.append(entry)
        if not self.store.record_item(item, entries, earliest_due(entries)):
            log.warning("inbox item %s: lease lost before its attempts were recorded",
                        item["_id"])
        return states

    def _deliver_webhook(self, doc: dict, now) -> list[str]:
        secret = self.store.secrets([doc["subscription_id"]]).get(doc["subscription_id"])
        return [self.settle(doc, self.senders.send(doc, secret), now)]

    def settle(self, claimed: dict, outcome: Outcome, now) -> str:
        made = len(claimed.get("attempts") or []) + 1
        state, next_at = self.decide(made, outcome, now)
        if not self.store.record_attempt(claimed, outcome.attempt(now), state, next_at, now):
            log.warning("delivery %s: lease lost before the attempt was recorded",
                        claimed["_id"])
        return self._settled(claimed["_id"], claimed["channel"], state, made, outcome)

    def decide(self, made: int, outcome: Outcome, now):
        """The state after the ``made``-th attempt, and when to try next."""
        if outcome.ok:
            return "delivered", None
        next_at = None if outcome.final else self.policy.next_attempt_at(made, now)
        return ("pending" if next_at is not None else "failed"), next_at

    def _settled(self, delivery_id, channel, state, made, outcome) -> str:
        if self.on_settled is not None:
            self.on_settled(channel, state)
        if state == "failed":
            log.warning("delivery %s (%s) failed for good after %d attempt(s): %s",
                        delivery_id, channel, made, outcome.error)
        return state

    # -- running many --------------------------------------------------------------------
    def _send_all(self, deliveries: list[dict]) -> list[Outcome]:
        """One person's channels at once, so the lot takes one timeout at most."""
        if len(deliveries) < 2:
            return [self.senders.send(d) for d in deliveries]
        pool = eventlet.GreenPool(len(deliveries))
        return list(pool.imap(self.senders.send, deliveries))

    def _run(self, jobs) -> dict:
        counts = {"attempted": 0, "delivered": 0, "retrying": 0, "failed": 0}
        if not jobs:
            return counts
        pool = eventlet.GreenPool(self.policy.sweep_concurrency)
        for states in pool.imap(_safely, jobs):
            for state in states:
                counts["attempted"] += 1
                counts["retrying" if state == "pending" else state] += 1
        return counts

    def _longest_timeout(self) -> float:
        return max(self.policy.smtp_timeout, self.policy.http_timeout)


def _safely(job) -> list[str]:
    try:
        return job()
    except Exception:  # a database hiccup: the lease runs out and a sweep retries
        log.exception("a delivery attempt failed to run")
        return []
