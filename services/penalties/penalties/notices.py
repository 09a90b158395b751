"""Penalty notices (奖罚通知单, 001 §1 第十二条(二)): drafted, signed, then booked.

"由总经理室…决定职责归属单位,并开立'奖罚通知单'呈总经理批准后…送处罚部门处罚奖金":
for the domains the policy lists (``notices.domains``, default ``complaint``)
no money is deducted until the general manager has approved the notice. A
notice carries the ledger entries exactly as booking would make them; the GM
signs those figures, and approval books them unchanged::

    awaiting_approval ──approve──▶ approved   (entries booked)
                      ──reject───▶ rejected   (nothing booked)
                      ──source withdrew──▶ withdrawn

Decisions (the seeds are silent on these):

- One notice per incident (a complaint number): the liability names every
  responsible person at once, and the GM signs one 通知单 for the case.
- The n-th complaint in a month (004 二.2) counts the complaints against the
  person that stand before this one: booked ones, and notices drafted earlier
  that were not rejected. A rejected notice no longer counts, so the notices
  drafted after it that still await approval are redrafted (a new
  ``revision``); an approved notice is never changed — the GM signed it.
- Who may decide is the permissions file's business (``gm``, never a person
  the notice names); this module keeps the states and the figures.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping

from zhidu.domain import DomainConflict
from zhidu.times import parse_time

from .accounts import totals

AWAITING = "awaiting_approval"
# Notices still in force for counting a person's complaints of the month.
STANDING = (AWAITING, "approved")

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


def draft(*, domain: str, incident_id: str, number: str | None, entries: list[dict],
          employee_ids: Iterable[str], at, year: int, month: int, seq: int,
          approver_role: str, inputs: Mapping, source: str | None,
          drafted_by: Mapping | None, drafted_at) -> dict:
    """A new notice awaiting approval (revision 1)."""
    if not entries:
        raise DomainConflict("a notice needs at least one entry")
    return {
        "notice_id": notice_id(domain, incident_id), "number": number, "domain": domain,
        "incident_id": incident_id, "status": AWAITING, "revision": 1, "seq": seq,
        "employee_ids": list(dict.fromkeys(employee_ids)),
        "named": named({"employee_ids": list(employee_ids), "entries": entries}),
        "entries": entries, **_figures(entries), "approver_role": approver_role,
        "at": parse_time(at), "year": year, "month": month, "inputs": dict(inputs),
        "source": source, "drafted_by": dict(drafted_by) if drafted_by else None,
        "drafted_at": drafted_at, "decided_by": None, "decided_at": None,
        "decision_note": None, "booked_at": None,
    }


def redraft(notice: Mapping, entries: list[dict]) -> dict:
    """The fields a redrafted notice changes (only while it awaits approval)."""
    if notice["status"] != AWAITING:
        raise DomainConflict(f"the notice is {notice['status']}; it can no longer change")
    return {"entries": entries, **_figures(entries), "revision": notice["revision"] + 1,
            "named": named({**notice, "entries": entries})}


def same_figures(a: Iterable[Mapping], b: Iterable[Mapping]) -> bool:
    def key(entries):
        return sorted((e["entry_id"], e["points"], e["amount_yuan"]) for e in entries)
    return key(a) == key(b)


def decide(notice: Mapping, *, approve: bool, actor: Mapping, at,
           note: str | None = None) -> dict:
    """The fields a decision sets; the GM's decision is final."""
    if notice["status"] != AWAITING:
        raise DomainConflict(f"the notice is already {notice['status']}; "
                             "the general manager's decision is final")
    return {"status": "approved" if approve else "rejected",
            "decided_by": {"id": actor["id"], "role": actor.get("role")},
            "decided_at": parse_time(at), "decision_note": note}


def is_repeat(notice: Mapping, *, approve: bool, actor: Mapping) -> bool:
    """The same decision by the same person again (a retry after a time-out)."""
    return (notice["status"] == ("approved" if approve else "rejected")
            and (notice.get("decided_by") or {}).get("id") == actor["id"])


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
    """``notice_awaiting_approval`` data."""
    return {k: notice.get(k) for k in (
        "notice_id", "number", "domain", "incident_id", "employee_ids",
        "amount_yuan_total", "points_total", "approver_role", "revision", "at")}


def decided_data(notice: Mapping) -> dict:
    """``notice_decided`` data."""
    return {"notice_id": notice["notice_id"], "approved": notice["status"] == "approved",
            "decided_by": (notice.get("decided_by") or {}).get("id"),
            "number": notice.get("number"), "domain": notice.get("domain"),
            "incident_id": notice.get("incident_id"),
            "employee_ids": notice.get("employee_ids"), "at": notice.get("decided_at"),
            "note": notice.get("decision_note")}
