"""Service discovery: each service declares itself through an entry point.

A service package publishes a :class:`ServicePlugin` under the entry-point
group ``zhidu.services``; the launcher, the docs generator and the deploy
manifests find services there, so adding a department's service never means
editing a central list.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib.metadata import entry_points

GROUP = "zhidu.services"


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
