"""A complaint's SLA clocks: the policy's clocks as the shared engine
(:mod:`zhidu.clocks`) reads them, the case's current round, its summary fields
and the contract events of what the clocks decide.

The arithmetic — budgets on the working calendar, pauses, warnings, breaches,
reminders and the ladder — is the engine's; the clock dicts in
``case["clocks"]`` have its shape. What is the complaints' own:

* the clocks of a case that count are those of its current handling round
  (``round`` grows on reopen; earlier rounds are kept for the statistics);
* the ladder climbs one rung per ``escalation.step_working_days`` of working
  time overdue, the same for every clock (rules §2);
* reminders and escalations go to the case's owner (the person who filed it
  until one is assigned) and its department, read when the event is emitted;
* two kinds of deadline the engine is handed as a ``due`` rather than a
  budget: a budget ``by: end_of_working_day`` ("the same day", 002 §4
  5.1.2) and a clock ``agreed`` with the customer (the next reply time,
  000 §1 三.3), which starts again at every reply that agrees a new time.

Cases stored before the clocks carried their own ladder are read with the
policy's (:func:`zhidu.clocks.adopt`), as they were before.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, time, timedelta
from typing import Any

from zhidu import clocks
from zhidu.clocks import ACTIVE, MET, PAUSED, RUNNING, WAIVED, Action, Evaluation
from zhidu.times import to_iso

from .policy import Policy

# The clock states are the engine's; the statistics read them from here.
__all__ = ["ACTIVE", "MET", "PAUSED", "RUNNING", "WAIVED", "agree", "apply_actions",
           "clock_book", "current_clocks", "day_end", "deadlines", "delay_investigation",
           "evaluate", "event", "ladder", "on_moment", "summarise"]

EVENT_TYPES = {"warning": "sla_warning", "breach": "sla_breached",
               "reminder": "reminder_issued", "escalation": "escalated"}


def ladder(policy: Policy) -> clocks.Ladder:
    return clocks.Ladder(tuple(policy.ladder),
                         clocks.Span("working_days", policy.step_working_days))


def clock_book(policy: Policy) -> clocks.ClockBook:
    """The policy's clocks as engine definitions (none is ever stopped without
    being met: a case waives its clocks itself when it resolves or ends).

    Budgets due at a moment (``by``) are not the engine's: :func:`on_moment`
    starts those clocks with their due.
    """
    steps = ladder(policy)
    definitions = {
        name: clocks.ClockDef(
            name, clock.starts_on, clock.met_by, frozenset(), clock.working_hours_of,
            tuple(clocks.Budget(b.unit, b.amount, dict(b.when)) for b in clock.budgets
                  if b.by is None),
            steps, policy.warning_fraction)
        for name, clock in policy.clocks.items()}
    return clocks.ClockBook(definitions, policy.warning_fraction, steps)


def day_end(at: datetime, calendar, department: str | None = None) -> datetime:
    """The close of the working day ``at`` falls in; outside working hours, the
    close of the next working day."""
    start = calendar.next_opening(at, department)
    midnight = datetime.combine(start.astimezone(calendar.tz).date(), time(0),
                                tzinfo=calendar.tz)
    used = calendar.working_seconds(calendar.next_opening(midnight, department), start,
                                    department)
    return clocks.stored(start + timedelta(
        seconds=calendar.working_day_seconds(department) - used))


def _hours_of(clock, department: str | None) -> str | None:
    return department if clock.working_hours_of == "department" else None


def on_moment(case_clocks: list[dict], book: clocks.ClockBook, policy: Policy, moment: str,
              at: datetime, round_: int, calendar, *, facts: Mapping[str, Any],
              department: str | None) -> list[clocks.Action]:
    """The engine's :func:`zhidu.clocks.on_moment`, plus the clocks it cannot
    start from a budget: those due at a moment (started here) and those due at
    an agreed time (started by :func:`agree`)."""
    due_at_moment = {name: budget.by for name, clock in policy.clocks.items()
                     if (budget := clock.budget_for(facts)) is not None and budget.by}
    agreed = {name for name, clock in policy.clocks.items() if clock.agreed}
    actions = clocks.on_moment(case_clocks, book, moment, at, round_, calendar, facts=facts,
                               department=department, exclude={*due_at_moment, *agreed})
    for name in due_at_moment:
        clock = policy.clocks[name]
        if moment not in clock.starts_on or clocks.find_clock(case_clocks, name, round_):
            continue
        due = day_end(at, calendar, _hours_of(clock, department))
        case_clocks.append(clocks.start_clock(book[name], round_, at, calendar, due=due,
                                              department=department))
    return actions


def agree(case_clocks: list[dict], book: clocks.ClockBook, policy: Policy, field: str,
          due: datetime, at: datetime, round_: int, calendar, *,
          department: str | None) -> list[clocks.Action]:
    """Start the clocks due at the time agreed in ``field``. A promise still
    open (no reply met it) is replaced: waived, and flagged if already late."""
    actions = []
    for name, clock in policy.clocks.items():
        if clock.agreed != field:
            continue
        earlier = clocks.find_clock(case_clocks, name, round_, active=True)
        if earlier is not None:
            actions += clocks.finish_clock(earlier, at, calendar, met=False)
        case_clocks.append(clocks.start_clock(book[name], round_, at, calendar, due=due,
                                              department=department))
    return actions


def current_clocks(case: Mapping[str, Any]) -> list[dict]:
    """The clocks of the case's current handling round."""
    return [c for c in case.get("clocks", ()) if c["round"] == case.get("round", 1)]


def _readable(case: Mapping[str, Any], policy: Policy, calendar) -> list[dict]:
    """The current round's clocks, each with a ladder; the case is left as it is."""
    steps = ladder(policy)
    return [c if "ladder" in c else clocks.adopt(dict(c), steps, calendar)
            for c in current_clocks(case)]


def evaluate(case: Mapping[str, Any], now: datetime, calendar, policy: Policy) -> Evaluation:
    """What is due on ``case`` at ``now``: the actions, in order, and the next check.

    Pure and idempotent: after :func:`apply_actions` a second evaluation at the
    same or a later ``now`` returns nothing already returned.
    """
    return clocks.evaluate(_readable(case, policy, calendar), now, calendar)


def apply_actions(case: dict, actions: Iterable[Action], calendar, policy: Policy) -> None:
    """Set on ``case`` (a working copy) the flags of ``actions``, then its summary."""
    steps = ladder(policy)
    for clock in case.get("clocks", ()):
        clocks.adopt(clock, steps, calendar)
    clocks.apply_actions(current_clocks(case), actions)
    summarise(case, calendar, policy)


def summarise(case: dict, calendar, policy: Policy) -> None:
    """Refresh the case's indexed summary fields from its clocks.

    ``next_check_at`` (sweep index), ``breached`` (any clock, any round, ever),
    ``escalation_level`` (highest rung reached in the current round).
    """
    current = _readable(case, policy, calendar)
    case["next_check_at"] = clocks.next_check(current, calendar)
    case["breached"] = any(c["breached"] for c in case.get("clocks", ()))
    case["escalation_level"] = max((c["escalation_level"] for c in current), default=0)


def deadlines(case: Mapping[str, Any]) -> dict[str, datetime | None]:
    """``{clock: due}`` for the current round's clocks that are still open."""
    return clocks.deadlines(current_clocks(case))


def event(action: Action, case: Mapping[str, Any]) -> dict:
    """The contract event (``type`` and JSON-ready ``data``) of a clock's action."""
    data = {"number": case.get("number"), "clock": action.clock, "round": action.round,
            "due": to_iso(action.due)}
    if action.kind in ("reminder", "escalation"):
        data.update(owner_id=case.get("owner_id") or case.get("received_by"),
                    department=case.get("department"))
    if action.kind == "escalation":
        data.update(level=action.level, to_role=action.to_role)
    return {"type": EVENT_TYPES[action.kind], "data": data}


def delay_investigation(case: Mapping[str, Any], at: datetime) -> dict | None:
    """The 治办单 a finished case owes when any clock of any round breached
    (001 §1 第十四条); None when every clock kept its promise."""
    breached = [c["name"] for c in case.get("clocks", ()) if c["breached"]]
    if not breached:
        return None
    return {"type": "delay_investigation_opened",
            "data": {"number": case.get("number"), "clocks": list(dict.fromkeys(breached)),
                     "at": to_iso(at),
                     "owner_id": case.get("owner_id") or case.get("received_by"),
                     "department": case.get("department")}}
