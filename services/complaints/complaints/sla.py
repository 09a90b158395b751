"""The SLA clock engine: budgets on the working calendar, pauses, warnings,
breaches, reminders and the escalation ladder.

A clock is a plain dict (stored as is in the case document)::

    name, round            which clock, which handling round (1, 2, ... after reopen)
    unit                   "working" (company hours) or "calendar" (plain time)
    department             whose working hours count (None: the company's)
    budget_seconds         the budget in seconds of its unit
    warn_seconds           warning threshold, same unit (policy warning_fraction)
    state                  "running" | "paused" | "met" | "waived"
    started_at             when it started
    running_since          start of the current running stretch (None unless running)
    consumed_seconds       time used in finished stretches (paused time excluded)
    overdue_seconds        working time already spent past due in finished stretches
    due, warn_at           when the budget / warning threshold runs out (None while
                           paused, except ``due`` once it has passed)
    warned, warned_at      warning raised (at = the threshold moment)
    breached, breached_at  budget exhausted before being met (at = due)
    reminded_at            reminder (催办单) to the owner issued
    escalation_level       highest ladder rung reached: 0 owner, 1.. up the ladder
    escalations            [{level, role, at}]
    met_at, ended_at       when met / when it stopped for good
    on_time                True met in time, False breached, None not decided

Why moments, not percentages: the thresholds are stored as instants when a
stretch starts, so a sweep compares ``now`` with datetimes and never divides
floats; a case read back from MongoDB (millisecond precision — see
:func:`stored`) evaluates exactly as before it was written.

Pausing banks the time used so far and forgets the future moments; resuming
recomputes them from the remaining budget. Escalation counts *working* time
overdue whatever the clock's own unit, because the ladder climbs "one step per
further working day" (rules §2); overdue time before a pause is banked in
``overdue_seconds`` so a pause does not restart the climb.

Thresholds are ``now >= moment``: 100 % elapsed is a breach for the sweep. A
clock met at exactly its due moment is still on time — the deadline is
inclusive for the person doing the work — unless a sweep already flagged it.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from zhidu.times import as_utc, to_iso

from .policy import Budget, Policy

RUNNING, PAUSED, MET, WAIVED = "running", "paused", "met", "waived"
ACTIVE = (RUNNING, PAUSED)


def stored(moment: datetime) -> datetime:
    """``moment`` in UTC cut to the millisecond, as MongoDB will give it back."""
    moment = as_utc(moment)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _opt(moment: datetime | None) -> datetime | None:
    return None if moment is None else as_utc(moment)


# -- time arithmetic in a clock's own unit ------------------------------------
def _advance(clock: Mapping, start: datetime, seconds: float, calendar) -> datetime:
    if clock["unit"] == "working":
        return stored(calendar.add_working_time(start, seconds, clock["department"]))
    return stored(start + timedelta(seconds=max(0.0, seconds)))


def _elapsed(clock: Mapping, start: datetime, end: datetime, calendar) -> float:
    if clock["unit"] == "working":
        return calendar.working_seconds(start, end, clock["department"])
    return max(0.0, (end - start).total_seconds())


def _step_seconds(clock: Mapping, policy: Policy, calendar) -> float:
    return policy.step_working_days * calendar.working_day_seconds(clock["department"])


# -- life of one clock ----------------------------------------------------------
def start_clock(name: str, round_: int, budget: Budget, department: str | None,
                at: datetime, policy: Policy, calendar) -> dict:
    """A new running clock for ``name`` in round ``round_``, started at ``at``."""
    at = stored(at)
    budget_seconds = budget.seconds(calendar, department)
    clock = {
        "name": name, "round": round_,
        "unit": "working" if budget.working else "calendar",
        "department": department,
        "budget_seconds": budget_seconds,
        "warn_seconds": budget_seconds * policy.warning_fraction,
        "state": RUNNING, "started_at": at, "running_since": at,
        "consumed_seconds": 0.0, "overdue_seconds": 0.0,
        "due": None, "warn_at": None,
        "warned": False, "warned_at": None,
        "breached": False, "breached_at": None, "reminded_at": None,
        "escalation_level": 0, "escalations": [],
        "met_at": None, "ended_at": None, "on_time": None,
    }
    _schedule(clock, calendar)
    return clock


def _schedule(clock: dict, calendar) -> None:
    """Fix due/warn_at for a stretch starting at ``running_since``."""
    since = as_utc(clock["running_since"])
    used = clock["consumed_seconds"]
    if clock["due"] is None:  # a due already passed is history and stays
        clock["due"] = _advance(clock, since, clock["budget_seconds"] - used, calendar)
    if not clock["warned"]:
        clock["warn_at"] = _advance(clock, since, clock["warn_seconds"] - used, calendar)


def pause_clock(clock: dict, at: datetime, calendar) -> None:
    """Stop a running clock at ``at``, banking the time used. Call :func:`evaluate`
    at ``at`` first so nothing that fell due before the pause is lost."""
    if clock["state"] != RUNNING:
        return
    at = stored(at)
    since, due = as_utc(clock["running_since"]), as_utc(clock["due"])
    clock["consumed_seconds"] += _elapsed(clock, since, at, calendar)
    if at >= due:
        clock["overdue_seconds"] += calendar.working_seconds(
            max(due, since), at, clock["department"])
    else:
        clock["due"] = None
    if not clock["warned"]:
        clock["warn_at"] = None
    clock["running_since"] = None
    clock["state"] = PAUSED


def resume_clock(clock: dict, at: datetime, calendar) -> None:
    """Restart a paused clock at ``at`` with what is left of its budget."""
    if clock["state"] != PAUSED:
        return
    clock["state"] = RUNNING
    clock["running_since"] = stored(at)
    _schedule(clock, calendar)


def finish_clock(clock: dict, at: datetime, calendar, *, met: bool) -> list[Action]:
    """Stop a clock for good: ``met`` by its moment, or waived as moot.

    A clock finished after its due that no sweep had flagged is marked breached
    now and yields the ``breach`` action alone: a reminder or escalation about
    work that is already done would only be noise.
    """
    if clock["state"] not in ACTIVE:
        return []
    at = stored(at)
    due = _opt(clock["due"])
    if clock["state"] == RUNNING:
        since = as_utc(clock["running_since"])
        clock["consumed_seconds"] += _elapsed(clock, since, at, calendar)
        late = at > due
    else:
        late = due is not None  # kept through a pause only once it had passed
    actions = []
    if late and not clock["breached"]:
        clock["breached"], clock["breached_at"] = True, due
        actions.append(Action("breach", clock["name"], clock["round"], due, due=due))
    clock["state"] = MET if met else WAIVED
    clock["met_at"] = at if met else None
    clock["ended_at"] = at
    clock["running_since"] = None
    clock["on_time"] = (not clock["breached"]) if met else (False if clock["breached"] else None)
    return actions


# -- sweep ----------------------------------------------------------------------
@dataclass(frozen=True)
class Action:
    """Something the sweep (or a transition) decided; ``at`` is when it fell due.

    kinds: ``warning``, ``breach``, ``reminder``, ``escalation`` (``level``,
    ``to_role``), ``delay_investigation`` (``clocks``: the breached clock names).
    """

    kind: str
    clock: str | None
    round: int
    at: datetime
    due: datetime | None = None
    level: int = 0
    to_role: str | None = None
    clocks: tuple[str, ...] = ()

    def event(self, case: Mapping[str, Any]) -> dict:
        """The contract event (``type`` and JSON-ready ``data``) for this action."""
        base = {"number": case.get("number"), "clock": self.clock, "round": self.round,
                "due": to_iso(self.due)}
        owner = {"owner_id": case.get("owner_id") or case.get("received_by"),
                 "department": case.get("department")}
        if self.kind == "warning":
            return {"type": "sla_warning", "data": base}
        if self.kind == "breach":
            return {"type": "sla_breached", "data": base}
        if self.kind == "reminder":
            return {"type": "reminder_issued", "data": {**base, **owner}}
        if self.kind == "escalation":
            return {"type": "escalated", "data": {**base, **owner, "level": self.level,
                                                  "to_role": self.to_role}}
        if self.kind == "delay_investigation":
            return {"type": "delay_investigation_opened",
                    "data": {"number": case.get("number"), "clocks": list(self.clocks),
                             "at": to_iso(self.at), "owner_id": owner["owner_id"],
                             "department": owner["department"]}}
        raise ValueError(f"unknown action kind {self.kind!r}")


@dataclass(frozen=True)
class Evaluation:
    actions: tuple[Action, ...] = ()
    next_check_at: datetime | None = None


def _escalation_at(clock: Mapping, level: int, policy: Policy, calendar) -> datetime:
    """When rung ``level`` is reached: that many steps of working time past due."""
    anchor = max(as_utc(clock["due"]), as_utc(clock["running_since"]))
    remaining = level * _step_seconds(clock, policy, calendar) - clock["overdue_seconds"]
    if remaining <= 0:
        return anchor
    return stored(calendar.add_working_time(anchor, remaining, clock["department"]))


def _clock_actions(clock: Mapping, now: datetime, policy: Policy, calendar) -> list[Action]:
    if clock["state"] != RUNNING:
        return []
    name, round_, due = clock["name"], clock["round"], as_utc(clock["due"])
    actions = []
    if not clock["warned"] and now >= as_utc(clock["warn_at"]):
        actions.append(Action("warning", name, round_, as_utc(clock["warn_at"]), due=due))
    if now < due:
        return actions
    if not clock["breached"]:
        actions.append(Action("breach", name, round_, due, due=due))
    if clock["reminded_at"] is None:
        actions.append(Action("reminder", name, round_, due, due=due,
                              to_role=policy.ladder[0]))
    for level in range(clock["escalation_level"] + 1, policy.max_escalation_level + 1):
        moment = _escalation_at(clock, level, policy, calendar)
        if now < moment:
            break
        actions.append(Action("escalation", name, round_, moment, due=due, level=level,
                              to_role=policy.ladder[level]))
    return actions


def clock_next_check(clock: Mapping, policy: Policy, calendar) -> datetime | None:
    """The next moment this clock can produce an action (None: never)."""
    if clock["state"] != RUNNING:
        return None
    if not clock["warned"]:
        return as_utc(clock["warn_at"])
    if not clock["breached"] or clock["reminded_at"] is None:
        return as_utc(clock["due"])
    if clock["escalation_level"] < policy.max_escalation_level:
        return _escalation_at(clock, clock["escalation_level"] + 1, policy, calendar)
    return None


def apply_to_clock(clock: dict, action: Action) -> None:
    """Record on ``clock`` that ``action`` was emitted, so it is never emitted again."""
    if action.kind == "warning":
        clock["warned"], clock["warned_at"] = True, action.at
    elif action.kind == "breach":
        clock["breached"], clock["breached_at"] = True, action.at
    elif action.kind == "reminder":
        clock["reminded_at"] = action.at
    elif action.kind == "escalation":
        clock["escalation_level"] = max(clock["escalation_level"], action.level)
        clock["escalations"].append({"level": action.level, "role": action.to_role,
                                     "at": action.at})


def current_clocks(case: Mapping[str, Any]) -> list[dict]:
    """The clocks of the case's current handling round."""
    return [c for c in case.get("clocks", ()) if c["round"] == case.get("round", 1)]


def find_clock(clocks: Iterable[dict], name: str, round_: int) -> dict | None:
    return next((c for c in clocks if c["name"] == name and c["round"] == round_), None)


def evaluate(case: Mapping[str, Any], now: datetime, calendar, policy: Policy) -> Evaluation:
    """What is due on ``case`` at ``now``: the actions, in order, and the next check.

    Pure and idempotent: it reads the flags set by :func:`apply_actions`, so
    after applying its actions a second evaluation at the same or a later
    ``now`` returns nothing already returned. Rungs skipped while the sweep was
    down come out together, each once, lowest first. ``next_check_at`` is the
    earliest moment after applying these actions at which anything can happen;
    the store keeps it indexed so the sweep only loads cases falling due.
    """
    now = as_utc(now)
    actions: list[Action] = []
    next_check = None
    for clock in current_clocks(case):
        found = _clock_actions(clock, now, policy, calendar)
        actions.extend(found)
        probe = dict(clock, escalations=list(clock["escalations"]))
        for action in found:
            apply_to_clock(probe, action)
        moment = clock_next_check(probe, policy, calendar)
        if moment is not None and (next_check is None or moment < next_check):
            next_check = moment
    return Evaluation(tuple(actions), next_check)


def apply_actions(case: dict, actions: Iterable[Action], calendar, policy: Policy) -> None:
    """Set on ``case`` (a working copy) the flags of ``actions``, then its summary."""
    for action in actions:
        if action.clock is None:
            continue
        clock = find_clock(case["clocks"], action.clock, action.round)
        if clock is not None:
            apply_to_clock(clock, action)
    summarise(case, calendar, policy)


def summarise(case: dict, calendar, policy: Policy) -> None:
    """Refresh the case's indexed summary fields from its clocks.

    ``next_check_at`` (sweep index), ``breached`` (any clock, any round, ever),
    ``escalation_level`` (highest rung reached in the current round).
    """
    moments = [clock_next_check(c, policy, calendar) for c in current_clocks(case)]
    moments = [m for m in moments if m is not None]
    case["next_check_at"] = min(moments) if moments else None
    case["breached"] = any(c["breached"] for c in case.get("clocks", ()))
    case["escalation_level"] = max(
        (c["escalation_level"] for c in current_clocks(case)), default=0)


def deadlines(case: Mapping[str, Any]) -> dict[str, datetime | None]:
    """``{clock: due}`` for the current round's clocks that are still open."""
    return {c["name"]: _opt(c["due"]) for c in current_clocks(case) if c["state"] in ACTIVE}
