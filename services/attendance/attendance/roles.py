"""Who may approve what.

The contract's authority ladder is ``staff < dept_manager < deputy_gm < gm``.
The seeds also speak of the employee's direct superior (上级主管 / 单位主管领导,
002 §1.1.5, 000 §2 四.3(2)); we call that role ``supervisor`` and place it just
above ``staff``, so a department manager or anyone higher can act as one. The
ladder comes from policy (``authority.ladder``).

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


def is_direct_superior(actor_id: str | None, employee: dict | None) -> bool:
    """Is ``actor_id`` the employee's 上级主管 per the directory copy?"""
    if not actor_id or not employee:
        return False
    return actor_id in (employee.get("manager_id"), employee.get("team_leader_id"))


def effective_role(actor: dict, employees: list[dict | None], ladder: Sequence[str]) -> str | None:
    """The role ``actor`` acts in towards ``employees``.

    The contract's roles have no ``supervisor``: callers send their job role.
    Someone who is the direct superior (``manager_id`` or ``team_leader_id``)
    of every employee concerned acts at least as ``supervisor``; a higher
    ladder role is kept. Off-ladder roles are kept unless superiority adds
    rank the role lacks.
    """
    actor = actor or {}
    role = actor.get("role")
    if employees and all(is_direct_superior(actor.get("id"), e) for e in employees) \
            and not satisfies(role, SUPERVISOR, ladder):
        return SUPERVISOR
    return role
