"""Routes other services' distributions contribute: who hears of their events.

A department's package ships, beside its code, a directory holding a
``routes.yaml`` in the form of this service's own ``rules/routes.yaml`` and a
``templates/<locale>.yaml`` per locale (templates and label tables only), and
declares it in its ``pyproject.toml``::

    [project.entry-points."zhidu.notification_routes"]
    canteen = "canteen.plugin:NOTIFICATION_ROUTES"   # a str/Path, or a callable

Nothing in this service names the department. When the service module is
imported, one ordinary ``on_event`` handler per contributed event type is
attached to the service class (:func:`zhidu.plugins.attach_event_sources`), so
those events have the unit of work, the de-duplication, the retries and the
dead-letter queue of the service's own. At start-up the rule loader reads the
contributions strictly (:func:`load`): a malformed table, a route for an event
its source does not publish or whose data has no such field, a template
missing from a locale, or an event routed twice stops the service.

Reading the event types at import is lenient, so a broken contribution cannot
keep other services' tools from importing this package; it still stops this
service, at its start, with the reason.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import yaml

from .routing import EVENT_TYPE, RoutingError, RoutingTable, build_routes
from .templates import Catalogue, load_contributed_locales

log = logging.getLogger(__name__)

GROUP = "zhidu.notification_routes"
ROUTES_FILE = "routes.yaml"
TEMPLATES_DIR = "templates"


@dataclass(frozen=True)
class Contribution:
    name: str  # the entry point's
    directory: Path

    @property
    def where(self) -> str:
        return f"{GROUP} {self.name!r} ({self.directory / ROUTES_FILE})"

    def raw_routes(self) -> dict:
        try:
            with open(self.directory / ROUTES_FILE, encoding="utf-8") as handle:
                raw = yaml.safe_load(handle)
        except (OSError, yaml.YAMLError) as exc:
            raise RoutingError(f"{self.where}: {exc}") from None
        if not isinstance(raw, dict):
            raise RoutingError(f"{self.where}: expected a mapping")
        return raw


def installed(group: str = GROUP):
    return entry_points(group=group)


def discover(entry_points_of: Callable[[str], Iterable] | None = None) -> list[Contribution]:
    """Every installed contribution, in entry-point name order; strict."""
    found = (entry_points_of or installed)(GROUP)
    contributions = []
    for ep in sorted(found, key=lambda e: e.name):
        label = f"entry point {ep.name!r} ({getattr(ep, 'value', '?')}) in {GROUP}"
        try:
            target = ep.load()
            if callable(target):
                target = target()
        except Exception as exc:  # plugin code is foreign: report, don't guess
            raise RoutingError(f"{label}: failed to load: {exc}") from exc
        if not isinstance(target, (str, Path)) or not Path(target).is_dir():
            raise RoutingError(f"{label}: must resolve to a directory, got {target!r}")
        directory = Path(target)
        for needed in (directory / ROUTES_FILE, directory / TEMPLATES_DIR):
            if not needed.exists():
                raise RoutingError(f"{label}: {needed} is missing")
        contributions.append(Contribution(ep.name, directory))
    return contributions


def event_types(own: Iterable[str] = (),
                entry_points_of: Callable[[str], Iterable] | None = None) -> tuple[str, ...]:
    """The event types the installed contributions route, for the handlers and
    the plugin's list; lenient (see the module's note). ``own``: the types the
    service handles itself, which a contribution may not take over."""
    own = set(own)
    types: list[str] = []
    try:
        contributions = discover(entry_points_of)
    except Exception as exc:
        log.error("notification routes contributed cannot be read: %s", exc)
        return ()
    for contribution in contributions:
        try:
            routes = contribution.raw_routes().get("routes") or {}
        except Exception as exc:
            log.error("%s: cannot be read: %s", contribution.where, exc)
            continue
        if isinstance(routes, dict):
            types.extend(t for t in routes
                         if isinstance(t, str) and EVENT_TYPE.match(t) and t not in own)
    return tuple(dict.fromkeys(types))


def load(routes: RoutingTable, catalogue: Catalogue, *, handled: Iterable[str],
         entry_points_of: Callable[[str], Iterable] | None = None,
         published: Callable[[str], dict | None] | None = None
         ) -> tuple[RoutingTable, Catalogue]:
    """The service's table and catalogue with every contribution added; strict.

    ``handled``: the event types the service handles itself, whether or not
    it routes them. ``published(source)``: that source's event schemas (name →
    marshmallow schema), or None if no such service is installed.
    """
    published = published or _published
    handled = set(handled)
    for contribution in discover(entry_points_of):
        where = contribution.where
        table = build_routes(contribution.raw_routes(), where,
                             inherited_groups=routes.groups)
        taken = sorted(set(table.routes) & handled)
        if taken:
            raise RoutingError(f"{where}: handled by notifications itself: {', '.join(taken)}")
        for event_type, route in table.routes.items():
            _check_published(event_type, route, published, where)
        routes = routes.merged(table, where)
        catalogue = catalogue.with_contribution(
            load_contributed_locales(contribution.directory / TEMPLATES_DIR),
            f"{GROUP} {contribution.name!r}")
    return routes, catalogue


def _check_published(event_type: str, route, published, where: str) -> None:
    """The source must publish the event, with every top-level field a
    ``data.<field>`` expression reads: a typo notifies nobody otherwise."""
    source, _, name = event_type.partition(".")
    schemas = published(source)
    if schemas is None:
        raise RoutingError(f"{where}: {event_type}: no service {source!r} is installed")
    if name not in schemas:
        raise RoutingError(f"{where}: {event_type}: {source} publishes no event {name!r}; "
                           f"it publishes {', '.join(sorted(schemas))}")
    schema = schemas[name]
    if schema is None:
        return
    schema = schema() if isinstance(schema, type) else schema
    fields = {f.data_key or key for key, f in schema.fields.items()}
    for text, expr in zip(route.sources, route.recipients, strict=True):
        for path in _data_paths(expr):
            if path[0] not in fields:
                raise RoutingError(f"{where}: {event_type}: {text!r}: the event has no "
                                   f"field {path[0]!r}")


def _data_paths(expr: tuple):
    if expr[0] == "data":
        yield expr[1]
    elif expr[0] == "call":
        for arg in expr[2]:
            yield from _data_paths(arg)


def _published(source: str) -> dict | None:
    from zhidu.plugins import load as load_plugin

    try:
        plugin = load_plugin(source)
    except LookupError:
        return None
    schemas = plugin.load_event_schemas()
    return {**{name: None for name in plugin.emits}, **schemas}


def attach_handlers(service_cls: type, types: Iterable[str], handle: str) -> tuple[str, ...]:
    """An ``on_event`` handler on ``service_cls`` per event type, each calling the
    method named ``handle`` with the envelope: the service's own handling."""
    from zhidu.plugins import EventSource, attach_event_sources

    sources = [EventSource(*event_type.split(".", 1), fields={}) for event_type in types]

    def make_handler(source):
        def handler(self, event):
            return getattr(self, handle)(event)
        return handler

    attached = attach_event_sources(service_cls, GROUP, make_handler, sources=sources)
    return tuple(source.event for source in attached)
