"""Catalogue plugins discovered through Python entry points.

A department ships its catalogue in its own distribution and declares it, e.g.
in its ``pyproject.toml``::

    [project.entry-points."zhidu.penalty_catalogs"]
    canteen = "zhidu_canteen:CATALOG_DIR"          # a str/Path attribute
    # or  canteen = "zhidu_canteen.rules:catalog_path"   (a callable)

The entry point resolves to a path (file or directory of YAML catalogues), or
to a callable returning a path or a list of paths. Nothing in the penalties code
changes when a department is added.

Load order, which matters only for ``replaces: true``: the built-in catalogues,
then plugins sorted by entry-point name, then explicit extra paths (a
deployment's overrides, e.g. from an environment variable the service reads).

The department may also say which of its events are violations to book, as a
:class:`zhidu.plugins.EventSource` under ``zhidu.penalty_sources``::

    [project.entry-points."zhidu.penalty_sources"]
    canteen = "zhidu_canteen.plugin:PENALTY_SOURCE"

Its ``fields`` name where the event holds each of :data:`VIOLATION_FIELDS`
(``points``, ``note`` and ``detail`` optional), and ``fixed`` names the
``domain``: a source books against its own catalogue, never from a value the
event carries. The service books such events as it books the dormitory's.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path

from zhidu.plugins import EventSource, event_sources

from .catalog import BUILTIN_DIR, Catalogs, load_catalogs

ENTRY_POINT_GROUP = "zhidu.penalty_catalogs"
SOURCE_GROUP = "zhidu.penalty_sources"
VIOLATION_FIELDS = ("violation_id", "employee_id", "code", "at")


def _installed_entry_points(group: str):
    return metadata.entry_points(group=group)


def discover_catalog_paths(group: str = ENTRY_POINT_GROUP,
                           entry_points: Callable[[str], Iterable] | None = None
                           ) -> list[Path]:
    """Paths contributed by installed plugins, in entry-point name order.

    ``entry_points`` is injectable for tests; by default
    ``importlib.metadata.entry_points(group=...)``. A plugin that fails to load
    or resolves to something that is not a path raises ``ValueError`` naming
    the entry point: a half-loaded rule set is worse than a refused start.
    """
    found = (entry_points or _installed_entry_points)(group)
    paths: list[Path] = []
    for ep in sorted(found, key=lambda e: e.name):
        label = f"entry point {ep.name!r} ({getattr(ep, 'value', '?')}) in {group}"
        try:
            target = ep.load()
            if callable(target):
                target = target()
        except Exception as exc:  # plugin code is foreign: report, don't guess
            raise ValueError(f"{label}: failed to load: {exc}") from exc
        items = [target] if isinstance(target, (str, Path)) else target
        try:
            items = list(items)
        except TypeError:
            items = None
        if not items or not all(isinstance(i, (str, Path)) for i in items):
            raise ValueError(f"{label}: must resolve to a path or a list of paths, "
                             f"got {target!r}")
        paths.extend(Path(i) for i in items)
    return paths


def load_all_catalogs(extra_paths: Iterable[str | Path] = (), *,
                      discover: bool = True,
                      entry_points: Callable[[str], Iterable] | None = None
                      ) -> Catalogs:
    """Built-in catalogues + discovered plugins + ``extra_paths``, validated."""
    paths: list[Path | str] = [BUILTIN_DIR]
    if discover:
        paths.extend(discover_catalog_paths(entry_points=entry_points))
    paths.extend(extra_paths)
    return load_catalogs(paths)


def check_violation_source(source: EventSource) -> EventSource:
    """Refuse a declaration that could not book: ``ValueError`` at start-up."""
    missing = [f for f in VIOLATION_FIELDS if f not in source.provides()]
    if missing:
        raise ValueError(f"{SOURCE_GROUP}: {source.event}: no field for "
                         f"{', '.join(missing)}")
    if not isinstance(source.fixed.get("domain"), str) or "domain" in source.fields:
        raise ValueError(f"{SOURCE_GROUP}: {source.event}: fixed.domain must name the "
                         "catalogue it books against")
    return source


def check_sources_against(catalogs: Catalogs,
                          entry_points: Callable[[str], Iterable] | None = None) -> None:
    """Every declared source books against a loaded catalogue; else ``ValueError``."""
    for source in event_sources(SOURCE_GROUP, entry_points):
        domain = check_violation_source(source).fixed["domain"]
        if catalogs.domain(domain) is None:
            raise ValueError(f"{SOURCE_GROUP}: {source.event}: domain {domain}: no loaded "
                             "catalogue")
