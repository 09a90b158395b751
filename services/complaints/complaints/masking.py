"""Masking of complainant contact data (客户信息保密, 001 §2; rules §7).

Phone numbers and e-mail addresses are company secrets: roles without the
right see them masked, in the complainant's contact fields and wherever the
customer's own words carry them (subject, description, demand: "请回电
138 1234 5678"). The roles with full read (and with export) are policy data.
Auditing each full read is the service's job; :func:`reveals_contacts` and
:func:`reveals_text` tell it when a read is one.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zhidu import pii

from .policy import Policy

# The case's free text written from what the customer said.
FREE_TEXT = ("subject", "description", "demand")


def can_read_contacts(role: str | None, policy: Policy) -> bool:
    return role in policy.full_read_roles


def can_export(role: str | None, policy: Policy) -> bool:
    """Export without a per-request approval (others need one, 001 §2)."""
    return role in policy.export_roles


def mask_phone(phone: str | None, policy: Policy) -> str | None:
    """Keep the first and last digits the policy allows: ``138****5678``."""
    return pii.mask_phone(phone, policy.phone_keep_first, policy.phone_keep_last,
                          policy.mask_char)


def mask_email(email: str | None, policy: Policy) -> str | None:
    """First character(s) of the local part, the mask, and the domain: ``z***@example.com``."""
    return pii.mask_email(email, policy.email_keep_first, policy.email_mask)


def mask_text(text: str | None, policy: Policy) -> str | None:
    """``text`` with every phone number and e-mail address in it masked as the policy says."""
    return pii.mask_text(text, lambda phone: mask_phone(phone, policy),
                         lambda email: mask_email(email, policy))


def mask_free_text(case: Mapping[str, Any], role: str | None, policy: Policy) -> dict:
    """The case's free-text fields as ``role`` may see them (only those present)."""
    shown = {key: case[key] for key in FREE_TEXT if key in case}
    if can_read_contacts(role, policy):
        return shown
    return {key: mask_text(value, policy) for key, value in shown.items()}


def mask_complainant(complainant: Mapping[str, Any] | None, role: str | None,
                     policy: Policy) -> dict | None:
    """A copy of ``complainant`` as ``role`` may see it."""
    if complainant is None:
        return None
    shown = dict(complainant)
    if can_read_contacts(role, policy):
        return shown
    if "phone" in shown:
        shown["phone"] = mask_phone(shown["phone"], policy)
    if "email" in shown:
        shown["email"] = mask_email(shown["email"], policy)
    return shown


def reveals_contacts(complainant: Mapping[str, Any] | None, role: str | None,
                     policy: Policy) -> bool:
    """True when showing ``complainant`` to ``role`` is a full read to audit."""
    return bool(complainant) and can_read_contacts(role, policy) and bool(
        complainant.get("phone") or complainant.get("email"))


def reveals_text(case: Mapping[str, Any], role: str | None, policy: Policy) -> bool:
    """True when showing the case's free text to ``role`` shows a contact in full."""
    return can_read_contacts(role, policy) and any(
        pii.contacts_in(case.get(key)) for key in FREE_TEXT)
