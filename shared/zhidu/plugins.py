"""Service discovery, and events one service declares for another to act on.

A service package publishes a :class:`ServicePlugin` under the entry-point
group ``zhidu.services``; the launcher, the docs generator and the deploy
manifests find services there, so adding a department's service never means
editing a central list.

A department's package may also tell another service how to read one of its
events: an :class:`EventSource` published under a group the consuming service
names (``zhidu.penalty_sources``, ``zhidu.complaint_sources``). The consumer
attaches one ordinary ``on_event`` handler per declared source to its class
when its module is imported (:func:`attach_event_sources`), so the handler has
the unit of work, the de-duplication, the retries and the dead-letter queue of
any other, and the consumer's code never names the department.
"""
from __future__ import annotations

import copy
import importlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import MappingProxyType
from typing import Any

GROUP = "zhidu.services"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_MISSING = object()


@dataclass(frozen=True)
class ServicePlugin:
    name: str
    service: str  # "package.module:ClassName"
    port: int
    summary: str = ""
    emits: tuple[str, ...] = ()
    consumes: tuple[str, ...] = ()  # "source.event_type"
    event_schemas: str | None = None  # "package.module:MAPPING" of type → schema
    timers: tuple[str, ...] = field(default_factory=tuple)
    # Entry-point groups of EventSources this service attaches handlers for.
    source_groups: tuple[str, ...] = ()
    # Other entry-point groups it reads rule data from (catalogues, routes):
    # its image must carry the distributions that contribute to them.
    data_groups: tuple[str, ...] = ()

    def contributors(self, plugins) -> tuple[str, ...]:
        """The other services whose distributions contribute to what this one reads."""
        service_of = {}
        for ep in entry_points(group=GROUP):
            if ep.dist is not None and ep.name in plugins:
                service_of[ep.dist.name] = ep.name
        found = {service_of.get(ep.dist.name)
                 for group in (*self.source_groups, *self.data_groups)
                 for ep in entry_points(group=group) if ep.dist is not None}
        return tuple(sorted(name for name in found if name and name != self.name))

    def consumed(self) -> tuple[str, ...]:
        """``consumes`` and every event the installed sources declare to it."""
        declared = (s.event for group in self.source_groups for s in event_sources(group))
        return tuple(dict.fromkeys((*self.consumes, *declared)))

    def load_class(self):
        module, _, attr = self.service.partition(":")
        return getattr(importlib.import_module(module), attr)

    def load_event_schemas(self) -> dict:
        if not self.event_schemas:
            return {}
        module, _, attr = self.event_schemas.partition(":")
        return getattr(importlib.import_module(module), attr)


def load(name: str) -> ServicePlugin:
    """One plugin by name, without importing the others."""
    matches = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not matches:
        installed = ", ".join(sorted(ep.name for ep in entry_points(group=GROUP)))
        raise LookupError(f"unknown service {name!r}; installed: {installed}")
    if len(matches) > 1:
        raise ValueError(f"two plugins claim the service name {name!r}")
    plugin = matches[0].load()
    if not isinstance(plugin, ServicePlugin):
        raise TypeError(f"entry point {name!r} is not a ServicePlugin")
    return plugin


def discover() -> dict[str, ServicePlugin]:
    found = {}
    for ep in entry_points(group=GROUP):
        plugin = ep.load()
        if not isinstance(plugin, ServicePlugin):
            raise TypeError(f"entry point {ep.name!r} is not a ServicePlugin")
        if plugin.name in found:
            raise ValueError(f"two plugins claim the service name {plugin.name!r}")
        found[plugin.name] = plugin
    return dict(sorted(found.items(), key=lambda item: item[1].port))


# -- events declared by their source for another service ------------------------------
@dataclass(frozen=True)
class EventSource:
    """How a consuming service reads ``<source>.<event_type>``.

    ``fields`` maps what the consumer needs (a dotted target, ``links.order``)
    to where the event's data holds it (a dotted path, ``complaint.channel``);
    ``fixed`` gives values the event does not carry, which ``fields`` override;
    ``key`` is the path of the value naming the record the event is about, for
    a consumer that acts once per record rather than once per event. Which
    targets exist is the consuming service's to say (its README).
    """

    source: str
    event_type: str
    fields: Mapping[str, str]
    key: str | None = None
    fixed: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        for name in ("source", "event_type"):
            if not isinstance(getattr(self, name), str) or not _NAME.match(getattr(self, name)):
                raise ValueError(f"{name}: a lower-case identifier, got "
                                 f"{getattr(self, name)!r}")
        for target in (*self.fields, *self.fixed):
            if not isinstance(target, str) or not _PATH.match(target):
                raise ValueError(f"{self.event}: target {target!r} is not a dotted name")
        for target, path in self.fields.items():
            if not isinstance(path, str) or not _PATH.match(path):
                raise ValueError(f"{self.event}: {target}: path {path!r} is not a dotted name")
        if self.key is not None and not (isinstance(self.key, str) and _PATH.match(self.key)):
            raise ValueError(f"{self.event}: key {self.key!r} is not a dotted name")
        # Frozen all the way down: one declaration is shared by every worker.
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))
        object.__setattr__(self, "fixed", MappingProxyType(copy.deepcopy(dict(self.fixed))))

    @property
    def event(self) -> str:
        return f"{self.source}.{self.event_type}"

    @property
    def handler_name(self) -> str:
        return f"on_{self.source}_{self.event_type}"

    def provides(self) -> set[str]:
        """The targets a read can fill."""
        return set(self.fields) | set(self.fixed)

    def read(self, data: Mapping[str, Any]) -> dict:
        """The consumer's view of an event's data; a path the data lacks
        leaves its target out, for the consumer's validation to name."""
        out: dict = {}
        for target, value in self.fixed.items():
            _put(out, target, copy.deepcopy(value))
        for target, path in self.fields.items():
            value = _get(data, path)
            if value is not _MISSING:
                _put(out, target, copy.deepcopy(value))
        return out

    def key_of(self, data: Mapping[str, Any]) -> str | None:
        """``<source>.<event_type>:<key value>``, or None without a key or its value."""
        value = _get(data, self.key) if self.key else _MISSING
        if value is _MISSING or value is None or value == "":
            return None
        return f"{self.event}:{value}"


def _get(data, path: str):
    for part in path.split("."):
        if not isinstance(data, Mapping) or part not in data:
            return _MISSING
        data = data[part]
    return data


def _put(out: dict, target: str, value) -> None:
    *parents, last = target.split(".")
    for part in parents:
        out = out.setdefault(part, {})
    out[last] = value


def event_sources(group: str, entry_points_of: Callable[[str], Iterable] | None = None
                  ) -> list[EventSource]:
    """The sources installed plugins declare under ``group``, in entry-point name order.

    An entry point resolves to an :class:`EventSource`, a list of them, or a
    callable returning either. One that fails to load or resolves to anything
    else, or two declaring the same event, raise ``ValueError`` naming the
    entry point: a consumer that would act on an event twice, or not at all,
    must not start.
    """
    found = (entry_points_of or (lambda g: entry_points(group=g)))(group)
    sources: dict[str, EventSource] = {}
    for ep in sorted(found, key=lambda e: e.name):
        label = f"entry point {ep.name!r} ({getattr(ep, 'value', '?')}) in {group}"
        try:
            target = ep.load()
            if callable(target):
                target = target()
        except Exception as exc:  # plugin code is foreign: report, don't guess
            raise ValueError(f"{label}: failed to load: {exc}") from exc
        items = [target] if isinstance(target, EventSource) else target
        if not isinstance(items, (list, tuple)) or not items or not all(
                isinstance(i, EventSource) for i in items):
            raise ValueError(f"{label}: must resolve to an EventSource or a list of them, "
                             f"got {target!r}")
        for source in items:
            if source.event in sources:
                raise ValueError(f"{label}: {source.event} is already declared in {group}")
            sources[source.event] = source
    return list(sources.values())


def attach_event_sources(service_cls: type, group: str,
                         make_handler: Callable[[EventSource], Callable[[Any, dict], Any]],
                         *, keyed: bool = False,
                         sources: Iterable[EventSource] | None = None
                         ) -> tuple[EventSource, ...]:
    """Give ``service_cls`` an ``on_event`` handler for each source in ``group``.

    ``make_handler(source)`` returns ``handler(service, envelope)``; it may
    refuse a declaration it cannot serve by raising ``ValueError``. Call this
    where the class is defined, before a container is built from it: nameko
    reads a class's entry points when it builds the container. ``keyed`` as
    for :func:`zhidu.events.on_event`. The handler is the method
    ``on_<source>_<event_type>``; a method of that name already on the class
    is an error, not overwritten.
    """
    from .events import on_event

    attached = []
    for source in (event_sources(group) if sources is None else sources):
        name = source.handler_name
        if hasattr(service_cls, name):
            raise ValueError(f"{service_cls.__name__}.{name} already exists: "
                             f"{group} cannot attach {source.event}")
        handler = make_handler(source)
        handler.__name__ = handler.__qualname__ = name
        setattr(service_cls, name, on_event(source.source, source.event_type,
                                            keyed=keyed)(handler))
        attached.append(source)
    return tuple(attached)
