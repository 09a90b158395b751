"""Appeals (复审, 002 §4 5.1.2): the penalised person appeals, the GM decides.

States of an entry's ``appeal`` sub-document::

    none ──file_appeal──▶ pending ──decide_appeal──▶ upheld | rejected

- Only the person the entry is on may appeal (``actor.id == employee_id``); a
  leader appeals his own share entry, not the offender's. The permissions
  file refuses anyone else first; the check stays here because an appeal
  filed by someone else would be a different thing, not a forbidden one.
- Who decides (``gm``, never the appellant) is the permissions file's
  (rules/permissions.yaml, against the proven caller); the decision is final:
  a decided appeal cannot be filed again or re-decided (``DomainConflict``).
- Rewards and reversing entries cannot be appealed.
- Upheld → a reversing entry (see ``reversal_of``), never a deletion. When the
  upheld entry is an offender's own (share ``individual``), the leadership and
  co-charged shares that the same incident and rule put on others are reversed
  too (pass them as ``related``): without the breach there is nothing to bear
  responsibility for. A leader's upheld appeal reverses only his share.

The functions return new documents; the store writes the ``appeal``
sub-document with a compare-and-set on the previous status, so two concurrent
decisions cannot both win.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from zhidu.domain import DomainConflict, DomainPermission, Problems
from zhidu.times import parse_time

from .ledger import reversal_id, reversed_ids


def _actor(actor, p: Problems) -> dict | None:
    # The role is for the record only: a person missing from the directory
    # copy is proven but holds no role.
    if (not isinstance(actor, Mapping) or not isinstance(actor.get("id"), str)
            or not actor.get("id") or "role" not in actor
            or not isinstance(actor["role"], (str, type(None)))):
        p.add("actor", "required: {id, role}")
        return None
    return {"id": actor["id"], "role": actor["role"]}


def _at(at, p: Problems):
    try:
        return parse_time(at)
    except (ValueError, TypeError) as exc:
        p.add("at", str(exc))
        return None


def _status(entry: Mapping) -> str:
    return (entry.get("appeal") or {}).get("status", "none")


def file_appeal(entry: Mapping, *, actor: Mapping, reason: str, at) -> dict:
    """The entry's new ``appeal`` sub-document (status ``pending``)."""
    p = Problems()
    who = _actor(actor, p)
    when = _at(at, p)
    if not isinstance(reason, str) or not reason.strip():
        p.add("reason", "required: say why the penalty is wrong")
    p.raise_if_any()
    if entry.get("reverses"):
        raise DomainConflict("a reversing entry cannot be appealed")
    if entry["kind"] != "penalty":
        raise DomainConflict("only penalties can be appealed")
    if who["id"] != entry["employee_id"]:
        raise DomainPermission("only the penalised person may appeal")
    status = _status(entry)
    if status != "none":
        raise DomainConflict(f"appeal already {status}"
                             + (" (the GM's decision is final)"
                                if status in ("upheld", "rejected") else ""))
    return {"status": "pending", "reason": reason.strip(), "filed_by": who,
            "filed_at": when}


def decide_appeal(entry: Mapping, *, upheld: bool, actor: Mapping, at,
                  note: str | None = None, related: Iterable[Mapping] = ()
                  ) -> tuple[dict, list[dict]]:
    """(new ``appeal`` sub-document, reversing entries to append).

    ``related``: other entries of the same incident (the store's query by
    ``incident_id``); only the derived shares described above are used.
    """
    p = Problems()
    who = _actor(actor, p)
    when = _at(at, p)
    if not isinstance(upheld, bool):
        p.add("upheld", "required, true or false")
    p.raise_if_any()
    status = _status(entry)
    if status != "pending":
        raise DomainConflict("no pending appeal" if status == "none"
                             else f"appeal already {status}; the decision is final")
    appeal = {**dict(entry["appeal"]), "status": "upheld" if upheld else "rejected",
              "decided_by": who, "decided_at": when, "decision_note": note}
    if not upheld:
        return appeal, []
    why = f"appeal upheld by {who['id']}"
    reversals = [reversal_of(entry, at=when, actor=who, reason=why)]
    if entry["share"] == "individual":
        related = list(related)
        done = reversed_ids(related)
        for other in related:
            if (other["incident_id"] == entry["incident_id"]
                    and other["code"] == entry["code"]
                    and other.get("offender_id") == entry["employee_id"]
                    and other["share"] != "individual"
                    and not other.get("reverses")
                    and other["entry_id"] not in done):
                reversals.append(reversal_of(
                    other, at=when, actor=who,
                    reason=f"{why} for {entry['employee_id']}'s entry "
                           f"{entry['entry_id']}"))
    return appeal, reversals


def reversal_of(entry: Mapping, *, at, actor: Mapping | None = None,
                reason: str | None = None) -> dict:
    """The entry that cancels ``entry``: amounts negated, own deterministic id.

    It keeps the original's ``at``, year and month, so a reversal nets out in
    the period the penalty was booked in (the account for that year/month, the
    month's ceiling room); ``decided_at`` records when it was made.
    """
    if entry.get("reverses"):
        raise DomainConflict("a reversing entry cannot itself be reversed")
    rev = {k: v for k, v in entry.items() if k != "_id"}

    def neg(value):
        return -value if value else value  # keep 0 as 0, not -0.0

    rev.update({
        "entry_id": reversal_id(entry["entry_id"]),
        "points": neg(entry["points"]),
        "amount_yuan": neg(entry["amount_yuan"]),
        "deducted_yuan": neg(entry.get("deducted_yuan", 0)),
        "capped_yuan": neg(entry.get("capped_yuan", 0)),
        "reverses": entry["entry_id"],
        "decided_at": parse_time(at),
        "appeal": {"status": "none"},
        "source": "appeal",
        "actor": dict(actor) if actor else None,
        "note": reason,
        "notes": [f"reverses {entry['entry_id']}"],
    })
    return rev
