"""Personal contact data in free text and in records: found and masked.

Phone numbers and e-mail addresses are what the regulations keep secret
(客户信息保密, 001 §2) and what a person's directory record holds besides
their wage. They turn up where nobody declared a field for them: a customer
writes "请回电 138 1234 5678" into a complaint's description, an event parked
in a dead-letter queue carries a person's record. This module finds them in
text and masks them in records; how much of a number stays visible is the
caller's choice (the complaints policy has its own), with the suite's default
``138****5678`` / ``w***@example.com``.

What counts as a phone number (mainland China):

* a mobile number, ``1[3-9]`` and nine more digits, whole or grouped 3-4-4
  (``13812345678``, ``138 1234 5678``, ``138-1234-5678``);
* a landline with its area code, ``0`` and two or three digits, then seven or
  eight digits (``010-12345678``, ``0755 8765 4321``, ``(021)61234567``);
* either after the country code (``+86``, ``0086``, ``(+86)``), the landline
  then without its leading ``0`` (``+86 755 8765 4321``, ``+86-10-12345678``).

A match must stand alone: a digit or a Latin letter right before it, or a
digit right after it, makes it part of something else — an order or case
number (``C202611-0001``, ``R2611-0003``, ``SO-20261101-0001``), an
identity-card number, a timestamp — and it is left alone.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

MASK_CHAR = "*"
EMAIL_MASK = "***"
# Keys whose values are a person's private data wherever they appear in a record.
PHONE_KEYS = frozenset({"phone", "mobile", "telephone", "tel"})
EMAIL_KEYS = frozenset({"email", "e_mail"})
WAGE_KEYS = frozenset({"monthly_wage_yuan", "wage", "wage_yuan", "salary"})

_SEP = r"[ \-\u00a0]?"
_COUNTRY = r"(?P<country>(?:\(\+86\)|\+86|0086)[ \-\u00a0]?)"
_MOBILE = rf"1[3-9]\d{_SEP}\d{{4}}{_SEP}\d{{4}}"
_LOCAL = rf"\d{{3,4}}{_SEP}\d{{4}}"
_LANDLINE = rf"(?:\(0\d{{2,3}}\)|0\d{{2,3}}){_SEP}{_LOCAL}"
_LANDLINE_ABROAD = rf"(?:\(0?\d{{2,3}}\)|0?\d{{2,3}}){_SEP}{_LOCAL}"
PHONE = re.compile(
    rf"(?<![0-9A-Za-z])(?:{_COUNTRY}(?P<intl>{_MOBILE}|{_LANDLINE_ABROAD})"
    rf"|(?P<national>{_MOBILE}|{_LANDLINE}))(?!\d)")
EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]+[@\uff20]"
    r"[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}(?![A-Za-z0-9\-])")


def mask_phone(phone: str | None, keep_first: int = 3, keep_last: int = 4,
               char: str = MASK_CHAR) -> str | None:
    """Keep the first and last digits: ``138****5678``.

    Separators are dropped (they would leak the number's layout). A number too
    short to keep both ends without revealing most of it is masked whole.
    """
    if not phone:
        return phone
    digits = "".join(ch for ch in str(phone) if ch.isdigit())
    hidden = len(digits) - keep_first - keep_last
    if hidden < max(keep_first, keep_last, 1):
        return char * len(digits)
    tail = digits[len(digits) - keep_last:] if keep_last else ""
    return digits[:keep_first] + char * hidden + tail


def mask_email(email: str | None, keep_first: int = 1, mask: str = EMAIL_MASK) -> str | None:
    """First character(s) of the local part, the mask, and the domain: ``z***@example.com``."""
    if not email:
        return email
    local, at, domain = str(email).replace("\uff20", "@").rpartition("@")
    if not at or not local:
        return mask
    return local[:keep_first] + mask + "@" + domain


def contacts_in(text: str | None) -> bool:
    """Whether ``text`` holds a phone number or an e-mail address."""
    return bool(text) and isinstance(text, str) and bool(
        PHONE.search(text) or EMAIL.search(text))


def mask_text(text: str | None, phone: Callable[[str], str] = mask_phone,
              email: Callable[[str], str] = mask_email) -> str | None:
    """``text`` with every phone number and e-mail address in it masked.

    A country code stays as written (``+86 138****5678``): it says nothing
    about the person and keeps the masked number readable.
    """
    if not text or not isinstance(text, str):
        return text
    text = EMAIL.sub(lambda m: email(m.group(0)), text)

    def one_phone(match: re.Match) -> str:
        if match.group("intl") is not None:
            return match.group("country") + phone(match.group("intl"))
        return phone(match.group("national"))

    return PHONE.sub(one_phone, text)


def mask_private(value: Any, phone: Callable[[str], str] = mask_phone,
                 email: Callable[[str], str] = mask_email) -> Any:
    """A copy of a record (dicts, lists, strings) with private data masked.

    Values under a phone or e-mail key are masked as such; a wage is replaced
    by the mask whole (any digit of it is the secret); identifiers (``id``,
    ``*_id``, ``*_ids``) are kept, since a masked id names nothing; every other
    string is scanned as free text.
    """
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            name = str(key).lower()
            if name == "id" or name.endswith(("_id", "_ids")):
                out[key] = item
            elif name in WAGE_KEYS and item is not None:
                out[key] = EMAIL_MASK
            elif name in PHONE_KEYS and isinstance(item, (str, int)):
                # A number we recognise keeps its country code; any other whole.
                text = str(item)
                out[key] = mask_text(text, phone, email) if PHONE.search(text) \
                    else phone(text)
            elif name in EMAIL_KEYS and isinstance(item, str):
                out[key] = email(item)
            else:
                out[key] = mask_private(item, phone, email)
        return out
    if isinstance(value, (list, tuple)):
        return [mask_private(item, phone, email) for item in value]
    if isinstance(value, str):
        return mask_text(value, phone, email)
    return value
