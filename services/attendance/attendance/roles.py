"""Who may approve what.

The contract's authority ladder is ``staff < dept_manager < deputy_gm < gm``.
The seeds also speak of the employee's direct superior (上级主管 / 单位主管领导,
002 §1.1.5, 000 §2 四.3(2)); we call that role ``supervisor`` and place it just
above ``staff``, so a department manager or anyone higher can act as one. The
ladder comes from policy (``authority.ladder``).

Which calls reach these rules at all is the permissions file's business
(``rules/permissions.yaml``); what is decided here is how much authority the
proven caller carries once there — the leave ladder, the approval of a change
to a published shift, a carry-over of seniority leave.

Roles outside the ladder — ``group_leader`` (集团公司分管领导, the group
company's leader in charge), ``attendance_clerk``, ``it_admin`` … — carry no rank:
they satisfy a requirement only for their own name. So the GM cannot stand in
for group leadership, nor group leadership skip the GM.
"""
from __future__ import annotations

from collections.abc import Sequence


def satisfies(actor_role: str | None, required_role: str, ladder: Sequence[str]) -> bool:
    """True when ``actor_role`` carries ``required_role``'s authority."""
    if not actor_role:
        return False
    if actor_role == required_role:
        return True
    if required_role in ladder and actor_role in ladder:
        return ladder.index(actor_role) >= ladder.index(required_role)
    return False


SUPERVISOR = "supervisor"


# The reporting lines that make someone the employee's 上级主管: the team
# leader, the manager, and the unit's leader in charge (单位主管领导, who
# consents to an emergency leave, 000 §2 四.3(2)).
SUPERIOR_FIELDS = ("manager_id", "team_leader_id", "unit_head_id")


def is_direct_superior(actor_id: str | None, employee: dict | None) -> bool:
    """Is ``actor_id`` the employee's 上级主管 per the directory copy?"""
    if not actor_id or not employee:
        return False
    return actor_id in tuple(employee.get(f) for f in SUPERIOR_FIELDS)


def effective_role(actor: dict, employees: list[dict | None], ladder: Sequence[str]) -> str | None:
    """The role ``actor`` acts in towards ``employees``.

    The contract's roles have no ``supervisor``: the directory holds job roles.
    Someone who is the direct superior (``SUPERIOR_FIELDS``) of every
    employee concerned acts at least as ``supervisor``; a higher
    ladder role is kept. Off-ladder roles are kept unless superiority adds
    rank the role lacks.
    """
    actor = actor or {}
    role = actor.get("role")
    if employees and all(is_direct_superior(actor.get("id"), e) for e in employees) \
            and not satisfies(role, SUPERVISOR, ladder):
        return SUPERVISOR
    return role


def acting_role(roles: Sequence[str], needed: str | None, ladder: Sequence[str]) -> str | None:
    """Of the roles someone holds, the one they act in.

    A person may hold several (the directory role, configured groups): the one
    that carries ``needed`` wins, the highest on the ladder first, so the GM who
    also sits in a group clears every ladder step the GM may clear. Without a
    ``needed`` role, or when none carries it, the highest ladder role, else the
    first role held.
    """
    roles = [r for r in roles if r]
    if not roles:
        return None

    def rank(role: str) -> int:
        return ladder.index(role) if role in ladder else -1

    if needed is not None:
        carrying = [r for r in roles if satisfies(r, needed, ladder)]
        if carrying:
            return max(carrying, key=rank)
    on_ladder = [r for r in roles if r in ladder]
    return max(on_ladder, key=rank) if on_ladder else roles[0]


def standing(roles: Sequence[str], *, head: bool = False, clerk: bool = False,
             supervisor: bool = False) -> frozenset[str]:
    """What a caller is towards a department or person, in the words duties use
    (``rules/attendance.yaml``): their roles, and ``department_head``,
    ``department_clerk``, ``supervisor`` where they stand so."""
    terms = {r for r in roles if r}
    for term, holds in (("department_head", head), ("department_clerk", clerk),
                        (SUPERVISOR, supervisor)):
        if holds:
            terms.add(term)
    return frozenset(terms)


def holds_any(holders: Sequence[str], terms: frozenset[str]) -> bool:
    return bool(set(holders) & set(terms))
