"""The complaints service: intake, lifecycle, SLA clocks, follow-up, liability, statistics."""
import logging
import uuid

from pymongo.errors import PyMongoError
from zhidu.errors import Conflict, NotFound, ValidationError
from zhidu.events import config_timer
from zhidu.metrics import Metrics
from zhidu.mongo import Mongo
from zhidu.operations import Route, operation
from zhidu.service import ZhiduService
from zhidu.times import utcnow

from . import monitoring, schemas, stats_pipeline, sweeping, views
from .handling import Handling
from .rules_provider import Rules
from .store import ComplaintsStore

CASE = "/complaints/{number}"
log = logging.getLogger(__name__)


class ComplaintsService(ZhiduService):
    name = "complaints"
    store = Mongo(ComplaintsStore)
    metrics = Metrics(declare=monitoring.declare)
    rules = Rules()
    routes = [
        Route("POST", "/complaints", "file", status=201),
        Route("GET", "/complaints", "search"),
        Route("GET", CASE, "get"),
        Route("POST", f"{CASE}/validity", "decide_validity"),
        Route("POST", f"{CASE}/acknowledgement", "acknowledge"),
        Route("POST", f"{CASE}/assignment", "assign"),
        Route("POST", f"{CASE}/plan", "agree_plan"),
        Route("POST", f"{CASE}/report", "submit_report"),
        Route("POST", f"{CASE}/remedy", "propose_remedy"),
        Route("POST", f"{CASE}/remedy/approval", "approve_remedy"),
        Route("POST", f"{CASE}/resolution", "resolve"),
        Route("POST", f"{CASE}/follow-up", "follow_up"),
        Route("POST", f"{CASE}/pause", "pause"),
        Route("POST", f"{CASE}/resume", "resume"),
        Route("POST", f"{CASE}/liability", "determine_liability"),
        Route("GET", "/stats/{year}/{month}", "stats"),
        Route("POST", "/sweep", "sweep"),
        Route("GET", "/audit", "audit_log"),
        Route("POST", "/exports", "request_export", status=201),
        Route("POST", "/exports/{export_id}/approval", "approve_export"),
        Route("GET", "/exports/{export_id}", "export"),
    ]
    EXPORT_LIMIT = 10_000

    def _handling(self) -> Handling:
        return Handling(self.store, self.rules, self.outbox, self.metrics)

    def _change(self, payload, command, *fields):
        case = self._handling().change(
            payload["number"], command, at=payload["at"], actor=payload["actor"],
            **{name: payload[name] for name in fields})
        return views.summary(case)

    # -- intake and lifecycle ---------------------------------------------------------
    @operation(schemas.File, idempotent=True)
    def file(self, payload):
        actor = payload.pop("actor")
        return views.filed(self._handling().file(payload, actor))

    @operation(schemas.DecideValidity, idempotent=True)
    def decide_validity(self, payload):
        return self._change(payload, "decide_validity", "valid", "reason")

    @operation(schemas.Acknowledge, idempotent=True)
    def acknowledge(self, payload):
        return self._change(payload, "acknowledge", "next_reply_at")

    @operation(schemas.Assign, idempotent=True)
    def assign(self, payload):
        return self._change(payload, "assign", "department", "owner_id")

    @operation(schemas.AgreePlan, idempotent=True)
    def agree_plan(self, payload):
        return self._change(payload, "agree_plan", "plan")

    @operation(schemas.SubmitReport, idempotent=True)
    def submit_report(self, payload):
        return self._change(payload, "submit_report", "root_cause")

    @operation(schemas.ProposeRemedy, idempotent=True)
    def propose_remedy(self, payload):
        return self._change(payload, "propose_remedy", "remedy", "amount_yuan")

    @operation(schemas.Command, idempotent=True)
    def approve_remedy(self, payload):
        return self._change(payload, "approve_remedy")

    @operation(schemas.Resolve, idempotent=True)
    def resolve(self, payload):
        return self._change(payload, "resolve", "resolution")

    @operation(schemas.FollowUp, idempotent=True)
    def follow_up(self, payload):
        return self._change(payload, "follow_up", "satisfied", "note")

    @operation(schemas.Pause, idempotent=True)
    def pause(self, payload):
        return self._change(payload, "pause", "reason")

    @operation(schemas.Command, idempotent=True)
    def resume(self, payload):
        return self._change(payload, "resume")

    @operation(schemas.DetermineLiability, idempotent=True)
    def determine_liability(self, payload):
        return self._change(payload, "determine_liability", "department", "employee_ids",
                            "fine_yuan", "attitude", "party")

    # -- reads --------------------------------------------------------------------
    @operation(schemas.Get)
    def get(self, payload):
        case = self.store.get(payload["number"])
        if case is None:
            raise NotFound(f"complaint {payload['number']} not found")
        self._audit(payload["actor"], [case], "get")
        return views.full(case, payload["actor"]["role"], self.rules.policy)

    @operation(schemas.Search)
    def search(self, payload):
        actor = payload.pop("actor")
        cases = self.store.search(**payload)
        self._audit(actor, cases, "search")
        return [views.listed(case, actor["role"], self.rules.policy) for case in cases]

    def _audit(self, actor, cases, operation_name):
        numbers = views.revealed(cases, actor["role"], self.rules.policy)
        self.store.audit_reads(actor, numbers, operation_name)

    @operation(schemas.AuditLog)
    def audit_log(self, payload):
        # Who may read it (it_admin, info_officer; 001 §2) is in permissions.yaml.
        return self.store.audit_log(payload["number"], payload["limit"])

    # -- exports of customer data: requested, approved by the GM, then taken ------------
    @operation(schemas.RequestExport, idempotent=True)
    def request_export(self, payload):
        if payload["until"] <= payload["since"]:
            raise ValidationError({"until": ["must be after since"]})
        export = {"export_id": uuid.uuid4().hex, "since": payload["since"],
                  "until": payload["until"], "reason": payload["reason"],
                  "status": "awaiting_approval", "requested_by": payload["actor"],
                  "requested_at": utcnow(), "approved_by": None, "approved_at": None,
                  "exported_at": None}
        self.store.create_export(export)
        return export

    @operation(schemas.ExportRef)
    def approve_export(self, payload):
        export = self._export(payload["export_id"])
        if not self.store.update_export(export["export_id"], "awaiting_approval", {
                "status": "approved", "approved_by": payload["actor"],
                "approved_at": utcnow()}):
            raise Conflict(f"export {export['export_id']} is {export['status']}, "
                           "not awaiting approval")
        return self._export(export["export_id"])

    @operation(schemas.ExportRef)
    def export(self, payload):
        export = self._export(payload["export_id"])
        if export["status"] != "approved":
            raise Conflict(f"export {export['export_id']} is {export['status']}: the GM's "
                           "approval comes first (001 §2 3.4.1)")
        cases = self.store.received_between(export["since"], export["until"],
                                            self.EXPORT_LIMIT)
        # Exported data leaves unmasked; each case is audited as read.
        self.store.audit_reads(payload["actor"], [c["number"] for c in cases], "export")
        self.store.update_export(export["export_id"], "approved",
                                 {"status": "exported", "exported_at": utcnow()})
        return {**export, "status": "exported",
                "cases": [views.full(case, "it_admin", self.rules.policy, reveal=True)
                          for case in cases]}

    def _export(self, export_id: str) -> dict:
        export = self.store.get_export(export_id)
        if export is None:
            raise NotFound(f"export {export_id} not found")
        return export

    # -- who the permissions file's relations and subjects name ---------------------
    def relation_desk(self, principal, payload) -> bool:
        person = principal.person or {}
        return person.get("department") in self.rules.policy.desk_departments

    def relation_case_owner(self, principal, payload) -> bool:
        case = self.store.get(payload.get("number") or "")
        return case is not None and case.get("owner_id") == principal.id

    def relation_liability_authority(self, principal, payload) -> bool:
        case = self.store.get(payload.get("number") or "")
        if case is None:
            # Nothing to protect: let whoever could ever decide liability hear NotFound.
            return bool({"hr", "gm_office"} & set(principal.roles))
        needed = "hr" if case.get("kind") == "internal" else "gm_office"
        return needed in principal.roles

    def subject_remedy_proposer(self, payload):
        case = self.store.get(payload.get("number") or "")
        remedies = (case or {}).get("remedies") or []
        return remedies[-1].get("proposed_by") if remedies else None

    def subject_export_requester(self, payload):
        export = self.store.get_export(payload.get("export_id") or "")
        return ((export or {}).get("requested_by") or {}).get("id")

    @operation(schemas.Stats)
    def stats(self, payload):
        start, end = stats_pipeline.month_bounds(payload["year"], payload["month"],
                                                 self.rules.calendar.tz)
        field = "concluded_at" if payload["basis"] == "concluded" else "received_at"
        table = stats_pipeline.shape_monthly(self.store.monthly(field, start, end),
                                             stats_pipeline.followup_clocks(self.rules.policy))
        return {"year": payload["year"], "month": payload["month"],
                "basis": payload["basis"], "from": start, "until": end, **table}

    # -- timers -------------------------------------------------------------------
    @operation(schemas.Sweep)
    def sweep(self, payload):
        return self._sweep(payload["now"])

    @config_timer("ZHIDU_SWEEP_INTERVAL")
    def sweep_timer(self):
        self._sweep(utcnow())
        self.outbox.persist()

    def _sweep(self, now):
        report = sweeping.sweep(self._handling(), now, persist=self.outbox.persist)
        return report.as_dict()

    def refresh_metrics(self) -> None:
        try:
            groups = self.store.open_clocks()
        except PyMongoError:
            # Still serve the counters: a failed scrape would read as the
            # service being down, when it is the database (health says which).
            log.warning("open-clock gauges not refreshed", exc_info=True)
            return
        monitoring.refresh_gauges(self.metrics, groups, self.rules.policy.clocks, utcnow())
