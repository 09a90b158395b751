"""Penalty notices (奖罚通知单): drafted, approved step by step, then booked.

001 §1 第九条(六): "个人惩处种类呈主管批示后,依罚扣标准办理" — the sanctions the
GM office proposes go to the sanctioned person's supervisor (主管) first;
第十二条(二): "开立'奖罚通知单'呈总经理批准后…送处罚部门处罚奖金" — then the GM
signs the notice, and no money is deducted before. A notice carries the
ledger entries exactly as booking would make them and the approvals they wait
for (``steps``); the last approval books those figures unchanged::

    awaiting_approval ──every supervisor, then the GM, approves──▶ approved (booked)
                      ──any step refuses──────────────────────────▶ rejected (nothing)
                      ──source withdrew───────────────────────────▶ withdrawn

The steps, in order:

- ``supervisor`` — one per supervisor, covering the people the notice
  charges who report to them (``employee_ids``), side by side. A person's
  supervisor is their 直接主管 as the joint share of 004 二.2 finds it (the
  team leader, else the manager). One the notice charges too (the joint share
  from the 2nd complaint of the month on) or who has left hands the step to
  their own supervisor: nobody approves a sanction on themself (rules §8).
  Only the policy's ``notices.supervisor.domains`` have these steps.
- ``gm`` — the signing role (the permissions file's ``decide_notice``), once
  every supervisor has approved. A deployment may let the supervisors alone
  approve a notice up to a sum (``notices.supervisor.alone_up_to_yuan``); a
  notice charging someone without a supervisor still goes to the GM, who
  stands at the top of every line.

Decisions (the seeds are silent on these):

- One notice per incident (a complaint number): the liability names every
  responsible person at once, and one 通知单 is signed for the case.
- Supervisor before GM: the seed's order (第九条 during the case, 第十二条
  when the notice is issued). A supervisor who also signs as GM takes both
  steps with one decision; a refusal at any step is final for the notice.
- The n-th complaint in a month (004 二.2) counts the complaints against the
  person that stand before this one: booked ones, and notices drafted earlier
  that were not rejected. A rejected notice no longer counts, so the notices
  drafted after it that still await approval are redrafted (a new
  ``revision``) and every step is asked again: an approval is of the figures
  read. An approved notice is never changed.
- Who may decide is the permissions file's business; this module keeps the
  states, the steps and the figures.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping

from zhidu.domain import DomainConflict, DomainPermission
from zhidu.times import parse_time

from .accounts import totals
from .booking import REPORTING_FIELDS

AWAITING = "awaiting_approval"
# Notices still in force for counting a person's complaints of the month.
STANDING = (AWAITING, "approved")

SUPERVISOR, GM = "supervisor", "gm"
PENDING = "pending"
# 个人惩处种类呈主管批示 (001 §1 第九条(六)); 呈总经理批准 (第十二条(二)).
SOURCE = "001 §1 第九条(六): 个人惩处种类呈主管批示; 第十二条(二): 奖罚通知单呈总经理批准"

# Fixed forever: notice ids are keys of redelivered events and decisions.
NOTICE_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://zhidu/penalties/notice")


def notice_id(domain: str, incident_id: str) -> str:
    """Deterministic: the same incident always drafts the same notice."""
    return str(uuid.uuid5(NOTICE_NAMESPACE, f"{domain}\x1f{incident_id}"))


def named(notice: Mapping) -> list[str]:
    """Everyone the notice names: the responsible people first, then whoever
    else bears an entry (a supervisor's or group leader's joint share)."""
    people = list(notice.get("employee_ids") or [])
    for entry in notice.get("entries") or []:
        people.append(entry["employee_id"])
    return list(dict.fromkeys(people))


def _figures(entries: list[dict]) -> dict:
    t = totals(entries)
    return {"amount_yuan_total": t["amount_yuan_total"], "points_total": t["points_total"]}


# -- who approves ------------------------------------------------------------------
def supervisors(people: Iterable[str],
                person: Callable[[str], Mapping | None]) -> dict[str, str | None]:
    """Each charged person's supervisor who may approve their sanctions, or None.

    ``person`` reads the directory copy. The first supervisor up the line whom
    the notice does not charge and who has not left: a supervisor charged a
    joint share hands the step to their own supervisor.
    """
    people = list(dict.fromkeys(people))
    charged = set(people)
    found: dict[str, str | None] = {}
    for who in people:
        seen = {who}
        head = _line_head(person(who))
        while head is not None and (head in charged or _departed(person(head))):
            if head in seen:
                head = None
                break
            seen.add(head)
            head = _line_head(person(head))
        found[who] = head
    return found


def _line_head(record: Mapping | None) -> str | None:
    record = record or {}
    return next((record[f] for f in REPORTING_FIELDS[SUPERVISOR] if record.get(f)), None)


def _departed(record: Mapping | None) -> bool:
    return bool(record and record.get("departed_at"))


def _step(kind: str, **who) -> dict:
    return {"step": kind, **who, "status": PENDING, "decided_by": None, "decided_at": None,
            "note": None}


def plan_steps(people: Iterable[str], heads: Mapping[str, str | None] | None, *,
               signer_role: str, amount_yuan_total: int,
               alone_up_to_yuan: int | None = None) -> list[dict]:
    """The approvals a notice waits for: a step per supervisor (``heads``, from
    ``supervisors``; None: the domain has none), then the GM's unless the
    supervisors may approve this sum alone and every person has one."""
    people = list(dict.fromkeys(people))
    covering: dict[str, list[str]] = {}
    for who in people:
        if heads and heads.get(who):
            covering.setdefault(heads[who], []).append(who)
    steps = [_step(SUPERVISOR, approver_id=head, employee_ids=ids)
             for head, ids in covering.items()]
    alone = (steps and alone_up_to_yuan is not None
             and all(heads.get(who) for who in people)
             and amount_yuan_total <= alone_up_to_yuan)
    if not alone:
        steps.append(_step(GM, approver_role=signer_role))
    return steps


def steps_of(notice: Mapping) -> list[dict]:
    """The notice's steps; one drafted before notices had steps waits for the GM."""
    return [dict(s) for s in notice.get("steps")
            or [_step(GM, approver_role=notice.get("approver_role"))]]


def progress(steps: list[dict]) -> dict:
    """Whose turn it is: ``step`` and, for supervisors, ``awaiting_ids``."""
    waiting = [s for s in steps if s["status"] == PENDING]
    heads = [s["approver_id"] for s in waiting if s["step"] == SUPERVISOR]
    if heads:
        return {"step": SUPERVISOR, "awaiting_ids": heads}
    return {"step": GM if waiting else None, "awaiting_ids": []}


def signs(notice: Mapping, actor: Mapping) -> bool:
    """Whether ``actor``'s role is the signing role, where the caller's roles
    are not known (the service passes what the proven identity holds)."""
    return actor.get("role") in str(notice.get("approver_role") or "").split(",")


def _turn(steps: list[dict], actor_id: str, signer: bool, approve: bool = True) -> list:
    """The steps ``actor_id`` takes by deciding now (none: not their turn)."""
    pending = [s for s in steps if s["status"] == PENDING]
    heads = [s for s in pending if s["step"] == SUPERVISOR]
    mine = [s for s in heads if s.get("approver_id") == actor_id]
    gm = next((s for s in pending if s["step"] == GM), None)
    gm_now = gm is not None and signer and len(mine) == len(heads)
    if mine:
        return mine + ([gm] if gm_now and approve else [])
    return [gm] if gm_now else []


def takes_turn(notice: Mapping, actor: Mapping, signer: bool) -> bool:
    return notice["status"] == AWAITING and bool(_turn(steps_of(notice), actor["id"], signer))


# -- the notice ----------------------------------------------------------------------
def draft(*, domain: str, incident_id: str, number: str | None, entries: list[dict],
          employee_ids: Iterable[str], at, year: int, month: int, seq: int,
          approver_role: str, inputs: Mapping, source: str | None,
          drafted_by: Mapping | None, drafted_at,
          heads: Mapping[str, str | None] | None = None,
          alone_up_to_yuan: int | None = None) -> dict:
    """A new notice awaiting approval (revision 1); ``heads``: the charged
    people's supervisors (``supervisors``) where the domain asks them first."""
    if not entries:
        raise DomainConflict("a notice needs at least one entry")
    employee_ids = list(dict.fromkeys(employee_ids))
    people = named({"employee_ids": employee_ids, "entries": entries})
    figures = _figures(entries)
    steps = plan_steps(people, heads, signer_role=approver_role,
                       amount_yuan_total=figures["amount_yuan_total"],
                       alone_up_to_yuan=alone_up_to_yuan)
    return {
        "notice_id": notice_id(domain, incident_id), "number": number, "domain": domain,
        "incident_id": incident_id, "status": AWAITING, "revision": 1, "seq": seq,
        "employee_ids": employee_ids, "named": people, "entries": entries, **figures,
        "approver_role": approver_role, "steps": steps, **progress(steps),
        "at": parse_time(at), "year": year, "month": month, "inputs": dict(inputs),
        "source": source, "drafted_by": dict(drafted_by) if drafted_by else None,
        "drafted_at": drafted_at, "decided_by": None, "decided_at": None,
        "decision_note": None, "decided_step": None, "booked_at": None,
    }


def redraft(notice: Mapping, entries: list[dict],
            heads: Mapping[str, str | None] | None = None,
            alone_up_to_yuan: int | None = None) -> dict:
    """The fields a redrafted notice changes (only while it awaits approval):
    its figures, and its steps asked afresh."""
    if notice["status"] != AWAITING:
        raise DomainConflict(f"the notice is {notice['status']}; it can no longer change")
    people = named({**notice, "entries": entries})
    figures = _figures(entries)
    steps = plan_steps(people, heads, signer_role=notice.get("approver_role"),
                       amount_yuan_total=figures["amount_yuan_total"],
                       alone_up_to_yuan=alone_up_to_yuan)
    return {"entries": entries, **figures, "revision": notice["revision"] + 1,
            "named": people, "steps": steps, **progress(steps)}


def same_figures(a: Iterable[Mapping], b: Iterable[Mapping]) -> bool:
    def key(entries):
        return sorted((e["entry_id"], e["points"], e["amount_yuan"]) for e in entries)
    return key(a) == key(b)


def decide(notice: Mapping, *, approve: bool, actor: Mapping, at,
           note: str | None = None, signer: bool | None = None) -> dict:
    """The fields one decision sets: the steps it is the caller's turn to
    take. The last approval approves the notice; a refusal at any step
    rejects it, finally. ``signer``: the caller holds the signing role."""
    if notice["status"] != AWAITING:
        raise DomainConflict(f"the notice is already {notice['status']}; "
                             f"the decision is final ({SOURCE})")
    if signer is None:
        signer = signs(notice, actor)
    steps = steps_of(notice)
    taken = _turn(steps, actor["id"], signer, approve)
    if not taken:
        _refuse(notice, steps, actor, signer)
    by, at = {"id": actor["id"], "role": actor.get("role")}, parse_time(at)
    verdict = "approved" if approve else "rejected"
    for step in taken:
        step.update(status=verdict, decided_by=by, decided_at=at, note=note)
    fields = {"steps": steps, **progress(steps)}
    if not approve or all(s["status"] == "approved" for s in steps):
        fields.update(status=verdict, decided_by=by, decided_at=at, decision_note=note,
                      decided_step=taken[-1]["step"], step=None, awaiting_ids=[])
    return fields


def _refuse(notice: Mapping, steps: list[dict], actor: Mapping, signer: bool):
    pending = [s for s in steps if s["status"] == PENDING]
    heads = [s["approver_id"] for s in pending if s["step"] == SUPERVISOR]
    which = f"notice {notice['notice_id']}"
    if heads and signer:
        raise DomainConflict(
            f"{which} awaits the approval of {', '.join(heads)} first: the sanctions go "
            f"to each person's supervisor before the general manager ({SOURCE})")
    if any((s.get("decided_by") or {}).get("id") == actor["id"] for s in steps):
        raise DomainConflict(f"{which}: {actor['id']} has approved already; it now awaits "
                             f"{', '.join(heads) or 'the general manager'} ({SOURCE})")
    raise DomainPermission(
        f"{which} is not {actor['id']}'s to approve: it awaits "
        f"{', '.join(heads) or 'the general manager'} ({SOURCE})")


def is_repeat(notice: Mapping, *, approve: bool, actor: Mapping) -> bool:
    """The same decision by the same person again (a retry after a time-out):
    the notice's decision, or a step the person approved."""
    if (notice["status"] == ("approved" if approve else "rejected")
            and (notice.get("decided_by") or {}).get("id") == actor["id"]):
        return True
    return approve and notice["status"] in STANDING and any(
        s["status"] == "approved" and (s.get("decided_by") or {}).get("id") == actor["id"]
        for s in steps_of(notice))


def entries_to_book(notice: Mapping) -> list[dict]:
    """The notice's entries as the ledger keeps them: unchanged figures, plus
    which notice they come from and who signed it."""
    if notice["status"] != "approved":
        raise DomainConflict(f"the notice is {notice['status']}; only an approved "
                             "notice is booked")
    return [{**entry, "notice_id": notice["notice_id"],
             "approved_by": notice["decided_by"]} for entry in notice["entries"]]


def standing_before(booked: Iterable[Mapping], notices: Iterable[Mapping],
                    seq: int) -> list[Mapping]:
    """What counts before the notice drafted as number ``seq``: the booked
    entries, except those of notices drafted at or after it, and the entries
    of earlier notices that still stand (approved ones appear twice; counting
    is by incident, so that is harmless)."""
    notices = list(notices)
    later = {n["incident_id"] for n in notices if n["seq"] >= seq}
    out = [e for e in booked if e["incident_id"] not in later]
    for n in notices:
        if n["seq"] < seq and n["status"] in STANDING:
            out.extend(n["entries"])
    return out


def awaiting_data(notice: Mapping) -> dict:
    """``notice_awaiting_approval`` data: whose turn it is — the supervisors
    by id (``approver_ids``), or the signing role."""
    data = {k: notice.get(k) for k in (
        "notice_id", "number", "domain", "incident_id", "employee_ids",
        "amount_yuan_total", "points_total", "approver_role", "revision", "at")}
    data["step"] = notice.get("step") or GM
    if data["step"] == SUPERVISOR:
        data["approver_role"] = SUPERVISOR
        data["approver_ids"] = list(notice.get("awaiting_ids") or [])
    return data


def decided_data(notice: Mapping) -> dict:
    """``notice_decided`` data."""
    return {"notice_id": notice["notice_id"], "approved": notice["status"] == "approved",
            "decided_by": (notice.get("decided_by") or {}).get("id"),
            "step": notice.get("decided_step") or GM,
            "number": notice.get("number"), "domain": notice.get("domain"),
            "incident_id": notice.get("incident_id"),
            "employee_ids": notice.get("employee_ids"), "at": notice.get("decided_at"),
            "note": notice.get("decision_note")}
