"""A service's refusal, told in the person's language.

The services answer in English with a stable shape: a permissions refusal
names the operation, who may call it, what the caller holds and the rule it
comes from; a validation error names each field; a state conflict names the
states. The console reads those shapes and says the same thing in the
person's words, quoting the rule. The service's own text stays on the page
(folded away) so a person talking to IT can read out exactly what it said.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .acting import Refusal
from .i18n import Translator

PERMISSION = re.compile(
    r"^(?P<op>\w+) is for (?P<who>.+?); (?P<caller>\S+) holds (?P<held>.+?)"
    r" \(permissions: \w+(?:; (?P<source>.+))?\)$")
SEPARATION = re.compile(
    r"^(?P<op>\w+): separation of duties .*?\(permissions: \w+(?:; (?P<source>.+))?\)$")
LIMIT = re.compile(
    r"^(?P<op>\w+): (?P<field>\w+) (?P<amount>\d+) is above the (?P<roles>\S+) limit of "
    r"(?P<ceiling>\d+); it needs (?P<needs>.+?)(?: \(permissions: \w+(?:; (?P<source>.+))?\))?$")
REMEDY = re.compile(
    r"^a remedy of (?P<amount>\d+) yuan needs (?P<needed>\w+) or above; (?P<role>\S+) may not "
    r"approve it")
TRANSITION = re.compile(r"^cannot go from (?P<status>\w+) to (?P<target>\w+)")
PAUSED = re.compile(r"^the complaint is paused: resume it before moving it to (?P<target>\w+)")
ROLES_IN = re.compile(r"roles ([\w, ]+)")

MARSHMALLOW = {
    "Missing data for required field.": "required",
    "Field may not be null.": "required",
    "Not a valid integer.": "integer",
    "Not a valid number.": "number",
    "Not a valid boolean.": "boolean",
    "Not a valid ISO 8601 date-time.": "datetime",
    "Not a valid ISO 8601 date (YYYY-MM-DD).": "date",
    "Not a valid email address.": "email",
    "not a phone number": "phone",
    "Unknown field.": "unknown",
    "Must be greater than or equal to 0.": "non_negative",
    "must not exceed quantity": "defects_over_quantity",
}

# The remedy authority of 003 §4 3.6.1, quoted when a remedy is refused.
REMEDY_SOURCE = "003 §4 3.6.1"


@dataclass
class Told:
    title: str
    reason: str
    source: str = ""
    original: str = ""
    fields: dict[str, list[str]] = field(default_factory=dict)
    kind: str = ""


def tell(refusal: Refusal, t: Translator) -> Told:
    kind = refusal.kind
    original = refusal.message
    if kind == "PermissionDenied":
        return _permission(refusal, t)
    if kind == "ValidationError":
        fields = {name: [field_message(m, t) for m in _messages(msgs)]
                  for name, msgs in refusal.fields.items()}
        return Told(t("refusal.invalid.title"), t("refusal.invalid.reason"), "", original,
                    fields, kind)
    if kind == "Conflict":
        return Told(t("refusal.conflict.title"), _conflict(original, t), "", original, {}, kind)
    if kind == "NotFound":
        return Told(t("refusal.not_found.title"), t("refusal.not_found.reason"), "",
                    original, {}, kind)
    if kind == "Unauthenticated":
        return Told(t("refusal.unauthenticated.title"), t("refusal.unauthenticated.reason"),
                    "", original, {}, kind)
    if kind == "Unavailable":
        return Told(t("refusal.unavailable.title"),
                    t("refusal.unavailable.reason",
                      service=t.label("service", refusal.service)), "", original, {}, kind)
    return Told(t("refusal.failed.title"), t("refusal.failed.reason"), "", original, {}, kind)


def _messages(value) -> list[str]:
    if isinstance(value, list):
        out = []
        for item in value:
            out.extend(_messages(item))
        return out
    if isinstance(value, dict):
        return [f"{k}: {m}" for k, v in value.items() for m in _messages(v)]
    return [str(value)]


def field_message(message: str, t: Translator) -> str:
    key = MARSHMALLOW.get(message)
    if key:
        return t(f"invalid.{key}")
    return message


def _permission(refusal: Refusal, t: Translator) -> Told:
    text = refusal.message
    title = t("refusal.forbidden.title")
    if m := REMEDY.match(text):
        return Told(title, t("refusal.forbidden.remedy", amount=m["amount"],
                             needed=t.label("role", m["needed"]),
                             role=t.label("role", m["role"])),
                    REMEDY_SOURCE, text, {}, refusal.kind)
    if m := LIMIT.match(text):
        needs = [r.strip() for r in m["needs"].split(" or ")]
        return Told(title, t("refusal.forbidden.limit", amount=m["amount"],
                             ceiling=m["ceiling"], roles=t.labels("role", m["roles"].split("/")),
                             needs=t.labels("role", needs)),
                    m["source"] or "", text, {}, refusal.kind)
    if m := SEPARATION.match(text):
        return Told(title, t("refusal.forbidden.own_matter",
                             operation=t.label("operation", m["op"])),
                    m["source"] or "", text, {}, refusal.kind)
    if m := PERMISSION.match(text):
        roles = ROLES_IN.search(m["who"])
        who = t.labels("role", [r.strip() for r in roles.group(1).split(",")]) if roles \
            else t("refusal.forbidden.those_named")
        held = [r.strip() for r in m["held"].split(";")[0].split(",") if r.strip()]
        return Told(title, t("refusal.forbidden.roles", operation=t.label("operation", m["op"]),
                             who=who, held=t.labels("role", held) or t("role.none")),
                    m["source"] or "", text, {}, refusal.kind)
    return Told(title, t("refusal.forbidden.reason"), "", text, {}, refusal.kind)


def _conflict(text: str, t: Translator) -> str:
    if m := TRANSITION.match(text):
        return t("refusal.conflict.transition", status=t.label("status", m["status"]),
                 target=t.label("status", m["target"]))
    if m := PAUSED.match(text):
        return t("refusal.conflict.paused", target=t.label("status", m["target"]))
    if "already" in text or "final" in text:
        return t("refusal.conflict.already")
    if "overlaps leave" in text:
        return t("refusal.conflict.overlap")
    return t("refusal.conflict.reason")
