"""What is decided when a complaint is filed: its number and whether it is major.

Numbers (001 §1 第八条) are ``YYMM-NNNN``: the local year and month of receipt
and a serial restarting every month. The serial is padded to the policy's width
and simply grows wider past it (``2610-10000``), so numbers stay unique and
sort correctly within a width. Handing out serials is the store's job (an
atomic counter keyed by :func:`counter_key`); this module only formats.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from zhidu.domain import DomainValidation
from zhidu.times import as_utc, local_tz

from .policy import Policy

_NUMBER = re.compile(r"^(\d{2})(\d{2})-(\d+)$")


def counter_key(received_at: datetime, tz: ZoneInfo | None = None) -> str:
    """The ``YYMM`` counter a complaint received at ``received_at`` draws from.

    Month boundaries are local (``ZHIDU_TZ``): a complaint taken at 00:30 on
    1 October in Shanghai belongs to October although it is still September in UTC.
    """
    local = as_utc(received_at).astimezone(tz or local_tz())
    return f"{local.year % 100:02d}{local.month:02d}"


def format_number(year: int, month: int, serial: int, digits: int) -> str:
    """``YYMM-NNNN`` from a (four- or two-digit) year, month and serial."""
    if not 1 <= month <= 12:
        raise ValueError(f"month out of range: {month}")
    if serial < 1:
        raise ValueError(f"serial must be positive: {serial}")
    return f"{year % 100:02d}{month:02d}-{serial:0{digits}d}"


def number_for(received_at: datetime, serial: int, policy: Policy,
               tz: ZoneInfo | None = None) -> str:
    """The number of the ``serial``-th complaint of ``received_at``'s local month."""
    key = counter_key(received_at, tz)
    return format_number(int(key[:2]), int(key[2:]), serial, policy.serial_digits)


def parse_number(number: str) -> tuple[int, int, int]:
    """``(yy, mm, serial)`` of a complaint number; ``DomainValidation`` if malformed."""
    match = _NUMBER.match(number or "") if isinstance(number, str) else None
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(3)) < 1:
        raise DomainValidation.one("number", "expected YYMM-NNNN")
    return int(match.group(1)), int(match.group(2)), int(match.group(3))


def major_reasons(intake: Mapping[str, Any], policy: Policy) -> list[str]:
    """Why a complaint is major (001 §5): the reasons found, empty when it is not.

    Major by the ``major`` flag (reason ``"flagged"`` when no reason is given), by
    a ``major_reason`` from the policy's list, or by ``households_affected``
    reaching the policy's threshold (the collective-complaint reason).
    """
    errors: dict[str, list[str]] = {}
    reasons: list[str] = []
    reason = intake.get("major_reason")
    if reason:
        if reason not in policy.major_reasons:
            errors["major_reason"] = [f"must be one of {', '.join(policy.major_reasons)}"]
        else:
            reasons.append(reason)
    households = intake.get("households_affected")
    if households is not None:
        if isinstance(households, bool) or not isinstance(households, int) or households < 0:
            errors["households_affected"] = ["must be a whole number >= 0"]
        elif (households >= policy.households_threshold
              and policy.households_reason not in reasons):
            reasons.append(policy.households_reason)
    flag = intake.get("major")
    if flag is not None and not isinstance(flag, bool):
        errors["major"] = ["must be true or false"]
    if errors:
        raise DomainValidation(errors)
    if flag and not reasons:
        reasons.append("flagged")
    return reasons
