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

from . import formats
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
# A penalty notice's steps (001 §1 第九条(六), 第十二条(二)) and the department's
# feedback (003 §4 3.4.2.2), as the penalties and complaints services word them.
NOTICE_SUPERVISOR_FIRST = re.compile(r"^notice \S+ awaits the approval of (?P<who>.+?) first:")
NOTICE_APPROVED_ALREADY = re.compile(r"^notice \S+: \S+ has approved already; it now awaits "
                                     r"(?P<who>.+?) \(")
NOTICE_FINAL = re.compile(r"^(?:the )?notice (?:\S+ )?is already (?P<status>\w+)")
NOTICE_REDRAFTED = re.compile(r"^notice \S+ was redrafted \(revision (?P<n>\d+)\)")
NOTICE_NOT_YOURS = re.compile(r"^notice \S+ is not \S+'s to approve: it awaits (?P<who>.+?) \(")
# Beds (000 §5 三.2), as the dormitory service words its refusals.
BED_GENDER = re.compile(r"^room (?P<room>\S+) is for (?P<gender>\w+) residents; "
                        r"employee (?P<employee>\S+) is")
BED_FULL = re.compile(r"^room (?P<room>\S+) is full \((?P<n>\d+) beds\)")
BED_TAKEN = re.compile(r"^bed (?P<bed>\d+) in room (?P<room>\S+) is taken")
BED_HELD = re.compile(r"^the employee already has a bed \(bed (?P<bed>\d+) in (?P<room>\S+)\)")
BED_NONE = re.compile(r"^employee (?P<employee>\S+) has no bed")
RULE_REFERENCE = re.compile(r"^(?:\d{3} §|rules §)")
FEEDBACK = re.compile(r"^feedback comes from the department handling the complaint, not while "
                      r"it is (?P<status>\w+)")

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
    "Must not be in the future (it records when something happened).": "future",
    "String does not match expected pattern.": "pattern",
    "Not a valid string.": "text",
    "Not valid Unicode text (a lone surrogate).": "text",
}
# Messages with a figure in them (marshmallow's Length and Range, the suite's
# Time and Day window, OneOf): the key and the figures the words repeat.
MARSHMALLOW_SHAPED = (
    (re.compile(r"^Shorter than minimum length (?P<min>\d+)\.$"), "min_length"),
    (re.compile(r"^Longer than maximum length (?P<max>\d+)\.$"), "max_length"),
    (re.compile(r"^Length must be between (?P<min>\d+) and (?P<max>\d+)\.$"), "length_between"),
    (re.compile(r"^Length must be (?P<equal>\d+)\.$"), "length_equal"),
    (re.compile(r"^Must be greater than or equal to (?P<min>\S+) and less than or equal to "
                r"(?P<max>\S+)\.$"), "between"),
    (re.compile(r"^Must be greater than or equal to (?P<min>\S+)\.$"), "at_least"),
    (re.compile(r"^Must be less than or equal to (?P<max>\S+)\.$"), "at_most"),
    (re.compile(r"^Must be greater than (?P<min>\S+)\.$"), "above"),
    (re.compile(r"^Must be less than (?P<max>\S+)\.$"), "below"),
    (re.compile(r"^Must not be before (?P<earliest>\S+)\.$"), "not_before"),
    (re.compile(r"^Must not be after (?P<latest>\S+)\.$"), "not_after"),
    (re.compile(r"^Must be one of: (?P<choices>.+)\.$"), "one_of"),
    (re.compile(r"^is before the complaint's last step \((?P<at>\S+)\)$"), "before_last_step"),
)

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
        return Told(t("refusal.conflict.title"), _conflict(original, t), _source(original),
                    original, {}, kind)
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
    for pattern, key in MARSHMALLOW_SHAPED:
        if m := pattern.match(message):
            figures = {name: _moment(value) for name, value in m.groupdict().items()}
            return t(f"invalid.{key}", **figures)
    return message


def _moment(value: str) -> str:
    """A window's bound as the person reads times (the service sends ISO 8601)."""
    if len(value) > 10 and value[4:5] == "-" and "T" in value:
        return formats.when(value)
    return value


def _source(text: str) -> str:
    """The rule a message ends with in brackets, which may hold brackets of its own."""
    if not text.endswith(")"):
        return ""
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(text[i], 0)
        if depth == 0:
            inside = text[i + 1:-1]
            return inside if RULE_REFERENCE.match(inside) else ""
    return ""


def _who(value: str, t: Translator) -> str:
    """``E200, E201`` or ``the general manager``, as the person reads it."""
    if value.strip() == "the general manager":
        return t.label("role", "gm")
    sep = "、" if t.locale == "zh-CN" else ", "
    return sep.join(part.strip() for part in value.split(","))


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
    if m := NOTICE_NOT_YOURS.match(text):
        return Told(title, t("refusal.forbidden.notice_not_yours", who=_who(m["who"], t)),
                    _source(text), text, {}, refusal.kind)
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
    if m := NOTICE_SUPERVISOR_FIRST.match(text):
        return t("refusal.conflict.supervisor_first", who=_who(m["who"], t))
    if m := NOTICE_APPROVED_ALREADY.match(text):
        return t("refusal.conflict.notice_approved_already", who=_who(m["who"], t))
    if m := NOTICE_REDRAFTED.match(text):
        return t("refusal.conflict.notice_redrafted", n=m["n"])
    if m := NOTICE_FINAL.match(text):
        return t("refusal.conflict.notice_final", status=t.label("notice_status", m["status"]))
    if m := FEEDBACK.match(text):
        return t("refusal.conflict.feedback", status=t.label("status", m["status"]))
    if m := BED_GENDER.match(text):
        return t("refusal.conflict.bed_gender", room=m["room"], employee=m["employee"],
                 gender=t.label("gender", m["gender"]))
    if m := BED_FULL.match(text):
        return t("refusal.conflict.bed_full", room=m["room"], n=m["n"])
    if m := BED_TAKEN.match(text):
        return t("refusal.conflict.bed_taken", room=m["room"], bed=m["bed"])
    if m := BED_HELD.match(text):
        return t("refusal.conflict.bed_held", room=m["room"], bed=m["bed"])
    if m := BED_NONE.match(text):
        return t("refusal.conflict.bed_none", employee=m["employee"])
    if "already" in text or "final" in text:
        return t("refusal.conflict.already")
    if "overlaps leave" in text:
        return t("refusal.conflict.overlap")
    return t("refusal.conflict.reason")
