"""The complaint lifecycle (rules §2): which status may follow which.

::

    received → accepted | rejected (final)
    accepted → assigned → planned → investigated → remedy_proposed → remedy_approved → resolved
                                    investigated → resolved            (no remedy needed)
    resolved → closed (final; follow-up satisfied) | reopened (not satisfied)
    reopened → assigned (round + 1) → ...
    any open status before resolved ⇄ paused (resume returns to the status paused from)

Decisions, taken as the company would want them:

* A remedy is optional: an explanation or apology resolves many complaints, so
  ``investigated → resolved`` is allowed. A proposed remedy must be approved
  (or revised) first — staff may not promise beyond their authority (001 §1 (十)).
* The investigation report is not optional by default: 000 §6 第六条.2 wants a
  report to the GM for every case, so ``planned → resolved`` is refused unless
  the policy sets ``lifecycle.resolve_requires_report: false``.
* ``resolved`` and the final statuses cannot be paused: the follow-up call is in
  the company's hands and must reach 100 % (002 §2 四.6), so its clock never stops.
* A rejected complaint is final, but the rejection is a decision, not the
  reply: its tactful explanation to the customer (000 §6; 002 §2 四.5) is a
  reply — given with the decision or by ``acknowledge`` afterwards — and the
  reply clocks keep running on the rejected case until it is given.
* The department handling a case reports back to customer service
  (``give_feedback``, 003 §4 3.4.2.2) from assignment until resolution; it
  keeps the status.
* Re-assigning (another department or owner) is not a transition: it keeps the
  status and the running clocks — the customer's wait does not restart because
  the company moved the case internally.
* Revising a remedy (``propose_remedy`` again from ``remedy_proposed`` or
  ``remedy_approved``) clears any approval: a new amount needs a new decision.
"""
from __future__ import annotations

from zhidu.domain import DomainConflict

RECEIVED, ACCEPTED, REJECTED = "received", "accepted", "rejected"
ASSIGNED, PLANNED, INVESTIGATED = "assigned", "planned", "investigated"
REMEDY_PROPOSED, REMEDY_APPROVED = "remedy_proposed", "remedy_approved"
RESOLVED, CLOSED, REOPENED, PAUSED = "resolved", "closed", "reopened", "paused"

FINAL = frozenset({REJECTED, CLOSED})
PAUSABLE = frozenset({RECEIVED, ACCEPTED, ASSIGNED, PLANNED, INVESTIGATED,
                      REMEDY_PROPOSED, REMEDY_APPROVED, REOPENED})
# Statuses in which the case sits with a department and may be handed to another.
REASSIGNABLE = frozenset({ASSIGNED, PLANNED, INVESTIGATED, REMEDY_PROPOSED,
                          REMEDY_APPROVED})
# From planning on, the department has fixed responsibility (000 §6 第六条.1).
LIABILITY_OPEN = frozenset({PLANNED, INVESTIGATED, REMEDY_PROPOSED, REMEDY_APPROVED,
                            RESOLVED, REOPENED, CLOSED, PAUSED})

_NEXT = {
    RECEIVED: {ACCEPTED, REJECTED},
    ACCEPTED: {ASSIGNED},
    ASSIGNED: {PLANNED},
    PLANNED: {INVESTIGATED},
    INVESTIGATED: {REMEDY_PROPOSED, RESOLVED},
    REMEDY_PROPOSED: {REMEDY_PROPOSED, REMEDY_APPROVED},
    REMEDY_APPROVED: {REMEDY_PROPOSED, RESOLVED},
    RESOLVED: {CLOSED, REOPENED},
    REOPENED: {ASSIGNED},
    REJECTED: set(),
    CLOSED: set(),
    PAUSED: set(),
}
STATUSES = frozenset(_NEXT)


def allowed_next(status: str, *, resolve_requires_report: bool = True) -> frozenset[str]:
    """Statuses reachable from ``status`` (pause/resume aside)."""
    allowed = set(_NEXT.get(status, ()))
    if status == PLANNED and not resolve_requires_report:
        allowed.add(RESOLVED)
    if status in PAUSABLE:
        allowed.add(PAUSED)
    return frozenset(allowed)


def check_transition(status: str, target: str, *, resolve_requires_report: bool = True) -> None:
    """Raise ``DomainConflict`` unless ``status → target`` is allowed."""
    if status == PAUSED:
        raise DomainConflict("the complaint is already paused" if target == PAUSED else
                             f"the complaint is paused: resume it before moving it to {target}")
    allowed = allowed_next(status, resolve_requires_report=resolve_requires_report)
    if target not in allowed:
        options = ", ".join(sorted(allowed)) or "nothing (final)"
        raise DomainConflict(f"cannot go from {status} to {target}; allowed: {options}")
