"""The routing table: which people an event concerns (rules §6).

Routing is data (``rules/routes.yaml``, and the tables other services'
distributions contribute, :mod:`notifications.contributed`); this module
parses its recipient expressions once, at start-up, so a typo stops the
service instead of silently notifying nobody, and resolves them per event
against a :class:`Directory` — anything that can look people up. No I/O
here: the service hands in a directory backed by its own copy of the people.

A recipient is an employee id, or a phone number outside the company
(``phone(...)``, written ``tel:<digits>``): a customer has no inbox and no
preferences, only the route's SMS template sent to the number.

A route that names people and finds none of them — the directory has no
such person, a group is not configured — goes to its fallback (its own, or
the table's), so a notice someone must act on is never told to nobody; the
service counts and logs each such event (:class:`Resolution`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import yaml

ROUTES_FILE = Path(__file__).parent / "rules" / "routes.yaml"
CHANNELS = ("inbox", "email", "sms", "chat")
EVENT_TYPE = re.compile(r"^[a-z_]+\.[a-z_]+$")
PHONE_PREFIX = "tel:"
# What an SMS gateway accepts once spaces, dashes and brackets are dropped.
_PHONE = re.compile(r"^\+?[0-9]{5,24}$")


class RoutingError(ValueError):
    """The routing table is malformed; raised at start-up."""


class Directory(Protocol):
    def person(self, employee_id: str) -> dict | None: ...
    def with_role(self, role: str, department: str | None = None) -> list[str]: ...
    def case_owner(self, number: str) -> str | None: ...
    def notice_people(self, notice_id: str) -> list[str]: ...
    def group(self, name: str) -> list[str]: ...


# -- expressions ----------------------------------------------------------------
# An expression is a tuple: ("data", path) | ("role", name) | ("group", name)
# | ("call", function, (argument expressions)).

# Reporting-line functions: the directory field each one follows.
LINE_FIELDS = {
    "manager_of": "manager_id",
    "team_leader_of": "team_leader_id",
    "unit_head_of": "unit_head_id",
    "group_leader_of": "group_leader_id",
}
ARITY = {**{name: 1 for name in LINE_FIELDS}, "department_manager": 1, "case_owner": 1,
         "notice_people": 1, "role_holders": 2, "phone": 1}

_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:[.:][A-Za-z0-9_]+)*)"
                    r"|(?P<punct>[(),]))")


def parse(text: str, groups=()) -> tuple:
    """Parse one recipient expression; raises :class:`RoutingError`."""
    if not isinstance(text, str) or not text.strip():
        raise RoutingError(f"recipient expression must be a non-empty string, got {text!r}")
    tokens = _tokens(text)
    expr, rest = _expression(tokens, text, set(groups))
    if rest:
        raise RoutingError(f"{text!r}: unexpected {rest[0]!r}")
    return expr


def _tokens(text: str) -> list[str]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            if text[pos:].strip() == "":
                break
            raise RoutingError(f"{text!r}: cannot read {text[pos:]!r}")
        tokens.append(match.group("name") or match.group("punct"))
        pos = match.end()
    return tokens


def _expression(tokens: list[str], text: str, groups: set) -> tuple[tuple, list[str]]:
    if not tokens:
        raise RoutingError(f"{text!r}: expression ends too early")
    head, rest = tokens[0], tokens[1:]
    if head in "(),":
        raise RoutingError(f"{text!r}: unexpected {head!r}")
    if rest and rest[0] == "(":
        if head not in ARITY:
            raise RoutingError(f"{text!r}: unknown function {head!r}; "
                               f"known: {', '.join(sorted(ARITY))}")
        args, rest = [], rest[1:]
        while True:
            arg, rest = _expression(rest, text, groups)
            args.append(arg)
            if not rest:
                raise RoutingError(f"{text!r}: missing ')'")
            sep, rest = rest[0], rest[1:]
            if sep == ")":
                break
            if sep != ",":
                raise RoutingError(f"{text!r}: expected ',' or ')' before {sep!r}")
        if len(args) != ARITY[head]:
            raise RoutingError(f"{text!r}: {head} takes {ARITY[head]} argument(s)")
        return ("call", head, tuple(args)), rest
    if head.startswith("data."):
        return ("data", tuple(head.split(".")[1:])), rest
    if head.startswith("role:"):
        return ("role", head.split(":", 1)[1]), rest
    if head in groups:
        return ("group", head), rest
    raise RoutingError(f"{text!r}: {head!r} is neither data.<path>, role:<name>, a "
                       f"function call nor a declared group ({', '.join(sorted(groups))})")


def evaluate(expr: tuple, data: dict, directory: Directory) -> list[str]:
    """The values an expression stands for: ids, department names or roles."""
    kind = expr[0]
    if kind == "data":
        return _values(_at_path(data, expr[1]))
    if kind == "role":
        return directory.with_role(expr[1])
    if kind == "group":
        return directory.group(expr[1])
    _, function, args = expr
    values = [evaluate(arg, data, directory) for arg in args]
    if function in LINE_FIELDS:
        found = (directory.person(pid) or {} for pid in values[0])
        return _values([person.get(LINE_FIELDS[function]) for person in found])
    if function == "department_manager":
        return _unique(pid for dept in values[0]
                       for pid in directory.with_role("dept_manager", dept))
    if function == "case_owner":
        return _values([directory.case_owner(number) for number in values[0]])
    if function == "notice_people":
        return _unique(pid for notice in values[0] for pid in directory.notice_people(notice))
    if function == "role_holders":
        return _role_holders(values[0], values[1], directory)
    if function == "phone":
        return _unique(PHONE_PREFIX + number for number in map(phone_digits, values[0])
                       if number)
    raise AssertionError(f"unparsed function {function}")


def phone_digits(text) -> str | None:
    """A number as the gateway takes it, or None for anything that is not one."""
    digits = re.sub(r"[\s()\-]", "", str(text or ""))
    return digits if _PHONE.match(digits) else None


def phone_number(recipient: str) -> str | None:
    """The number a ``tel:`` recipient stands for; None for an employee id."""
    return recipient[len(PHONE_PREFIX):] if recipient.startswith(PHONE_PREFIX) else None


def mask_phone(number: str | None) -> str | None:
    """``13900001111`` → ``139****1111``: who was texted, recognisable, not readable."""
    if not number:
        return number
    keep_first, keep_last = (3, 4) if len(number) > 8 else (1, 2)
    hidden = len(number) - keep_first - keep_last
    return number[:keep_first] + "*" * hidden + number[-keep_last:]


def _uses_phone(expr: tuple) -> bool:
    return expr[0] == "call" and (expr[1] == "phone" or any(map(_uses_phone, expr[2])))


def _reads_data(expr: tuple) -> bool:
    return expr[0] == "data" or (expr[0] == "call" and any(map(_reads_data, expr[2])))


def _names_people(expr: tuple) -> bool:
    return not (expr[0] == "call" and expr[1] == "phone")


def _role_holders(roles: list[str], departments: list[str], directory: Directory) -> list[str]:
    found = []
    for role in roles:
        if role == "owner":  # the owner is named by the route itself
            continue
        if role == "dept_manager":
            for dept in departments:
                found.extend(directory.with_role("dept_manager", dept))
        else:
            found.extend(directory.with_role(role))
    return _unique(found)


def _at_path(data, path: tuple[str, ...]):
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _values(value) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)):
        return _unique(str(v) for v in value if v not in (None, ""))
    return [str(value)]


def _unique(values) -> list[str]:
    return list(dict.fromkeys(values))


# -- the table -------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    event_type: str
    template: str | None  # None: the route only texts numbers (phone(...))
    recipients: tuple[tuple, ...]
    sources: tuple[str, ...]  # the expressions as written, for messages
    urgent_channels: tuple[str, ...] = ()
    # What a number outside the company (phone(...)) is sent: a customer reads
    # other words than the staff's inbox item.
    sms_template: str | None = None
    # Who is told when the people the route names are nobody: None follows the
    # table's fallback, () tells nobody else.
    fallback: tuple[tuple, ...] | None = None

    @property
    def names_people(self) -> bool:
        """An empty route reaches webhooks only, one that only texts numbers
        reaches customers: neither has people to miss."""
        return any(map(_names_people, self.recipients))


@dataclass(frozen=True)
class Resolution:
    """Whom an event reaches. ``unrouted``: its route names people and found
    none of them, so ``recipients`` are the fallback's (maybe nobody either)."""

    recipients: list[str]
    unrouted: bool = False


@dataclass(frozen=True)
class RoutingTable:
    routes: dict[str, Route]
    groups: dict[str, str]  # group name → setting key
    # Who is told of an event whose route found none of the people it names.
    fallback: tuple[tuple, ...] = ()
    fallback_sources: tuple[str, ...] = ()

    def route(self, event_type: str) -> Route | None:
        return self.routes.get(event_type)

    def recipients(self, event_type: str, data: dict, directory: Directory) -> list[str]:
        """Everyone the event reaches, in route order, each once."""
        return self.resolve(event_type, data, directory).recipients

    def resolve(self, event_type: str, data: dict, directory: Directory) -> Resolution:
        """The route's people, or its fallback's when it names people and finds none."""
        route = self.routes.get(event_type)
        if route is None:
            return Resolution([])
        found = []
        for expr in route.recipients:
            found.extend(evaluate(expr, data or {}, directory))
        found = _unique(found)
        if not route.names_people or any(phone_number(r) is None for r in found):
            return Resolution(found)
        fallback = self.fallback if route.fallback is None else route.fallback
        for expr in fallback:
            found.extend(evaluate(expr, data or {}, directory))
        return Resolution(_unique(found), unrouted=True)

    def templates(self) -> set[str]:
        return {t for route in self.routes.values()
                for t in (route.template, route.sms_template) if t}

    def merged(self, other: RoutingTable, where: str) -> RoutingTable:
        """This table and a contributed one; an event routed twice, or a group
        naming another setting, is refused: neither may quietly win."""
        twice = sorted(set(self.routes) & set(other.routes))
        if twice:
            raise RoutingError(f"{where}: already routed: {', '.join(twice)}")
        clashes = sorted(name for name, key in other.groups.items()
                         if self.groups.get(name, key) != key)
        if clashes:
            raise RoutingError(f"{where}: groups {clashes} are declared with other settings")
        if other.fallback_sources:
            # A route of the contribution may name its own; the default is the service's.
            raise RoutingError(f"{where}: only the service's own table sets the default "
                               "fallback")
        return RoutingTable(routes={**self.routes, **other.routes},
                            groups={**self.groups, **other.groups},
                            fallback=self.fallback, fallback_sources=self.fallback_sources)


def load_routes(path: str | Path | None = None) -> RoutingTable:
    path = Path(path or ROUTES_FILE)
    with open(path, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    return build_routes(raw, str(path))


def build_routes(raw, where: str = "routes", inherited_groups=()) -> RoutingTable:
    """``inherited_groups``: group names another table declares, usable here too."""
    if not isinstance(raw, dict):
        raise RoutingError(f"{where}: expected a mapping")
    unknown = set(raw) - {"groups", "routes", "fallback"}
    if unknown:
        raise RoutingError(f"{where}: unknown keys {sorted(unknown)}")
    groups = raw.get("groups") or {}
    if not isinstance(groups, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in groups.items()):
        raise RoutingError(f"{where}: groups must map a name to a setting key")
    routes = {}
    known = {*inherited_groups, *groups}
    fallback_sources = raw.get("fallback") or []
    fallback = _fallback(fallback_sources, known, f"{where}: fallback")
    for event_type, spec in (raw.get("routes") or {}).items():
        routes[event_type] = _route(event_type, spec, known, where)
    if not routes:
        raise RoutingError(f"{where}: no routes")
    return RoutingTable(routes=routes, groups=dict(groups), fallback=fallback,
                        fallback_sources=tuple(fallback_sources))


def _fallback(sources, groups, at: str) -> tuple[tuple, ...]:
    """Standing people (roles, groups, functions of them): the fallback is for
    an event whose own people are missing, so it reads nothing from it."""
    if not isinstance(sources, list):
        raise RoutingError(f"{at}: must be a list")
    try:
        parsed = tuple(parse(text, groups) for text in sources)
    except RoutingError as exc:
        raise RoutingError(f"{at}: {exc}") from None
    for text, expr in zip(sources, parsed, strict=True):
        if _reads_data(expr) or _uses_phone(expr):
            raise RoutingError(f"{at}: {text!r}: a fallback names standing people "
                               "(roles, groups), not the event's data")
    return parsed


def _route(event_type, spec, groups, where) -> Route:
    at = f"{where}: {event_type}"
    if not isinstance(event_type, str) or not EVENT_TYPE.match(event_type):
        raise RoutingError(f"{at}: event type must look like source.event_name")
    if not isinstance(spec, dict):
        raise RoutingError(f"{at}: expected a mapping")
    unknown = set(spec) - {"template", "recipients", "urgent_channels", "sms_template",
                           "fallback"}
    if unknown:
        raise RoutingError(f"{at}: unknown keys {sorted(unknown)}")
    template = spec.get("template")
    sources = spec.get("recipients")
    # An empty list is deliberate: the event reaches webhook subscribers only.
    if not isinstance(sources, list):
        raise RoutingError(f"{at}: recipients must be a list")
    try:
        parsed = tuple(parse(text, groups) for text in sources)
    except RoutingError as exc:
        raise RoutingError(f"{at}: {exc}") from None
    urgent = spec.get("urgent_channels") or []
    if not isinstance(urgent, list) or not set(urgent) <= set(CHANNELS):
        raise RoutingError(f"{at}: urgent_channels must be a list of {CHANNELS}")
    sms_template = spec.get("sms_template")
    texts = any(map(_uses_phone, parsed))
    # A route that only texts numbers outside the company needs no inbox template.
    only_texts = bool(parsed) and all(e[0] == "call" and e[1] == "phone" for e in parsed)
    if not (isinstance(template, str) and template) and not (only_texts and template is None):
        raise RoutingError(f"{at}: template is required")
    if any(_uses_phone(arg) for e in parsed if e[0] == "call" for arg in e[2]):
        raise RoutingError(f"{at}: phone(...) names a number to text, not an argument")
    if texts and (not isinstance(sms_template, str) or not sms_template):
        raise RoutingError(f"{at}: a route that texts phone(...) numbers needs an "
                           "sms_template")
    if sms_template is not None and not texts:
        raise RoutingError(f"{at}: sms_template without a phone(...) recipient")
    fallback = None
    if "fallback" in spec:
        if not any(map(_names_people, parsed)):
            raise RoutingError(f"{at}: a fallback needs a route that names people")
        fallback = _fallback(spec["fallback"] or [], groups, f"{at}: fallback")
    return Route(event_type, template, parsed, tuple(sources), tuple(urgent), sms_template,
                 fallback)
