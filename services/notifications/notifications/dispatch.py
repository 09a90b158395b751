"""Sending what the delivery log says is due, one leased attempt at a time.

Nothing is sent that was not first written: the event handler stores the
inbox items and the pending deliveries, then (optionally) asks for an
immediate attempt; the sweep sends whatever is due, including deliveries a
crashed process left leased. An attempt's outcome is appended to the
delivery's log and decides its next state from the back-off schedule.
"""
from __future__ import annotations

import logging

import eventlet

from .channels import Outcome, Senders
from .retry import DeliveryPolicy
from .store import NotificationsStore

log = logging.getLogger(__name__)


class Courier:
    def __init__(self, store: NotificationsStore, senders: Senders, policy: DeliveryPolicy,
                 on_settled=None):
        self.store = store
        self.senders = senders
        self.policy = policy
        self.on_settled = on_settled  # (channel, state) after each attempt, for metrics

    def attempt(self, delivery_id: str, now) -> str | None:
        """One attempt if the delivery is due; returns its new state, or
        ``None`` when there was nothing to do."""
        claimed = self.store.claim(delivery_id, now, self.policy.lease_seconds)
        if claimed is None:
            return None
        secret = None
        if claimed["channel"] == "webhook":
            secret = self.store.secrets([claimed["subscription_id"]]).get(
                claimed["subscription_id"])
        outcome = self.senders.send(claimed, secret)
        return self.settle(claimed, outcome, now)

    def settle(self, claimed: dict, outcome: Outcome, now) -> str:
        made = len(claimed.get("attempts") or []) + 1
        if outcome.ok:
            state, next_at = "delivered", None
        else:
            next_at = None if outcome.final else self.policy.next_attempt_at(made, now)
            state = "pending" if next_at is not None else "failed"
        if not self.store.record_attempt(claimed, outcome.attempt(now), state, next_at, now):
            log.warning("delivery %s: lease lost before the attempt was recorded",
                        claimed["_id"])
        if self.on_settled is not None:
            self.on_settled(claimed["channel"], state)
        if state == "failed":
            log.warning("delivery %s (%s) failed for good after %d attempt(s): %s",
                        claimed["_id"], claimed["channel"], made, outcome.error)
        return state

    def send_now(self, delivery_ids: list[str], now) -> dict:
        return self._run(delivery_ids, now)

    def sweep(self, now) -> dict:
        """Attempt every delivery due at ``now`` (one batch's worth)."""
        return self._run(self.store.due_ids(now, self.policy.sweep_batch), now)

    def _run(self, delivery_ids: list[str], now) -> dict:
        counts = {"attempted": 0, "delivered": 0, "retrying": 0, "failed": 0}
        if not delivery_ids:
            return counts
        pool = eventlet.GreenPool(self.policy.sweep_concurrency)
        for state in pool.imap(lambda i: self._safe_attempt(i, now), delivery_ids):
            if state is None:
                continue
            counts["attempted"] += 1
            counts["retrying" if state == "pending" else state] += 1
        return counts

    def _safe_attempt(self, delivery_id: str, now) -> str | None:
        try:
            return self.attempt(delivery_id, now)
        except Exception:  # a database hiccup: the lease runs out and a sweep retries
            log.exception("delivery %s: attempt failed to run", delivery_id)
            return None
