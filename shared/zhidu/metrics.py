"""Prometheus metrics per service container.

Each container gets its own ``CollectorRegistry``: two containers of one
service in one process (as tests run them) would otherwise collide on metric
names in the global registry. Every entrypoint, RPC, HTTP, event handler and
timer alike, is counted and timed without the service writing a line for it.

A label's values must be few and known: a department typed into a complaint
would otherwise start a time series per spelling, kept by Prometheus for
weeks. :class:`KnownValues` bounds such a label; ``Metrics.departments``
knows the departments of the people in the service's directory copy and
counts any other under ``other``.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from weakref import WeakKeyDictionary

from nameko.extensions import DependencyProvider
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
OTHER = "other"


class KnownValues:
    """The values a label may take; any other is labelled ``other``.

    ``fetch`` reads the known values (from the database); they are read again
    after ``ttl`` seconds, or sooner — at most every ``retry`` seconds — when
    a value is not among them, so a department that has just got its first
    employee is labelled by name within seconds. A failed read keeps what
    was known.
    """

    def __init__(self, fetch: Callable[[], Iterable[str]] | None = None, fixed=(),
                 ttl: float = 60.0, retry: float = 5.0, clock=time.monotonic):
        self.fetch, self.fixed = fetch, frozenset(fixed)
        self.ttl, self.retry, self.clock = ttl, retry, clock
        self.known: frozenset[str] = self.fixed
        self.read_at: float | None = None

    def label(self, value: str) -> str:
        if value in self.known and not self._stale(self.ttl):
            return value
        if self._stale(self.ttl) or (value not in self.known and self._stale(self.retry)):
            self._refresh()
        return value if value in self.known else OTHER

    def _stale(self, age: float) -> bool:
        return self.fetch is not None and (
            self.read_at is None or self.clock() - self.read_at >= age)

    def _refresh(self) -> None:
        self.read_at = self.clock()
        try:
            self.known = self.fixed | {v for v in self.fetch() if isinstance(v, str)}
        except Exception:  # noqa: BLE001 - a label is no reason to fail the call
            log.warning("known label values not read; keeping %d", len(self.known),
                        exc_info=True)


def _kind(entrypoint) -> str:
    name = type(entrypoint).__name__
    for marker, kind in (("Rpc", "rpc"), ("Http", "http"), ("Event", "event"),
                         ("Timer", "timer")):
        if marker in name:
            return kind
    return name.lower()


class Metrics(DependencyProvider):
    """Injects itself; services declare their own metrics in ``declare``."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, declare=None):
        self._declare = declare
        self._started = WeakKeyDictionary()
        self.custom = {}

    def setup(self):
        self.registry = CollectorRegistry(auto_describe=True)
        self.calls = Counter(
            "zhidu_entrypoint_calls_total", "Entrypoint invocations by outcome.",
            ["service", "entrypoint", "kind", "outcome"], registry=self.registry)
        self.latency = Histogram(
            "zhidu_entrypoint_latency_seconds", "Entrypoint latency.",
            ["service", "entrypoint", "kind"], buckets=LATENCY_BUCKETS,
            registry=self.registry)
        self.duplicates = Counter(
            "zhidu_events_duplicate_total", "Redelivered events skipped by de-duplication.",
            ["service", "handler"], registry=self.registry)
        self.dead_lettered = Counter(
            "zhidu_events_dead_lettered_total", "Events moved to the dead-letter queue.",
            ["service", "handler"], registry=self.registry)
        self.retried = Counter(
            "zhidu_events_retried_total", "Failed event deliveries scheduled for retry.",
            ["service", "handler"], registry=self.registry)
        self.refused = Counter(
            "zhidu_events_refused_total",
            "Events dead-lettered unhandled: not sent by their source's broker user.",
            ["service", "handler"], registry=self.registry)
        self.auth_refused = Counter(
            "zhidu_auth_refused_total",
            "Calls refused at the door: unauthenticated (no or bad token) or forbidden.",
            ["service", "reason"], registry=self.registry)
        self.outbox_pending = Gauge(
            "zhidu_outbox_pending", "Events written but not yet published.",
            ["service"], registry=self.registry)
        if self._declare:
            self.custom = self._declare(self.registry) or {}
        self.departments = KnownValues(self._directory_departments)
        self.custom.setdefault("departments", self.departments)

    def _directory_departments(self) -> set[str]:
        """The departments of the service's directory copy (its store's ``people``)."""
        for provider in self.container.dependencies:
            departments = getattr(getattr(provider, "store", None), "departments", None)
            if callable(departments):
                return departments()
        return set()

    @property
    def service(self) -> str:
        return self.container.service_name

    def worker_setup(self, worker_ctx):
        self._started[worker_ctx] = time.perf_counter()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        started = self._started.pop(worker_ctx, None)
        entrypoint = worker_ctx.entrypoint
        kind = _kind(entrypoint)
        labels = (self.service, entrypoint.method_name, kind)
        self.calls.labels(*labels, "error" if exc_info else "ok").inc()
        if started is not None:
            self.latency.labels(*labels).observe(time.perf_counter() - started)

    def get_dependency(self, worker_ctx):
        return self

    def __getitem__(self, name):
        return self.custom[name]

    def render(self) -> bytes:
        return generate_latest(self.registry)
