"""The complaint policy: ``rules/sla.yaml`` read into frozen dataclasses.

Loaded once at start-up. Validation is strict — unknown keys are refused — and
every error names the dotted path of the bad key, so a deployment's override
fails loudly on start rather than quietly mis-timing deadlines.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_POLICY = Path(__file__).parent / "rules" / "sla.yaml"

# Moments of a case a clock may start on or be met by (see lifecycle.py).
# ``acknowledged`` is any reply to the customer (an acknowledgement, or a
# decision told to them); ``fed_back`` the responsible department's feedback
# to customer service.
MOMENTS = frozenset({
    "received", "accepted", "rejected", "acknowledged", "assigned", "planned",
    "investigated", "remedy_proposed", "remedy_approved", "resolved",
    "followed_up", "reopened", "closed", "fed_back",
})
CALENDAR_UNITS = {"minutes": 60, "hours": 3600, "days": 86400}
WORKING_UNITS = {"working_hours": "hours", "working_days": "days"}
# Deadlines that are a moment rather than an amount of time:
# end_of_working_day — the close of the working day the clock starts on (of
# the next working day when it starts outside working hours): "the same day".
BY_MOMENTS = frozenset({"end_of_working_day"})
# Times agreed with the customer a clock may be due at (a command's field).
AGREED_FIELDS = frozenset({"next_reply_at"})
CONDITION_KEYS = frozenset({"major", "category", "region", "kind", "channel"})
HOURS_OWNERS = frozenset({"company", "department"})


@dataclass(frozen=True)
class Budget:
    """One candidate budget of a clock: ``amount`` of ``unit`` when ``when`` matches,
    or, with ``by``, due at that moment (see BY_MOMENTS)."""

    when: Mapping[str, Any]
    unit: str | None     # a key of CALENDAR_UNITS or WORKING_UNITS; None with ``by``
    amount: float | None
    by: str | None = None

    @property
    def working(self) -> bool:
        return self.unit in WORKING_UNITS

    def matches(self, facts: Mapping[str, Any]) -> bool:
        return all(facts.get(key) == value for key, value in self.when.items())

    def seconds(self, calendar, department: str | None) -> float:
        """The budget in seconds of its own kind of time (working or plain)."""
        if self.by is not None:
            raise ValueError(f"a budget due {self.by} has no length")
        if self.unit == "working_days":
            return self.amount * calendar.working_day_seconds(department)
        if self.unit == "working_hours":
            return self.amount * CALENDAR_UNITS["hours"]
        return self.amount * CALENDAR_UNITS[self.unit]


@dataclass(frozen=True)
class ClockPolicy:
    name: str
    starts_on: frozenset[str]
    met_by: frozenset[str]
    working_hours_of: str
    budgets: tuple[Budget, ...]
    # A clock due at a time agreed with the customer (the command field named
    # here) has no budget: it starts whenever a reply agrees such a time.
    agreed: str | None = None

    def budget_for(self, facts: Mapping[str, Any]) -> Budget | None:
        return next((b for b in self.budgets if b.matches(facts)), None)


@dataclass(frozen=True)
class AuthorityLimit:
    up_to_yuan: int | None   # None: no ceiling
    role: str


@dataclass(frozen=True)
class Policy:
    warning_fraction: float
    clocks: Mapping[str, ClockPolicy]
    ladder: tuple[str, ...]
    step_working_days: float
    authority_roles: tuple[str, ...]
    authority_limits: tuple[AuthorityLimit, ...]
    major_reasons: tuple[str, ...]
    households_threshold: int
    households_reason: str
    major_notify_roles: tuple[str, ...]
    channels: tuple[str, ...]
    kinds: tuple[str, ...]
    categories: tuple[str, ...]
    regions: tuple[str, ...]
    default_region: str
    serial_digits: int
    resolve_requires_report: bool
    liability_parties: tuple[str, ...]
    penalised_parties: tuple[str, ...]
    fine_min_yuan: int
    fine_max_yuan: int
    attitudes: tuple[str, ...]
    full_read_roles: tuple[str, ...]
    export_roles: tuple[str, ...]
    phone_keep_first: int
    phone_keep_last: int
    mask_char: str
    email_keep_first: int
    email_mask: str
    # Departments whose people work the complaint desk (intake, replies,
    # assignment, follow-up): rules §8, permissions.yaml relation "desk".
    desk_departments: tuple[str, ...] = ("customer_service",)

    @property
    def max_escalation_level(self) -> int:
        return len(self.ladder) - 1


# -- reading ----------------------------------------------------------------
class _Node:
    """A mapping being read, that knows its dotted path and its unread keys."""

    def __init__(self, value: Any, path: str):
        if not isinstance(value, Mapping):
            raise ValueError(f"{path or 'policy'}: expected a mapping")
        self.value, self.path, self.unread = value, path, set(value)

    def where(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    def get(self, key: str, default: Any = ...) -> Any:
        self.unread.discard(key)
        if key in self.value:
            return self.value[key]
        if default is ...:
            raise ValueError(f"{self.where(key)}: missing")
        return default

    def node(self, key: str) -> _Node:
        return _Node(self.get(key), self.where(key))

    def done(self) -> None:
        if self.unread:
            raise ValueError(f"{self.where(sorted(self.unread)[0])}: unknown key")


def _number(value, where: str, *, integer=False, positive=True) -> float:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise ValueError(f"{where}: expected {'an integer' if integer else 'a number'}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{where}: must be {'positive' if positive else '>= 0'}")
    return value


def _names(value, where: str, *, allowed=None, empty_ok=False) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{where}: expected a list of names")
    if not value and not empty_ok:
        raise ValueError(f"{where}: must not be empty")
    if len(set(value)) != len(value):
        raise ValueError(f"{where}: duplicate names")
    if allowed is not None and not set(value) <= set(allowed):
        raise ValueError(f"{where}: unknown {sorted(set(value) - set(allowed))}")
    return tuple(value)


def _name(value, where: str, *, allowed=None) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}: expected a name")
    if allowed is not None and value not in allowed:
        raise ValueError(f"{where}: must be one of {sorted(allowed)}")
    return value


def _budget(node: _Node) -> Budget:
    when = node.get("when", {}) or {}
    if not isinstance(when, Mapping):
        raise ValueError(f"{node.where('when')}: expected a mapping")
    for key, value in when.items():
        if key not in CONDITION_KEYS:
            raise ValueError(f"{node.where('when')}.{key}: unknown condition")
        if not isinstance(value, (str, bool)):
            raise ValueError(f"{node.where('when')}.{key}: expected a name or true/false")
    kinds = (*CALENDAR_UNITS, *WORKING_UNITS, "by")
    units = [u for u in kinds if u in node.value]
    if len(units) != 1:
        raise ValueError(f"{node.path}: expected exactly one of {', '.join(kinds)}")
    if units[0] == "by":
        by = _name(node.get("by"), node.where("by"), allowed=BY_MOMENTS)
        node.done()
        return Budget(when=dict(when), unit=None, amount=None, by=by)
    amount = _number(node.get(units[0]), node.where(units[0]))
    node.done()
    return Budget(when=dict(when), unit=units[0], amount=float(amount))


def _clock(name: str, node: _Node) -> ClockPolicy:
    met = _names(node.get("met_by"), node.where("met_by"), allowed=MOMENTS)
    hours_of = _name(node.get("working_hours_of", "company"),
                     node.where("working_hours_of"), allowed=HOURS_OWNERS)
    if "agreed" in node.value:
        agreed = _name(node.get("agreed"), node.where("agreed"), allowed=AGREED_FIELDS)
        for key in ("starts_on", "budgets"):
            if key in node.value:
                raise ValueError(f"{node.where(key)}: a clock due at an agreed time has "
                                 "none (it starts when the time is agreed)")
        node.done()
        return ClockPolicy(name, frozenset(), frozenset(met), hours_of, (), agreed)
    starts = _names(node.get("starts_on"), node.where("starts_on"), allowed=MOMENTS)
    raw = node.get("budgets")
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{node.where('budgets')}: expected a non-empty list")
    budgets = tuple(_budget(_Node(b, f"{node.where('budgets')}[{i}]"))
                    for i, b in enumerate(raw))
    node.done()
    return ClockPolicy(name, frozenset(starts), frozenset(met), hours_of, budgets)


def _authority(node: _Node) -> tuple[tuple[str, ...], tuple[AuthorityLimit, ...]]:
    roles = _names(node.get("roles"), node.where("roles"))
    raw = node.get("limits")
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"{node.where('limits')}: expected a non-empty list")
    limits, previous = [], None
    for i, item in enumerate(raw):
        entry = _Node(item, node.where("limits") + f"[{i}]")
        role = _name(entry.get("role"), entry.where("role"), allowed=roles)
        ceiling = entry.get("up_to_yuan", None)
        last = i == len(raw) - 1
        if ceiling is None and not last:
            raise ValueError(f"{entry.where('up_to_yuan')}: only the last limit may be open")
        if ceiling is not None:
            ceiling = int(_number(ceiling, entry.where("up_to_yuan"), integer=True,
                                  positive=False))
            if previous is not None and ceiling <= previous.up_to_yuan:
                raise ValueError(f"{entry.where('up_to_yuan')}: limits must increase")
            if last:
                raise ValueError(f"{entry.where('up_to_yuan')}: the last limit has no "
                                 "ceiling (someone must be able to approve any amount)")
        if previous is not None and roles.index(role) < roles.index(previous.role):
            raise ValueError(f"{entry.where('role')}: a larger amount needs a role at "
                             "least as senior")
        entry.done()
        previous = AuthorityLimit(ceiling, role)
        limits.append(previous)
    node.done()
    return roles, tuple(limits)


def policy_from_dict(data: Mapping[str, Any]) -> Policy:
    """Validate a parsed policy; raises ``ValueError`` naming the bad key."""
    root = _Node(data, "")
    fraction = _number(root.get("warning_fraction"), "warning_fraction")
    if not fraction < 1:
        raise ValueError("warning_fraction: must be below 1")

    clocks_node = root.node("clocks")
    if not clocks_node.value:
        raise ValueError("clocks: must not be empty")
    clocks = {name: _clock(name, clocks_node.node(name)) for name in clocks_node.value}
    clocks_node.done()

    esc = root.node("escalation")
    ladder = _names(esc.get("ladder"), "escalation.ladder")
    step = _number(esc.get("step_working_days"), "escalation.step_working_days")
    esc.done()

    roles, limits = _authority(root.node("remedy_authority"))

    major = root.node("major")
    reasons = _names(major.get("reasons"), "major.reasons")
    threshold = int(_number(major.get("households_threshold"),
                            "major.households_threshold", integer=True))
    households_reason = _name(major.get("households_reason"), "major.households_reason",
                              allowed=reasons)
    notify = _names(major.get("notify_roles"), "major.notify_roles")
    major.done()

    intake = root.node("intake")
    channels = _names(intake.get("channels"), "intake.channels")
    kinds = _names(intake.get("kinds"), "intake.kinds")
    categories = _names(intake.get("categories"), "intake.categories")
    regions = _names(intake.get("regions"), "intake.regions")
    default_region = _name(intake.get("default_region"), "intake.default_region",
                           allowed=regions)
    intake.done()

    numbering = root.node("numbering")
    digits = int(_number(numbering.get("serial_digits"), "numbering.serial_digits",
                         integer=True))
    numbering.done()

    lifecycle = root.node("lifecycle")
    requires_report = lifecycle.get("resolve_requires_report")
    if not isinstance(requires_report, bool):
        raise ValueError("lifecycle.resolve_requires_report: expected true or false")
    lifecycle.done()

    liability = root.node("liability")
    parties = _names(liability.get("parties"), "liability.parties")
    penalised = _names(liability.get("penalised_parties"), "liability.penalised_parties",
                       allowed=parties, empty_ok=True)
    fine = liability.node("fine_yuan")
    fine_min = int(_number(fine.get("min"), "liability.fine_yuan.min", integer=True,
                           positive=False))
    fine_max = int(_number(fine.get("max"), "liability.fine_yuan.max", integer=True))
    if fine_min > fine_max:
        raise ValueError("liability.fine_yuan.min: must not exceed max")
    fine.done()
    attitudes = _names(liability.get("attitudes"), "liability.attitudes")
    liability.done()

    conf = root.node("confidentiality")
    full_read = _names(conf.get("full_read_roles"), "confidentiality.full_read_roles",
                       empty_ok=True)
    export = _names(conf.get("export_roles"), "confidentiality.export_roles",
                    empty_ok=True)
    phone = conf.node("phone")
    keep_first = int(_number(phone.get("keep_first"), "confidentiality.phone.keep_first",
                             integer=True, positive=False))
    keep_last = int(_number(phone.get("keep_last"), "confidentiality.phone.keep_last",
                            integer=True, positive=False))
    mask_char = phone.get("mask_char")
    if not isinstance(mask_char, str) or len(mask_char) != 1:
        raise ValueError("confidentiality.phone.mask_char: expected one character")
    phone.done()
    email = conf.node("email")
    email_first = int(_number(email.get("keep_first"), "confidentiality.email.keep_first",
                              integer=True, positive=False))
    email_mask = email.get("mask")
    if not isinstance(email_mask, str) or not email_mask:
        raise ValueError("confidentiality.email.mask: expected a non-empty string")
    email.done()
    conf.done()

    desk = _Node(root.get("desk", {"departments": ["customer_service"]}), "desk")
    desk_departments = _names(desk.get("departments"), "desk.departments")
    desk.done()

    root.done()
    return Policy(
        warning_fraction=float(fraction), clocks=clocks, ladder=ladder,
        step_working_days=float(step), authority_roles=roles, authority_limits=limits,
        major_reasons=reasons, households_threshold=threshold,
        households_reason=households_reason, major_notify_roles=notify,
        channels=channels, kinds=kinds, categories=categories, regions=regions,
        default_region=default_region, serial_digits=digits,
        resolve_requires_report=requires_report, liability_parties=parties,
        penalised_parties=penalised, fine_min_yuan=fine_min, fine_max_yuan=fine_max,
        attitudes=attitudes, full_read_roles=full_read, export_roles=export,
        phone_keep_first=keep_first, phone_keep_last=keep_last, mask_char=mask_char,
        email_keep_first=email_first, email_mask=email_mask,
        desk_departments=desk_departments,
    )


def load_policy(path: str | os.PathLike | None = None) -> Policy:
    """Read and validate the policy at ``path`` (default: the shipped ``rules/sla.yaml``).

    The domain reads no environment: the service decides which file to pass.
    Raises ``ValueError`` naming the bad key (also for unparsable YAML).
    """
    path = Path(path) if path else DEFAULT_POLICY
    with open(path, encoding="utf-8") as handle:
        try:
            data = yaml.safe_load(handle)
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML ({exc})") from exc
    return policy_from_dict(data or {})
