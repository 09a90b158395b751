"""Remedy approval authority (核决权限, 003 §4 3.6.1; rules §2).

Roles rank as the policy lists them (``staff < dept_manager < deputy_gm < gm``
by default). The amount picks the lowest role allowed to approve; that role or
any senior one may. Roles outside the ranking (``it_admin``, ``inspector``...)
hold no approval authority at all, whatever their other rights.
"""
from __future__ import annotations

from zhidu.domain import DomainPermission, DomainValidation

from .policy import Policy


def role_rank(role: str | None, policy: Policy) -> int | None:
    """Position of ``role`` in the authority ranking; None if it has no rank."""
    try:
        return policy.authority_roles.index(role)
    except ValueError:
        return None


def required_role(amount_yuan: int, policy: Policy) -> str:
    """The lowest role that may approve a remedy of ``amount_yuan``."""
    if isinstance(amount_yuan, bool) or not isinstance(amount_yuan, int) or amount_yuan < 0:
        raise DomainValidation.one("amount_yuan", "must be a whole number of yuan >= 0")
    for limit in policy.authority_limits:
        if limit.up_to_yuan is None or amount_yuan <= limit.up_to_yuan:
            return limit.role
    raise AssertionError("policy validation guarantees an open last limit")


def check_approval(role: str | None, amount_yuan: int, policy: Policy) -> str:
    """Refuse (``DomainPermission``) unless ``role`` may approve ``amount_yuan``.

    Returns the role the amount required, for the record.
    """
    needed = required_role(amount_yuan, policy)
    rank = role_rank(role, policy)
    if rank is None or rank < role_rank(needed, policy):
        raise DomainPermission(
            f"a remedy of {amount_yuan} yuan needs {needed} or above; {role} may not approve it")
    return needed
