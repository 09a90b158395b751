"""Reliable event consumption and publication.

nameko acks a message after its handler runs, so a handler that raises loses
the message, and ``requeue_on_error`` loops on it forever. Here a failed
delivery is republished to a per-delay retry queue whose messages expire back
into the handler's queue (RabbitMQ dead-lettering does the waiting); after the
last delay it lands in the service's dead-letter queue, from which an operator
lists and replays it. The original is acked only once its copy is confirmed by
the broker, so there is always exactly one place the message lives.

Retries, dead letters and replays travel through the service's own
redelivery exchange, never the default one: a service's broker user may
publish to its own exchanges only (``zhidu.broker``). Every message carries
the AMQP ``user_id`` of the user that published it, which RabbitMQ checks; a
consumer refuses an event whose ``user_id`` is not its source's broker user
(``ZHIDU_BROKER_USERS``) and dead-letters it at once, with the reason. A
retried or replayed copy is published by the consumer itself and carries the
original sender in ``x-zhidu-sender``, trusted only on a message whose
``user_id`` is the consumer's own.

Publication goes through an outbox in the service's own database: what a
handler decided is written with the events it implies, published after the
write, and relayed by a timer if the process died in between.
"""
from __future__ import annotations

import functools
import logging
import socket
import time
import traceback
from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

from amqp import spec
from amqp.exceptions import AccessRefused, AMQPError, NotFound
from kombu import Connection, Exchange, Queue, binding
from kombu.pools import producers
from nameko.amqp.publish import (
    DEFAULT_TRANSPORT_OPTIONS,
    PERSISTENT,
    Publisher,
    UndeliverableMessage,
    get_connection,
)
from nameko.events import SERVICE_POOL, EventHandler
from nameko.extensions import DependencyProvider
from nameko.standalone.events import get_event_exchange
from nameko.timer import Timer
from pymongo import UpdateOne

from .broker import broker_user, connection_user, redelivery_exchange_name, users_pattern
from .config import float_list, setting
from .envelope import derived_id, make_envelope, validate_envelope
from .errors import Conflict, ValidationError
from .operations import to_contract_error
from .pii import mask_private
from .times import utcnow

log = logging.getLogger(__name__)

ATTEMPT_HEADER = "x-zhidu-attempt"
# Who first sent a message the consumer republishes (a retry, a replay).
SENDER_HEADER = "x-zhidu-sender"
# Failures that no amount of waiting will cure go straight to the DLQ.
NOT_RETRIABLE = (ValidationError, Conflict)


def dead_letter_queue_name(service: str) -> str:
    return f"zhidu.{service}.dead_letters"


def retry_queue_name(queue: str, delay_ms: int) -> str:
    # ".delay.", not the ".retry." of queues that expired into the default
    # exchange: a queue's dead-letter exchange cannot change once declared.
    return f"{queue}.delay.{delay_ms}ms"


def redelivery_exchange(service: str) -> Exchange:
    """Routes by queue name to the service's handler, retry and dead-letter queues."""
    return Exchange(redelivery_exchange_name(service), type="direct", durable=True)


def _amqp_uri(config) -> str:
    return setting(config, "AMQP_URI")


def publish_identity(config) -> dict:
    """Publish properties naming the broker user the service connects as
    (AMQP ``user_id``): RabbitMQ refuses any other, so consumers know who sent it."""
    return {"user_id": connection_user(_amqp_uri(config))}


class UntrustedSender(Exception):
    """An event not sent by its source's broker user."""


_MISMATCHED: set[str] = set()  # services told they connect as another's user


class ReliableEventHandler(EventHandler):
    """A service-pool event handler with retry, back-off and a dead-letter
    queue, which takes events from their source's broker user only."""

    def __init__(self, source_service, event_type, **kwargs):
        super().__init__(source_service, event_type, handler_type=SERVICE_POOL,
                         reliable_delivery=True, requeue_on_error=False, **kwargs)

    def setup(self):
        super().setup()
        config = self.container.config
        service = self.container.service_name
        uri = _amqp_uri(config)
        self.delays_ms = [int(d * 1000) for d in
                          float_list(setting(config, "ZHIDU_RETRY_DELAYS"))]
        self.publisher = Publisher(uri, serializer="json", **publish_identity(config))
        self.users = users_pattern(config)
        self.own_user = connection_user(uri)
        # Our own republished copies name their first sender; that is worth
        # believing only when no other service can publish as we do.
        self.trust_own_copies = (self.users is not None
                                 and self.own_user == broker_user(self.users, service))
        if self.users is not None and not self.trust_own_copies and service not in _MISMATCHED:
            _MISMATCHED.add(service)
            log.error("%s connects to the broker as %r, not as %r: ZHIDU_BROKER_USERS "
                      "expects each service to have its own user, so events from other "
                      "services will be refused", service, self.own_user,
                      broker_user(self.users, service))
        self.redelivery = redelivery_exchange(service)
        # Another service's exchange is declared by the broker's definitions,
        # not by its consumers, whose users may only bind to it (start() makes
        # sure it is there).
        source = self.queue.exchange
        source = Exchange(source.name, type=source.type, durable=source.durable,
                          auto_delete=source.auto_delete, passive=True)
        # Expired retries and replays come back through the redelivery
        # exchange. (A queue with bindings has no exchange of its own.)
        self.queue.exchange = None
        self.queue.bindings = {binding(source, routing_key=self.queue.routing_key),
                               binding(self.redelivery, routing_key=self.queue.name)}
        self.dlq = Queue(dead_letter_queue_name(service), exchange=self.redelivery,
                         routing_key=dead_letter_queue_name(service), durable=True)
        self.retry_queues = [
            Queue(retry_queue_name(self.queue.name, ms), exchange=self.redelivery,
                  routing_key=retry_queue_name(self.queue.name, ms), durable=True,
                  queue_arguments={
                      "x-message-ttl": ms,
                      "x-dead-letter-exchange": self.redelivery.name,
                      "x-dead-letter-routing-key": self.queue.name,
                  })
            for ms in self.delays_ms
        ]

    def start(self):
        with get_connection(_amqp_uri(self.container.config)) as conn:
            self._ensure_source_exchange(conn)
            channel = conn.channel()
            try:
                for queue in [self.dlq, *self.retry_queues]:
                    queue.bind(channel).declare()
            finally:
                channel.close()
        super().start()

    def _ensure_source_exchange(self, conn) -> None:
        """The source's exchange must exist before our queue binds to it. A
        user that may declare it (one shared by every service, in development)
        does so when it is missing; a service's own user may not."""
        name = get_event_exchange(self.source_service, self.container.config).name
        for passive in (True, False):
            channel = conn.channel()
            try:
                channel.exchange_declare(name, "topic", durable=True, auto_delete=False,
                                         passive=passive)
                return
            except NotFound:
                continue
            except AccessRefused:
                raise RuntimeError(
                    f"the exchange {name} is not declared and the broker user "
                    f"{self.own_user!r} may not declare it: load the broker definitions "
                    f"(deploy/rabbitmq/, zhidu broker apply)") from None
            finally:
                _close_quietly(channel)

    # -- who sent it ------------------------------------------------------------
    def sender_of(self, message) -> str:
        """The broker user that sent ``message`` (its ``user_id``, which the
        broker checked) — or, on a copy this service republished (a retry, a
        replay), the sender recorded when the original arrived."""
        user = str((message.properties or {}).get("user_id") or "")
        headers = message.headers or {}
        if self.trust_own_copies and user == self.own_user and SENDER_HEADER in headers:
            return str(headers[SENDER_HEADER] or "")
        return user

    def check_sender(self, body, message) -> None:
        """Raise :class:`UntrustedSender` unless the source's broker user sent
        ``body``, as an event of that source."""
        if self.users is None:
            return  # ZHIDU_BROKER_USERS=off: every service shares one user
        source = self.source_service
        expected = broker_user(self.users, source)
        sender = self.sender_of(message)
        if sender != expected:
            raise UntrustedSender(f"sent by broker user {sender or '(none)'!r}, not by "
                                  f"{source}'s user {expected!r}")
        envelope = body if isinstance(body, dict) else {}
        claimed, kind = envelope.get("source"), envelope.get("type")
        if (claimed is not None and claimed != source) or (
                isinstance(kind, str) and not kind.startswith(f"{source}.")):
            raise UntrustedSender(f"{source} published an event claiming to be "
                                  f"{kind or claimed!r} of {claimed!r}")

    def handle_message(self, body, message):
        try:
            self.check_sender(body, message)
        except UntrustedSender as refusal:
            self._refuse(message, refusal)
            return
        super().handle_message(body, message)

    def _refuse(self, message, refusal: UntrustedSender) -> None:
        """Dead-letter at once, as received (no retry can make it trustworthy)."""
        headers = dict(message.headers or {})
        headers.update({
            ATTEMPT_HEADER: int(headers.get(ATTEMPT_HEADER, 0) or 0) + 1,
            "x-zhidu-error": f"UntrustedSender: {refusal}"[:1000],
            SENDER_HEADER: self.sender_of(message),
            **self._failure_headers(),
        })
        try:
            self.publisher.publish(message.body, exchange=self.redelivery,
                                   routing_key=self.dlq.name, headers=headers,
                                   content_type=message.content_type,
                                   content_encoding=message.content_encoding)
        except Exception:  # broker trouble: leave the message where it is
            log.exception("could not dead-letter a refused event; requeueing it")
            self.queue_consumer.requeue_message(message)
            return
        self.queue_consumer.ack_message(message)
        metrics = _find(self.container, "Metrics")
        if metrics:
            labels = (self.container.service_name, self.method_name)
            metrics.refused.labels(*labels).inc()
            metrics.dead_lettered.labels(*labels).inc()
        log.error("refused and dead-lettered an event on %s: %s", self.queue.name, refusal)

    def _failure_headers(self) -> dict:
        return {
            "x-zhidu-queue": self.queue.name,
            "x-zhidu-handler": f"{self.container.service_name}.{self.method_name}",
            "x-zhidu-failed-at": utcnow().isoformat(),
            "x-zhidu-host": socket.gethostname(),
        }

    # -- after the handler ------------------------------------------------------
    def handle_result(self, message, worker_ctx, result=None, exc_info=None):
        if exc_info is None:
            self._settle(self.queue_consumer.ack_message, message)
            return result, exc_info
        try:
            self._reroute(message, exc_info)
        except Exception:  # broker trouble: leave the message where it is
            log.exception("could not reroute failed message; requeueing it")
            self._settle(self.queue_consumer.requeue_message, message)
        else:
            self._settle(self.queue_consumer.ack_message, message)
        return result, exc_info

    def _settle(self, settle, message) -> None:
        """Ack or requeue; a connection lost meanwhile is not the worker's failure.

        nameko checks that the channel is open first, but the socket can die
        between the check and the write; the error would end the worker's
        thread and with it the whole container. The broker redelivers what was
        not acknowledged, and handlers take a repeat as one.
        """
        try:
            settle(message)
        except (OSError, AMQPError) as exc:
            log.warning("connection lost while settling a message (%s); the broker "
                        "will redeliver it", type(exc).__name__)

    def _reroute(self, message, exc_info):
        exc = exc_info[1]
        headers = dict(message.headers or {})
        attempt = int(headers.get(ATTEMPT_HEADER, 0))
        metrics = _find(self.container, "Metrics")
        labels = (self.container.service_name, self.method_name)
        headers[ATTEMPT_HEADER] = attempt + 1
        headers["x-zhidu-error"] = f"{type(exc).__name__}: {exc}"[:1000]
        headers[SENDER_HEADER] = self.sender_of(message)
        if not isinstance(exc, NOT_RETRIABLE) and attempt < len(self.retry_queues):
            queue = self.retry_queues[attempt]
            self.publisher.publish(message.payload, exchange=self.redelivery,
                                   routing_key=queue.name, headers=headers)
            if metrics:
                metrics.retried.labels(*labels).inc()
            return
        headers.update({
            **self._failure_headers(),
            "x-zhidu-traceback": "".join(traceback.format_exception(*exc_info))[-4000:],
        })
        self.publisher.publish(message.payload, exchange=self.redelivery,
                               routing_key=self.dlq.name, headers=headers)
        if metrics:
            metrics.dead_lettered.labels(*labels).inc()
        log.error("dead-lettered %s after %d attempt(s): %s",
                  self.queue.name, attempt + 1, headers["x-zhidu-error"])


def _close_quietly(channel) -> None:
    try:
        channel.close()
    except Exception:  # already closed by the broker's refusal
        pass


def _find(container, class_name):
    for dep in container.dependencies:
        if type(dep).__name__ == class_name or class_name in (
                cls.__name__ for cls in type(dep).__mro__):
            return dep
    return None


_SKIPPED = object()
_DATA_CHECKS: dict = {}


# What each mode leaves out of the published schema: "bounds" keeps only the
# limits (numbers, lengths, the time window), since consumers knowingly accept
# older shapes of some fields; "types" also checks types and enums; "strict"
# also requires the required fields.
_LEFT_OUT = {"bounds": {"required", "type", "enum", "const", "anyOf"},
             "types": {"required"}, "strict": set()}


def _strip(schema, left_out: set):
    if isinstance(schema, dict):
        kept = {k: _strip(v, left_out) for k, v in schema.items() if k not in left_out}
        if "anyOf" in left_out and "anyOf" in schema:
            # A nullable field: keep the limits of its non-null form.
            for option in schema["anyOf"]:
                if option.get("type") != "null":
                    kept.update(_strip(option, left_out))
        return kept
    if isinstance(schema, list):
        return [_strip(v, left_out) for v in schema]
    return schema


def _time_format_checker():
    from jsonschema import FormatChecker

    from .schemas import time_window
    from .times import parse_date, parse_time

    checker = FormatChecker(formats=())

    @checker.checks("date-time", raises=(ValueError, TypeError, OverflowError))
    def _moment(value):
        if not isinstance(value, str):
            return True
        earliest, latest = time_window()
        return earliest <= parse_time(value) <= latest

    @checker.checks("date", raises=(ValueError, TypeError, OverflowError))
    def _day(value):
        if not isinstance(value, str):
            return True
        earliest, latest = time_window()
        return earliest.date() <= parse_date(value) <= latest.date()

    return checker


def _data_validators(source: str, mode: str) -> dict | None:
    from jsonschema import Draft202012Validator

    from .jsonschema import to_json_schema
    from .plugins import load

    try:
        plugin = load(source)
    except LookupError:
        return None  # a source we have no catalogue for: the handler judges
    checker = _time_format_checker()
    validators = {}
    for name, schema in plugin.load_event_schemas().items():
        validators[name] = Draft202012Validator(
            _strip(to_json_schema(schema), _LEFT_OUT[mode]), format_checker=checker)
    return validators


def check_event_data(envelope: dict, mode: str = "bounds") -> None:
    """Refuse event data its source's published schema refuses (``mode``:
    ``ZHIDU_EVENT_VALIDATION``). A refusal is a ValidationError, so the event
    is dead-lettered at once with the reason rather than retried."""
    if mode not in _LEFT_OUT:
        return  # "off"
    source, _, name = str(envelope.get("type", "")).partition(".")
    key = (source, mode)
    if key not in _DATA_CHECKS:
        _DATA_CHECKS[key] = _data_validators(source, mode)
    validator = (_DATA_CHECKS[key] or {}).get(name)
    if validator is None:
        return
    errors = sorted(validator.iter_errors(envelope.get("data")), key=lambda e: list(e.path))
    if errors:
        raise ValidationError({"data": [
            f"{'/'.join(map(str, e.path)) or '(data)'}: {e.message[:200]}"
            for e in errors[:5]]})


def on_event(source_service: str, event_type: str, *, keyed: bool = False,
             wanted: Callable[[Any, dict], bool] | None = None):
    """Handle ``<source_service>.<event_type>`` exactly once in effect.

    The envelope and its data are validated against the source's published
    schema (a malformed one is dead-lettered at once, with the reason); then,
    in one unit of work, the event id is recorded for this handler, the handler
    runs, and the events it emitted are written to the outbox. A redelivery
    finds the record and is skipped; two deliveries racing conflict in the
    database, and the loser, re-run, finds the winner's record. A handler that
    fails leaves nothing behind, its record included, so the retry starts clean.

    ``keyed`` handlers keep no record: every write they make is keyed by the
    event (an entry or an inbox item whose id derives from it), and they emit
    and send only what they newly created, so a redelivery finds its writes
    there and does nothing. That saves a write per event on the hot chain. A
    keyed handler whose result has a true ``nothing_new`` is counted as a
    duplicate.

    ``wanted(service, envelope)``, when given, is asked first, from what the
    service holds in memory: an event it says concerns nobody here is
    acknowledged without a unit of work — no record, no transaction. Only a
    handler that would write nothing for such an event may say so, so a
    redelivery of it is as harmless as the first.
    """
    def decorator(fn):
        handler = fn.__name__

        @functools.wraps(fn)
        def handle(self, body):
            envelope = validate_envelope(body)
            check_event_data(envelope, str(setting(getattr(self, "config", None),
                                                   "ZHIDU_EVENT_VALIDATION")))
            if wanted is not None and not wanted(self, envelope):
                return None
            key = f"{handler}:{envelope['id']}"
            outbox = self.outbox
            mark = outbox.mark()

            def unit():
                if not keyed:
                    # One write both claims and checks: a record already there
                    # means the event was handled; a racing delivery conflicts.
                    seen = self.store.db.processed_events.update_one(
                        {"_id": key}, {"$setOnInsert": {"at": utcnow()}}, upsert=True)
                    if seen.upserted_id is None:
                        return _SKIPPED
                result = fn(self, envelope)
                outbox.persist()
                return result

            try:
                result = self.store.unit(unit, on_retry=lambda: outbox.rollback(mark))
            except Exception as exc:
                # A domain refusal is final (no retries); anything else is retried.
                mapped = to_contract_error(exc)
                if mapped is not None and mapped is not exc:
                    raise mapped from exc
                raise
            if result is _SKIPPED or (keyed and getattr(result, "nothing_new", False)):
                # A keyed handler says so itself when its writes were all there.
                self.metrics.duplicates.labels(self.name, handler).inc()
                return None if result is _SKIPPED else result
            return result
        return ReliableEventHandler.decorator(source_service, event_type)(handle)
    return decorator


class PendingEvents:
    """The events one worker emits; ids are derived from the cause when there is one."""

    def __init__(self, provider, service: str, store, cause: dict | None):
        self.provider = provider
        self.service = service
        self.store = store
        self.cause = cause
        self.envelopes: list[dict] = []
        self.persisted = 0
        # The proven caller of the operation that emits; set by the operation layer.
        self.actor: dict | None = None

    def emit(self, event_type: str, data: dict, *, key: str | None = None,
             correlation_id: str | None = None, at=None) -> dict:
        """Queue an event; ``key`` makes its id deterministic for retried calls."""
        event_id = None
        if self.cause is not None:
            event_id = derived_id(self.cause["id"], self.service, event_type,
                                  key if key is not None else len(self.envelopes))
        elif key is not None:
            event_id = derived_id(self.service, event_type, key)
        envelope = make_envelope(self.service, event_type, data, cause=self.cause,
                                 correlation_id=correlation_id, event_id=event_id, at=at,
                                 actor=self.actor)
        contracts = getattr(self.provider, "contracts", None)
        if contracts is not None:
            contracts.check(envelope)
        self.envelopes.append(envelope)
        return envelope

    def mark(self) -> tuple[int, int]:
        """Where a unit of work starts, to go back to if the unit is run again."""
        return len(self.envelopes), self.persisted

    def rollback(self, mark: tuple[int, int]) -> None:
        del self.envelopes[mark[0]:]
        self.persisted = mark[1]

    def persist(self) -> None:
        """Write the events emitted since the last call to the outbox.

        Inside a unit of work this joins its transaction. Ids are derived from
        the cause or a key, so writing an entry that is already there (a call
        repeated before the relay published it) must change nothing — and must
        not fail, which would abort the whole unit.
        """
        fresh = self.envelopes[self.persisted:]
        if not fresh:
            return
        now = utcnow()
        self.store.db.outbox.bulk_write(
            [UpdateOne({"_id": env["id"]},
                       {"$setOnInsert": {"envelope": env, "created_at": now}}, upsert=True)
             for env in fresh], ordered=True)
        self.persisted = len(self.envelopes)

    def relay(self) -> int:
        return self.provider.relay()

    def pending_count(self) -> int:
        return self.provider.pending_count()


class BatchPublisher:
    """Publishes a batch of events and waits once for the broker's confirms.

    nameko's publisher waits for each message's confirm before sending the
    next: a sweep announcing 900 events waited 900 round trips. Here the
    channel is put in confirm mode once, the whole batch is sent, and the
    broker's acknowledgements (RabbitMQ acks several tags at once) are awaited
    together. A batch counts as published only when every message in it is
    confirmed; on a nack, a timeout or a lost connection it raises, and the
    outbox keeps the entries for the relay, whose repeats consumers drop.

    Its producers come from a pool of their own (the transport options are
    part of kombu's pool key), so no other publisher is handed a channel in
    confirm mode that it does not expect.
    """

    TRANSPORT_OPTIONS = {**DEFAULT_TRANSPORT_OPTIONS, "confirm_publish": False,
                         "zhidu_confirm_batches": True}

    def __init__(self, amqp_uri: str, user_id: str | None = None,
                 confirm_timeout: float = 30.0):
        self.amqp_uri = amqp_uri
        self.user_id = user_id
        self.confirm_timeout = confirm_timeout

    def publish(self, exchange: Exchange, messages: list[tuple[dict, str]]) -> None:
        """``messages``: (body, routing key) pairs, sent in order."""
        if not messages:
            return
        conn = Connection(self.amqp_uri, transport_options=dict(self.TRANSPORT_OPTIONS))
        with producers[conn].acquire(block=True) as producer:
            send = producer.connection.ensure(producer, self._send, max_retries=3)
            send(producer, exchange, messages)

    def _send(self, producer, exchange: Exchange, messages: list[tuple[dict, str]]) -> None:
        channel = producer.channel
        if not getattr(channel, "is_open", True):
            # Closed by the broker (a refused publish): the pool would hand
            # the dead channel out again, so this producer takes a new one.
            producer.revive(producer.connection.channel())
            channel = producer.channel
        state = _confirms(channel)
        properties = {"user_id": self.user_id} if self.user_id else {}
        first = state["sent"] + 1
        for body, routing_key in messages:
            state["sent"] += 1
            state["pending"].add(state["sent"])
            producer.publish(body, exchange=exchange, routing_key=routing_key,
                             serializer="json", delivery_mode=PERSISTENT, retry=False,
                             **properties)
        ours = range(first, state["sent"] + 1)
        deadline = time.monotonic() + self.confirm_timeout
        while not state["pending"].isdisjoint(ours):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"the broker confirmed {len(ours)} events not within "
                                   f"{self.confirm_timeout:.0f}s")
            channel.wait([spec.Basic.Ack, spec.Basic.Nack], timeout=left)
        refused = state["nacked"].intersection(ours)
        if refused:
            state["nacked"].difference_update(ours)
            raise UndeliverableMessage(f"the broker refused {len(refused)} of "
                                       f"{len(ours)} events")


def _confirms(channel) -> dict:
    """The channel's confirm bookkeeping, put in confirm mode on first use."""
    state = getattr(channel, "_zhidu_confirms", None)
    if state is not None:
        return state
    state = {"sent": 0, "pending": set(), "nacked": set()}

    def settle(tag, multiple, refused=False):
        done = {t for t in state["pending"] if t <= tag} if multiple else {tag}
        state["pending"].difference_update(done)
        if refused:
            state["nacked"].update(done)

    channel.events["basic_ack"].add(settle)
    channel.events["basic_nack"].add(lambda tag, multiple: settle(tag, multiple, True))
    channel.confirm_select()
    channel._zhidu_confirms = state
    return state


class Outbox(DependencyProvider):
    """Injects a per-worker :class:`PendingEvents`; publishes after the worker."""

    def __init__(self):
        self.workers = WeakKeyDictionary()
        self.published: set[str] = set()

    def setup(self):
        config = self.container.config
        self.exchange = get_event_exchange(self.container.service_name, config)
        self.publisher = BatchPublisher(_amqp_uri(config), **publish_identity(config))
        self.grace_seconds = 2 * float(setting(config, "ZHIDU_OUTBOX_INTERVAL"))
        # Tests set ZHIDU_CHECK_EVENTS: every event emitted is checked against the
        # JSON Schema the service publishes for it, so a payload can never drift
        # from the catalogue other systems code against.
        self.contracts = None
        if str(setting(config, "ZHIDU_CHECK_EVENTS") or "") in ("1", "true"):
            from .contracts import EventContracts
            self.contracts = EventContracts.for_service(self.container.service_name)

    def start(self):
        # Declare the exchange now, so consumers can bind before our first event.
        with get_connection(_amqp_uri(self.container.config)) as conn:
            self.exchange(conn.default_channel).declare()

    @property
    def store(self):
        return _find(self.container, "Mongo").store

    def get_dependency(self, worker_ctx):
        cause = None
        if isinstance(worker_ctx.entrypoint, ReliableEventHandler) and worker_ctx.args:
            body = worker_ctx.args[0]
            if isinstance(body, dict) and body.get("id"):
                cause = body
        pending = PendingEvents(self, self.container.service_name, self.store, cause)
        self.workers[worker_ctx] = pending
        return pending

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        pending = self.workers.pop(worker_ctx, None)
        if pending is None or exc_info is not None or not pending.persisted:
            return
        try:
            self.publish([env for env in pending.envelopes[:pending.persisted]])
        except Exception:
            log.exception("publishing failed; the outbox relay will retry")

    def publish(self, envelopes: list[dict]) -> None:
        self.publisher.publish(self.exchange, [(envelope, envelope["type"].split(".", 1)[1])
                                               for envelope in envelopes])
        # Published entries are removed by the relay in one delete a round,
        # not one each: a write saved per event. If the process dies first,
        # the relay publishes them again and consumers drop the repeats.
        self.published.update(e["id"] for e in envelopes)

    def forget_published(self) -> None:
        done, self.published = self.published, set()
        if done:
            self.store.db.outbox.delete_many({"_id": {"$in": list(done)}})

    def stop(self):
        try:
            self.forget_published()
        except Exception:  # the relay of the next start publishes them again
            log.warning("could not clear published outbox entries at stop", exc_info=True)

    def relay(self, older_than_seconds: float | None = None) -> int:
        """Publish what a dead worker left behind; returns how many."""
        from datetime import timedelta

        self.forget_published()
        grace = self.grace_seconds if older_than_seconds is None else older_than_seconds
        cutoff = utcnow() - timedelta(seconds=grace)
        docs = list(self.store.db.outbox.find({"created_at": {"$lte": cutoff}})
                    .sort("created_at", 1).limit(500))
        self.publish([doc["envelope"] for doc in docs])
        return len(docs)

    def pending_count(self) -> int:
        return self.store.db.outbox.count_documents({})


class ConfigTimer(Timer):
    """A nameko timer whose interval comes from configuration."""

    def __init__(self, setting_key: str, **kwargs):
        self.setting_key = setting_key
        super().__init__(interval=1.0, **kwargs)

    def setup(self):
        # A service may have its own pace: ZHIDU_NOTIFICATIONS_SWEEP_INTERVAL
        # wins over ZHIDU_SWEEP_INTERVAL for the notifications service.
        config = self.container.config
        own = self.setting_key.replace(
            "ZHIDU_", f"ZHIDU_{self.container.service_name.upper()}_", 1)
        self.interval = float(setting(config, own, None) or setting(config, self.setting_key))
        super().setup()


config_timer = ConfigTimer.decorator


# -- dead-letter queue operations ---------------------------------------------

def _dlq_id(message) -> str:
    payload = message.payload if isinstance(message.payload, dict) else {}
    headers = message.headers or {}
    return f"{headers.get('x-zhidu-queue', '?')}:{payload.get('id', message.delivery_tag)}"


def list_dead_letters(amqp_uri: str, service: str, limit: int = 100) -> list[dict]:
    """Peek at the DLQ: messages are fetched unacked and returned on close.

    What is shown is masked (phone numbers, e-mail addresses, wages, in the
    event and in the error quoting it): whoever mends a failing handler needs
    the event's shape, not the person's data; a replay sends the original.
    """
    items = []
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        queue = Queue(dead_letter_queue_name(service), durable=True)(channel)
        queue.declare()
        try:
            for _ in range(limit):
                message = queue.get(no_ack=False)
                if message is None:
                    break
                headers = message.headers or {}
                items.append({
                    "id": _dlq_id(message),
                    "queue": headers.get("x-zhidu-queue"),
                    "handler": headers.get("x-zhidu-handler"),
                    "error": headers.get("x-zhidu-error"),
                    "attempts": headers.get(ATTEMPT_HEADER),
                    "sender": headers.get(SENDER_HEADER),
                    "failed_at": headers.get("x-zhidu-failed-at"),
                    "traceback": headers.get("x-zhidu-traceback"),
                    "event": message.payload,
                })
        finally:
            channel.close()  # everything unacked goes back, in order
    return [mask_private(item) for item in items]


def replay_dead_letters(amqp_uri: str, service: str, ids: list[str] | None = None,
                        limit: int = 1000) -> list[str]:
    """Send dead letters back to the handler queue they failed in.

    Run it as the service's own broker user (the service's
    ``replay_dead_letters`` operation does): the copy carries the sender the
    handler first saw, which the handler believes only from its own user, so
    an event refused as untrusted is refused again.
    """
    replayed = []
    publisher = Publisher(amqp_uri, serializer="json", user_id=connection_user(amqp_uri))
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        queue = Queue(dead_letter_queue_name(service), durable=True)(channel)
        queue.declare()
        # Only what is parked now: a replay that fails at once (a refused
        # sender) is parked again behind them and must wait for the next.
        _, waiting, _ = queue.queue_declare(passive=True)
        try:
            for _ in range(min(limit, waiting)):
                message = queue.get(no_ack=False)
                if message is None:
                    break
                message_id = _dlq_id(message)
                headers = message.headers or {}
                target = headers.get("x-zhidu-queue")
                if not target or (ids is not None and message_id not in ids):
                    continue
                try:
                    publisher.publish(message.payload, exchange=redelivery_exchange(service),
                                      routing_key=target, mandatory=True,
                                      headers={"x-zhidu-replayed-at": utcnow().isoformat(),
                                               SENDER_HEADER: headers.get(SENDER_HEADER, "")})
                except UndeliverableMessage:
                    log.warning("%s: no queue %s to replay it to; it stays", message_id, target)
                    continue
                message.ack()
                replayed.append(message_id)
        finally:
            channel.close()
    return replayed
