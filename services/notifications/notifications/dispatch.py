"""Sending what the inbox and the delivery log say is due, never inside a unit of work.

Nothing is sent that was not first committed: an event handler's unit stores
the inbox items (each carrying its person's e-mail, SMS and chat deliveries)
and the webhook deliveries, leased to this process; once the unit has
committed, :meth:`Courier.send_now` tries them. A unit the driver re-runs
therefore sends nothing twice — it sends nothing at all. The sweep sends
whatever is due later: retries on the back-off schedule, and what a process
that died after its commit left leased. Each attempt's outcome is appended
to its delivery's log and decides its next state.

Two lanes: people's deliveries (e-mail, SMS, chat) and webhooks never share a
pool, and the timer's webhook sweep runs beside the people's sweep rather
than before it, so a subscriber that hangs delays nobody's mail. Within the
webhook lane each target (scheme, host, port) has its own small limit of
attempts at once, so one slow target cannot take every webhook slot either.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from urllib.parse import urlsplit

import eventlet
from eventlet.semaphore import Semaphore
from zhidu.secretbox import InvalidToken
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
                 on_settled=None, box=None, spawn=None):
        self.store = store
        self.senders = senders
        self.policy = policy
        self.on_settled = on_settled  # (channel, state) after each attempt, for metrics
        self.box = box  # opens the subscriptions' sealed secrets
        self.spawn = spawn or eventlet.spawn  # for the timer's webhook sweep
        self.slots: dict[tuple, Semaphore] = {}
        self.webhooks_sweeping = False

    # -- right after the unit that stored them -------------------------------------------
    def send_now(self, notified: Notified) -> dict:
        """Try what ``notified`` stored, under the lease it was stored with."""
        now = utcnow()
        # Leave to the sweep what could not be sent before its lease runs out:
        # a send still running then could meet a sweep's second one.
        margin = now + timedelta(seconds=self.policy.longest_attempt)
        people = [partial(self._deliver_item, item, now) for item in notified.items
                  if item["deliveries"] and item["due"] > margin]
        hooks = []
        for doc in notified.webhooks:  # and texts to numbers outside the company
            if doc["next_attempt_at"] <= margin:
                continue
            if doc["channel"] == "webhook":
                hooks.append(partial(self._deliver_webhook, doc))
            else:
                people.append(partial(self._deliver_own, doc, now))
        return self._run_lanes(people, hooks)

    # -- later: retries, and what a dead process left leased -------------------------------
    def sweep(self, now) -> tuple[dict, bool]:
        """Attempt what is due at ``now`` in both lanes at once (one batch of each
        kind); also whether a batch came back full, so there may be more."""
        hooks = eventlet.spawn(self.sweep_webhooks, now)
        counts, more = self.sweep_people(now)
        hook_counts, more_hooks = hooks.wait()
        return _add(counts, hook_counts), more or more_hooks

    def sweep_due(self, max_batches: int) -> None:
        """The timer's sweep: people's deliveries batch after batch while batches
        come back full; webhooks the same, in a sweep of their own beside it,
        which a tick finding the last one still running leaves to that one."""
        if not self.webhooks_sweeping:
            self.webhooks_sweeping = True
            self.spawn(partial(self._sweep_webhooks_due, max_batches))
        for _ in range(max_batches):
            _counts, more = self.sweep_people(utcnow())
            if not more:
                return

    def _sweep_webhooks_due(self, max_batches: int) -> None:
        try:
            for _ in range(max_batches):
                _counts, more = self.sweep_webhooks(utcnow())
                if not more:
                    return
        except Exception:  # a database hiccup: the next tick sweeps again
            log.exception("webhook sweep failed")
        finally:
            self.webhooks_sweeping = False

    def sweep_people(self, now) -> tuple[dict, bool]:
        batch = self.policy.sweep_batch
        item_ids, delivery_ids = self.store.due(now, batch)
        jobs = [partial(self._claim_item, i, now) for i in item_ids]
        jobs += [partial(self._claim_delivery, d, now) for d in delivery_ids]
        return self._run(jobs, self.policy.sweep_concurrency), \
            batch in (len(item_ids), len(delivery_ids))

    def sweep_webhooks(self, now) -> tuple[dict, bool]:
        """One batch of due webhook deliveries, a job per target."""
        batch = self.policy.sweep_batch
        due = self.store.due_webhooks(now, batch)
        by_target: dict[tuple, list[str]] = {}
        for doc in due:
            by_target.setdefault(target_key(doc.get("target")), []).append(doc["_id"])
        jobs = [partial(self._sweep_target, key, ids, now) for key, ids in by_target.items()]
        return self._run(jobs, self.policy.webhook_concurrency), len(due) == batch

    def _sweep_target(self, key: tuple, delivery_ids: list[str], now) -> list[str]:
        """One target's due deliveries, oldest first, as many at once as its limit allows.
        Once one goes unanswered the rest are left due, unclaimed, for the next sweep:
        a target that hangs costs a sweep one attempt's deadline, not one per delivery."""
        slot, states, unanswered = self._slot(key), [], []

        def attempt(delivery_id):
            if unanswered:
                return []
            with slot:
                if unanswered:
                    return []
                made, outcome = self._claim_webhook(delivery_id, now)
            if outcome is not None and outcome.unanswered:
                unanswered.append(delivery_id)
            return made
        pool = eventlet.GreenPool(self.policy.webhook_per_target)
        for made in pool.imap(_safely, [partial(attempt, d) for d in delivery_ids]):
            states += made
        return states

    def _claim_item(self, item_id: str, now) -> list[str]:
        # One unit per item: the claim commits before anything is sent.
        item = self.store.unit(lambda: self.store.claim_item(
            item_id, now, self.policy.lease_seconds))
        return self._deliver_item(item, now) if item is not None else []

    def _claim_delivery(self, delivery_id: str, now) -> list[str]:
        claimed = self.store.unit(lambda: self.store.claim(
            delivery_id, now, self.policy.lease_seconds))
        return self._deliver_own(claimed, now) if claimed is not None else []

    def _claim_webhook(self, delivery_id: str, now):
        def claim():
            claimed = self.store.claim(delivery_id, now, self.policy.lease_seconds)
            sealed = None
            if claimed is not None:
                sealed = self.store.secrets([claimed["subscription_id"]], now).get(
                    claimed["subscription_id"])
            return claimed, sealed
        # One unit per delivery: the claim, and the subscription as it stands then.
        claimed, sealed = self.store.unit(claim)
        if claimed is None:
            return [], None
        outcome = self.senders.send(claimed, self._open(claimed, sealed))
        return [self.settle(claimed, outcome, now)], outcome

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

    def _deliver_own(self, doc: dict, now) -> list[str]:
        """A delivery stored as a document of its own that is not a webhook."""
        return [self.settle(doc, self.senders.send(doc), now)]

    def _deliver_webhook(self, doc: dict) -> list[str]:
        """Right after its unit: once its target has a free slot, if that comes
        while the lease it was stored with still covers an attempt; else the
        sweep sends it when the lease runs out."""
        slot = self._slot(target_key(doc.get("target")))
        spare = (doc["next_attempt_at"] - utcnow()).total_seconds() - \
            self.policy.longest_attempt
        if spare <= 0 or not slot.acquire(timeout=spare):
            return []
        try:
            now = utcnow()
            sealed = self.store.secrets([doc["subscription_id"]], now).get(
                doc["subscription_id"])
            return [self.settle(doc, self.senders.send(doc, self._open(doc, sealed)), now)]
        finally:
            slot.release()

    def _open(self, delivery: dict, sealed: list[str] | None) -> list[str] | None:
        """The plain secrets to sign with; ``None`` when the subscription is gone."""
        if sealed is None:
            return None
        opened = []
        for token in sealed:
            try:
                opened.append(self.box.open(token))
            except (InvalidToken, AttributeError, ValueError):
                log.error("delivery %s: a secret of subscription %s does not open with "
                          "ZHIDU_SECRET_KEY", delivery["_id"], delivery["subscription_id"])
        return opened

    def _slot(self, key: tuple) -> Semaphore:
        slot = self.slots.get(key)
        if slot is None:
            slot = self.slots[key] = Semaphore(self.policy.webhook_per_target)
        return slot

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

    def _run_lanes(self, people, hooks) -> dict:
        """Both lanes at once, each in its own pool; the counts of both."""
        if not hooks:
            return self._run(people, self.policy.sweep_concurrency)
        webhooks = eventlet.spawn(self._run, hooks, self.policy.webhook_concurrency)
        counts = self._run(people, self.policy.sweep_concurrency)
        return _add(counts, webhooks.wait())

    def _run(self, jobs, size: int) -> dict:
        counts = {"attempted": 0, "delivered": 0, "retrying": 0, "failed": 0}
        if not jobs:
            return counts
        pool = eventlet.GreenPool(size)
        for states in pool.imap(_safely, jobs):
            for state in states:
                counts["attempted"] += 1
                counts["retrying" if state == "pending" else state] += 1
        return counts


def target_key(url: str | None) -> tuple:
    """What a target's limit counts against: scheme, host and port."""
    try:
        parts = urlsplit(url or "")
        scheme = parts.scheme.lower()
        port = parts.port or (443 if scheme == "https" else 80)
        return (scheme, (parts.hostname or "").rstrip("."), port)
    except ValueError:
        return ("", url or "", 0)


def _add(one: dict, other: dict) -> dict:
    return {key: one[key] + other.get(key, 0) for key in one}


def _safely(job) -> list[str]:
    try:
        return job()
    except Exception:  # a database hiccup: the lease runs out and a sweep retries
        log.exception("a delivery attempt failed to run")
        return []
