"""The complaints service: intake, lifecycle, SLA clocks, follow-up, liability, statistics."""
import logging

from pymongo.errors import PyMongoError
from zhidu.errors import NotFound, PermissionDenied
from zhidu.events import config_timer
from zhidu.metrics import Metrics
from zhidu.mongo import Mongo
from zhidu.operations import Route, operation
from zhidu.service import ZhiduService
from zhidu.times import utcnow

from . import masking, monitoring, schemas, stats_pipeline, sweeping, views
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
    ]

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
        # Who read whose contact data is itself confidential (001 §2): only the
        # roles that administer customer information may read it.
        if not masking.can_read_contacts(payload["actor"]["role"], self.rules.policy):
            raise PermissionDenied("the audit of contact reads is for it_admin and "
                                   "info_officer")
        return self.store.audit_log(payload["number"], payload["limit"])

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
