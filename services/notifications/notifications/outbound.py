"""What leaves the building, as a nameko dependency: the senders, the webhook
subscribers and their secrets' key, and the sends an event's unit decided —
started once it committed.

An event handler runs as a unit of work the driver may re-run; only the run
that committed returns, so the handler returns what it stored
(:class:`~notifications.dispatch.Notified`) and this provider, seeing the
worker finish without error, hands it to the courier on a thread of its own.
"""
from __future__ import annotations

import logging
import time
from weakref import WeakKeyDictionary

from nameko.extensions import DependencyProvider
from zhidu.domain import DomainValidation
from zhidu.metrics import Metrics
from zhidu.mongo import Mongo
from zhidu.rulebook import RuleBook
from zhidu.secretbox import SecretBox

from .channels import Senders
from .dispatch import Courier, Notified
from .targets import TargetPolicy, TargetRefused, Unresolved

log = logging.getLogger(__name__)


class Subscribers:
    """The active webhook subscriptions, read once per ``ttl`` seconds, not per event.

    A change made through this process is seen at once (it forgets the list
    when the change's unit runs, and again once it committed); a change made
    through another process, within ``ttl``. A removed subscription reached
    in between gets a delivery that fails for good without being sent: the
    secret is read afresh for every send.
    """

    def __init__(self, read, ttl: float, clock=time.monotonic):
        self.read = read
        self.ttl = ttl
        self.clock = clock
        self.cached: tuple[float, list[dict]] | None = None
        self.generation = 0

    def matching(self, event_type: str) -> list[dict]:
        source = event_type.split(".", 1)[0]
        wanted = {event_type, f"{source}.*", "*"}
        return [sub for sub in self.active() if wanted & set(sub["event_types"])]

    def active(self) -> list[dict]:
        now = self.clock()
        if self.cached is not None and self.cached[0] > now:
            return self.cached[1]
        generation = self.generation
        found = self.read()
        # A change forgotten while this read was under way may not be in it.
        if generation == self.generation and self.ttl > 0:
            self.cached = (now + self.ttl, found)
        return found

    def forget(self) -> None:
        self.generation += 1
        self.cached = None


class Hooks:
    """What registering a webhook needs: where it may point, and sealing its secret."""

    def __init__(self, targets: TargetPolicy, box: SecretBox, changed=lambda: None):
        self.targets = targets
        self.box = box
        self.changed = changed  # the subscriber list must be read again

    def vet(self, url: str) -> None:
        """Refuse, naming ``url`` and the rule, what no webhook may reach."""
        try:
            self.targets.vet(url)
        except (TargetRefused, Unresolved) as exc:
            raise DomainValidation.one("url", str(exc)) from None

    def seal(self, secret: str) -> str:
        return self.box.seal(secret)


class Dispatch:
    """One worker's view of the outbound side."""

    def __init__(self, provider: Outbound, worker_ctx):
        self.provider = provider
        self.worker_ctx = worker_ctx

    @property
    def courier(self) -> Courier:
        return self.provider.courier

    def subscribers(self, event_type: str) -> list[dict]:
        return self.provider.subscribers.matching(event_type)

    def after_commit(self, notified: Notified) -> None:
        """Send what an operation's unit stored once it committed (its result is the
        caller's answer, so it cannot carry them like a handler's); a re-run replaces it."""
        self.provider.deferred[self.worker_ctx] = notified

    def subscriptions_changed(self) -> None:
        self.provider.changed[self.worker_ctx] = True
        self.provider.subscribers.forget()

    @property
    def hooks(self) -> Hooks:
        return Hooks(self.provider.senders.targets, self.provider.box,
                     self.subscriptions_changed)


class Outbound(DependencyProvider):
    def setup(self):
        self.changed = WeakKeyDictionary()
        self.deferred = WeakKeyDictionary()
        # No key, no start: a replica sealing with a key of its own would
        # leave secrets its siblings cannot open (zhidu.secretbox).
        self.box = SecretBox.from_config(self.container.config)

    def start(self):
        rules = self._sibling(RuleBook).rules
        store = self._sibling(Mongo).store
        self.metrics = self._sibling(Metrics)
        policy = rules.policy
        self.senders = Senders(rules.settings, policy.smtp_timeout, policy.http_timeout,
                               policy.webhook_attempt_seconds,
                               TargetPolicy(rules.settings.webhook_networks))
        self.subscribers = Subscribers(store.active_subscriptions,
                                       policy.subscribers_cache_seconds)
        attempts = self.metrics["attempts"]

        def spawn(job):
            return self.container.spawn_managed_thread(
                job, identifier="notifications.webhook_sweep")
        self.courier = Courier(store, self.senders, policy,
                               lambda channel, state: attempts.labels(channel, state).inc(),
                               box=self.box, spawn=spawn)
        resealed = store.reseal_secrets(self.box)
        if resealed:
            log.info("sealed %d webhook secret(s) with the first ZHIDU_SECRET_KEY", resealed)

    def stop(self):
        senders = getattr(self, "senders", None)
        if senders is not None:
            senders.close()

    kill = stop

    def get_dependency(self, worker_ctx):
        return Dispatch(self, worker_ctx)

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        changed = self.changed.pop(worker_ctx, False)
        deferred = self.deferred.pop(worker_ctx, None)
        if exc_info is not None:
            return
        if deferred is not None:
            result = deferred
        if changed:
            self.subscribers.forget()
        if isinstance(result, Notified):
            if result.items:
                self.metrics["notified"].labels(result.event_type).inc(len(result.items))
            if result.outbound():
                self.container.spawn_managed_thread(
                    lambda: self._send(result), identifier="notifications.send_now")

    def _send(self, notified: Notified) -> None:
        try:
            self.courier.send_now(notified)
        except Exception:  # an error in a managed thread would kill the container
            log.exception("immediate send failed; the sweep sends it when its lease runs out")

    def _sibling(self, cls):
        for dependency in self.container.dependencies:
            if isinstance(dependency, cls):
                return dependency
        raise LookupError(f"{type(self).__name__} needs a {cls.__name__} dependency")
