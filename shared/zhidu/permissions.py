"""Who may call what: each service's permissions file, checked before any handler.

A service ships ``<package>/rules/permissions.yaml``::

    operations:
      decide_appeal:
        roles: [gm]                 # any of these roles (directory copy, groups)
        subject: "@appellant"       # whom the call concerns: a payload field,
                                    # or "@name" → the service's subject_<name>(payload)
        not_self: true              # separation of duties: never on one's own matter
        source: "002 §4 5.1.2"      # the rule, quoted in every refusal
      get_account:
        relations: [self, line_manager]
        roles: [hr]
        subject: employee_id
      record_inspection:
        roles: [inspector, dorm_admin]
        caller_fields: [inspector_id]   # a person records in their own name only
      clock:
        relations: [self]
        scopes: [attendance:clock]  # a service account with this scope may call it
      record_penalty:
        roles: [hr, gm]
        limits: {field: amount_yuan, roles: {hr: 2000}}   # above: a role without a limit

An operation is allowed when the caller is ``public``/``anyone``, holds one of
``roles``, or stands in one of ``relations`` to the subject; a service account
must in addition hold a scope for it (one of ``scopes``, ``<service>:<op>``,
``<service>:*`` or ``*``), and listing a scope grants it outright. Every
operation must have an entry: a missing one stops the service at start-up.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import PermissionDenied
from .identity import Principal

# Relations a person can stand in to the subject of a call, read from the
# subject's directory copy. Services add their own as ``relation_<name>``.
LINE_FIELDS = {
    "team_leader_of": ("team_leader_id",),
    "manager_of": ("manager_id",),
    "unit_head_of": ("unit_head_id",),
    "group_leader_of": ("group_leader_id",),
    "line_manager": ("team_leader_id", "manager_id", "unit_head_id", "group_leader_id"),
}
KEYS = {"public", "anyone", "roles", "relations", "subject", "scopes", "not_self",
        "limits", "caller_fields", "source", "note"}


class PermissionsError(ValueError):
    """The permissions file is wrong; the service refuses to start."""


@dataclass(frozen=True)
class Rule:
    operation: str
    public: bool = False
    anyone: bool = False
    roles: frozenset = frozenset()
    relations: tuple = ()
    subject: str | None = None
    scopes: frozenset = frozenset()
    not_self: bool = False
    limits: dict | None = None
    caller_fields: tuple = ()
    source: str = ""
    note: str = ""

    def describe(self) -> str:
        if self.public:
            return "anyone, without a token"
        parts = []
        if self.anyone:
            parts.append("any signed-in caller")
        if self.roles:
            parts.append("roles " + ", ".join(sorted(self.roles)))
        if self.relations:
            parts.append(f"{' / '.join(self.relations)} of {self._subject_text()}")
        if self.scopes:
            parts.append("service accounts with scope " + " or ".join(sorted(self.scopes)))
        text = "; ".join(parts) or "nobody"
        if self.not_self:
            text += f"; never the caller's own matter ({self._subject_text()})"
        if self.caller_fields:
            text += f"; {', '.join(self.caller_fields)} must name the caller"
        if self.limits:
            text += "; amount limits " + ", ".join(
                f"{role} ≤ {limit}" for role, limit in self.limits["roles"].items())
        return text

    def _subject_text(self) -> str:
        return (self.subject or "the subject").lstrip("@")

    def as_dict(self) -> dict:
        out = {"who": self.describe()}
        for key in ("roles", "scopes"):
            if getattr(self, key):
                out[key] = sorted(getattr(self, key))
        for key in ("public", "anyone", "not_self"):
            if getattr(self, key):
                out[key] = True
        if self.relations:
            out["relations"] = list(self.relations)
            out["subject"] = self.subject
        if self.limits:
            out["limits"] = self.limits
        if self.caller_fields:
            out["caller_fields"] = list(self.caller_fields)
        if self.source:
            out["source"] = self.source
        return out


@dataclass
class Permissions:
    service: str
    rules: dict[str, Rule] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path, service: str, operations: set[str],
             service_cls=None) -> Permissions:
        path = Path(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise PermissionsError(f"{service}: no permissions file at {path}") from None
        return cls.from_dict(raw, service, operations, service_cls, where=str(path))

    @classmethod
    def from_dict(cls, raw: dict, service: str, operations: set[str], service_cls=None,
                  where: str = "permissions") -> Permissions:
        entries = raw.get("operations")
        if not isinstance(entries, dict):
            raise PermissionsError(f"{where}: needs a mapping 'operations'")
        problems = []
        missing = sorted(operations - set(entries))
        if missing:
            problems.append(f"no entry for {', '.join(missing)} (deny by default: "
                            "every operation says who may call it)")
        unknown = sorted(set(entries) - operations)
        if unknown:
            problems.append(f"entries for operations that do not exist: {', '.join(unknown)}")
        rules = {}
        for name, spec in entries.items():
            try:
                rules[name] = _rule(name, spec or {}, service_cls)
            except PermissionsError as exc:
                problems.append(f"{name}: {exc}")
        if problems:
            raise PermissionsError(f"{where}: " + "; ".join(problems))
        return cls(service, rules)

    def rule(self, operation: str) -> Rule:
        return self.rules[operation]

    def check(self, operation: str, principal: Principal | None, payload: dict,
              service=None) -> None:
        """Raise ``PermissionDenied`` naming the rule unless the call is allowed."""
        rule = self.rules[operation]
        if rule.public:
            return
        if principal is None:
            raise PermissionDenied(f"{operation} needs a proven caller")
        subject = _Subject(rule, payload, service)
        allowed = self._allowed(rule, principal, subject, service, payload)
        if not allowed:
            raise PermissionDenied(self._refusal(rule, principal))
        if rule.not_self and subject.value() == principal.id:
            raise PermissionDenied(
                f"{operation}: separation of duties — nobody decides their own matter "
                f"({rule._subject_text()} is {principal.id}){_cite(rule)}")
        if rule.limits:
            self._check_limit(rule, principal, payload)

    def precheck(self, operation: str, principal: Principal) -> None:
        """The role and scope half alone, for rules no relation can satisfy."""
        rule = self.rules[operation]
        if rule.public or rule.relations:
            return
        if not self._allowed(rule, principal, None, None, {}):
            raise PermissionDenied(self._refusal(rule, principal))

    def _allowed(self, rule: Rule, principal: Principal, subject, service, payload) -> bool:
        if principal.service_account:
            implicit = {f"{self.service}:{rule.operation}", f"{self.service}:*"}
            if not principal.holds_scope(rule.scopes | implicit):
                return False
            if rule.scopes and principal.holds_scope(rule.scopes):
                return True
        if rule.anyone:
            return True
        if rule.roles and any(role in rule.roles for role in principal.roles):
            return True
        for relation in rule.relations:
            if _holds(relation, principal, subject, service, payload):
                return True
        return False

    def _check_limit(self, rule: Rule, principal: Principal, payload: dict) -> None:
        amount = payload.get(rule.limits["field"])
        if amount is None:
            return
        # A reward of 5,000 takes the same authority as a fine of 5,000.
        amount = abs(amount)
        limits = rule.limits["roles"]
        # Only the rule's own roles carry amount authority: a caller let in by a
        # scope or a relation, or holding no role at all, has none to spend.
        granting = [r for r in principal.roles if r in rule.roles]
        if not granting:
            raise PermissionDenied(
                f"{rule.operation}: {rule.limits['field']} {amount} needs the authority of "
                f"{' or '.join(sorted(rule.roles)) or 'a role'}; {principal.id} holds "
                f"{', '.join(principal.roles) or 'no role'}{_cite(rule)}")
        if any(r not in limits for r in granting):
            return  # a role with no limit
        ceiling = max(limits[r] for r in granting)
        if amount > ceiling:
            above = sorted(r for r in rule.roles if r not in limits)
            raise PermissionDenied(
                f"{rule.operation}: {rule.limits['field']} {amount} is above the "
                f"{'/'.join(granting)} limit of {ceiling}; it needs {' or '.join(above)}"
                f"{_cite(rule)}")

    def _refusal(self, rule: Rule, principal: Principal) -> str:
        held = ", ".join(principal.roles) or "no role"
        if principal.service_account:
            held += "; scopes " + (" ".join(sorted(principal.scopes)) or "none")
        return (f"{rule.operation} is for {rule.describe()}; {principal.id} holds {held}"
                f"{_cite(rule)}")

    def document(self) -> dict:
        return {name: rule.as_dict() for name, rule in sorted(self.rules.items())}


def _cite(rule: Rule) -> str:
    return f" (permissions: {rule.operation}" + (f"; {rule.source})" if rule.source else ")")


class _Subject:
    """The subject of a call, resolved at most once and only when a rule needs it."""

    _UNSET = object()

    def __init__(self, rule: Rule, payload: dict, service):
        self.rule, self.payload, self.service = rule, payload, service
        self._value = self._UNSET

    def value(self):
        if self._value is self._UNSET:
            spec = self.rule.subject
            if spec is None:
                self._value = None
            elif spec.startswith("@"):
                self._value = getattr(self.service, f"subject_{spec[1:]}")(self.payload)
            else:
                self._value = self.payload.get(spec)
        return self._value


def _holds(relation: str, principal: Principal, subject: _Subject, service, payload) -> bool:
    if relation in LINE_FIELDS or relation == "self":
        if principal.service_account:
            return False  # a service account is nobody's self or manager
    if relation == "self":
        return subject.value() == principal.id
    if relation in LINE_FIELDS:
        who = subject.value()
        if not who or who == principal.id or service is None:
            return False
        person = service.identity.person(who)
        return bool(person) and any(person.get(f) == principal.id
                                    for f in LINE_FIELDS[relation])
    return bool(getattr(service, f"relation_{relation}")(principal, payload))


def _rule(name: str, spec: dict, service_cls) -> Rule:
    if not isinstance(spec, dict):
        raise PermissionsError("must be a mapping")
    unknown = set(spec) - KEYS
    if unknown:
        raise PermissionsError(f"unknown keys {sorted(unknown)}")
    relations = tuple(spec.get("relations") or ())
    for relation in relations:
        if relation == "self" or relation in LINE_FIELDS:
            continue
        if service_cls is not None and not hasattr(service_cls, f"relation_{relation}"):
            raise PermissionsError(f"relation {relation!r} is neither built in nor "
                                   f"relation_{relation} of the service")
    subject = spec.get("subject")
    needs_subject = spec.get("not_self") or any(r == "self" or r in LINE_FIELDS
                                                for r in relations)
    if needs_subject and not subject:
        raise PermissionsError("self, line relations and not_self need a 'subject'")
    if subject and subject.startswith("@") and service_cls is not None and not hasattr(
            service_cls, f"subject_{subject[1:]}"):
        raise PermissionsError(f"subject {subject!r} needs subject_{subject[1:]} on the service")
    limits = spec.get("limits")
    if limits is not None:
        if (not isinstance(limits, dict) or not isinstance(limits.get("field"), str)
                or not isinstance(limits.get("roles"), dict)
                or not all(isinstance(v, int) and v >= 0 for v in limits["roles"].values())):
            raise PermissionsError("limits needs {field: name, roles: {role: whole yuan}}")
        unlisted = sorted(set(limits["roles"]) - set(spec.get("roles") or ()))
        if unlisted:
            raise PermissionsError(f"limits name roles the rule does not list: {unlisted}")
    rule = Rule(name, public=bool(spec.get("public")), anyone=bool(spec.get("anyone")),
                roles=frozenset(spec.get("roles") or ()), relations=relations,
                subject=subject, scopes=frozenset(spec.get("scopes") or ()),
                not_self=bool(spec.get("not_self")), limits=limits,
                caller_fields=tuple(spec.get("caller_fields") or ()),
                source=str(spec.get("source") or ""), note=str(spec.get("note") or ""))
    if not (rule.public or rule.anyone or rule.roles or rule.relations or rule.scopes):
        raise PermissionsError("allows nobody; say who may call it")
    return rule
