"""The penalties service: one ledger per employee per year, fed by events."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from zhidu.config import setting
from zhidu.errors import Conflict, NotFound, ValidationError
from zhidu.events import on_event
from zhidu.mongo import Mongo
from zhidu.operations import Route, jsonable, operation
from zhidu.rulebook import RuleBook
from zhidu.service import ZhiduService
from zhidu.times import parse_time, utcnow

from . import schemas
from .accounts import account
from .appeals import decide_appeal, file_appeal, reversal_of
from .booking import book
from .catalog import Catalogs
from .ceiling import apply_ceiling
from .ledger import period_of, reversed_ids
from .plugins import load_all_catalogs
from .policy import Policy, check_against, load_policy
from .publication import publication
from .service_quality import complaint_entries, prior_complaints, service_star_entries
from .store import PenaltiesStore
from .thresholds import due_thresholds

ISSUED_FIELDS = ("entry_id", "employee_id", "offender_id", "share", "kind", "points",
                 "amount_yuan", "deducted_yuan", "capped_yuan", "domain", "code",
                 "title_zh", "title_en", "incident_id", "at")


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
    ]

    # -- events from the other services ----------------------------------------
    @on_event("directory", "employee_upserted")
    def on_employee_upserted(self, envelope):
        self.store.upsert_person(envelope["data"])

    @on_event("dormitory", "violation_recorded")
    def on_dormitory_violation(self, envelope):
        self._book_violation("dormitory", envelope)

    @on_event("attendance", "violation_recorded")
    def on_attendance_violation(self, envelope):
        self._book_violation(envelope["data"].get("domain") or "attendance", envelope)

    @on_event("complaints", "liability_determined")
    def on_liability(self, envelope):
        data = envelope["data"]
        at = parse_time(data["at"])
        year, month = period_of(at)
        entries = []
        for employee_id in data.get("employee_ids") or []:
            so_far = self.store.person_entries(employee_id, year, month)
            prior = prior_complaints(so_far, employee_id, data["number"], year, month,
                                     self.rules.policy)
            entries += complaint_entries(
                {"number": data["number"], "employee_id": employee_id, "at": at,
                 "fine_yuan": data.get("fine_yuan"), "attitude": data.get("attitude"),
                 "source": envelope["type"]},
                self.rules.catalogs, self.rules.policy, prior_complaints=prior,
                context=self._context(employee_id))
        self._commit(entries)

    @on_event("attendance", "violation_withdrawn")
    def on_attendance_withdrawn(self, envelope):
        data = envelope["data"]
        # Remembered first, so a withdrawal overtaking its violation (a retry
        # can reorder them) still stops the booking.
        self.store.mark_withdrawn(data["violation_id"], data.get("reason"))
        self._reverse_incident(data["violation_id"], f"withdrawn: {data.get('reason')}")

    def _reverse_incident(self, incident_id: str, reason: str) -> None:
        entries = self.store.incident_entries(incident_id)
        done = reversed_ids(entries)
        reversals = [reversal_of(e, at=utcnow(), actor={"id": "system", "role": "system"},
                                 reason=reason)
                     for e in entries if not e.get("reverses") and e["entry_id"] not in done]
        for stored in self.store.insert_entries(reversals):
            self.outbox.emit("penalty_reversed",
                             jsonable({**_issued(stored), "reverses": stored["reverses"]}),
                             key=stored["entry_id"])

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
        self._commit(book(incident, self.rules.catalogs, self._context(data["employee_id"])))

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
        entries = book(incident, self.rules.catalogs, self._context(payload["employee_id"]))
        return {"entries": self._commit(entries)}

    @operation(schemas.ServiceStar, idempotent=True)
    def award_service_star(self, payload):
        employee_id = payload["employee_id"]
        previous = self.store.person_entries(employee_id, payload["year"]) + \
            self.store.person_entries(employee_id, payload["year"] - 1)
        person = self.store.people([employee_id]).get(employee_id) or {}
        entries = service_star_entries(
            employee_id, year=payload["year"], month=payload["month"], at=payload["at"],
            previous=previous, catalogs=self.rules.catalogs, policy=self.rules.policy,
            unit=person.get("unit"), context=self._context(employee_id))
        return {"entries": self._commit(entries)}

    @operation(schemas.AccountQuery)
    def get_account(self, payload):
        entries = self.store.person_entries(payload["employee_id"], payload["year"])
        return account(payload["employee_id"], entries, self.rules.catalogs,
                       self.rules.policy, year=payload["year"], month=payload["month"])

    @operation(schemas.Appeal)
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
        appeal, reversals = decide_appeal(
            entry, upheld=payload["upheld"], actor=payload["actor"],
            at=payload["at"] or utcnow(), note=payload["note"],
            related=self.store.incident_entries(entry["incident_id"]))
        if not self.store.set_appeal(entry["entry_id"], appeal, "pending"):
            raise Conflict("the appeal was decided meanwhile; the decision is final")
        for stored in self.store.insert_entries(reversals):
            self.outbox.emit("penalty_reversed",
                             jsonable({**_issued(stored), "reverses": stored["reverses"]}),
                             key=stored["entry_id"])
        return {"entry": self._entry(entry["entry_id"]), "reversals": reversals}

    @operation(schemas.Period)
    def publication(self, payload):
        year, month = payload["year"], payload["month"]
        covered_year, covered_month = (year - 1, 12) if month == 1 else (year, month - 1)
        entries = self.store.month_entries(covered_year, covered_month)
        people = self.store.people({e["employee_id"] for e in entries})
        return publication(entries, people, year=year, month=month)

    @operation(schemas.Empty)
    def catalogs(self, payload):
        return self.rules.catalogs.describe()

    # -- the booking pipeline ------------------------------------------------------
    def _context(self, employee_id: str) -> dict:
        person = self.store.people([employee_id]).get(employee_id) or {}
        return {"reporting_line": {k: person.get(k) for k in (
            "team_leader_id", "manager_id", "unit_head_id", "group_leader_id")}}

    def _entry(self, entry_id: str) -> dict:
        entry = self.store.entry(entry_id)
        if entry is None:
            raise NotFound(f"ledger entry {entry_id} not found")
        return entry

    def _commit(self, entries: list[dict], check_thresholds: bool = True) -> list[dict]:
        """Cap, append, announce, then check thresholds for everyone touched."""
        if not entries:
            return []
        by_month = defaultdict(list)
        for entry in entries:
            by_month[(entry["year"], entry["month"])].append(entry)
        people = self.store.people({e["employee_id"] for e in entries})
        capped = []
        for (year, month), group in by_month.items():
            deducted = {
                who: sum(e.get("deducted_yuan", 0)
                         for e in self.store.person_entries(who, year, month))
                for who in {e["employee_id"] for e in group}}
            wages = {who: (people.get(who) or {}).get("monthly_wage_yuan")
                     for who in deducted}
            capped += apply_ceiling(group, wages=wages, deducted=deducted,
                                    policy=self.rules.policy)
        stored = self.store.insert_entries(capped)
        for entry in stored:
            self.outbox.emit("penalty_issued", jsonable(_issued(entry)),
                             key=entry["entry_id"])
        if check_thresholds:
            for employee_id, year in sorted({(e["employee_id"], e["year"]) for e in stored}):
                self._check_thresholds(employee_id, year)
        return stored

    def _check_thresholds(self, employee_id: str, year: int) -> None:
        entries = self.store.person_entries(employee_id, year)
        due = due_thresholds(employee_id, entries, self.rules.catalogs, self.rules.policy,
                             raised=self.store.raised_keys(employee_id),
                             context=self._context(employee_id))
        for threshold in due:
            # What a threshold books (the worst-of-month fine) is written
            # before the threshold itself, so a crash between them cannot
            # leave a raised threshold without its fine.
            if threshold["entries"]:
                self._commit(threshold["entries"], check_thresholds=False)
            if not self.store.record_threshold(threshold):
                continue
            self.outbox.emit("threshold_reached", jsonable({
                "employee_id": employee_id, "kind": threshold["kind"],
                "year": threshold["year"], "month": threshold["month"],
                "at": threshold["at"], "reason": threshold["reason"]}),
                key=threshold["threshold_id"])


def _issued(entry: dict) -> dict:
    return {k: entry.get(k) for k in ISSUED_FIELDS}


def _where(data: dict) -> str | None:
    if data.get("building") and data.get("room_no"):
        return f"{data['building']}-{data['room_no']}"
    return None
