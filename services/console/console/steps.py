"""Which lifecycle steps of a complaint the console offers a person.

The complaints service decides (its permissions file and its state machine,
rules §2 and §8); this table only keeps the console from offering a button
that can never work for this person in this state. A step it offers and the
service still refuses shows the service's reason. Fields are the form
inputs each step asks for, in the order shown.
"""
from __future__ import annotations

from dataclasses import dataclass

from .duties import load_duties

PAUSABLE = ("received", "accepted", "assigned", "planned", "investigated", "remedy_proposed",
            "remedy_approved", "reopened")
REASSIGNABLE = ("assigned", "planned", "investigated", "remedy_proposed", "remedy_approved")
LIABILITY_OPEN = ("planned", "investigated", "remedy_proposed", "remedy_approved", "resolved",
                  "reopened", "closed", "paused")
HANDLERS = ("dept_manager", "deputy_gm", "gm")


@dataclass(frozen=True)
class Step:
    name: str
    statuses: tuple[str, ...]
    fields: tuple[str, ...]
    roles: tuple[str, ...] = ()
    desk: bool = False
    owner: bool = False


STEPS = (
    Step("decide_validity", ("received",), ("valid", "reason"), HANDLERS + ("gm_office",),
         desk=True),
    Step("acknowledge", ("received", "accepted", "assigned", "planned", "investigated",
                         "remedy_proposed", "remedy_approved", "reopened"),
         ("next_reply_at",), HANDLERS, desk=True, owner=True),
    Step("assign", ("accepted", "reopened") + REASSIGNABLE, ("department", "owner_id"),
         HANDLERS + ("gm_office",), desk=True),
    # The department's report back to the desk, which meets its 3-working-day
    # clock (003 §4 3.4.2.2): the case's owner, the desk and the managers.
    Step("give_feedback", REASSIGNABLE, ("feedback",), HANDLERS, desk=True, owner=True),
    Step("agree_plan", ("assigned",), ("plan",), HANDLERS, desk=True, owner=True),
    Step("submit_report", ("planned",), ("root_cause",), HANDLERS, desk=True, owner=True),
    Step("propose_remedy", ("investigated", "remedy_proposed", "remedy_approved"),
         ("remedy", "amount_yuan"), HANDLERS, desk=True, owner=True),
    Step("approve_remedy", ("remedy_proposed",), (), HANDLERS),
    Step("resolve", ("investigated", "remedy_approved"), ("resolution",), HANDLERS,
         desk=True, owner=True),
    Step("follow_up", ("resolved",), ("satisfied", "note"), HANDLERS, desk=True),
    Step("pause", PAUSABLE, ("reason",), HANDLERS, desk=True, owner=True),
    Step("resume", ("paused",), (), HANDLERS, desk=True, owner=True),
    Step("determine_liability", LIABILITY_OPEN,
         ("party", "department", "employee_ids", "fine_yuan", "attitude")),
)
BY_NAME = {step.name: step for step in STEPS}


def offered(case: dict, person) -> list[Step]:
    """The steps this person may take on this case now."""
    status = case.get("status")
    desk = person.department in load_duties()["desk_departments"]
    owner = case.get("owner_id") == person.id
    out = []
    for step in STEPS:
        if status not in step.statuses:
            continue
        if step.name == "determine_liability":
            needed = "hr" if case.get("kind") == "internal" else "gm_office"
            if person.holds(needed) and case.get("liability") is None:
                out.append(step)
            continue
        if step.name == "approve_remedy":
            remedy = (case.get("remedies") or [{}])[-1]
            proposer = remedy.get("proposed_by")
            proposer = proposer.get("id") if isinstance(proposer, dict) else proposer
            # Offered to every rank of the ladder: the amount's authority is the
            # service's to apply, and its refusal names the rule and who may.
            if proposer != person.id and person.holds(*step.roles):
                out.append(step)
            continue
        if person.holds(*step.roles) or (step.desk and desk) or (step.owner and owner):
            out.append(step)
    return out


def payload(step: Step, form, number: str, at: str) -> tuple[dict, dict[str, list[str]]]:
    """The step's payload from its form, and the fields missing or malformed (message keys)."""
    data: dict = {"number": number, "at": at}
    errors: dict[str, list[str]] = {}
    def get(name):
        return (form.get(name) or "").strip()

    optional = {"next_reply_at", "note", "fine_yuan", "attitude", "party"}
    for name in step.fields:
        value = get(name)
        if not value:
            if name not in optional:
                errors.setdefault(name, []).append("invalid.required")
            continue
        if name in ("valid", "satisfied"):
            data[name] = value == "1"
        elif name in ("amount_yuan", "fine_yuan"):
            if not value.isdigit():
                errors.setdefault(name, []).append("invalid.whole_number")
            else:
                data[name] = int(value)
        elif name == "employee_ids":
            data[name] = [part.strip() for part in value.replace("，", ",").split(",")
                          if part.strip()]
        else:
            data[name] = value
    return data, errors
