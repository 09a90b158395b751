"""The complaints domain: one method per contract command, pure and all-or-nothing.

:class:`ComplaintRules` holds the policy and the working calendar. Each command
takes the stored case dict and returns an :class:`Outcome` — a *new* case dict
and the events to publish — or raises ``DomainValidation`` / ``DomainConflict``
/ ``DomainPermission`` having changed nothing (the input is never mutated), so
the store can write the outcome with a compare-and-set on ``version`` and
publish afterwards.

The case dict holds the intake as filed plus the fields this module owns
(datetimes aware UTC, cut to the millisecond like MongoDB keeps them)::

    number, status, round, version, paused_from, region, major, major_reasons,
    received_at, received_by, department, owner_id, valid, validity_reason,
    acknowledged_at, next_reply_at, replies, plan, department_feedback, root_cause,
    remedies, resolution, resolved_at, resolve_working_hours, followups, closed_at,
    concluded_at, liability, pauses, delay_investigation_at, clocks (see
    zhidu.clocks), history, next_check_at, breached, escalation_level (indexed summary)

History entries are ``{at, actor: {id, role}, from, to, note}``; a step that
keeps the status (acknowledge, re-assign, liability) has ``from == to``.

Events are ``{"type": <contract event type>, "data": {...}}`` with JSON-ready
data (ISO strings); the service wraps them in the envelope.

Clocks start and stop on the case's *moments* — the statuses it reaches plus
``acknowledged`` (a reply to the customer), ``fed_back`` and ``followed_up`` —
as the policy's ``starts_on`` / ``met_by`` say. Which moment meets which clock
is therefore data; the shipped choices are explained in ``rules/sla.yaml``.
A decision is not a reply: accepting or rejecting a complaint meets no clock
of the customer's unless the customer was told (``reply``), and a rejection
leaves the clocks a reply meets running until the explanation is given.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from zhidu import clocks
from zhidu.domain import DomainConflict, DomainValidation
from zhidu.times import as_utc, parse_time, to_iso

from . import lifecycle as lc
from . import sla, stats
from .authority import check_approval, required_role
from .intake import major_reasons, parse_number
from .masking import mask_text
from .policy import Policy

# The moment of a reply to the customer: an acknowledgement, or a decision told.
REPLIED = "acknowledged"


@dataclass(frozen=True)
class Outcome:
    case: dict
    events: list[dict] = field(default_factory=list)

    @property
    def next_check_at(self) -> datetime | None:
        return self.case.get("next_check_at")


def _moment(value: Any, name: str) -> datetime:
    """An aware datetime or ISO string (naive strings are ZHIDU_TZ), cut to ms."""
    if isinstance(value, datetime) and value.tzinfo is None:
        raise DomainValidation.one(name, "needs a time zone")
    try:
        return clocks.stored(parse_time(value))
    except (TypeError, ValueError):
        raise DomainValidation.one(name, "expected an ISO 8601 date-time") from None


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DomainValidation.one(name, "must not be empty")
    return value.strip()


def _actor(actor: Any) -> dict:
    if not isinstance(actor, Mapping) or not isinstance(actor.get("id"), str) \
            or not actor["id"]:
        raise DomainValidation.one("actor", "expected {id, role}")
    return {"id": actor["id"], "role": actor.get("role")}


class _Step:
    """A working copy of a case being changed by one command."""

    def __init__(self, rules: ComplaintRules, case: Mapping, at: Any, actor: Any):
        self.rules, self.policy, self.calendar = rules, rules.policy, rules.calendar
        self.case = copy.deepcopy(dict(case))
        for clock in self.case.get("clocks", ()):
            clocks.adopt(clock, rules.book.ladder, self.calendar)
        self.at = _moment(at, "at")
        self.actor = _actor(actor)
        self.events: list[dict] = []
        last = self.case.get("history") or []
        if last and self.at < as_utc(last[-1]["at"]):
            raise DomainValidation.one(
                "at", f"is before the complaint's last step ({to_iso(last[-1]['at'])})")

    @property
    def status(self) -> str:
        return self.case["status"]

    def emit(self, event_type: str, /, **data) -> None:
        self.events.append({"type": event_type,
                            "data": {"number": self.case["number"], **data}})

    def emit_actions(self, actions) -> None:
        for action in actions:
            self.events.append(sla.event(action, self.case))

    def record(self, to: str, note: str | None = None) -> None:
        self.case.setdefault("history", []).append({
            "at": self.at, "actor": self.actor, "from": self.status, "to": to,
            "note": note})

    def move(self, target: str, note: str | None = None) -> None:
        """Change status (checked), record it, and fire the target's moment."""
        lc.check_transition(self.status, target,
                            resolve_requires_report=self.policy.resolve_requires_report)
        previous = self.status
        self.record(target, note)
        self.case["status"] = target
        self.emit("status_changed", **{"from": previous, "to": target, "at": to_iso(self.at),
                                       "round": self.case["round"],
                                       "actor_id": self.actor["id"]})
        if target != lc.PAUSED:
            self.fire(target)

    def fire(self, moment: str) -> None:
        """Meet the current round's clocks ``moment`` meets, then start those it starts."""
        case = self.case
        # Earlier rounds are history: only this round's clocks are met or started.
        current = sla.current_clocks(case)
        known = len(current)
        self.emit_actions(sla.on_moment(
            current, self.rules.book, self.policy, moment, self.at, case["round"],
            self.calendar, facts=self.rules.facts(case), department=case.get("department")))
        case["clocks"].extend(current[known:])

    def reply(self, text: str | None, next_reply_at: datetime | None = None) -> None:
        """A reply to the customer (002 §2 四.4-5): meets what a reply meets and,
        with a next reply time agreed, starts that promise's clock (000 §1 三.3)."""
        case = self.case
        case.setdefault("replies", []).append({
            "at": self.at, "by": self.actor["id"], "round": case["round"], "reply": text,
            "next_reply_at": next_reply_at})
        if case.get("acknowledged_at") is None:
            case["acknowledged_at"] = self.at
        case["next_reply_at"] = next_reply_at
        self.fire(REPLIED)
        if next_reply_at is not None:
            current = sla.current_clocks(case)
            known = len(current)
            self.emit_actions(sla.agree(
                current, self.rules.book, self.policy, "next_reply_at", next_reply_at,
                self.at, case["round"], self.calendar, department=case.get("department")))
            case["clocks"].extend(current[known:])

    def waive(self, open_clocks) -> None:
        for clock in open_clocks:
            self.emit_actions(clocks.finish_clock(clock, self.at, self.calendar, met=False))

    def finish_case(self, *, reply_owed: bool = False) -> None:
        """Final status reached: stop every clock still open — but for a rejection
        not yet told to the customer (``reply_owed``), the clocks a reply meets:
        the tactful explanation is still owed (000 §6; 002 §2 四.5).

        ``concluded_at`` (结案) is what the monthly statistics select on
        (001 §1 (九)); a rejection concludes a case as much as a close does.
        """
        owed = {name for name, clock in self.policy.clocks.items()
                if REPLIED in clock.met_by} if reply_owed else set()
        self.waive(c for c in self.case["clocks"] if c["name"] not in owed)
        self.case["concluded_at"] = self.at

    def open_delay_investigation(self) -> None:
        """A finished case that breached any clock, any round, owes a 治办单 (001 §1 第十四条),
        once, when nothing of it is still running."""
        case = self.case
        if case.get("delay_investigation_at") is not None or any(
                c["state"] in clocks.ACTIVE for c in case.get("clocks", ())):
            return
        opened = sla.delay_investigation(self.case, self.at)
        if opened is not None:
            self.case["delay_investigation_at"] = self.at
            self.events.append(opened)

    def outcome(self) -> Outcome:
        sla.summarise(self.case, self.calendar, self.policy)
        self.case["version"] = self.case.get("version", 0) + 1
        return Outcome(self.case, self.events)


class ComplaintRules:
    """The complaint rules bound to a policy and a working calendar."""

    def __init__(self, policy: Policy, calendar):
        self.policy, self.calendar = policy, calendar
        self.book = sla.clock_book(policy)

    def facts(self, case: Mapping) -> dict:
        """What a clock budget's ``when`` may test."""
        return {key: case.get(key) for key in ("major", "category", "region", "kind",
                                               "channel")}

    # -- intake ----------------------------------------------------------------
    def file(self, intake: Mapping[str, Any], *, number: str, actor: Mapping) -> Outcome:
        """A new case from a validated intake (``received_at`` included).

        Decides major-ness and region, starts the clocks that start on
        ``received`` and emits ``received`` (with ``deadlines``) and, when
        major, ``major_reported`` to the policy's roles (000 §1 三.6).
        """
        parse_number(number)
        policy, errors = self.policy, {}
        for name, allowed in (("channel", policy.channels), ("kind", policy.kinds),
                              ("category", policy.categories)):
            if intake.get(name) not in allowed:
                errors[name] = [f"must be one of {', '.join(allowed)}"]
        complainant = intake.get("complainant") or {}
        region = complainant.get("region") or policy.default_region
        if region not in policy.regions:
            errors["complainant.region"] = [f"must be one of {', '.join(policy.regions)}"]
        reasons, received_at = [], None
        try:
            reasons = major_reasons(intake, policy)
        except DomainValidation as exc:
            errors.update(exc.errors)
        try:
            received_at = _moment(intake.get("received_at"), "received_at")
        except DomainValidation as exc:
            errors.update(exc.errors)
        if errors:
            raise DomainValidation(errors)
        case = {key: copy.deepcopy(value) for key, value in intake.items()
                if key not in ("actor", "request_id")}
        case.update({
            "number": number, "status": lc.RECEIVED, "round": 1, "version": 0,
            "paused_from": None, "region": region, "major": bool(reasons),
            "major_reasons": reasons, "received_at": received_at,
            "received_by": _actor(actor)["id"], "department": None, "owner_id": None,
            "valid": None, "validity_reason": None, "acknowledged_at": None,
            "next_reply_at": None, "replies": [], "plan": None, "department_feedback": [],
            "root_cause": None, "remedies": [],
            "resolution": None, "resolved_at": None, "resolve_working_hours": None,
            "followups": [], "closed_at": None, "concluded_at": None, "liability": None,
            "pauses": [], "delay_investigation_at": None, "clocks": [], "history": [],
        })
        step = _Step(self, case, received_at, actor)
        step.case["history"].append({"at": step.at, "actor": step.actor, "from": None,
                                     "to": lc.RECEIVED, "note": intake.get("channel")})
        step.fire(lc.RECEIVED)
        sla.summarise(step.case, self.calendar, policy)
        dues = {k: to_iso(v) for k, v in sla.deadlines(step.case).items()}
        step.emit("received", status=lc.RECEIVED, major=step.case["major"],
                  category=case["category"], kind=case["kind"], channel=case["channel"],
                  received_at=to_iso(received_at), deadlines=dues)
        if reasons:
            # Enough for notifications to reach, without reading the case, the
            # manager of the department complained about, the manager of whoever
            # took it, the roles the policy names and the centre leaders.
            step.emit("major_reported", reasons=reasons, received_at=to_iso(received_at),
                      department=case.get("target_department"),
                      # The event reaches inboxes and webhooks: a phone number or
                      # address the complainant wrote into the subject stays masked.
                      subject=mask_text(case.get("subject"), policy),
                      channel=case["channel"], notify_roles=list(policy.major_notify_roles),
                      received_by=step.case["received_by"])
        return step.outcome()

    def decide_validity(self, case, *, valid: bool, reason: str, at, actor,
                        reply: str | None = None) -> Outcome:
        """是否成立 (000 §6): accept, or reject (final).

        The decision alone is internal: only with ``reply`` — what the customer
        was told with it — does it count as the reply to the customer. A
        rejection without one leaves the reply clocks running until
        :meth:`acknowledge` gives the explanation (002 §2 四.5).
        """
        if not isinstance(valid, bool):
            raise DomainValidation.one("valid", "must be true or false")
        step = _Step(self, case, at, actor)
        reason = _text(reason, "reason")
        if reply is not None:
            reply = _text(reply, "reply")
        step.case.update(valid=valid, validity_reason=reason)
        step.move(lc.ACCEPTED if valid else lc.REJECTED, reason)
        if reply is not None:
            # One step: the decision's history entry stands for both; the
            # reply itself is kept with the others in ``replies``.
            step.reply(reply)
        if not valid:
            step.finish_case(reply_owed=reply is None)
            step.open_delay_investigation()
        return step.outcome()

    def acknowledge(self, case, *, at, actor, next_reply_at=None,
                    reply: str | None = None) -> Outcome:
        """A reply to the customer, and the next reply time agreed when the complaint
        cannot be settled at once (000 §1 三.3): meets ``acknowledge`` and the
        last promise, and starts the new one's clock.

        A rejected complaint still takes its reply — the tactful explanation —
        but no next reply time: the explanation is the last word.
        """
        step = _Step(self, case, at, actor)
        rejected = step.status == lc.REJECTED
        if step.status in lc.FINAL and not rejected:
            raise DomainConflict(f"the complaint is {step.status}")
        if reply is not None:
            reply = _text(reply, "reply")
        if next_reply_at is not None:
            if rejected:
                raise DomainValidation.one("next_reply_at",
                                           "a rejected complaint has no next reply")
            next_reply_at = _moment(next_reply_at, "next_reply_at")
            if next_reply_at < step.at:
                raise DomainValidation.one("next_reply_at", "must not be in the past")
        step.record(step.status, "acknowledged")
        step.reply(reply, next_reply_at)
        if rejected:
            step.open_delay_investigation()
        return step.outcome()

    # -- handling -------------------------------------------------------------------
    def assign(self, case, *, department: str, owner_id: str, at, actor) -> Outcome:
        """Hand the case to a department and owner; from a department, re-assign it."""
        step = _Step(self, case, at, actor)
        department, owner_id = _text(department, "department"), _text(owner_id, "owner_id")
        note = f"{department}/{owner_id}"
        if step.status in lc.REASSIGNABLE:
            step.case.update(department=department, owner_id=owner_id)
            step.record(step.status, f"reassigned to {note}")
            step.emit("assigned", department=department, owner_id=owner_id,
                      at=to_iso(step.at), round=step.case["round"], reassigned=True)
            return step.outcome()
        lc.check_transition(step.status, lc.ASSIGNED,
                            resolve_requires_report=self.policy.resolve_requires_report)
        step.case.update(department=department, owner_id=owner_id)
        step.move(lc.ASSIGNED, note)
        step.emit("assigned", department=department, owner_id=owner_id,
                  at=to_iso(step.at), round=step.case["round"], reassigned=False)
        return step.outcome()

    def give_feedback(self, case, *, feedback: str, at, actor) -> Outcome:
        """The responsible department's feedback to customer service on its
        handling (003 §4 3.4.2.2); the first of the round meets ``feedback``."""
        step = _Step(self, case, at, actor)
        text = _text(feedback, "feedback")
        if step.status not in lc.REASSIGNABLE:
            raise DomainConflict("feedback comes from the department handling the complaint"
                                 f", not while it is {step.status}")
        step.case.setdefault("department_feedback", []).append({
            "at": step.at, "by": step.actor["id"], "department": step.case.get("department"),
            "round": step.case["round"], "feedback": text})
        step.record(step.status, "department feedback")
        step.fire("fed_back")
        return step.outcome()

    def agree_plan(self, case, *, plan: str, at, actor) -> Outcome:
        """Responsibility and plan agreed with the customer (000 §6 第六条.1)."""
        step = _Step(self, case, at, actor)
        step.case["plan"] = _text(plan, "plan")
        step.move(lc.PLANNED)
        return step.outcome()

    def submit_report(self, case, *, root_cause: str, at, actor) -> Outcome:
        """Investigation report to the GM (000 §6 第六条.2)."""
        step = _Step(self, case, at, actor)
        step.case["root_cause"] = _text(root_cause, "root_cause")
        step.move(lc.INVESTIGATED)
        return step.outcome()

    def propose_remedy(self, case, *, remedy: str, amount_yuan: int, at, actor) -> Outcome:
        """Propose (or revise) a remedy; records the role its amount needs."""
        step = _Step(self, case, at, actor)
        text = _text(remedy, "remedy")
        needed = required_role(amount_yuan, self.policy)
        for earlier in step.case["remedies"]:
            if earlier["round"] == step.case["round"] and earlier["state"] != "superseded":
                earlier["state"] = "superseded"
        step.case["remedies"].append({
            "round": step.case["round"], "remedy": text, "amount_yuan": amount_yuan,
            "required_role": needed, "state": "proposed", "proposed_at": step.at,
            "proposed_by": step.actor["id"], "approved_at": None, "approved_by": None,
            "approver_role": None})
        step.move(lc.REMEDY_PROPOSED, f"{amount_yuan} yuan")
        return step.outcome()

    def approve_remedy(self, case, *, at, actor) -> Outcome:
        """Approve the proposed remedy; ``DomainPermission`` below the amount's authority."""
        step = _Step(self, case, at, actor)
        lc.check_transition(step.status, lc.REMEDY_APPROVED,
                            resolve_requires_report=self.policy.resolve_requires_report)
        current = step.case["remedies"][-1]
        check_approval(step.actor["role"], current["amount_yuan"], self.policy)
        current.update(state="approved", approved_at=step.at,
                       approved_by=step.actor["id"], approver_role=step.actor["role"])
        step.move(lc.REMEDY_APPROVED, f"{current['amount_yuan']} yuan")
        return step.outcome()

    def resolve(self, case, *, resolution: str, at, actor) -> Outcome:
        """Resolved; clocks still owed before resolution are waived, follow-up starts."""
        step = _Step(self, case, at, actor)
        step.case["resolution"] = _text(resolution, "resolution")
        step.case["resolved_at"] = step.at
        step.move(lc.RESOLVED)
        # Kept on the case so the monthly statistics only average in MongoDB.
        step.case["resolve_working_hours"] = stats.working_hours_to_resolve(
            step.case, self.calendar)
        starts_now = {n for n, p in self.policy.clocks.items() if lc.RESOLVED in p.starts_on}
        step.waive(c for c in sla.current_clocks(step.case)
                   if c["name"] not in starts_now and c["state"] in clocks.ACTIVE)
        step.emit("resolved", at=to_iso(step.at), round=step.case["round"],
                  resolution=step.case["resolution"])
        return step.outcome()

    def follow_up(self, case, *, satisfied: bool, at, actor, note: str | None = None) -> Outcome:
        """回访: satisfied closes the case; not satisfied reopens it as round + 1."""
        if not isinstance(satisfied, bool):
            raise DomainValidation.one("satisfied", "must be true or false")
        step = _Step(self, case, at, actor)
        if step.status != lc.RESOLVED:
            raise DomainConflict(f"a follow-up needs a resolved complaint, not {step.status}")
        step.case["followups"].append({"at": step.at, "round": step.case["round"],
                                       "satisfied": satisfied, "note": note,
                                       "actor_id": step.actor["id"]})
        step.fire("followed_up")
        if satisfied:
            step.case["closed_at"] = step.at
            step.move(lc.CLOSED, note)
            step.finish_case()
            step.emit("closed", at=to_iso(step.at), round=step.case["round"])
            step.open_delay_investigation()
        else:
            step.case["round"] += 1
            step.move(lc.REOPENED, note)
            step.emit("reopened", at=to_iso(step.at), round=step.case["round"])
        return step.outcome()

    def pause(self, case, *, reason: str, at, actor) -> Outcome:
        """Stop every running clock (waiting for the customer or a third party)."""
        step = _Step(self, case, at, actor)
        reason = _text(reason, "reason")
        lc.check_transition(step.status, lc.PAUSED,
                            resolve_requires_report=self.policy.resolve_requires_report)
        # Settle what fell due before the pause, so banked time and flags agree.
        evaluation = sla.evaluate(step.case, step.at, self.calendar, self.policy)
        sla.apply_actions(step.case, evaluation.actions, self.calendar, self.policy)
        step.emit_actions(evaluation.actions)
        step.case["paused_from"] = step.status
        step.move(lc.PAUSED, reason)
        for clock in step.case["clocks"]:
            clocks.pause_clock(clock, step.at, self.calendar)
        step.case["pauses"].append({"from": step.at, "to": None, "reason": reason,
                                    "status": step.case["paused_from"]})
        return step.outcome()

    def resume(self, case, *, at, actor) -> Outcome:
        """Back to the status paused from; clocks resume with their remaining budget."""
        step = _Step(self, case, at, actor)
        if step.status != lc.PAUSED:
            raise DomainConflict(f"the complaint is not paused but {step.status}")
        back = step.case["paused_from"]
        step.record(back, "resumed")
        step.emit("status_changed", **{"from": lc.PAUSED, "to": back, "at": to_iso(step.at),
                                       "round": step.case["round"],
                                       "actor_id": step.actor["id"]})
        step.case.update(status=back, paused_from=None)
        for clock in step.case["clocks"]:
            clocks.resume_clock(clock, step.at, self.calendar)
        step.case["pauses"][-1]["to"] = step.at
        return step.outcome()

    def determine_liability(self, case, *, department: str, employee_ids, at, actor,
                            fine_yuan: int | None = None, attitude: str | None = None,
                            party: str | None = None) -> Outcome:
        """职责归属 (001 §1 (六)): once per case; corrections go through penalties appeals."""
        step = _Step(self, case, at, actor)
        policy, errors = self.policy, {}
        party = party or policy.liability_parties[0]
        if party not in policy.liability_parties:
            errors["party"] = [f"must be one of {', '.join(policy.liability_parties)}"]
        if not isinstance(employee_ids, (list, tuple)) or not all(
                isinstance(e, str) and e for e in employee_ids):
            errors["employee_ids"] = ["expected a list of employee ids"]
            employee_ids = []
        penalised = party in policy.penalised_parties
        if employee_ids and not penalised:
            errors["employee_ids"] = [f"{party} liability names no employees"]
        if fine_yuan is not None:
            if isinstance(fine_yuan, bool) or not isinstance(fine_yuan, int) or not (
                    policy.fine_min_yuan <= fine_yuan <= policy.fine_max_yuan):
                errors["fine_yuan"] = [f"must be {policy.fine_min_yuan}-"
                                       f"{policy.fine_max_yuan} yuan"]
            elif not employee_ids:
                errors["fine_yuan"] = ["a fine needs at least one responsible employee"]
        if attitude is not None and attitude not in policy.attitudes:
            errors["attitude"] = [f"must be one of {', '.join(policy.attitudes)}"]
        try:
            department = _text(department, "department")
        except DomainValidation as exc:
            errors.update(exc.errors)
        if errors:
            raise DomainValidation(errors)
        if step.status not in lc.LIABILITY_OPEN:
            raise DomainConflict(f"liability is fixed from planning on, not in {step.status}")
        if step.case.get("liability") is not None:
            raise DomainConflict("liability is already determined for this complaint")
        step.case["liability"] = {
            "party": party, "department": department, "employee_ids": list(employee_ids),
            "fine_yuan": fine_yuan, "attitude": attitude, "at": step.at,
            "by": step.actor["id"]}
        step.record(step.status, f"liability: {party} {department}")
        step.emit("liability_determined", party=party, department=department,
                  employee_ids=list(employee_ids), fine_yuan=fine_yuan, attitude=attitude,
                  at=to_iso(step.at))
        return step.outcome()

    # -- timers -----------------------------------------------------------------
    def sweep(self, case, *, now) -> Outcome:
        """Warnings, breaches, reminders and escalations due at ``now``.

        Idempotent: sweeping the outcome again at the same or a later ``now``
        emits nothing twice. The outcome's ``version`` only moves when
        something was emitted, so a sweep racing a command loses cleanly.
        """
        now = _moment(now, "now")
        evaluation = sla.evaluate(case, now, self.calendar, self.policy)
        updated = copy.deepcopy(dict(case))
        sla.apply_actions(updated, evaluation.actions, self.calendar, self.policy)
        if evaluation.actions:
            updated["version"] = updated.get("version", 0) + 1
        return Outcome(updated, [sla.event(a, updated) for a in evaluation.actions])
