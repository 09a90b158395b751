"""The penalties service: one ledger per employee per year, fed by events.

Complaint liabilities are drafted as penalty notices and booked once the GM
approves them (notices.py); who may call each operation is
rules/permissions.yaml, resolved against the ``subject_*`` methods below.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from zhidu.config import setting
from zhidu.errors import Conflict, NotFound, PermissionDenied, ValidationError
from zhidu.events import config_timer, on_event
from zhidu.mongo import Mongo
from zhidu.operations import Route, jsonable, operation
from zhidu.rulebook import RuleBook
from zhidu.service import ZhiduService
from zhidu.times import local_tz, parse_time, utcnow

from . import schemas
from .accounts import account
from .appeals import decide_appeal, file_appeal
from .booking import book
from .catalog import Catalogs
from .ledger import period_of
from .ledger_writer import LedgerWriter
from .notices import (
    AWAITING,
    awaiting_data,
    decide,
    decided_data,
    draft,
    entries_to_book,
    is_repeat,
    named,
    redraft,
    same_figures,
    standing_before,
)
from .notices import notice_id as notice_id_for
from .plugins import load_all_catalogs
from .policy import Policy, check_against, load_policy
from .publication import publication
from .service_quality import complaint_entries, prior_complaints, service_star_entries
from .store import PenaltiesStore


@dataclass(frozen=True)
class Rules:
    catalogs: Catalogs
    policy: Policy


def load_rules(config) -> Rules:
    extra = [p for p in str(setting(config, "ZHIDU_PENALTY_CATALOGS", "")).split(":") if p]
    overrides = [p for p in str(setting(config, "ZHIDU_PENALTY_POLICY", "")).split(":") if p]
    catalogs = load_all_catalogs(extra)
    policy = load_policy(overrides)
    check_against(policy, catalogs)
    return Rules(catalogs, policy)


COMPLAINT = "complaint"  # the notice domain of complaints.liability_determined


class PenaltiesService(ZhiduService):
    name = "penalties"
    store = Mongo(PenaltiesStore)
    rules = RuleBook(load_rules)
    routes = [
        Route("POST", "/entries", "record_penalty", status=201),
        Route("POST", "/service-stars", "award_service_star", status=201),
        Route("GET", "/accounts/{employee_id}/{year}", "get_account"),
        Route("POST", "/entries/{entry_id}/appeal", "appeal"),
        Route("POST", "/entries/{entry_id}/decision", "decide_appeal"),
        Route("GET", "/publications/{year}/{month}", "publication"),
        Route("GET", "/catalogs", "catalogs"),
        Route("GET", "/notices", "list_notices"),
        Route("POST", "/notices/{notice_id}/decision", "decide_notice"),
        Route("POST", "/sweep", "sweep"),
    ]

    # -- events from the other services ----------------------------------------
    @on_event("directory", "employee_upserted")
    def on_employee_upserted(self, envelope):
        self.store.upsert_person(envelope["data"], parse_time(envelope["time"]))

    @on_event("dormitory", "violation_recorded")
    def on_dormitory_violation(self, envelope):
        self._book_violation("dormitory", envelope)

    @on_event("attendance", "violation_recorded")
    def on_attendance_violation(self, envelope):
        self._book_violation(envelope["data"].get("domain") or "attendance", envelope)

    @on_event("complaints", "liability_determined")
    def on_liability(self, envelope):
        data = envelope["data"]
        employee_ids = list(dict.fromkeys(data.get("employee_ids") or []))
        if not employee_ids:
            return  # a supplier's or customer's fault: nobody here to charge
        inputs = {"kind": "liability", "number": data["number"],
                  "at": parse_time(data["at"]), "fine_yuan": data.get("fine_yuan"),
                  "attitude": data.get("attitude"), "source": envelope["type"]}
        if not self.rules.policy.notices.needed_for(COMPLAINT):
            self.ledger.commit(self._liability_entries(inputs, employee_ids))
            return
        key = notice_id_for(COMPLAINT, data["number"])
        if self.store.notice(key) is None:
            seq = self.store.next_sequence("notices")
            entries = self._liability_entries(inputs, employee_ids, seq=seq)
            year, month = period_of(inputs["at"])
            self.store.insert_notice(draft(
                domain=COMPLAINT, incident_id=data["number"], number=data["number"],
                entries=entries, employee_ids=employee_ids, at=inputs["at"], year=year,
                month=month, seq=seq, approver_role=self._approver_role(),
                inputs=inputs, source=envelope["type"], drafted_by=envelope.get("actor"),
                drafted_at=utcnow()))
            # Two liabilities against one person handled at the same moment each
            # counted without the other; now both are stored, count again.
            self._redraft_awaiting(employee_ids, year, month, after_seq=seq - 1, quiet=key)
        # Announced again on a redelivery: the first run may have died before
        # its outbox was written; the id is the same, so consumers keep one.
        self._announce(self.store.notice(key))

    def _announce(self, notice: dict) -> None:
        """Tell the GM a notice awaits; a notice decided meanwhile is not news."""
        if notice["status"] != AWAITING:
            return
        self.outbox.emit("notice_awaiting_approval", jsonable(awaiting_data(notice)),
                         key=f"{notice['notice_id']}:{notice['revision']}")

    def _liability_entries(self, inputs: dict, employee_ids: list[str],
                           seq: int | None = None) -> list[dict]:
        """Entries for every responsible person, as booking makes them.

        ``seq`` (a notice's drafting order): the complaint's ordinal in the
        month then counts the complaints standing before that notice;
        without it, the ones already in the ledger.
        """
        year, month = period_of(inputs["at"])
        number = inputs["number"]
        entries = []
        for employee_id in employee_ids:
            so_far = self.store.person_entries(employee_id, year, month)
            if seq is not None:
                so_far = standing_before(
                    so_far, self.store.person_month_notices(employee_id, year, month), seq)
            prior = prior_complaints(so_far, employee_id, number, year, month,
                                     self.rules.policy)
            entries += complaint_entries(
                {"number": number, "employee_id": employee_id, "at": inputs["at"],
                 "fine_yuan": inputs.get("fine_yuan"), "attitude": inputs.get("attitude"),
                 "source": inputs.get("source")},
                self.rules.catalogs, self.rules.policy, prior_complaints=prior,
                context=self.ledger.context(employee_id))
        return entries

    @on_event("attendance", "violation_withdrawn")
    def on_attendance_withdrawn(self, envelope):
        data = envelope["data"]
        # Remembered first, so a withdrawal overtaking its violation (a retry
        # can reorder them) still stops the booking.
        self.store.mark_withdrawn(data["violation_id"], data.get("reason"))
        self.store.withdraw_notices(data["violation_id"])
        self.ledger.reverse_incident(data["violation_id"],
                                     f"withdrawn: {data.get('reason')}")

    def _book_violation(self, domain: str, envelope):
        data = envelope["data"]
        if self.store.is_withdrawn(data["violation_id"]):
            return
        incident = {
            "domain": domain, "codes": [data["code"]], "employee_id": data["employee_id"],
            # Each violation is its own incident: one inspection may find the
            # same rule broken twice by one person, and both count.
            "incident_id": data["violation_id"], "at": data["at"],
            "points": data.get("points"), "source": envelope["type"],
            "note": _where(data),
        }
        head = (data.get("detail") or {}).get("dept_manager_id")
        if head:
            # The source names the department head (the clerk's late report).
            incident["reporting_line"] = {"manager_id": head}
        ledger = self.ledger
        entries = book(incident, self.rules.catalogs, ledger.context(data["employee_id"]))
        if self.rules.policy.notices.needed_for(domain):
            self._draft_violation_notice(domain, incident, entries, envelope)
        else:
            ledger.commit(entries)
        # A withdrawal handled while this booking ran found nothing to reverse;
        # it marked the violation first, so looking again now catches it.
        if self.store.is_withdrawn(data["violation_id"]):
            self.store.withdraw_notices(data["violation_id"])
            ledger.reverse_incident(data["violation_id"], "withdrawn at its source")

    def _draft_violation_notice(self, domain: str, incident: dict, entries: list[dict],
                                envelope) -> None:
        """Only when a deployment lists the violation's domain under
        ``notices.domains``; by default violations book at once (README)."""
        existing = self.store.notice(notice_id_for(domain, incident["incident_id"]))
        if existing is None:
            at = parse_time(incident["at"])
            year, month = period_of(at)
            existing = self.store.insert_notice(draft(
                domain=domain, incident_id=incident["incident_id"], number=None,
                entries=entries, employee_ids=[incident["employee_id"]], at=at, year=year,
                month=month, seq=self.store.next_sequence("notices"),
                approver_role=self._approver_role(), inputs={"kind": "violation"},
                source=envelope["type"], drafted_by=envelope.get("actor"),
                drafted_at=utcnow()))
        self._announce(existing)

    # -- operations -------------------------------------------------------------
    @operation(schemas.RecordPenalty, idempotent=True)
    def record_penalty(self, payload):
        codes = payload["codes"] or ([payload["code"]] if payload["code"] else None)
        if not codes:
            raise ValidationError({"code": ["give code or codes"]})
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
        entries = book(incident, self.rules.catalogs, self.ledger.context(payload["employee_id"]))
        self._within_authority("record_penalty", payload, entries)
        return {"entries": self.ledger.commit(entries)}

    @operation(schemas.ServiceStar, idempotent=True)
    def award_service_star(self, payload):
        employee_id = payload["employee_id"]
        previous = self.store.person_entries(employee_id, payload["year"]) + \
            self.store.person_entries(employee_id, payload["year"] - 1)
        person = self.store.people([employee_id]).get(employee_id) or {}
        entries = service_star_entries(
            employee_id, year=payload["year"], month=payload["month"], at=payload["at"],
            previous=previous, catalogs=self.rules.catalogs, policy=self.rules.policy,
            unit=person.get("unit"), context=self.ledger.context(employee_id))
        self._within_authority("award_service_star", payload, entries)
        return {"entries": self.ledger.commit(entries)}

    @operation(schemas.AccountQuery)
    def get_account(self, payload):
        entries = self.store.person_entries(payload["employee_id"], payload["year"])
        return account(payload["employee_id"], entries, self.rules.catalogs,
                       self.rules.policy, year=payload["year"], month=payload["month"])

    @operation(schemas.Appeal, idempotent=True)
    def appeal(self, payload):
        entry = self._entry(payload["entry_id"])
        appeal = file_appeal(entry, actor=payload["actor"], reason=payload["reason"],
                             at=payload["at"] or utcnow())
        if not self.store.set_appeal(entry["entry_id"], appeal, "none"):
            raise Conflict("the entry's appeal changed meanwhile; read it again")
        return self._entry(entry["entry_id"])

    @operation(schemas.DecideAppeal)
    def decide_appeal(self, payload):
        entry = self._entry(payload["entry_id"])
        if _same_decision(entry.get("appeal") or {}, payload):
            return self._finish_decision(entry, payload)
        appeal, reversals = decide_appeal(
            entry, upheld=payload["upheld"], actor=payload["actor"],
            at=payload["at"] or utcnow(), note=payload["note"],
            related=self.store.incident_entries(entry["incident_id"]))
        if not self.store.set_appeal(entry["entry_id"], appeal, "pending"):
            raise Conflict("the appeal was decided meanwhile; the decision is final")
        self.ledger.reverse(reversals)
        if reversals:
            # A cleared complaint no longer counts toward the month's later ones.
            self._redraft_awaiting({r["employee_id"] for r in reversals},
                                   entry["year"], entry["month"], after_seq=0)
        return {"entry": self._entry(entry["entry_id"]), "reversals": reversals}

    def _finish_decision(self, entry: dict, payload: dict) -> dict:
        """A repeat of a decision already taken (a retry after a crash, say):
        append and announce whatever it implied and is not yet in the ledger."""
        appeal = entry["appeal"]
        reversals = []
        if appeal["status"] == "upheld":
            _, reversals = decide_appeal(
                {**entry, "appeal": {**appeal, "status": "pending"}}, upheld=True,
                actor=payload["actor"], at=appeal["decided_at"],
                note=appeal.get("decision_note"),
                related=self.store.incident_entries(entry["incident_id"]))
        return {"entry": entry, "reversals": self.ledger.reverse(reversals)}

    # -- penalty notices (奖罚通知单, 001 §1 第十二条(二)) ----------------------------
    @operation(schemas.ListNotices)
    def list_notices(self, payload):
        """Notices in drafting order, each with the entries approval would book."""
        return {"notices": self.store.notices(
            status=payload["status"], employee_id=payload["employee_id"],
            number=payload["number"], limit=payload["limit"])}

    @operation(schemas.DecideNotice)
    def decide_notice(self, payload):
        """The GM approves (books exactly the notice's entries) or rejects it."""
        notice = self._notice(payload["notice_id"])
        actor = payload["actor"]
        if notice["status"] != AWAITING:
            if is_repeat(notice, approve=payload["approve"], actor=actor):
                return self._finish_notice(notice)
            raise Conflict(f"notice {notice['notice_id']} is already {notice['status']}; "
                           "the general manager's decision is final")
        if payload["revision"] is not None and payload["revision"] != notice["revision"]:
            raise Conflict(f"notice {notice['notice_id']} was redrafted (revision "
                           f"{notice['revision']}); read it again before deciding")
        decision = decide(notice, approve=payload["approve"], actor=actor,
                          at=payload["at"] or utcnow(), note=payload["note"])
        if not self.store.update_notice(notice["notice_id"], decision, status=AWAITING,
                                        revision=notice["revision"]):
            raise Conflict("the notice changed meanwhile (decided or redrafted); read it again")
        return self._finish_notice({**notice, **decision})

    def _finish_notice(self, notice: dict) -> dict:
        """Everything a decision implies; a repeat books and announces nothing twice."""
        booked = []
        if notice["status"] == "approved":
            entries = entries_to_book(notice)
            if notice.get("booked_at") is None:
                booked = self.ledger.commit(entries)
                if self.store.is_withdrawn(notice["incident_id"]):
                    self.ledger.reverse_incident(notice["incident_id"],
                                                 "withdrawn at its source")
                self.outbox.persist()
                self.store.mark_notice_booked(notice["notice_id"])
            else:
                booked = self.store.entries_by_id([e["entry_id"] for e in entries])
        elif notice["status"] == "rejected" and notice["inputs"].get("kind") == "liability":
            # The rejected complaint no longer counts toward the month's later ones.
            self._redraft_awaiting(notice["employee_ids"], notice["year"], notice["month"],
                                   after_seq=notice["seq"])
        self.outbox.emit("notice_decided", jsonable(decided_data(notice)),
                         key=notice["notice_id"])
        return {"notice": self.store.notice(notice["notice_id"]), "entries": booked}

    def _redraft_awaiting(self, employee_ids, year: int, month: int, after_seq: int,
                          quiet: str | None = None) -> None:
        """Recount complaint notices still awaiting approval, oldest first, and
        announce the ones whose figures changed (all but ``quiet``)."""
        waiting = {}
        for employee_id in employee_ids:
            for n in self.store.person_month_notices(employee_id, year, month):
                if (n["status"] == AWAITING and n["seq"] > after_seq
                        and n["inputs"].get("kind") == "liability"):
                    waiting[n["notice_id"]] = n
        for n in sorted(waiting.values(), key=lambda n: n["seq"]):
            entries = self._liability_entries(n["inputs"], n["employee_ids"], seq=n["seq"])
            if same_figures(entries, n["entries"]):
                continue
            fields = redraft(n, entries)
            # Lost to a decision taken meanwhile: what the GM signed stands.
            if self.store.update_notice(n["notice_id"], fields, status=AWAITING,
                                        revision=n["revision"]) and n["notice_id"] != quiet:
                self._announce({**n, **fields})

    def _approver_role(self) -> str:
        """Who signs, as the permissions file says (``decide_notice``)."""
        return ",".join(sorted(self.identity.provider.permissions.rule("decide_notice").roles))

    def _notice(self, notice_id: str) -> dict:
        notice = self.store.notice(notice_id)
        if notice is None:
            raise NotFound(f"notice {notice_id} not found")
        return notice

    @operation(schemas.Period)
    def publication(self, payload):
        year, month = payload["year"], payload["month"]
        covered_year, covered_month = (year - 1, 12) if month == 1 else (year, month - 1)
        entries = self.store.month_entries(covered_year, covered_month)
        people = self.store.people({e["employee_id"] for e in entries})
        return publication(entries, people, year=year, month=month)

    @operation(schemas.Sweep)
    def sweep(self, payload):
        """At the start of each month, publish last month's deductions per unit."""
        local = payload["now"].astimezone(local_tz())
        key = f"{local.year}-{local.month:02d}"
        # Not on the 1st: the last night shift of the month is closed then.
        publication_day = int(setting(self.config, "ZHIDU_PENALTY_PUBLICATION_DAY", "2"))
        if local.day < publication_day or self.store.publication_announced(key):
            return {"announced": []}
        document = self.publication({"year": local.year, "month": local.month})
        people = self.store.people({p["employee_id"] for u in document["units"]
                                    for p in u["people"]})
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
            # Two replicas sweeping at once emit the same ids; consumers keep one.
            self.outbox.emit("publication_issued", data, key=f"{key}:{unit['unit']}")
            announced.append(unit["unit"])
        self.outbox.persist()
        self.store.mark_publication(key)
        return {"announced": announced}

    @config_timer("ZHIDU_SWEEP_INTERVAL")
    def sweep_timer(self):
        self.sweep({"now": utcnow().isoformat()})

    @operation(schemas.Empty)
    def catalogs(self, payload):
        return self.rules.catalogs.describe()

    # -- whom the permissions file's subjects name ------------------------------------
    def subject_entry_holder(self, payload):
        entry = self.store.entry(payload.get("entry_id") or "")
        if entry is None:
            # Nothing to protect: let the caller hear NotFound, not a refusal.
            caller = self.identity.principal
            return caller.id if caller is not None else None
        return entry["employee_id"]

    def subject_appellant(self, payload):
        entry = self.store.entry(payload.get("entry_id") or "")
        if entry is None:
            return None
        filed_by = (entry.get("appeal") or {}).get("filed_by") or {}
        return filed_by.get("id") or entry["employee_id"]

    def subject_notice_party(self, payload):
        """The caller when the notice names them, else its first responsible
        person: ``not_self`` compares one subject, a notice names several, and
        nobody signs a notice that charges them (rules §8)."""
        notice = self.store.notice(payload.get("notice_id") or "")
        if notice is None:
            return None
        people = named(notice)
        caller = self.identity.principal
        if caller is not None and caller.id in people:
            return caller.id
        return people[0] if people else None

    def _within_authority(self, operation_name: str, payload: dict,
                          entries: list[dict]) -> None:
        """What the permissions file cannot see before the booking is priced:
        a leader's share landing on the caller, and the money of a booking the
        catalogue prices (the file's limit reads only a given amount_yuan)."""
        guard = self.identity
        caller = guard.principal
        if not guard.user_call or caller is None:
            return
        rule = guard.provider.permissions.rule(operation_name)
        own = [e for e in entries if e["employee_id"] == caller.id]
        if own:
            raise PermissionDenied(
                f"{operation_name}: separation of duties — the booking puts the "
                f"{own[0]['share']} share on {caller.id}'s own account; nobody rewards or "
                f"penalises themself (permissions: {operation_name}; {rule.source})")
        if rule.limits and rule.limits.get("field") == "amount_yuan":
            money = sum(abs(e["amount_yuan"]) for e in entries)
            if money > (payload.get("amount_yuan") or 0):
                guard.authorize(operation_name, caller, {**payload, "amount_yuan": money},
                                {}, service=self)

    # -- helpers ---------------------------------------------------------------------
    @property
    def ledger(self) -> LedgerWriter:
        return LedgerWriter(self.store, self.rules, self.outbox)

    def _entry(self, entry_id: str) -> dict:
        entry = self.store.entry(entry_id)
        if entry is None:
            raise NotFound(f"ledger entry {entry_id} not found")
        return entry


def _same_decision(appeal: dict, payload: dict) -> bool:
    decided = appeal.get("status") in ("upheld", "rejected")
    return (decided and (appeal.get("decided_by") or {}).get("id") == payload["actor"]["id"]
            and (appeal["status"] == "upheld") == payload["upheld"])


def _where(data: dict) -> str | None:
    if data.get("building") and data.get("room_no"):
        return f"{data['building']}-{data['room_no']}"
    return None
