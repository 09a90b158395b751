"""Calling the other services as the signed-in person.

Every call the console makes carries the person's own bearer token in the
nameko context data, so each service proves and authorises the person, not
the console: the console has no authority of its own to lend. The calls share
one reply queue per console container (nameko's ``ReplyListener``); only the
context data differs from call to call, so no connection or queue is opened
per person or per page.

A refusal, a bad payload or a service that does not answer becomes a
:class:`Refusal` the pages show in the person's language (``refusals.py``).
"""
from __future__ import annotations

import logging

import eventlet
from nameko.exceptions import MethodNotFound, RemoteError, UnknownService
from nameko.extensions import DependencyProvider
from nameko.rpc import MethodProxy, ReplyListener
from zhidu.config import setting

log = logging.getLogger(__name__)


class Refusal(Exception):
    """A call that did not go through, as the person should hear it.

    ``kind`` is the contract error type (``PermissionDenied``, ``ValidationError``,
    ``Conflict``, ``NotFound``, ``Unauthenticated``) or ``Unavailable`` when the
    service did not answer; ``message`` is the service's own reason.
    """

    def __init__(self, kind: str, message: str = "", fields: dict | None = None,
                 service: str = "", method: str = ""):
        super().__init__(f"{kind}: {message}")
        self.kind, self.message, self.fields = kind, message, fields or {}
        self.service, self.method = service, method


def refusal_from(exc: Exception, service: str, method: str) -> Refusal:
    if isinstance(exc, RemoteError):
        kind = exc.exc_type or "Error"
        value = exc.value or ""
        fields = {}
        if kind == "ValidationError":
            fields = _validation_fields(value)
        if kind == "MethodNotFound":
            kind = "Unavailable"
        return Refusal(kind, value, fields, service, method)
    if isinstance(exc, (UnknownService, MethodNotFound)):
        return Refusal("Unavailable", str(exc), service=service, method=method)
    if isinstance(exc, eventlet.Timeout):
        return Refusal("Unavailable", "no answer in time", service=service, method=method)
    raise exc


def _validation_fields(value: str) -> dict:
    import json

    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        return {"_schema": [value]}
    return parsed if isinstance(parsed, dict) else {"_schema": [str(parsed)]}


class _CallContext:
    """What nameko's MethodProxy reads from a worker: the container and the headers."""

    def __init__(self, container, context_data: dict):
        self.container = container
        self.context_data = context_data


class Pending:
    """A call in flight; ``result()`` waits for it (or raises its :class:`Refusal`)."""

    def __init__(self, reply, service: str, method: str, timeout: float,
                 error: Exception | None = None):
        self.reply, self.service, self.method = reply, service, method
        self.timeout, self.error = timeout, error

    def result(self):
        if self.error is not None:
            raise self.error
        try:
            with eventlet.Timeout(self.timeout):
                return self.reply.result()
        except (RemoteError, UnknownService, MethodNotFound, eventlet.Timeout) as exc:
            raise refusal_from(exc, self.service, self.method) from None

    def result_or(self, default):
        """The result, or ``default`` when the call was refused (a section left out)."""
        try:
            return self.result()
        except Refusal as refusal:
            log.info("%s.%s refused: %s", self.service, self.method, refusal)
            return default


class Caller:
    """``caller.call("complaints", "get", {...})`` as the person whose token it holds."""

    def __init__(self, provider: Services, token: str | None):
        self.provider = provider
        self.token = token

    def as_token(self, token: str | None) -> Caller:
        return Caller(self.provider, token)

    def start(self, service: str, method: str, payload: dict | None = None) -> Pending:
        context = {"authorization": f"Bearer {self.token}"} if self.token else {}
        ctx = _CallContext(self.provider.container, context)
        proxy = MethodProxy(ctx, service, method, self.provider.reply_listener)
        timeout = self.provider.timeout
        try:
            reply = proxy.call_async(payload if payload is not None else {})
        except (UnknownService, MethodNotFound) as exc:
            return Pending(None, service, method, timeout, refusal_from(exc, service, method))
        return Pending(reply, service, method, timeout)

    def call(self, service: str, method: str, payload: dict | None = None):
        return self.start(service, method, payload).result()


class Services(DependencyProvider):
    """Injects a :class:`Caller` with no token; pages bind the person's with ``as_token``."""

    reply_listener = ReplyListener()

    def setup(self):
        self.timeout = float(setting(self.container.config, "ZHIDU_CONSOLE_RPC_TIMEOUT", "20"))

    def get_dependency(self, worker_ctx):
        return Caller(self, None)
