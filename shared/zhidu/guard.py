"""The door every operation passes: prove the caller, then check the permissions file.

:class:`Identity` is a dependency provider on every service. It loads and
validates the service's permissions file at start-up (an operation without an
entry stops the service), keeps a short-lived cache of the directory copy
that roles and reporting lines come from, and hands each worker a
:class:`Guard` that the operation layer calls before any handler runs.

Timers and event handlers are not user calls: they act as the service itself.
"""
from __future__ import annotations

import inspect
import logging
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from nameko.web.handlers import HttpRequestHandler

from .config import setting
from .errors import PermissionDenied, Unauthenticated
from .identity import Authenticator, Principal
from .permissions import Permissions

log = logging.getLogger(__name__)

LIBRARY_PERMISSIONS = Path(__file__).with_name("permissions.yaml")
SYSTEM = Principal("system", ("system",), frozenset({"*"}), "zhidu", service_account=True)


def operations_of(service_cls) -> set[str]:
    return {name for name, member in inspect.getmembers(service_cls)
            if getattr(member, "zhidu_operation", None)}


def permissions_file(service_cls) -> Path:
    explicit = getattr(service_cls, "permissions_file", None)
    if explicit:
        return Path(explicit)
    package = Path(sys.modules[service_cls.__module__].__file__).parent
    return package / "rules" / "permissions.yaml"


def load_permissions(service_cls, service_name: str) -> Permissions:
    """The library's defaults for its own operations, then the service's file."""
    import yaml

    from .permissions import PermissionsError

    merged: dict = {}
    for path in (LIBRARY_PERMISSIONS, permissions_file(service_cls)):
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            if path != LIBRARY_PERMISSIONS and operations_of(service_cls) <= set(merged):
                break  # nothing of its own to guard: the library's entries cover it
            raise PermissionsError(f"{service_name}: no permissions file at {path}") from None
        merged.update(raw.get("operations") or {})
    return Permissions.from_dict({"operations": merged}, service_name,
                                 operations_of(service_cls), service_cls,
                                 where=str(permissions_file(service_cls)))


class Identity(DependencyProvider):
    def setup(self):
        config = self.container.config
        self.permissions = load_permissions(self.container.service_cls,
                                            self.container.service_name)
        self.ttl = float(setting(config, "ZHIDU_IDENTITY_CACHE_SECONDS"))
        self._people: dict[str, tuple[float, dict | None]] = {}
        self.authenticator = Authenticator(config, self.person)

    @property
    def store(self):
        from .events import _find
        return _find(self.container, "Mongo").store

    def person(self, employee_id: str) -> dict | None:
        """The directory copy of a person, from a cache at most ``ttl`` seconds old."""
        now = time.monotonic()
        hit = self._people.get(employee_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        doc = self.store.person(employee_id)
        if len(self._people) > 50_000:
            self._people.clear()
        self._people[employee_id] = (now + self.ttl, doc)
        return doc

    def forget(self, employee_id: str) -> None:
        self._people.pop(employee_id, None)

    def get_dependency(self, worker_ctx):
        return Guard(self, worker_ctx)


class Guard:
    """One worker's view: who called, and whether they may."""

    def __init__(self, provider: Identity, worker_ctx):
        self.provider = provider
        self.worker_ctx = worker_ctx
        entrypoint = worker_ctx.entrypoint
        self.user_call = isinstance(entrypoint, (Rpc, HttpRequestHandler))
        self.bearer = worker_ctx.data.get("authorization") if self.user_call else None
        self.principal: Principal | None = None if self.user_call else SYSTEM
        self.proven = False
        self.depth = 0

    @contextmanager
    def entering(self, operation: str):
        """Only the outermost operation of a worker checks; nested calls inherit it."""
        self.depth += 1
        try:
            yield self.depth == 1 and self.user_call
        finally:
            self.depth -= 1

    def authenticate(self, operation: str) -> Principal | None:
        if self.proven:
            return self.principal  # the REST door proved it before reading the body
        rule = self.provider.permissions.rule(operation)
        if rule.public and not self.bearer:
            return None
        try:
            self.principal = self.provider.authenticator.principal(self.bearer)
            self.proven = True
        except Unauthenticated as exc:
            if rule.public:
                return None
            self._refused("unauthenticated")
            # The message says why, never echoes the token.
            raise Unauthenticated(str(exc)) from None
        return self.principal

    def precheck(self, operation: str, principal: Principal | None, payload) -> None:
        """Before validation: a payload speaking for someone else, then roles alone.

        Naming another person is the graver act and the one an audit must see,
        so it is refused as such before any role is looked at.
        """
        if principal is None:
            return
        self._check_claims(operation, principal, payload)
        try:
            self.provider.permissions.precheck(operation, principal)
        except PermissionDenied:
            self._refused("forbidden")
            raise

    def authorize(self, operation: str, principal: Principal | None, data: dict,
                  raw, service=None) -> None:
        if principal is None:
            return
        self._check_claims(operation, principal, raw)
        self._check(operation, principal, data, service)

    def _check_claims(self, operation: str, principal: Principal, raw) -> None:
        """``actor`` (REST ``actor_id``) and the rule's ``caller_fields`` must name the caller."""
        if not isinstance(raw, dict):
            return
        claimed = raw.get("actor")
        named = {"actor": claimed.get("id") if isinstance(claimed, dict) else None}
        if named["actor"] is None and raw.get("actor_id") is not None:
            named["actor"] = raw.get("actor_id")
        rule = self.provider.permissions.rule(operation)
        if not principal.service_account:
            # A service account (an import, a device backend) is nobody, so it may
            # name the person it records for; a person may only name themself.
            for field in rule.caller_fields:
                named[field] = raw.get(field)
        for field, value in named.items():
            if value is not None and value != principal.id:
                self._refused("forbidden")
                raise PermissionDenied(f"{field}: the payload names {value!r}, but the "
                                       f"caller is {principal.id!r} (permissions: "
                                       f"{operation}; a caller acts only as themself)")

    def _check(self, operation, principal, data, service) -> None:
        try:
            self.provider.permissions.check(operation, principal, data, service=service)
        except PermissionDenied:
            self._refused("forbidden")
            raise

    def person(self, employee_id: str) -> dict | None:
        return self.provider.person(employee_id)

    def forget(self, employee_id: str) -> None:
        """Drop a cached directory copy (its record just changed)."""
        self.provider.forget(employee_id)

    def _refused(self, reason: str) -> None:
        from .events import _find
        metrics = _find(self.provider.container, "Metrics")
        if metrics is not None:
            metrics.auth_refused.labels(self.provider.container.service_name, reason).inc()
