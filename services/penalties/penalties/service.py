"""The penalties service: one ledger per employee per year, fed by events."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from zhidu.config import setting
from zhidu.errors import Conflict, NotFound, ValidationError
from zhidu.events import config_timer, on_event
from zhidu.mongo import Mongo
from zhidu.operations import Route, operation
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
                context=self.ledger.context(employee_id))
        self.ledger.commit(entries)

    @on_event("attendance", "violation_withdrawn")
    def on_attendance_withdrawn(self, envelope):
        data = envelope["data"]
        # Remembered first, so a withdrawal overtaking its violation (a retry
        # can reorder them) still stops the booking.
        self.store.mark_withdrawn(data["violation_id"], data.get("reason"))
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
        ledger.commit(book(incident, self.rules.catalogs, ledger.context(data["employee_id"])))
        # A withdrawal handled while this booking ran found nothing to reverse;
        # it marked the violation first, so looking again now catches it.
        if self.store.is_withdrawn(data["violation_id"]):
            ledger.reverse_incident(data["violation_id"], "withdrawn at its source")

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
