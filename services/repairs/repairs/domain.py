"""Work orders (维修单 / 特约服务工作单): the state machine, clocks and charges.

Pure: every decision takes the order as a dict and returns an :class:`Outcome`
— the new version of the order and the events it implies — and touches no
database, broker or clock of its own. The application layer stores the order
and emits the events in one unit of work.

Lifecycle (001 §11 3.1–3.8, 002 §4 4.9–4.10)::

    received → dispatched → on_site → quoted → consented → completed → closed
                   ↑            └──(free kinds, e.g. warranty)──┘      │
                   └──────────────── reopened ←── callback not satisfied

``quoted → declined`` when the customer refuses the charge (3.4: no consent,
no work). Payment is a sub-state of a completed order: released to finance at
once (``order_paid``), or held for the audit department when it exceeds the
audit threshold (003 §1 2.7).
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from zhidu import clocks as clk
from zhidu.domain import DomainConflict, DomainValidation, Problems
from zhidu.times import as_utc, to_iso

from .policy import Policy

OPEN = ("received", "dispatched", "on_site", "quoted", "consented", "reopened")
FINAL = ("closed", "declined")
STATUSES = (*OPEN, "completed", *FINAL)
BEFORE_ARRIVAL = ("received", "dispatched")
WORKING = ("dispatched", "on_site", "quoted", "consented")
DEPARTMENT = "engineering"


@dataclass
class Outcome:
    order: dict
    events: list[dict] = field(default_factory=list)

    def emit(self, event_type: str, **data) -> None:
        self.events.append({"type": event_type, "data": data})


class RepairRules:
    """The repairs domain, on a policy and the working calendar."""

    def __init__(self, policy: Policy, calendar):
        self.policy, self.calendar = policy, calendar

    # -- intake (002 §4 4.9: the desk fills in the work order) ---------------------
    def take(self, data: Mapping[str, Any], *, number: str, actor: dict) -> Outcome:
        problems = Problems()
        for name, allowed in (("kind", self.policy.kinds), ("urgency", self.policy.urgencies),
                              ("channel", self.policy.channels)):
            if data[name] not in allowed:
                problems.add(name, f"must be one of {', '.join(allowed)}")
        unknown = [t for t in data["trades"] if t not in self.policy.trades]
        if unknown:
            problems.add("trades", f"unknown {unknown}; known: {', '.join(self.policy.trades)}")
        problems.raise_if_any()
        at = clk.stored(data["received_at"])
        order = {
            "number": number, "version": 0, "round": 1, "status": "received",
            "kind": data["kind"], "urgency": data["urgency"], "channel": data["channel"],
            "household": dict(data["household"]), "location": data["location"],
            "trades": list(dict.fromkeys(data["trades"])), "description": data["description"],
            "department": DEPARTMENT, "received_at": at, "received_by": actor["id"],
            "engineer_id": None, "dispatched_by": None, "appointment_at": None,
            "survey": None, "quote": None, "consent": None, "charge": None,
            "payment": {"status": "none"}, "calls": [], "extensions": [], "callbacks": [],
            "reopens": 0, "complaint": None, "clocks": [], "history": [],
            "first_completed_at": None, "completed_at": None, "closed_at": None,
        }
        out = Outcome(order)
        self._history(order, None, "received", at, actor)
        self._moment(out, "received", at)
        out.emit("received", **self._brief(order), received_at=to_iso(at),
                 received_by=actor["id"], department=order["department"])
        return self._done(out)

    # -- dispatch (001 §11 3.3: the engineering supervisor, by trade) -----------------
    def dispatch(self, order: dict, *, at: datetime, actor: dict, engineer_id: str,
                 trade: str | None = None) -> Outcome:
        self._require(order, ("received", "reopened", "dispatched"), "dispatch")
        if trade is not None and trade not in order["trades"]:
            raise DomainValidation.one("trade", f"not a trade of this order: "
                                                f"{', '.join(order['trades'])}")
        out = self._begin(order)
        order = out.order
        at = clk.stored(at)
        previous = order["engineer_id"]
        reassigned = previous if order["status"] == "dispatched" and previous != engineer_id \
            else None
        order.update(engineer_id=engineer_id, dispatched_by=actor["id"],
                     trade=trade or order.get("trade") or order["trades"][0])
        for clock in order["clocks"]:
            if clock["state"] in clk.ACTIVE and clock["owner"] in (None, previous) \
                    and clock["name"] != "callback":
                clock["owner"] = engineer_id
        if order["status"] != "dispatched":
            self._move(out, "dispatched", at, actor)
            self._moment(out, "dispatched", at)
        out.emit("dispatched", **self._brief(order), trade=order["trade"], at=to_iso(at),
                 reassigned_from=reassigned)
        return self._done(out)

    # -- appointments (001 §11 3.2) -------------------------------------------------------
    def set_appointment(self, order: dict, *, at: datetime, actor: dict,
                        appointment_at: datetime, customer_agreed: bool = False) -> Outcome:
        self._require(order, BEFORE_ARRIVAL, "set_appointment")
        out = self._begin(order)
        order = out.order
        at, appointment_at = clk.stored(at), clk.stored(appointment_at)
        current = clk.find_clock(order["clocks"], "appointment", order["round"], active=True)
        if current is not None:
            if not customer_agreed:
                raise DomainConflict("an appointment is moved only with the customer's "
                                     "agreement (001 §11 3.2): send customer_agreed: true")
            self._finished(out, clk.finish_clock(current, at, self.calendar, met=False))
        clock = clk.start_clock(self.policy.clocks["appointment"], order["round"],
                                appointment_at, self.calendar, owner=order["engineer_id"])
        order["clocks"].append(clock)
        order["appointment_at"] = appointment_at
        self._history(order, order["status"], order["status"], at, actor,
                      note=f"appointment {to_iso(appointment_at)}"
                           + (" (moved with the customer's agreement)" if current else ""))
        out.emit("appointment_set", **self._brief(order), appointment_at=to_iso(appointment_at),
                 moved=current is not None, at=to_iso(at), **self._customer(order))
        return self._done(out)

    # -- the desk's call when the engineer is late (002 §4 4.9) ---------------------------
    def record_call(self, order: dict, *, at: datetime, actor: dict, finish_by: datetime,
                    note: str) -> Outcome:
        self._require(order, WORKING, "record_call")
        at, finish_by = clk.stored(at), clk.stored(finish_by)
        if finish_by <= at:
            raise DomainValidation.one("finish_by", "must be after the call")
        out = self._begin(order)
        order = out.order
        order["calls"].append({"at": at, "by": actor["id"], "finish_by": finish_by,
                               "note": note, "round": order["round"]})
        self._moment(out, "customer_called", at)
        promise = clk.find_clock(order["clocks"], "promise", order["round"], active=True)
        if promise is not None:
            self._finished(out, clk.finish_clock(promise, at, self.calendar, met=False))
        order["clocks"].append(clk.start_clock(self.policy.clocks["promise"], order["round"],
                                               at, self.calendar, due=finish_by,
                                               owner=order["engineer_id"]))
        self._history(order, order["status"], order["status"], at, actor,
                      note=f"customer called: finish by {to_iso(finish_by)}")
        out.emit("customer_called", **self._brief(order), at=to_iso(at),
                 finish_by=to_iso(finish_by), by=actor["id"])
        return self._done(out)

    # -- on site ---------------------------------------------------------------------------
    def record_arrival(self, order: dict, *, at: datetime, actor: dict) -> Outcome:
        self._require(order, ("dispatched",), "record_arrival")
        out = self._begin(order)
        self._move(out, "on_site", at, actor)
        self._moment(out, "arrived", at)
        return self._done(out)

    def record_survey(self, order: dict, *, at: datetime, actor: dict, attendees: dict,
                      responsible_party: str, trades: list[str], estimate_yuan: int) -> Outcome:
        """The joint survey of a warranty repair (003 §4 3.4.5, 《现场勘察会签表》)."""
        if order["kind"] != "warranty":
            raise DomainConflict("only warranty repairs have a joint survey (003 §4 3.4.5)")
        self._require(order, ("received", "dispatched", "on_site"), "record_survey")
        if order["survey"] is not None:
            raise DomainConflict(f"repair {order['number']} was already surveyed")
        problems = Problems()
        for role in ("customer_service", "engineering", "repair_team_leader"):
            if not attendees.get(role):
                problems.add(f"attendees.{role}", "must attend the joint survey")
        if estimate_yuan >= self.policy.contractor_exempt_below_yuan \
                and not attendees.get("contractor"):
            problems.add("attendees.contractor",
                         f"must attend from {self.policy.contractor_exempt_below_yuan} yuan "
                         "(003 §4 3.4.5)")
        unknown = [t for t in trades if t not in self.policy.trades]
        if unknown:
            problems.add("trades", f"unknown {unknown}")
        problems.raise_if_any()
        out = self._begin(order)
        order = out.order
        at = clk.stored(at)
        if trades:
            order["trades"] = list(dict.fromkeys(trades))
        order["survey"] = {"at": at, "by": actor["id"], "attendees": dict(attendees),
                           "responsible_party": responsible_party,
                           "estimate_yuan": estimate_yuan}
        self._history(order, order["status"], order["status"], at, actor, note="surveyed")
        self._moment(out, "surveyed", at)
        return self._done(out)

    # -- charges agreed before work (001 §11 3.4, 3.6) -------------------------------------
    def price(self, items: list[dict]) -> tuple[list[dict], int]:
        """Tariff lines and their total (integer yuan)."""
        lines, problems = [], Problems()
        for i, item in enumerate(items):
            entry = self.policy.tariff.get(item["code"])
            if entry is None:
                problems.add(f"items.{i}.code", f"not in the tariff: {item['code']}")
                continue
            lines.append({"code": entry.code, "title_zh": entry.title_zh, "unit": entry.unit,
                          "quantity": item.get("quantity", 1), "unit_yuan": entry.yuan,
                          "yuan": entry.yuan * item.get("quantity", 1)})
        problems.raise_if_any()
        return lines, sum(line["yuan"] for line in lines)

    def quote(self, order: dict, *, at: datetime, actor: dict, items: list[dict]) -> Outcome:
        self._require(order, ("on_site", "quoted"), "quote")
        if order["kind"] in self.policy.free_kinds:
            raise DomainConflict(f"{order['kind']} repairs are not charged to the customer")
        lines, total = self.price(items)
        out = self._begin(order)
        at = clk.stored(at)
        out.order["quote"] = {"at": at, "by": actor["id"], "items": lines, "amount_yuan": total}
        out.order["consent"] = None
        if out.order["status"] != "quoted":
            self._move(out, "quoted", at, actor)
        self._moment(out, "quoted", at)
        out.emit("charge_quoted", **self._brief(out.order), amount_yuan=total, at=to_iso(at))
        return self._done(out)

    def record_consent(self, order: dict, *, at: datetime, actor: dict, consented: bool,
                       note: str | None = None) -> Outcome:
        self._require(order, ("quoted",), "record_consent")
        out = self._begin(order)
        order = out.order
        at = clk.stored(at)
        order["consent"] = {"at": at, "recorded_by": actor["id"], "consented": consented,
                            "amount_yuan": order["quote"]["amount_yuan"], "note": note}
        if consented:
            self._move(out, "consented", at, actor)
            self._moment(out, "consented", at)
        else:
            self._move(out, "declined", at, actor, note=note or "charge declined")
            self._stop_all(out, at)
        return self._done(out)

    def extend(self, order: dict, *, at: datetime, actor: dict, until: datetime,
               consent_note: str, clock: str = "completion") -> Outcome:
        """A longer time, with the customer's consent given in advance (003 §4 3.4.5)."""
        self._require(order, OPEN, "extend")
        out = self._begin(order)
        order = out.order
        at, until = clk.stored(at), clk.stored(until)
        running = clk.find_clock(order["clocks"], clock, order["round"], active=True)
        if running is None:
            raise DomainConflict(f"no {clock} clock is running on {order['number']}")
        # Anything that fell due before the consent stays due.
        self._apply(out, clk.evaluate([running], at, self.calendar).actions)
        try:
            clk.extend_clock(running, until, self.calendar)
        except ValueError as exc:
            raise DomainConflict(f"{exc}: the customer's consent must come before the "
                                 "deadline (003 §4 3.4.5)") from None
        order["extensions"].append({"clock": clock, "until": until, "at": at,
                                    "by": actor["id"], "consent": consent_note})
        self._history(order, order["status"], order["status"], at, actor,
                      note=f"{clock} extended to {to_iso(until)} with the customer's consent")
        return self._done(out)

    # -- completion and sign-off (001 §11 3.6–3.7) ----------------------------------------
    def complete(self, order: dict, *, at: datetime, actor: dict, items: list[dict],
                 signed_off_by: str, report: str) -> Outcome:
        free = order["kind"] in self.policy.free_kinds
        self._require(order, ("on_site", "consented") if free else ("consented",), "complete")
        lines, total = self.price(items)
        if not free and total > order["consent"]["amount_yuan"]:
            raise DomainConflict(
                f"the final charge {total} exceeds the {order['consent']['amount_yuan']} "
                "yuan the customer agreed to: quote again and record consent (001 §11 3.4)")
        out = self._begin(order)
        order = out.order
        at = clk.stored(at)
        payer = "company" if free else "customer"
        order["charge"] = {"items": lines, "amount_yuan": total, "payer": payer,
                           "signed_off_by": signed_off_by, "report": report,
                           "engineer_id": actor["id"], "at": at}
        order["completed_at"] = at
        order["first_completed_at"] = order["first_completed_at"] or at
        self._move(out, "completed", at, actor)
        self._moment(out, "completed", at)
        out.emit("completed", **self._brief(order), amount_yuan=total, payer=payer,
                 at=to_iso(at), **self._customer(order))
        if total > 0:
            if total > self.policy.audit_above_yuan:
                order["payment"] = {"status": "awaiting_audit", "amount_yuan": total}
                out.emit("audit_requested", **self._brief(order), amount_yuan=total,
                         at=to_iso(at))
            else:
                self._release(out, at, audited_by=None)
        return self._done(out)

    def decide_audit(self, order: dict, *, at: datetime, actor: dict, approved: bool,
                     note: str | None = None) -> Outcome:
        """The audit department's check of a large repair (003 §1 2.7)."""
        if order["payment"]["status"] != "awaiting_audit":
            raise DomainConflict(f"repair {order['number']} is not awaiting audit")
        out = self._begin(order)
        at = clk.stored(at)
        if approved:
            self._release(out, at, audited_by=actor["id"])
        else:
            out.order["payment"] = {**out.order["payment"], "status": "rejected",
                                    "audited_by": actor["id"], "audited_at": at, "note": note}
        self._history(out.order, out.order["status"], out.order["status"], at, actor,
                      note=f"audit {'approved' if approved else 'rejected'}"
                           + (f": {note}" if note else ""))
        return self._done(out)

    def _release(self, out: Outcome, at: datetime, audited_by: str | None) -> None:
        order = out.order
        charge = order["charge"]
        order["payment"] = {"status": "released", "amount_yuan": charge["amount_yuan"],
                            "released_at": at, "audited_by": audited_by}
        out.emit("order_paid", number=order["number"], kind=order["kind"],
                 round=order["round"], amount_yuan=charge["amount_yuan"],
                 payer=charge["payer"], items=charge["items"],
                 household=order["household"], engineer_id=order["engineer_id"],
                 trade=order.get("trade"), signed_off_by=charge["signed_off_by"],
                 audited_by=audited_by, at=to_iso(at))

    # -- callback (002 §2 五.2, 002 §4 4.10) ----------------------------------------------
    def call_back(self, order: dict, *, at: datetime, actor: dict, satisfied: bool,
                  note: str | None = None) -> Outcome:
        self._require(order, ("completed",), "call_back")
        out = self._begin(order)
        order = out.order
        at = clk.stored(at)
        order["callbacks"].append({"at": at, "by": actor["id"], "satisfied": satisfied,
                                   "note": note, "round": order["round"]})
        self._moment(out, "called_back", at)
        out.emit("called_back", **self._brief(order), satisfied=satisfied, at=to_iso(at),
                 **self._customer(order))
        if satisfied:
            order["closed_at"] = at
            self._move(out, "closed", at, actor)
            out.emit("closed", number=order["number"], round=order["round"], at=to_iso(at))
            return self._done(out)
        order["reopens"] += 1
        order["round"] += 1
        order.update(quote=None, consent=None, appointment_at=None)
        self._move(out, "reopened", at, actor, note=note)
        self._moment(out, "reopened", at)
        out.emit("reopened", number=order["number"], round=order["round"], at=to_iso(at),
                 reopens=order["reopens"])
        reason = self._complaint_reason(order)
        if reason:
            self._to_complaint(out, at, reason, actor["id"], note)
        return self._done(out)

    def _complaint_reason(self, order: dict) -> str | None:
        if order["reopens"] >= self.policy.complaint_after_reopens:
            return "reopened"
        if self.policy.complaint_after_breach and any(c["breached"] for c in order["clocks"]):
            return "reopened_after_breach"
        return None

    # -- into a complaint (joins complaints by event only) ----------------------------------
    def escalate_to_complaint(self, order: dict, *, at: datetime, actor: dict,
                              note: str) -> Outcome:
        if order["status"] in FINAL:
            raise DomainConflict(f"repair {order['number']} is {order['status']}")
        if order["complaint"] is not None:
            raise DomainConflict(f"repair {order['number']} was already escalated to a "
                                 "complaint")
        out = self._begin(order)
        self._to_complaint(out, clk.stored(at), "customer_request", actor["id"], note)
        return self._done(out)

    def _to_complaint(self, out: Outcome, at: datetime, reason: str, by: str,
                      note: str | None) -> None:
        order = out.order
        if order["complaint"] is not None:
            return
        order["complaint"] = {"at": at, "reason": reason, "by": by}
        breached = sorted({c["name"] for c in order["clocks"] if c["breached"]})
        household = order["household"]
        out.emit(
            "escalated_to_complaint", number=order["number"], round=order["round"],
            reason=reason, at=to_iso(at), note=note, breached_clocks=breached,
            reopens=order["reopens"],
            complaint={
                "channel": order["channel"] if order["channel"] in (
                    "phone", "onsite", "written", "online") else "phone",
                "kind": "external", "category": "service",
                "complainant": {k: household.get(k) for k in ("name", "phone")
                                if household.get(k)},
                "subject": f"报修 {order['number']} 未解决",
                "description": order["description"],
                "received_at": to_iso(at), "target_department": order["department"],
                "target_employee_id": order["engineer_id"],
            })
        self._history(order, order["status"], order["status"], at, {"id": by},
                      note=f"escalated to a complaint: {reason}")

    # -- sweep -------------------------------------------------------------------------------
    def sweep(self, order: dict, *, now: datetime) -> Outcome:
        """Warnings, breaches, reminders and escalations falling due by ``now``."""
        out = self._begin(order)
        found = clk.evaluate(self._current(out.order), now, self.calendar).actions
        if not found:
            out.order["next_check_at"] = clk.next_check(self._current(out.order),
                                                        self.calendar)
            return out
        self._apply(out, found)
        level = max((c["escalation_level"] for c in self._current(out.order)), default=0)
        if level >= self.policy.complaint_escalation_level and out.order["status"] in OPEN:
            self._to_complaint(out, clk.stored(now), "unresolved", "system", None)
        return self._done(out)

    # -- monthly statistics (001 §11 3.8) -----------------------------------------------------
    def stats(self, orders: list[dict]) -> dict:
        """零修及时率 and 合格率 per trade and per engineer for completed orders."""
        def blank():
            return {"completed": 0, "timely": 0, "called_back": 0, "passed": 0}
        by_trade: dict[str, dict] = {}
        by_engineer: dict[str, dict] = {}
        total = blank()
        for order in orders:
            timely = not any(c["breached"] for c in order["clocks"]
                             if c["name"] in self.policy.timely_clocks)
            first = next(iter(order["callbacks"]), None)
            for row in (total, by_trade.setdefault(order.get("trade") or "-", blank()),
                        by_engineer.setdefault(order.get("engineer_id") or "-", blank())):
                row["completed"] += 1
                row["timely"] += timely
                if first is not None:
                    row["called_back"] += 1
                    row["passed"] += bool(first["satisfied"])

        def rates(row):
            return {**row,
                    "timely_rate": round(row["timely"] / row["completed"], 4)
                    if row["completed"] else None,
                    "pass_rate": round(row["passed"] / row["called_back"], 4)
                    if row["called_back"] else None}
        return {"total": rates(total),
                "by_trade": {k: rates(v) for k, v in sorted(by_trade.items())},
                "by_engineer": {k: rates(v) for k, v in sorted(by_engineer.items())}}

    # -- helpers --------------------------------------------------------------------------------
    def _require(self, order: dict, allowed, command: str) -> None:
        if order["status"] not in allowed:
            raise DomainConflict(f"{command}: repair {order['number']} is {order['status']}, "
                                 f"not {' or '.join(allowed)}")

    @staticmethod
    def _begin(order: dict) -> Outcome:
        return Outcome(copy.deepcopy(order))

    def _done(self, out: Outcome) -> Outcome:
        order = out.order
        order["next_check_at"] = clk.next_check(self._current(order), self.calendar)
        order["breached"] = any(c["breached"] for c in order["clocks"])
        order["escalation_level"] = max(
            (c["escalation_level"] for c in self._current(order)), default=0)
        order["version"] += 1
        return out

    @staticmethod
    def _current(order: dict) -> list[dict]:
        return [c for c in order["clocks"] if c["state"] in clk.ACTIVE]

    def _facts(self, order: dict) -> dict:
        return {"kind": order["kind"], "urgency": order["urgency"],
                "channel": order["channel"], "multi_trade": len(order["trades"]) > 1}

    def _moment(self, out: Outcome, moment: str, at: datetime) -> None:
        order = out.order
        owner = order["received_by"] if moment == "completed" else order["engineer_id"]
        late = clk.on_moment(order["clocks"], self.policy.clocks, moment, as_utc(at),
                             order["round"], self.calendar, facts=self._facts(order),
                             department=order["department"], owner=owner)
        self._finished(out, late)

    def _finished(self, out: Outcome, late: list[clk.Action]) -> None:
        for action in late:
            self._emit_action(out, action)

    def _apply(self, out: Outcome, actions) -> None:
        clk.apply_actions(out.order["clocks"], actions)
        for action in actions:
            self._emit_action(out, action)

    def _emit_action(self, out: Outcome, action: clk.Action) -> None:
        order = out.order
        data = {"number": order["number"], **action.data(), "department": order["department"],
                "trade": order.get("trade")}
        kind = {"warning": "sla_warning", "breach": "sla_breached",
                "reminder": "reminder_issued", "escalation": "escalated"}[action.kind]
        if kind in ("sla_warning", "sla_breached"):
            data["owner_id"] = action.owner
        out.emit(kind, **data)
        code = self.policy.violation_of(action.clock)
        if action.kind == "breach" and code and action.owner:
            out.emit("violation_recorded", violation_id=f"{order['number']}:{action.clock}:"
                     f"{action.round}:{int(action.due.timestamp())}",
                     incident_id=f"{order['number']}:{action.clock}:{action.round}",
                     employee_id=action.owner, code=code, domain="repairs",
                     at=to_iso(action.at), number=order["number"], clock=action.clock)

    def _stop_all(self, out: Outcome, at: datetime) -> None:
        for clock in self._current(out.order):
            self._finished(out, clk.finish_clock(clock, at, self.calendar, met=False))

    def _move(self, out: Outcome, to: str, at: datetime, actor: dict,
              note: str | None = None) -> None:
        order = out.order
        before = order["status"]
        order["status"] = to
        self._history(order, before, to, clk.stored(at), actor, note)
        out.emit("status_changed", number=order["number"], round=order["round"],
                 **{"from": before}, to=to, at=to_iso(clk.stored(at)))

    @staticmethod
    def _history(order: dict, before, to, at, actor: dict, note: str | None = None) -> None:
        order["history"].append({"from": before, "to": to, "at": at, "by": actor.get("id"),
                                 "note": note})

    @staticmethod
    def _customer(order: dict) -> dict:
        """Who to text about a visit, a charge or a callback: only those events carry it."""
        household = order["household"]
        return {"customer_name": household.get("name"), "customer_phone": household.get("phone")}

    @staticmethod
    def _brief(order: dict) -> dict:
        return {"number": order["number"], "round": order["round"], "kind": order["kind"],
                "urgency": order["urgency"], "trades": order["trades"],
                "location": order["location"], "engineer_id": order["engineer_id"]}
