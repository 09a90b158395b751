"""Deadline clocks on the working calendar: budgets, warnings, breaches,
reminders and an escalation ladder — pure, for any service that promises
someone a deadline.

A service describes its clocks in YAML (read with :func:`clocks_from_dict`)::

    warning_fraction: 0.8            # share of a budget that raises a warning
    escalation:                      # default ladder of every clock
      ladder: [owner, dept_manager, deputy_gm, gm]
      step: {working_days: 1}        # one rung per further step overdue
    clocks:
      arrival:
        starts_on: [dispatched]      # moments of the record (the service names them)
        met_by: [arrived]
        stopped_by: [customer_called]  # ends it without being "met" (waived)
        working_hours_of: company    # or department: whose hours count
        budgets:                     # the first whose `when` matches applies
          - {minutes: 20}
        escalation: {ladder: [desk, dept_manager], step: {minutes: 20}}

Budget units: ``minutes``/``hours``/``days`` are plain time; ``working_hours``
/``working_days`` count only working time (rules §1), one working day being the
length of that department's hours.

A running clock is a plain dict stored with its record (see :func:`start_clock`)::

    name, round            which clock, which round of the record (1, 2, ... after reopen)
    owner                  whom its actions concern (None: the service decides)
    unit                   "working" or "calendar": the kind of time its budget counts
    department             whose working hours count (None: the company's)
    budget_seconds         the budget in seconds of its unit
    warn_seconds           warning threshold, same unit
    ladder                 escalation roles, the first one reminded on breach
    step_unit, step_seconds  one rung per this much further time overdue
    state                  "running" | "paused" | "met" | "waived"
    started_at             when it started
    running_since          start of the current running stretch (None unless running)
    consumed_seconds       time used in finished stretches (paused time excluded)
    overdue_seconds        step-unit time already spent past due in finished stretches
    due, warn_at           when the budget / warning threshold runs out (None while
                           paused, except ``due`` once it has passed)
    warned, warned_at      warning raised (at = the threshold moment)
    breached, breached_at  budget exhausted before being met (at = due)
    reminded_at            reminder to the ladder's first rung issued
    escalation_level       highest rung reached: 0 the first, 1.. up the ladder
    escalations            [{level, role, at}]
    met_at, ended_at       when met / when it stopped for good
    on_time                True met in time, False breached, None not decided

It carries its own ladder and step, so a policy changed later does not move the
goalposts of a clock already running (a clock stored before clocks carried them
is given its definition's by :func:`adopt`). Thresholds are instants fixed when
a stretch starts, so a sweep compares datetimes and never divides floats, and a
clock read back from MongoDB (millisecond precision, see :func:`stored`)
evaluates exactly as before it was written. ``evaluate`` is idempotent once its
actions are applied: each warning, breach, reminder and rung comes out once per
clock.

Pausing banks the time used so far and forgets the future moments; resuming
recomputes them from the remaining budget. Overdue time before a pause is
banked in ``overdue_seconds``, so a pause does not restart the climb.
Thresholds are ``now >= moment``: 100 % elapsed is a breach for a sweep. A
clock met at exactly its due moment is still on time — the deadline is
inclusive for the person doing the work — unless a sweep already flagged it.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .times import as_utc, to_iso

RUNNING, PAUSED, MET, WAIVED = "running", "paused", "met", "waived"
ACTIVE = (RUNNING, PAUSED)
CALENDAR_UNITS = {"minutes": 60, "hours": 3600, "days": 86400}
WORKING_UNITS = ("working_hours", "working_days")
HOURS_OWNERS = ("company", "department")


def stored(moment: datetime) -> datetime:
    """``moment`` in UTC cut to the millisecond, as MongoDB will give it back."""
    moment = as_utc(moment)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


# -- definitions ---------------------------------------------------------------
@dataclass(frozen=True)
class Span:
    """An amount of one unit of time."""

    unit: str
    amount: float

    @property
    def working(self) -> bool:
        return self.unit in WORKING_UNITS

    def seconds(self, calendar, department: str | None = None) -> float:
        """In seconds of its own kind of time (working or plain)."""
        if self.unit == "working_days":
            return self.amount * calendar.working_day_seconds(department)
        if self.unit == "working_hours":
            return self.amount * 3600
        return self.amount * CALENDAR_UNITS[self.unit]


@dataclass(frozen=True)
class Budget(Span):
    when: Mapping[str, Any] = field(default_factory=dict)

    def matches(self, facts: Mapping[str, Any]) -> bool:
        return all(facts.get(key) == value for key, value in self.when.items())


@dataclass(frozen=True)
class Ladder:
    roles: tuple[str, ...]
    step: Span

    @property
    def top(self) -> int:
        return len(self.roles) - 1


@dataclass(frozen=True)
class ClockDef:
    name: str
    starts_on: frozenset[str]
    met_by: frozenset[str]
    stopped_by: frozenset[str]
    working_hours_of: str
    budgets: tuple[Budget, ...]
    ladder: Ladder
    warning_fraction: float
    extra: Mapping[str, Any] = field(default_factory=dict)  # the service's own keys

    def budget_for(self, facts: Mapping[str, Any]) -> Budget | None:
        return next((b for b in self.budgets if b.matches(facts)), None)


@dataclass(frozen=True)
class ClockBook:
    clocks: Mapping[str, ClockDef]
    warning_fraction: float
    ladder: Ladder

    def __getitem__(self, name: str) -> ClockDef:
        return self.clocks[name]


# -- reading YAML ----------------------------------------------------------------
class _Node:
    """A mapping being read that knows its dotted path and its unread keys."""

    def __init__(self, value: Any, path: str):
        if not isinstance(value, Mapping):
            raise ValueError(f"{path or 'clocks'}: expected a mapping")
        self.value, self.path, self.unread = value, path, set(value)

    def where(self, key) -> str:
        return f"{self.path}.{key}" if self.path else str(key)

    def get(self, key: str, default: Any = ...) -> Any:
        self.unread.discard(key)
        if key in self.value:
            return self.value[key]
        if default is ...:
            raise ValueError(f"{self.where(key)}: missing")
        return default

    def done(self) -> None:
        if self.unread:
            raise ValueError(f"{self.where(sorted(self.unread)[0])}: unknown key")


def _names(value, where: str, *, allowed=None, empty_ok=False) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"{where}: expected a list of names")
    if not value and not empty_ok:
        raise ValueError(f"{where}: must not be empty")
    if allowed is not None and not set(value) <= set(allowed):
        raise ValueError(f"{where}: unknown {sorted(set(value) - set(allowed))}")
    return frozenset(value)


def _fraction(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ValueError(f"{where}: expected a number between 0 and 1")
    return float(value)


def _span(node: _Node, *, cls=Span, **extra) -> Span:
    units = [u for u in (*CALENDAR_UNITS, *WORKING_UNITS) if u in node.value]
    if len(units) != 1:
        raise ValueError(f"{node.path}: expected exactly one of "
                         f"{', '.join((*CALENDAR_UNITS, *WORKING_UNITS))}")
    amount = node.get(units[0])
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount <= 0:
        raise ValueError(f"{node.where(units[0])}: must be a positive number")
    return cls(unit=units[0], amount=float(amount), **extra)


def _budget(node: _Node, conditions) -> Budget:
    when = node.get("when", {}) or {}
    if not isinstance(when, Mapping):
        raise ValueError(f"{node.where('when')}: expected a mapping")
    for key, value in when.items():
        if conditions is not None and key not in conditions:
            raise ValueError(f"{node.where('when')}.{key}: unknown condition")
        if not isinstance(value, (str, bool, int)):
            raise ValueError(f"{node.where('when')}.{key}: expected a name, number or "
                             "true/false")
    budget = _span(node, cls=Budget, when=dict(when))
    node.done()
    return budget


def _ladder(value, where: str) -> Ladder:
    node = _Node(value, where)
    roles = node.get("ladder")
    if not isinstance(roles, list) or not roles or not all(isinstance(r, str) and r
                                                            for r in roles):
        raise ValueError(f"{node.where('ladder')}: expected a non-empty list of roles")
    step = _span(_Node(node.get("step"), node.where("step")))
    node.done()
    return Ladder(tuple(roles), step)


def clocks_from_dict(data: Mapping[str, Any], *, moments: Iterable[str] | None = None,
                     conditions: Iterable[str] | None = None,
                     extra_keys: Iterable[str] = (), path: str = "") -> ClockBook:
    """Validate a clock section; ``ValueError`` names the bad key's dotted path.

    ``moments`` are the names a service's records may start or meet a clock on,
    ``conditions`` the facts a budget's ``when`` may test, ``extra_keys`` the
    service's own per-clock keys (kept in :attr:`ClockDef.extra`).
    """
    moments = None if moments is None else frozenset(moments)
    conditions = None if conditions is None else frozenset(conditions)
    extra_keys = frozenset(extra_keys)
    root = _Node(data, path)
    fraction = _fraction(root.get("warning_fraction", 0.8), root.where("warning_fraction"))
    default_ladder = _ladder(root.get("escalation"), root.where("escalation"))
    raw = root.get("clocks")
    clocks_node = _Node(raw, root.where("clocks"))
    if not raw:
        raise ValueError(f"{clocks_node.path}: must not be empty")
    clocks = {}
    for name in raw:
        node = _Node(clocks_node.get(name), clocks_node.where(name))
        starts = _names(node.get("starts_on", []), node.where("starts_on"),
                        allowed=moments, empty_ok=True)
        met = _names(node.get("met_by"), node.where("met_by"), allowed=moments)
        stopped = _names(node.get("stopped_by", []), node.where("stopped_by"),
                         allowed=moments, empty_ok=True)
        owner = node.get("working_hours_of", "company")
        if owner not in HOURS_OWNERS:
            raise ValueError(f"{node.where('working_hours_of')}: must be one of "
                             f"{list(HOURS_OWNERS)}")
        budgets_raw = node.get("budgets")
        if not isinstance(budgets_raw, list) or not budgets_raw:
            raise ValueError(f"{node.where('budgets')}: expected a non-empty list")
        budgets = tuple(_budget(_Node(b, f"{node.where('budgets')}[{i}]"), conditions)
                        for i, b in enumerate(budgets_raw))
        ladder = (_ladder(node.get("escalation"), node.where("escalation"))
                  if "escalation" in node.value else default_ladder)
        own_fraction = _fraction(node.get("warning_fraction", fraction),
                                 node.where("warning_fraction"))
        extra = {key: node.get(key) for key in extra_keys if key in node.value}
        node.done()
        clocks[name] = ClockDef(name, starts, met, stopped, owner, budgets, ladder,
                                own_fraction, extra)
    clocks_node.done()
    root.done()
    return ClockBook(clocks, fraction, default_ladder)


# -- time arithmetic in a clock's own unit -----------------------------------------
def _advance(working: bool, department, start: datetime, seconds: float,
             calendar) -> datetime:
    if working:
        return stored(calendar.add_working_time(start, seconds, department))
    return stored(start + timedelta(seconds=max(0.0, seconds)))


def _elapsed(working: bool, department, start: datetime, end: datetime,
             calendar) -> float:
    if working:
        return calendar.working_seconds(start, end, department)
    return max(0.0, (end - start).total_seconds())


def _working(clock: Mapping) -> bool:
    return clock["unit"] == "working"


def _step_working(clock: Mapping) -> bool:
    return clock["step_unit"] == "working"


# -- life of one clock -------------------------------------------------------------
def start_clock(definition: ClockDef, round_: int, at: datetime, calendar, *,
                facts: Mapping[str, Any] | None = None, department: str | None = None,
                due: datetime | None = None, owner: str | None = None) -> dict | None:
    """A new running clock from ``at``; None when no budget matches ``facts``.

    ``due`` fixes the deadline instead of a budget (a finish time agreed with
    the customer); the warning comes at the same fraction of that span.
    """
    at = stored(at)
    hours_of = department if definition.working_hours_of == "department" else None
    if due is not None:
        working = False
        budget_seconds = max(0.0, (as_utc(due) - at).total_seconds())
    else:
        budget = definition.budget_for(facts or {})
        if budget is None:
            return None
        working = budget.working
        budget_seconds = budget.seconds(calendar, hours_of)
    ladder = definition.ladder
    clock = {
        "name": definition.name, "round": round_, "owner": owner,
        "unit": "working" if working else "calendar", "department": hours_of,
        "budget_seconds": budget_seconds,
        "warn_seconds": budget_seconds * definition.warning_fraction,
        "ladder": list(ladder.roles),
        "step_unit": "working" if ladder.step.working else "calendar",
        "step_seconds": ladder.step.seconds(calendar, hours_of),
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


def adopt(clock: dict, ladder: Ladder, calendar) -> dict:
    """Give ``clock`` (in place, and return it) ``ladder`` and an owner if it was
    stored before clocks carried their own: such a clock climbs the ladder its
    service has now, as it did when the ladder was read at every sweep."""
    if "ladder" not in clock:
        clock["ladder"] = list(ladder.roles)
        clock["step_unit"] = "working" if ladder.step.working else "calendar"
        clock["step_seconds"] = ladder.step.seconds(calendar, clock.get("department"))
    clock.setdefault("owner", None)
    return clock


def _schedule(clock: dict, calendar) -> None:
    since = as_utc(clock["running_since"])
    used = clock["consumed_seconds"]
    working, department = _working(clock), clock["department"]
    if clock["due"] is None:  # a due already passed is history and stays
        clock["due"] = _advance(working, department, since,
                                clock["budget_seconds"] - used, calendar)
    if not clock["warned"]:
        clock["warn_at"] = _advance(working, department, since,
                                    clock["warn_seconds"] - used, calendar)


def pause_clock(clock: dict, at: datetime, calendar) -> None:
    """Stop a running clock at ``at``, banking the time used. Evaluate at ``at``
    first, so nothing that fell due before the pause is lost."""
    if clock["state"] != RUNNING:
        return
    at = stored(at)
    since, due = as_utc(clock["running_since"]), as_utc(clock["due"])
    clock["consumed_seconds"] += _elapsed(_working(clock), clock["department"], since, at,
                                          calendar)
    if at >= due:
        clock["overdue_seconds"] += _elapsed(_step_working(clock), clock["department"],
                                             max(due, since), at, calendar)
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


def extend_clock(clock: dict, due: datetime, calendar) -> None:
    """Move a running clock's deadline to the later ``due`` (an extension the
    customer agreed to in advance). Refused once the old deadline has passed:
    consent after the fact does not undo a breach."""
    due = stored(due)
    if clock["state"] != RUNNING:
        raise ValueError(f"clock {clock['name']} is not running")
    if clock["breached"]:
        raise ValueError(f"clock {clock['name']} already breached")
    if due <= as_utc(clock["due"]):
        raise ValueError(f"clock {clock['name']}: the new deadline must be later")
    since = as_utc(clock["running_since"])
    working, department = _working(clock), clock["department"]
    ratio = clock["warn_seconds"] / clock["budget_seconds"] if clock["budget_seconds"] else 1
    clock["budget_seconds"] = (clock["consumed_seconds"]
                               + _elapsed(working, department, since, due, calendar))
    clock["due"] = due
    if not clock["warned"]:
        clock["warn_seconds"] = clock["budget_seconds"] * ratio
        clock["warn_at"] = _advance(working, department, since,
                                    clock["warn_seconds"] - clock["consumed_seconds"],
                                    calendar)


def finish_clock(clock: dict, at: datetime, calendar, *, met: bool) -> list[Action]:
    """Stop a clock for good: ``met`` by its moment, or waived (stopped, moot).

    A clock finished after its due that no sweep had flagged is marked breached
    now and yields the ``breach`` action alone: a reminder or an escalation
    about work already done would only be noise.
    """
    if clock["state"] not in ACTIVE:
        return []
    at = stored(at)
    due = None if clock["due"] is None else as_utc(clock["due"])
    if clock["state"] == RUNNING:
        since = as_utc(clock["running_since"])
        clock["consumed_seconds"] += _elapsed(_working(clock), clock["department"], since,
                                              max(since, at), calendar)
        late = at > due
    else:
        late = due is not None
    actions = []
    if late and not clock["breached"]:
        clock["breached"], clock["breached_at"] = True, due
        actions.append(Action("breach", clock["name"], clock["round"], due, due=due,
                              owner=clock.get("owner")))
    clock["state"] = MET if met else WAIVED
    clock["met_at"] = at if met else None
    clock["ended_at"] = at
    clock["running_since"] = None
    clock["on_time"] = (not clock["breached"]) if met else (False if clock["breached"]
                                                             else None)
    return actions


# -- what falls due -------------------------------------------------------------------
@dataclass(frozen=True)
class Action:
    """Something a clock decided; ``at`` is when it fell due.

    kinds: ``warning``, ``breach``, ``reminder`` (to the ladder's first rung),
    ``escalation`` (``level``, ``to_role``).
    """

    kind: str
    clock: str
    round: int
    at: datetime
    due: datetime | None = None
    level: int = 0
    to_role: str | None = None
    owner: str | None = None

    def data(self) -> dict:
        """JSON-ready event data common to every kind."""
        out = {"clock": self.clock, "round": self.round, "due": to_iso(self.due)}
        if self.kind in ("reminder", "escalation"):
            out.update(level=self.level, to_role=self.to_role, owner_id=self.owner)
        return out


@dataclass(frozen=True)
class Evaluation:
    actions: tuple[Action, ...] = ()
    next_check_at: datetime | None = None


def _escalation_at(clock: Mapping, level: int, calendar) -> datetime:
    """When rung ``level`` is reached: that many steps past due, in the step's unit."""
    anchor = max(as_utc(clock["due"]), as_utc(clock["running_since"]))
    remaining = level * clock["step_seconds"] - clock["overdue_seconds"]
    if remaining <= 0:
        return anchor
    return _advance(_step_working(clock), clock["department"], anchor, remaining, calendar)


def _top(clock: Mapping) -> int:
    return len(clock["ladder"]) - 1


def _clock_actions(clock: Mapping, now: datetime, calendar) -> list[Action]:
    if clock["state"] != RUNNING:
        return []
    name, round_, due = clock["name"], clock["round"], as_utc(clock["due"])
    owner = clock.get("owner")
    actions = []
    if not clock["warned"] and now >= as_utc(clock["warn_at"]):
        actions.append(Action("warning", name, round_, as_utc(clock["warn_at"]), due=due,
                              owner=owner))
    if now < due:
        return actions
    if not clock["breached"]:
        actions.append(Action("breach", name, round_, due, due=due, owner=owner))
    if clock["reminded_at"] is None:
        actions.append(Action("reminder", name, round_, due, due=due,
                              to_role=clock["ladder"][0], owner=owner))
    for level in range(clock["escalation_level"] + 1, _top(clock) + 1):
        moment = _escalation_at(clock, level, calendar)
        if now < moment:
            break
        actions.append(Action("escalation", name, round_, moment, due=due, level=level,
                              to_role=clock["ladder"][level], owner=owner))
    return actions


def clock_next_check(clock: Mapping, calendar) -> datetime | None:
    """The next moment this clock can produce an action (None: never)."""
    if clock["state"] != RUNNING:
        return None
    if not clock["warned"]:
        return as_utc(clock["warn_at"])
    if not clock["breached"] or clock["reminded_at"] is None:
        return as_utc(clock["due"])
    if clock["escalation_level"] < _top(clock):
        return _escalation_at(clock, clock["escalation_level"] + 1, calendar)
    return None


def apply_to_clock(clock: dict, action: Action) -> None:
    """Record that ``action`` was emitted, so it is never emitted again."""
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


def find_clock(clocks: Iterable[dict], name: str, round_: int | None = None,
               *, active: bool = False) -> dict | None:
    """The latest clock ``name`` (of ``round_``; still running or paused if ``active``)."""
    for clock in reversed(list(clocks)):
        if clock["name"] != name or (round_ is not None and clock["round"] != round_):
            continue
        if active and clock["state"] not in ACTIVE:
            continue
        return clock
    return None


def evaluate(clocks: Sequence[Mapping], now: datetime, calendar) -> Evaluation:
    """What is due on ``clocks`` at ``now``, in order, and the next moment to look.

    Rungs skipped while no sweep ran come out together, each once, lowest first.
    """
    now = as_utc(now)
    actions: list[Action] = []
    next_check = None
    for clock in clocks:
        found = _clock_actions(clock, now, calendar)
        actions.extend(found)
        probe = dict(clock, escalations=list(clock["escalations"]))
        for action in found:
            apply_to_clock(probe, action)
        moment = clock_next_check(probe, calendar)
        if moment is not None and (next_check is None or moment < next_check):
            next_check = moment
    return Evaluation(tuple(actions), next_check)


def apply_actions(clocks: list[dict], actions: Iterable[Action]) -> None:
    for action in actions:
        clock = find_clock(clocks, action.clock, action.round, active=True) \
            or find_clock(clocks, action.clock, action.round)
        if clock is not None:
            apply_to_clock(clock, action)


def next_check(clocks: Iterable[Mapping], calendar) -> datetime | None:
    """The earliest moment any of ``clocks`` can act (the sweep's index key)."""
    moments = [m for m in (clock_next_check(c, calendar) for c in clocks) if m is not None]
    return min(moments) if moments else None


def deadlines(clocks: Iterable[Mapping]) -> dict[str, datetime | None]:
    """``{name: due}`` of the clocks still running or paused (aware UTC)."""
    return {c["name"]: None if c["due"] is None else as_utc(c["due"])
            for c in clocks if c["state"] in ACTIVE}


def on_moment(clocks: list[dict], book: ClockBook, moment: str, at: datetime, round_: int,
              calendar, *, facts: Mapping[str, Any] | None = None,
              department: str | None = None, owner: str | None = None,
              exclude: Iterable[str] = ()) -> list[Action]:
    """Finish the clocks ``moment`` meets or stops, then start those it starts.

    A clock starts at most once per round. ``exclude`` names clocks the caller
    starts itself (with an agreed ``due``). Returns breach actions of clocks
    that finished late.
    """
    actions: list[Action] = []
    for definition in book.clocks.values():
        ends = moment in definition.met_by or moment in definition.stopped_by
        if not ends:
            continue
        clock = find_clock(clocks, definition.name, active=True)
        if clock is not None:
            actions += finish_clock(clock, at, calendar,
                                    met=moment in definition.met_by)
    exclude = set(exclude)
    for definition in book.clocks.values():
        if moment not in definition.starts_on or definition.name in exclude:
            continue
        if find_clock(clocks, definition.name, round_) is not None:
            continue
        clock = start_clock(definition, round_, at, calendar, facts=facts,
                            department=department, owner=owner)
        if clock is not None:
            clocks.append(clock)
    return actions
