"""Exact arithmetic for points and money.

Points are handled internally as integer *tenths*: the 60/20/10/10 split of a
whole-point penalty always lands on tenths (5 points → 3 / 1 / 0.5 / 0.5), and at
the default 10 yuan per point a tenth of a point is exactly one yuan, so money
stays integer yuan as the rules require. Floats only appear at the edges
(``from_tenths``) where entries are stored or shown.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

TENTHS_PER_POINT = 10


def is_number(value) -> bool:
    # bool is an int subclass; True points are always a mistake.
    return isinstance(value, (int, float, Decimal)) and not isinstance(value, bool)


def to_tenths(value) -> int:
    """Points → integer tenths; ``ValueError`` if not a multiple of 0.1."""
    if not is_number(value):
        raise ValueError("must be a number")
    try:
        scaled = Decimal(str(value)) * TENTHS_PER_POINT
    except InvalidOperation as exc:  # NaN, infinities
        raise ValueError("must be a finite number") from exc
    if not scaled.is_finite() or scaled != scaled.to_integral_value():
        raise ValueError("must be a multiple of 0.1 points")
    return int(scaled)


def from_tenths(tenths: int) -> int | float:
    """Tenths → points; whole points stay ints so stored documents look natural."""
    if tenths % TENTHS_PER_POINT == 0:
        return tenths // TENTHS_PER_POINT
    return tenths / TENTHS_PER_POINT


def points_to_tenths(points) -> int:
    """Stored points (int or float, possibly negative) back to tenths."""
    return int((Decimal(str(points)) * TENTHS_PER_POINT).to_integral_value(ROUND_HALF_UP))


def to_yuan(value) -> int:
    """Money must be whole yuan (rules: money is integer yuan)."""
    if not is_number(value):
        raise ValueError("must be a number")
    dec = Decimal(str(value))
    if not dec.is_finite() or dec != dec.to_integral_value():
        raise ValueError("must be whole yuan")
    return int(dec)


def money_for_tenths(tenths: int, yuan_per_point: int) -> int:
    """Money for a number of tenths, rounded half away from zero.

    Exact whenever ``yuan_per_point`` is a multiple of 10 (the default is 10).
    """
    exact = Decimal(tenths) * yuan_per_point / TENTHS_PER_POINT
    return int(exact.to_integral_value(ROUND_HALF_UP))


def split_by_percent(total: int, percents: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Split an integer quantity by percentages so the parts add up to ``total``.

    Largest-remainder method: every share gets the floor of its exact part, the
    units left over go to the largest fractional remainders, ties to the share
    listed first (the individual before the leaders). The order of ``percents``
    is kept in the result.
    """
    floors = []
    for index, (name, pct) in enumerate(percents):
        part, rem = divmod(total * pct, 100)
        floors.append([name, part, rem, index])
    left = total - sum(item[1] for item in floors)
    for item in sorted(floors, key=lambda it: (-it[2], it[3]))[:left]:
        item[1] += 1
    return [(name, part) for name, part, _rem, _idx in floors]
