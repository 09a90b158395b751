"""Message templates per locale, rendered with ``str.format_map``.

Each ``templates/<locale>.yaml`` holds titles and bodies keyed by template id,
plus label tables that turn codes (``share: team_leader``) into words. The
context is the event's data with a few derived keys (see :func:`context`).
Producers add and rename fields over time, so a key the template wants and
the event lacks renders as the locale's placeholder instead of failing the
notification: a notice with a gap beats no notice.

Another service's distribution may contribute templates (and label tables)
beside its routes (:mod:`notifications.contributed`). Its labels apply to its
own templates only: its ``kind: paid`` must not reword a penalty's ``kind``.
"""
from __future__ import annotations

import string
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

TEMPLATES_DIR = Path(__file__).parent / "templates"
DEFAULT_LOCALE = "zh-CN"


class TemplateError(ValueError):
    """A template file is malformed; raised at start-up."""


@dataclass(frozen=True)
class Locale:
    name: str
    missing: str
    list_separator: str
    labels: dict[str, dict[str, str]]
    templates: dict[str, dict[str, str]]  # id → {"title", "body"}
    # Label tables a contribution brought, for its own templates: id → labels.
    scoped_labels: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Rendered:
    title: str
    body: str
    locale: str


class _Missing:
    """Stands in for an absent key, whatever the template does with it."""

    def __init__(self, text: str):
        self.text = text

    def __format__(self, spec: str) -> str:
        return self.text

    def __getattr__(self, name):
        return self

    def __getitem__(self, key):
        return self

    def __str__(self):
        return self.text


class _Context(dict):
    def __init__(self, values: dict, missing: str):
        super().__init__(values)
        self.missing = missing

    def __missing__(self, key):
        return _Missing(self.missing)


class Catalogue:
    """Every loaded locale; renders a template id for one recipient."""

    def __init__(self, locales: dict[str, Locale], default: str = DEFAULT_LOCALE):
        if default not in locales:
            raise TemplateError(f"default locale {default!r} has no template file")
        self.locales = locales
        self.default = default

    def pick(self, wanted: str | None) -> Locale:
        return self.locales.get(wanted or self.default) or self.locales[self.default]

    def require(self, template_ids) -> None:
        """Refuse to start if any locale lacks a template the routes use."""
        gaps = [f"{name}: {tid}" for name, loc in self.locales.items()
                for tid in sorted(template_ids) if tid not in loc.templates]
        if gaps:
            raise TemplateError("missing templates: " + "; ".join(gaps))

    def render(self, template_id: str, values: dict, locale: str | None = None) -> Rendered:
        loc = self.pick(locale)
        template = loc.templates.get(template_id) or self.locales[self.default].templates.get(
            template_id) or {"title": template_id, "body": ""}
        labels = {**loc.labels, **loc.scoped_labels.get(template_id, {})}
        ctx = _Context(with_labels(values, loc, labels), loc.missing)
        # A title becomes a mail header: one line, whatever the data held.
        return Rendered(title=" ".join(_format(template["title"], ctx).split()),
                        body=_format(template["body"], ctx).rstrip(), locale=loc.name)

    def with_contribution(self, contributed: dict[str, Locale], where: str) -> Catalogue:
        """This catalogue and a contribution's templates, which must name locales
        this one has and template ids it has not (whether every locale has every
        template a route needs is :meth:`require`'s to say)."""
        strange = sorted(set(contributed) - set(self.locales))
        if strange:
            raise TemplateError(f"{where}: locales {strange} are not among "
                                f"{sorted(self.locales)}")
        locales = dict(self.locales)
        for name, extra in contributed.items():
            base = locales[name]
            taken = sorted(set(extra.templates) & set(base.templates))
            if taken:
                raise TemplateError(f"{where}: {name}: template ids already in use: "
                                    f"{', '.join(taken)}")
            scoped = {tid: extra.labels for tid in extra.templates} if extra.labels else {}
            locales[name] = replace(base, templates={**base.templates, **extra.templates},
                                    scoped_labels={**base.scoped_labels, **scoped})
        return Catalogue(locales, self.default)


def _format(text: str, ctx: _Context) -> str:
    try:
        return text.format_map(ctx)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        # A value that does not fit its format spec ({points:d} given "3"):
        # fall back to plain str() for every field rather than lose the notice.
        out = []
        for literal, field, _spec, _conv in string.Formatter().parse(text):
            out.append(literal)
            if field is not None:
                value = ctx[field.split(".")[0].split("[")[0]] if field else ""
                out.append(str(value))
        return "".join(out)


def with_labels(values: dict, loc: Locale, labels: dict | None = None) -> dict:
    """Adds ``<key>_label`` for each key the locale (or ``labels``) has a label
    table for, and joins lists with the locale's separator."""
    out = {}
    for key, value in values.items():
        if isinstance(value, (list, tuple)) and all(
                not isinstance(v, (dict, list)) for v in value):
            value = loc.list_separator.join(str(v) for v in value)
        out[key] = value
    for key, table in (loc.labels if labels is None else labels).items():
        if key in values and f"{key}_label" not in values:
            raw = values[key]
            out[f"{key}_label"] = table.get(str(raw), raw) if raw is not None else loc.missing
    return out


def context(envelope: dict, recipient_id: str, names: dict[str, str],
            tz: ZoneInfo, known: dict | None = None) -> dict:
    """The values a template sees for one recipient.

    The event's data over ``known`` (what the service remembers about the
    event's subject, e.g. a penalty notice a decision names only by id),
    then: ``recipient_id``/``recipient_name``, ``<x>_name`` for every
    ``<x>_id`` (the id itself when the person is unknown), ``<x>_names`` for
    every list ``<x>_ids``, ``<x>_local`` for every ISO time, ``event_id``,
    ``event_type``, ``time_local``.
    """
    data = {**(known or {}), **(envelope.get("data") or {})}
    # A field sent as null is a gap like an absent one, never the word "None".
    data = {key: value for key, value in data.items() if value is not None}
    values = dict(data)
    for key, value in data.items():
        if key.endswith("_id") and isinstance(value, str):
            values.setdefault(f"{key[:-3]}_name", names.get(value) or value)
        if key.endswith("_ids") and isinstance(value, (list, tuple)):
            values.setdefault(f"{key[:-4]}_names",
                              [names.get(str(v)) or str(v) for v in value if v])
        local = _local_time(value, tz)
        if local is not None:
            values.setdefault(f"{key}_local", local)
    values["recipient_id"] = recipient_id
    values["recipient_name"] = names.get(recipient_id) or recipient_id
    values["event_id"] = envelope.get("id")
    values["event_type"] = envelope.get("type")
    values["time_local"] = _local_time(envelope.get("time"), tz) or envelope.get("time")
    return values


def _local_time(value, tz: ZoneInfo) -> str | None:
    # Only full timestamps: a bare date ("2026-03-02") reads fine as it is.
    if not isinstance(value, str) or len(value) < 16 or "T" not in value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


# -- loading ---------------------------------------------------------------------
def load_catalogue(directory: str | Path | None = None,
                   default: str = DEFAULT_LOCALE) -> Catalogue:
    directory = Path(directory or TEMPLATES_DIR)
    locales = {}
    for path in sorted(directory.glob("*.yaml")):
        with open(path, encoding="utf-8") as handle:
            loc = build_locale(yaml.safe_load(handle), str(path))
        if loc.name != path.stem:
            raise TemplateError(f"{path}: locale {loc.name!r} differs from the file name")
        locales[loc.name] = loc
    if not locales:
        raise TemplateError(f"{directory}: no template files")
    return Catalogue(locales, default)


def load_contributed_locales(directory: str | Path) -> dict[str, Locale]:
    """A contribution's ``<locale>.yaml`` files: templates and labels only, the
    locale's placeholder and separator being the catalogue's own."""
    directory = Path(directory)
    locales = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            with open(path, encoding="utf-8") as handle:
                raw = yaml.safe_load(handle)
        except yaml.YAMLError as exc:
            raise TemplateError(f"{path}: {exc}") from None
        loc = build_locale(raw, str(path), allowed=("locale", "labels", "templates"))
        if loc.name != path.stem:
            raise TemplateError(f"{path}: locale {loc.name!r} differs from the file name")
        locales[loc.name] = loc
    if not locales:
        raise TemplateError(f"{directory}: no template files")
    return locales


LOCALE_KEYS = ("locale", "missing", "list_separator", "labels", "templates")


def build_locale(raw, where: str = "templates", allowed=LOCALE_KEYS) -> Locale:
    if not isinstance(raw, dict):
        raise TemplateError(f"{where}: expected a mapping")
    unknown = set(raw) - set(allowed)
    if unknown:
        raise TemplateError(f"{where}: unknown keys {sorted(unknown)}")
    name = raw.get("locale")
    if not isinstance(name, str) or not name:
        raise TemplateError(f"{where}: locale is required")
    labels = raw.get("labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(t, dict) for t in labels.values()):
        raise TemplateError(f"{where}: labels must map a field to a table of words")
    templates = raw.get("templates") or {}
    if not isinstance(templates, dict) or not templates:
        raise TemplateError(f"{where}: templates are required")
    checked = {}
    for tid, spec in templates.items():
        if not isinstance(spec, dict) or set(spec) != {"title", "body"} or not all(
                isinstance(v, str) for v in spec.values()):
            raise TemplateError(f"{where}: {tid}: needs exactly a title and a body (text)")
        for part in ("title", "body"):
            try:
                fields = [f for _, f, _, _ in string.Formatter().parse(spec[part])
                          if f is not None]
            except ValueError as exc:
                raise TemplateError(f"{where}: {tid}.{part}: {exc}") from None
            if any(not f or f[0].isdigit() for f in fields):
                raise TemplateError(f"{where}: {tid}.{part}: fields must be named")
        checked[tid] = dict(spec)
    return Locale(name=name, missing=str(raw.get("missing", "—")),
                  list_separator=str(raw.get("list_separator", ", ")),
                  labels={k: {str(a): str(b) for a, b in t.items()} for k, t in labels.items()},
                  templates=checked)
