"""The routing table: which people an event concerns (rules §6).

Routing is data (``rules/routes.yaml``); this module parses its recipient
expressions once, at start-up, so a typo stops the service instead of
silently notifying nobody, and resolves them per event against a
:class:`Directory` — anything that can look people up. No I/O here: the
service hands in a directory backed by its own copy of the people.
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
         "notice_people": 1, "role_holders": 2}

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
    raise AssertionError(f"unparsed function {function}")


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
    template: str
    recipients: tuple[tuple, ...]
    sources: tuple[str, ...]  # the expressions as written, for messages
    urgent_channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoutingTable:
    routes: dict[str, Route]
    groups: dict[str, str]  # group name → setting key

    def route(self, event_type: str) -> Route | None:
        return self.routes.get(event_type)

    def recipients(self, event_type: str, data: dict, directory: Directory) -> list[str]:
        """Everyone the event concerns, in route order, each once."""
        route = self.routes.get(event_type)
        if route is None:
            return []
        found = []
        for expr in route.recipients:
            found.extend(evaluate(expr, data or {}, directory))
        return _unique(found)

    def templates(self) -> set[str]:
        return {route.template for route in self.routes.values()}


def load_routes(path: str | Path | None = None) -> RoutingTable:
    path = Path(path or ROUTES_FILE)
    with open(path, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    return build_routes(raw, str(path))


def build_routes(raw, where: str = "routes") -> RoutingTable:
    if not isinstance(raw, dict):
        raise RoutingError(f"{where}: expected a mapping")
    unknown = set(raw) - {"groups", "routes"}
    if unknown:
        raise RoutingError(f"{where}: unknown keys {sorted(unknown)}")
    groups = raw.get("groups") or {}
    if not isinstance(groups, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in groups.items()):
        raise RoutingError(f"{where}: groups must map a name to a setting key")
    routes = {}
    for event_type, spec in (raw.get("routes") or {}).items():
        routes[event_type] = _route(event_type, spec, groups, where)
    if not routes:
        raise RoutingError(f"{where}: no routes")
    return RoutingTable(routes=routes, groups=dict(groups))


def _route(event_type, spec, groups, where) -> Route:
    at = f"{where}: {event_type}"
    if not isinstance(event_type, str) or not EVENT_TYPE.match(event_type):
        raise RoutingError(f"{at}: event type must look like source.event_name")
    if not isinstance(spec, dict):
        raise RoutingError(f"{at}: expected a mapping")
    unknown = set(spec) - {"template", "recipients", "urgent_channels"}
    if unknown:
        raise RoutingError(f"{at}: unknown keys {sorted(unknown)}")
    template = spec.get("template")
    if not isinstance(template, str) or not template:
        raise RoutingError(f"{at}: template is required")
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
    return Route(event_type, template, parsed, tuple(sources), tuple(urgent))
