"""The penalties service's application functions: each takes the unit of work it runs in.

``store`` and ``outbox`` are the worker's, ``rules`` the catalogues and policy
loaded at start-up. The operation or event handler that calls a function runs
it as one transaction, so what it writes and announces commits together or
not at all, and it may be run again (after a write conflict) with nothing of
the earlier run left over. Functions therefore hold no state between runs and
do nothing outside the database.
"""
from __future__ import annotations

import functools
from collections import Counter

from zhidu.domain import DomainConflict, DomainNotFound, DomainPermission, DomainValidation
from zhidu.operations import jsonable
from zhidu.times import local_tz, parse_time, utcnow
from zhidu.uow import StaleWrite

from .accounts import account, unit_account
from .appeals import decide_appeal as decide_on_appeal
from .appeals import file_appeal
from .booking import book
from .ledger import period_of, reversal_id
from .ledger_writer import LedgerWriter
from .notices import (
    AWAITING,
    SUPERVISOR,
    awaiting_data,
    decide,
    decided_data,
    draft,
    entries_to_book,
    is_repeat,
    named,
    notice_id,
    redraft,
    same_figures,
    signs,
    standing_before,
    steps_of,
    supervisors,
    takes_turn,
)
from .plugins import VIOLATION_FIELDS
from .publication import publication as publication_of
from .service_quality import (
    check_unit_stars,
    complaint_entries,
    prior_complaints,
    service_star_entries,
)
from .store import as_stored

COMPLAINT = "complaint"  # the notice domain of complaints.liability_determined


# -- events from the other services ----------------------------------------------
def book_violation(store, outbox, rules, domain: str, envelope: dict, *,
                   withdrawable: bool, approver_role: str,
                   note: str | None = None) -> list[dict]:
    """Book a violation another service recorded, or draft its notice.

    ``withdrawable``: its source may withdraw it later (attendance does, the
    dormitory does not); only then is the violation's record written.
    """
    data = envelope["data"]
    if withdrawable and store.claim_violation(data["violation_id"]):
        return []
    incident = {
        "domain": domain, "codes": [data["code"]], "employee_id": data["employee_id"],
        # Each violation is its own incident: one inspection may find the
        # same rule broken twice by one person, and both count.
        "incident_id": data["violation_id"], "at": data["at"],
        "points": data.get("points"), "source": envelope["type"],
        "note": note or _where(data),
    }
    head = (data.get("detail") or {}).get("dept_manager_id")
    if head:
        # The source names the department head (the clerk's late report).
        incident["reporting_line"] = {"manager_id": head}
    ledger = LedgerWriter(store, rules, outbox)
    entries = book(incident, rules.catalogs, ledger.context(data["employee_id"]))
    if not rules.policy.notices.needed_for(domain):
        return ledger.commit(entries)
    # Only when a deployment lists the domain under notices.domains (README).
    if store.notice(notice_id(domain, incident["incident_id"])) is None:
        at = parse_time(incident["at"])
        year, month = period_of(at)
        employee_ids = [incident["employee_id"]]
        _announce(outbox, store.insert_notice(draft(
            domain=domain, incident_id=incident["incident_id"], number=None,
            entries=entries, employee_ids=employee_ids, at=at, year=year,
            month=month, seq=store.next_sequence("notices"), approver_role=approver_role,
            inputs={"kind": "violation"}, source=envelope["type"],
            drafted_by=envelope.get("actor"), drafted_at=utcnow(),
            **_approvers(ledger, rules, domain, employee_ids, entries))))
    return []


def book_declared_violation(store, outbox, rules, source, envelope: dict, *,
                            approver_role: str) -> list[dict]:
    """Book an event a plugin declared a violation (``plugins.SOURCE_GROUP``),
    read through its declaration, as a dormitory violation is booked."""
    data = source.read(envelope["data"])
    missing = [f for f in VIOLATION_FIELDS if data.get(f) in (None, "")]
    if missing:
        raise DomainValidation({f: [f"not in {envelope['type']} as its source "
                                    "declares it"] for f in missing})
    note = data.get("note")
    return book_violation(store, outbox, rules, data["domain"], {**envelope, "data": data},
                          withdrawable=False, approver_role=approver_role,
                          note=str(note) if note is not None else None)


def withdraw_violation(store, outbox, rules, data: dict) -> None:
    """Its source withdrew a violation: lapse its notice, reverse its entries.

    The withdrawal is recorded on the violation's record, which its booking
    writes too: one overtaking its violation (a retry can reorder them) stops
    the booking when it comes, and one racing the booking either sees its
    entries or is seen by it.
    """
    store.mark_withdrawn(data["violation_id"], data.get("reason"))
    store.withdraw_notices(data["violation_id"])
    LedgerWriter(store, rules, outbox).reverse_incident(
        data["violation_id"], f"withdrawn: {data.get('reason')}")


def book_damage(store, outbox, rules, envelope: dict) -> list[dict]:
    """Damage to dormitory property, paid at cost (000 §5 三.9 损坏公物照价赔偿).

    The dormitory records the cost when it takes a bed for damage; it is
    booked on the person as a money entry keyed by the revocation. Without a
    cost there is nothing to book.
    """
    data = envelope["data"]
    if not data.get("damage_cost_yuan"):
        return []
    code = rules.policy.damage_code
    ledger = LedgerWriter(store, rules, outbox)
    entries = book({
        "domain": rules.catalogs.rule(code).domain, "codes": [code],
        "employee_id": data["employee_id"], "incident_id": f"damage:{data['revocation_id']}",
        "at": data["at"], "amount_yuan": data["damage_cost_yuan"], "source": envelope["type"],
        "note": "; ".join(filter(None, [_where(data), data.get("note")])) or None,
    }, rules.catalogs, ledger.context(data["employee_id"]))
    return ledger.commit(entries)


def determine_liability(store, outbox, rules, envelope: dict, *, approver_role: str) -> None:
    """A complaint's liability: draft the penalty notice the GM signs, or book
    at once where the policy needs no notice for complaints."""
    data = envelope["data"]
    employee_ids = list(dict.fromkeys(data.get("employee_ids") or []))
    if not employee_ids:
        return  # a supplier's or customer's fault: nobody here to charge
    inputs = {"kind": "liability", "number": data["number"],
              "at": parse_time(data["at"]), "fine_yuan": data.get("fine_yuan"),
              "attitude": data.get("attitude"), "source": envelope["type"]}
    ledger = LedgerWriter(store, rules, outbox)
    if not rules.policy.notices.needed_for(COMPLAINT):
        store.hold_complaint_ordinals()
        ledger.commit(_liability_entries(store, rules, ledger, inputs, employee_ids))
        return
    key = notice_id(COMPLAINT, data["number"])
    if store.notice(key) is not None:
        return  # one notice per complaint number
    # Numbering the notice writes the counter every change of a month's
    # standing complaints writes too: two drafts for one person are never
    # counted without each other.
    seq = store.next_sequence("notices")
    year, month = period_of(inputs["at"])
    entries = _liability_entries(store, rules, ledger, inputs, employee_ids, seq=seq)
    _announce(outbox, store.insert_notice(draft(
        domain=COMPLAINT, incident_id=data["number"], number=data["number"],
        entries=entries, employee_ids=employee_ids, at=inputs["at"], year=year,
        month=month, seq=seq, approver_role=approver_role, inputs=inputs,
        source=envelope["type"], drafted_by=envelope.get("actor"), drafted_at=utcnow(),
        **_approvers(ledger, rules, COMPLAINT, employee_ids, entries))))


def _liability_entries(store, rules, ledger: LedgerWriter, inputs: dict,
                       employee_ids: list[str], seq: int | None = None) -> list[dict]:
    """Entries for every responsible person, as booking makes them.

    ``seq`` (a notice's drafting order): the complaint's ordinal in the month
    then counts the complaints standing before that notice; without it, the
    ones already in the ledger.
    """
    year, month = period_of(inputs["at"])
    number = inputs["number"]
    entries = []
    for employee_id in employee_ids:
        so_far = store.person_entries(employee_id, year, month)
        if seq is not None:
            so_far = standing_before(
                so_far, store.person_month_notices(employee_id, year, month), seq)
        prior = prior_complaints(so_far, employee_id, number, year, month, rules.policy)
        entries += complaint_entries(
            {"number": number, "employee_id": employee_id, "at": inputs["at"],
             "fine_yuan": inputs.get("fine_yuan"), "attitude": inputs.get("attitude"),
             "source": inputs.get("source")},
            rules.catalogs, rules.policy, prior_complaints=prior,
            context=ledger.context(employee_id))
    return entries


def _approvers(ledger: LedgerWriter, rules, domain: str, employee_ids, entries) -> dict:
    """Who approves a notice before the GM signs (001 §1 第九条(六)): the
    supervisors of the people it charges, from the directory copy."""
    notices = rules.policy.notices
    if not notices.supervisor_first(domain):
        return {"heads": None, "alone_up_to_yuan": None}
    people = named({"employee_ids": employee_ids, "entries": entries})
    return {"heads": supervisors(people, lambda who: ledger.people([who])[who] or None),
            "alone_up_to_yuan": notices.alone_up_to_yuan}


def _announce(outbox, notice: dict) -> None:
    """Tell whoever approves next that a notice awaits them: each step of
    each revision once."""
    outbox.emit("notice_awaiting_approval", jsonable(awaiting_data(notice)),
                key=f"{notice['notice_id']}:{notice['revision']}:{notice.get('step')}")


def _recount_complaints(store, outbox, rules, ledger: LedgerWriter, employee_ids,
                        year: int, month: int, after_seq: int) -> None:
    """A complaint no longer stands: recount the month's later notices still
    awaiting approval, oldest first, and announce the ones whose figures changed."""
    store.hold_complaint_ordinals()
    waiting = {}
    for employee_id in employee_ids:
        for n in store.person_month_notices(employee_id, year, month):
            if (n["status"] == AWAITING and n["seq"] > after_seq
                    and n["inputs"].get("kind") == "liability"):
                waiting[n["notice_id"]] = n
    for n in sorted(waiting.values(), key=lambda n: n["seq"]):
        entries = _liability_entries(store, rules, ledger, n["inputs"], n["employee_ids"],
                                     seq=n["seq"])
        if same_figures(entries, n["entries"]):
            continue
        fields = redraft(n, entries, **_approvers(ledger, rules, n["domain"],
                                                  n["employee_ids"], entries))
        if not store.update_notice(n["notice_id"], fields, status=AWAITING,
                                   revision=n["revision"]):
            raise StaleWrite(f"notice {n['notice_id']} changed while being recounted")
        _announce(outbox, {**n, **fields})


# -- bookings by people -------------------------------------------------------------
def record_penalty(store, outbox, rules, payload: dict, vet=None) -> dict:
    """A manual booking (HR, the GM); ``vet(payload, entries)`` refuses what
    the caller may not book once the booking is priced."""
    codes = payload["codes"] or ([payload["code"]] if payload["code"] else None)
    if not codes:
        raise DomainValidation.one("code", "give code or codes")
    incident = {
        "domain": payload["domain"], "codes": codes,
        "employee_id": payload["employee_id"], "incident_id": payload["incident_id"],
        "at": payload["at"], "note": payload["note"], "actor": payload["actor"],
        "source": "manual",
    }
    if payload["points"] is not None:
        incident["points"] = payload["points"]
    if payload["amount_yuan"] is not None:
        incident["amount_yuan"] = payload["amount_yuan"]
    ledger = LedgerWriter(store, rules, outbox)
    entries = book(incident, rules.catalogs, ledger.context(payload["employee_id"]))
    if vet is not None:
        vet(payload, entries)
    return {"entries": ledger.commit(entries)}


def award_service_star(store, outbox, rules, payload: dict, vet=None) -> dict:
    employee_id = payload["employee_id"]
    previous = store.person_entries(employee_id, payload["year"]) + \
        store.person_entries(employee_id, payload["year"] - 1)
    ledger = LedgerWriter(store, rules, outbox)
    person = ledger.people([employee_id])[employee_id]
    unit, year, month = person.get("unit"), payload["year"], payload["month"]
    stars = []
    if unit:
        # Written before the unit's stars are read: two stars of one unit
        # awarded at once meet here, and the later one runs again and is refused.
        store.touch_unit_year(unit, year)
        stars = store.unit_entries(unit, year, month,
                                   codes=[rules.policy.service_quality.service_star_code])
    check_unit_stars(unit, employee_id, year=year, month=month, unit_entries=stars,
                     policy=rules.policy)
    entries = service_star_entries(
        employee_id, year=year, month=month, at=payload["at"],
        previous=previous, catalogs=rules.catalogs, policy=rules.policy,
        unit=unit, context=ledger.context(employee_id))
    if vet is not None:
        vet(payload, entries)
    return {"entries": ledger.commit(entries)}


def get_account(store, rules, payload: dict) -> dict:
    entries = store.person_entries(payload["employee_id"], payload["year"])
    return account(payload["employee_id"], entries, rules.catalogs, rules.policy,
                   year=payload["year"], month=payload["month"])


def get_unit_account(store, payload: dict) -> dict:
    unit, year = payload["unit"], payload["year"]
    return unit_account(unit, store.unit_entries(unit, year, payload["month"]),
                        store.unit_thresholds(year, unit), year=year, month=payload["month"])


# -- appeals (复审, 002 §4 5.1.2) ------------------------------------------------------
def appeal(store, payload: dict) -> dict:
    entry = _entry(store, payload["entry_id"])
    filed = file_appeal(entry, actor=payload["actor"], reason=payload["reason"],
                        at=payload["at"] or utcnow())
    if not store.set_appeal(entry["entry_id"], filed, "none"):
        raise StaleWrite(f"the appeal of {entry['entry_id']} changed while being filed")
    return as_stored({**entry, "appeal": filed})


def decide_appeal(store, outbox, rules, payload: dict) -> dict:
    """The GM's decision, final; upheld, the entry (and the shares it carried)
    are reversed in the same unit. The same decision asked again (a retry after
    a time-out) returns it as taken and books nothing."""
    entry = _entry(store, payload["entry_id"])
    if _same_decision(entry.get("appeal") or {}, payload):
        return {"entry": entry, "reversals": _reversals_of(store, entry)}
    decided, reversals = decide_on_appeal(
        entry, upheld=payload["upheld"], actor=payload["actor"],
        at=payload["at"] or utcnow(), note=payload["note"],
        related=store.incident_entries(entry["incident_id"]))
    decided["reversal_ids"] = [r["entry_id"] for r in reversals]
    if not store.set_appeal(entry["entry_id"], decided, "pending"):
        raise StaleWrite(f"the appeal of {entry['entry_id']} changed while being decided")
    ledger = LedgerWriter(store, rules, outbox)
    reversed_ = ledger.reverse(reversals)
    complaint = rules.policy.service_quality.complaint_code
    if any(r["code"] == complaint for r in reversals):
        # A cleared complaint no longer counts toward the month's later ones.
        _recount_complaints(store, outbox, rules, ledger,
                            {r["employee_id"] for r in reversals},
                            entry["year"], entry["month"], after_seq=0)
    return {"entry": as_stored({**entry, "appeal": decided}), "reversals": reversed_}


def _same_decision(appeal: dict, payload: dict) -> bool:
    decided = appeal.get("status") in ("upheld", "rejected")
    return (decided and (appeal.get("decided_by") or {}).get("id") == payload["actor"]["id"]
            and (appeal["status"] == "upheld") == payload["upheld"])


def _reversals_of(store, entry: dict) -> list[dict]:
    """The reversals an upheld decision booked, as stored. A decision recorded
    before decisions listed their reversals is answered with the entry's own."""
    appeal = entry["appeal"]
    if appeal["status"] != "upheld":
        return []
    return store.entries_by_id(appeal.get("reversal_ids")
                               or [reversal_id(entry["entry_id"])])


# -- penalty notices (奖罚通知单, 001 §1 第十二条(二)) ------------------------------------
def list_notices(store, payload: dict) -> dict:
    """Notices in drafting order, each with the entries approval would book."""
    return {"notices": store.notices(status=payload["status"],
                                     employee_id=payload["employee_id"],
                                     number=payload["number"],
                                     approver_id=payload["approver_id"],
                                     limit=payload["limit"])}


def decide_notice(store, outbox, rules, payload: dict, signer: bool | None = None) -> dict:
    """A supervisor approves their people's sanctions, or the GM signs the
    notice (001 §1 第九条(六), 第十二条(二)); the last approval books exactly
    the notice's entries, a refusal at any step books nothing.

    ``signer``: the caller holds the signing role (the service knows the
    proven identity's roles; without it, the actor's role is read). The
    decision, the entries it books and its announcement commit together; the
    same decision by the same person again returns the notice as it stands
    and books nothing twice.
    """
    notice = _notice(store, payload["notice_id"])
    actor = payload["actor"]
    if signer is None:
        signer = signs(notice, actor)
    if not takes_turn(notice, actor, signer) and is_repeat(
            notice, approve=payload["approve"], actor=actor):
        booked = (store.entries_by_id([e["entry_id"] for e in notice["entries"]])
                  if notice["status"] == "approved" else [])
        return {"notice": notice, "entries": booked}
    if notice["status"] != AWAITING:
        raise DomainConflict(f"notice {notice['notice_id']} is already {notice['status']}; "
                             "the decision is final")
    if payload["revision"] is not None and payload["revision"] != notice["revision"]:
        raise DomainConflict(f"notice {notice['notice_id']} was redrafted (revision "
                             f"{notice['revision']}); read it again before deciding")
    step = notice.get("step")
    decision = decide(notice, approve=payload["approve"], actor=actor,
                      at=payload["at"] or utcnow(), note=payload["note"], signer=signer)
    if decision.get("status") == "approved":
        decision["booked_at"] = utcnow()
    if not store.update_notice(notice["notice_id"], decision, status=AWAITING,
                               revision=notice["revision"],
                               awaiting=notice.get("awaiting_ids")):
        raise StaleWrite(f"notice {notice['notice_id']} changed while being decided")
    notice = as_stored({**notice, **decision})
    ledger = LedgerWriter(store, rules, outbox)
    booked = []
    if notice["status"] == AWAITING:
        if notice["step"] != step:
            _announce(outbox, notice)  # the supervisors approved: the GM's turn
        return {"notice": notice, "entries": booked}
    if notice["status"] == "approved":
        booked = ledger.commit(entries_to_book(notice))
    elif notice["inputs"].get("kind") == "liability":
        # The rejected complaint no longer counts toward the month's later ones.
        _recount_complaints(store, outbox, rules, ledger, notice["employee_ids"],
                            notice["year"], notice["month"], after_seq=notice["seq"])
    outbox.emit("notice_decided", jsonable(decided_data(notice)), key=notice["notice_id"])
    return {"notice": notice, "entries": booked}


def approver_role(permissions) -> str:
    """Who signs, as the permissions file says (``decide_notice``)."""
    return ",".join(sorted(permissions.rule("decide_notice").roles))


def signs_notices(guard) -> bool:
    """Whether the proven caller holds a role that signs notices."""
    caller = guard.principal
    roles = guard.provider.permissions.rule("decide_notice").roles
    return caller is not None and any(role in roles for role in caller.roles)


# -- monthly publication (公示, 000 §4 附加说明.1) ----------------------------------------
def publication(store, year: int, month: int) -> dict:
    covered_year, covered_month = (year - 1, 12) if month == 1 else (year, month - 1)
    entries = store.month_entries(covered_year, covered_month)
    people = store.people({e["employee_id"] for e in entries})
    return publication_of(entries, people, year=year, month=month,
                          raised=store.unit_thresholds(covered_year))


def sweep(store, outbox, now, publication_day: int) -> dict:
    """At the start of each month, publish last month's deductions per unit.

    Not one transaction: the month is read once, outside any, and each unit's
    announcement commits with its own mark, so a sweep cut short announces
    the remaining units next time and never one twice.
    """
    local = now.astimezone(local_tz())
    key = f"{local.year}-{local.month:02d}"
    # Not on the 1st: the last night shift of the month is closed then.
    if local.day < publication_day or store.publication_announced(key):
        return {"announced": []}
    document = publication(store, local.year, local.month)
    people = store.people({p["employee_id"] for u in document["units"] for p in u["people"]})
    announced = []
    for unit in document["units"]:
        heads = Counter(people.get(p["employee_id"], {}).get("unit_head_id")
                        for p in unit["people"])
        data = {"year": local.year, "month": local.month,
                "covers": "{year}-{month:02d}".format(**document["covers"]),
                "unit": unit["unit"], "unit_head_id": heads.most_common(1)[0][0],
                "penalty_count": unit["penalty_count"],
                "points_total": unit["points_total"],
                "amount_yuan_total": unit["amount_yuan_total"],
                "people_count": len(unit["people"])}
        mark = outbox.mark()
        if store.unit(functools.partial(_announce_unit, store, outbox,
                                        f"{key}:{unit['unit']}", data),
                      on_retry=lambda mark=mark: outbox.rollback(mark)):
            announced.append(unit["unit"])
    store.unit(lambda: store.mark_publication(key))
    return {"announced": announced}


def _announce_unit(store, outbox, key: str, data: dict) -> bool:
    if store.publication_announced(key):
        return False
    outbox.emit("publication_issued", data, key=key)
    store.mark_publication(key)
    outbox.persist()
    return True


# -- whom the permissions file's subjects name ------------------------------------------
def entry_holder(store, entry_id: str, caller) -> str | None:
    entry = store.entry(entry_id or "")
    if entry is None:
        # Nothing to protect: let the caller hear NotFound, not a refusal.
        return caller.id if caller is not None else None
    return entry["employee_id"]


def appellant(store, entry_id: str) -> str | None:
    entry = store.entry(entry_id or "")
    if entry is None:
        return None
    filed_by = (entry.get("appeal") or {}).get("filed_by") or {}
    return filed_by.get("id") or entry["employee_id"]


def notice_approver(store, notice_id_: str, caller) -> bool:
    """The caller is a supervisor the notice asks to approve (001 §1 第九条(六))."""
    notice = store.notice(notice_id_ or "") if caller is not None else None
    return notice is not None and any(
        s["step"] == SUPERVISOR and s.get("approver_id") == caller.id
        for s in steps_of(notice))


def notice_party(store, notice_id_: str, caller) -> str | None:
    """The caller when the notice names them, else its first responsible
    person: ``not_self`` compares one subject, a notice names several, and
    nobody signs a notice that charges them (rules §8)."""
    notice = store.notice(notice_id_ or "")
    if notice is None:
        return None
    people = named(notice)
    if caller is not None and caller.id in people:
        return caller.id
    return people[0] if people else None


class Authority:
    """What the permissions file cannot see before a booking is priced: a
    leader's share landing on the caller, and the money of a booking the
    catalogue prices (the file's limit reads only a given ``amount_yuan``)."""

    def __init__(self, guard, service, operation: str):
        self.guard, self.service, self.operation = guard, service, operation

    def __call__(self, payload: dict, entries: list[dict]) -> None:
        guard, name = self.guard, self.operation
        caller = guard.principal
        if not guard.user_call or caller is None:
            return
        rule = guard.provider.permissions.rule(name)
        own = [e for e in entries if e["employee_id"] == caller.id]
        if own:
            raise DomainPermission(
                f"{name}: separation of duties — the booking puts the "
                f"{own[0]['share']} share on {caller.id}'s own account; nobody rewards or "
                f"penalises themself (permissions: {name}; {rule.source})")
        if rule.limits and rule.limits.get("field") == "amount_yuan":
            money = sum(abs(e["amount_yuan"]) for e in entries)
            if money > (payload.get("amount_yuan") or 0):
                guard.authorize(name, caller, {**payload, "amount_yuan": money}, {},
                                service=self.service)


# -- helpers -------------------------------------------------------------------------
def _entry(store, entry_id: str) -> dict:
    entry = store.entry(entry_id)
    if entry is None:
        raise DomainNotFound(f"ledger entry {entry_id} not found")
    return entry


def _notice(store, notice_id_: str) -> dict:
    notice = store.notice(notice_id_)
    if notice is None:
        raise DomainNotFound(f"notice {notice_id_} not found")
    return notice


def _where(data: dict) -> str | None:
    if data.get("building") and data.get("room_no"):
        return f"{data['building']}-{data['room_no']}"
    return None
