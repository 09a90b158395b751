"""Masking of complainant contact data (客户信息保密, 001 §2; rules §7).

Phone numbers and e-mail addresses are company secrets: roles without the
right see them masked. The roles with full read (and with export) are policy
data. Auditing each full read is the service's job; :func:`reveals_contacts`
tells it when a read is one.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .policy import Policy


def can_read_contacts(role: str | None, policy: Policy) -> bool:
    return role in policy.full_read_roles


def can_export(role: str | None, policy: Policy) -> bool:
    """Export without a per-request approval (others need one, 001 §2)."""
    return role in policy.export_roles


def mask_phone(phone: str | None, policy: Policy) -> str | None:
    """Keep the first and last digits the policy allows: ``138****5678``.

    Separators are dropped (they would leak the number's layout). A number too
    short to keep both ends without revealing most of it is masked whole.
    """
    if not phone:
        return phone
    digits = "".join(ch for ch in str(phone) if ch.isdigit())
    first, last = policy.phone_keep_first, policy.phone_keep_last
    hidden = len(digits) - first - last
    if hidden < max(first, last, 1):
        return policy.mask_char * len(digits)
    tail = digits[len(digits) - last:] if last else ""
    return digits[:first] + policy.mask_char * hidden + tail


def mask_email(email: str | None, policy: Policy) -> str | None:
    """First character(s) of the local part, the mask, and the domain: ``z***@example.com``."""
    if not email:
        return email
    local, at, domain = str(email).rpartition("@")
    if not at or not local:
        return policy.email_mask
    return local[:policy.email_keep_first] + policy.email_mask + "@" + domain


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
