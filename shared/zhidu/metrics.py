"""Prometheus metrics per service container.

Each container gets its own ``CollectorRegistry``: two containers of one
service in one process (as tests run them) would otherwise collide on metric
names in the global registry. Every entrypoint, RPC, HTTP, event handler and
timer alike, is counted and timed without the service writing a line for it.
"""
from __future__ import annotations

import time
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

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


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
        self.auth_refused = Counter(
            "zhidu_auth_refused_total",
            "Calls refused at the door: unauthenticated (no or bad token) or forbidden.",
            ["service", "reason"], registry=self.registry)
        self.outbox_pending = Gauge(
            "zhidu_outbox_pending", "Events written but not yet published.",
            ["service"], registry=self.registry)
        if self._declare:
            self.custom = self._declare(self.registry) or {}

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
