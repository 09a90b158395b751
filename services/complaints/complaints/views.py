"""What a caller is shown of a case (客户信息保密, 001 §2; rules §7).

Complainant phone and e-mail are masked for roles without the right, in the
contact fields and in the customer's free text; a reply that shows them in
full is a read the store audits. Replies to commands carry no contact data at
all (their subject is always masked), so only ``get`` and ``search`` ever
reveal it.
"""
from __future__ import annotations

from zhidu import pii

from . import masking, sla
from .policy import Policy

SUMMARY_FIELDS = ("number", "status", "round", "version", "major", "major_reasons",
                  "category", "channel", "kind", "department", "owner_id", "received_at",
                  "resolved_at", "concluded_at", "breached", "escalation_level",
                  "next_check_at", "subject")


def summary(case: dict, role: str | None = None, policy: Policy | None = None) -> dict:
    """A command's reply: where the case stands and what is due.

    Without a reader's ``role`` and the ``policy`` the subject is masked with
    the suite's defaults: a command's reply reveals nothing.
    """
    out = {key: case.get(key) for key in SUMMARY_FIELDS}
    if policy is None:
        out["subject"] = pii.mask_text(out["subject"])
    elif not masking.can_read_contacts(role, policy):
        out["subject"] = masking.mask_text(out["subject"], policy)
    out["deadlines"] = sla.deadlines(case)
    return out


def filed(case: dict) -> dict:
    """The contract's reply to ``file``."""
    return {"number": case["number"], "status": case["status"], "major": case["major"],
            "major_reasons": case["major_reasons"], "deadlines": sla.deadlines(case)}


def full(case: dict, role: str | None, policy: Policy, reveal: bool = False) -> dict:
    """The whole case — history, clocks, escalation — as ``role`` may see it.

    ``reveal`` is for an approved export, which takes the contacts unmasked.
    """
    out = dict(case)
    if not reveal:
        out["complainant"] = masking.mask_complainant(case.get("complainant"), role, policy)
        out.update(masking.mask_free_text(case, role, policy))
    out["deadlines"] = sla.deadlines(case)
    return out


def listed(case: dict, role: str | None, policy: Policy) -> dict:
    out = summary(case, role, policy)
    out["complainant"] = masking.mask_complainant(case.get("complainant"), role, policy)
    return out


def revealed(cases: list[dict], role: str | None, policy: Policy) -> list[str]:
    """Numbers of the cases whose full contact data ``role`` is being shown."""
    return [c["number"] for c in cases
            if masking.reveals_contacts(c.get("complainant"), role, policy)
            or masking.reveals_text(c, role, policy)]
