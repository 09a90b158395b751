"""The complaints service: intake, lifecycle, SLA clocks, follow-up, liability, statistics
and the scheduled reports."""
import json

from nameko.web.handlers import http
from zhidu import spreadsheets
from zhidu.calendar import load_calendar
from zhidu.config import setting
from zhidu.metrics import Metrics
from zhidu.mongo import Mongo
from zhidu.operations import Route, operation
from zhidu.plugins import attach_event_sources
from zhidu.rulebook import RuleBook
from zhidu.service import ZhiduService
from zhidu.times import utcnow

from . import monitoring, reporting, schemas, sources, sweeping
from .domain import ComplaintRules
from .handling import Handling
from .policy import load_policy
from .store import ComplaintsStore

CASE = "/complaints/{number}"
REPORT = Route("GET", "/reports/{report_id}", "report")


def load_rules(config) -> ComplaintRules:
    """The SLA policy (``ZHIDU_COMPLAINTS_POLICY``) on the company calendar
    (``ZHIDU_CALENDAR_FILE``); a bad file stops the service at start-up."""
    return ComplaintRules(load_policy(setting(config, "ZHIDU_COMPLAINTS_POLICY") or None),
                          load_calendar(setting(config, "ZHIDU_CALENDAR_FILE") or None))


class ComplaintsService(ZhiduService):
    name = "complaints"
    store = Mongo(ComplaintsStore)
    metrics = Metrics(declare=monitoring.declare)
    rules = RuleBook(load_rules)
    report_schedule = RuleBook(reporting.load_schedule)
    routes = [
        Route("POST", "/complaints", "file", status=201),
        Route("GET", "/complaints", "search"),
        Route("GET", CASE, "get"),
        Route("POST", f"{CASE}/validity", "decide_validity"),
        Route("POST", f"{CASE}/acknowledgement", "acknowledge"),
        Route("POST", f"{CASE}/assignment", "assign"),
        Route("POST", f"{CASE}/feedback", "give_feedback"),
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
        REPORT,
        Route("POST", "/sweep", "sweep"),
        Route("GET", "/audit", "audit_log"),
        Route("POST", "/exports", "request_export", status=201),
        Route("POST", "/exports/{export_id}/approval", "approve_export"),
        Route("GET", "/exports/{export_id}", "export"),
    ]

    def _app(self) -> Handling:
        return Handling(self.store, self.rules, self.outbox, self.metrics)

    # -- intake and lifecycle ---------------------------------------------------------
    @operation(schemas.File, idempotent=True)
    def file(self, payload):
        return self._app().file(payload)

    @operation(schemas.DecideValidity, idempotent=True)
    def decide_validity(self, payload):
        return self._app().change("decide_validity", payload)

    @operation(schemas.Acknowledge, idempotent=True)
    def acknowledge(self, payload):
        return self._app().change("acknowledge", payload)

    @operation(schemas.Assign, idempotent=True)
    def assign(self, payload):
        return self._app().change("assign", payload)

    @operation(schemas.GiveFeedback, idempotent=True)
    def give_feedback(self, payload):
        return self._app().change("give_feedback", payload)

    @operation(schemas.AgreePlan, idempotent=True)
    def agree_plan(self, payload):
        return self._app().change("agree_plan", payload)

    @operation(schemas.SubmitReport, idempotent=True)
    def submit_report(self, payload):
        return self._app().change("submit_report", payload)

    @operation(schemas.ProposeRemedy, idempotent=True)
    def propose_remedy(self, payload):
        return self._app().change("propose_remedy", payload)

    @operation(schemas.Command, idempotent=True)
    def approve_remedy(self, payload):
        return self._app().change("approve_remedy", payload)

    @operation(schemas.Resolve, idempotent=True)
    def resolve(self, payload):
        return self._app().change("resolve", payload)

    @operation(schemas.FollowUp, idempotent=True)
    def follow_up(self, payload):
        return self._app().change("follow_up", payload)

    @operation(schemas.Pause, idempotent=True)
    def pause(self, payload):
        return self._app().change("pause", payload)

    @operation(schemas.Command, idempotent=True)
    def resume(self, payload):
        return self._app().change("resume", payload)

    @operation(schemas.DetermineLiability, idempotent=True)
    def determine_liability(self, payload):
        return self._app().change("determine_liability", payload)

    # -- reads --------------------------------------------------------------------
    @operation(schemas.Get)
    def get(self, payload):
        return self._app().get(payload["number"], payload["actor"])

    @operation(schemas.Search)
    def search(self, payload):
        return self._app().search(payload)

    @operation(schemas.AuditLog)
    def audit_log(self, payload):
        return self._app().audit_log(payload["number"], payload["limit"])

    @operation(schemas.Stats)
    def stats(self, payload):
        return self._app().stats(payload["year"], payload["month"], payload["basis"])

    # -- exports of customer data (001 §2 3.4.1) ------------------------------------------
    @operation(schemas.RequestExport, idempotent=True)
    def request_export(self, payload):
        return self._app().request_export(payload["since"], payload["until"],
                                          payload["reason"], payload["actor"])

    @operation(schemas.ExportRef)
    def approve_export(self, payload):
        return self._app().approve_export(payload["export_id"], payload["actor"])

    @operation(schemas.ExportRef)
    def export(self, payload):
        return self._app().take_export(payload["export_id"], payload["actor"])

    # -- who the permissions file's relations and subjects name ---------------------
    def relation_desk(self, principal, payload) -> bool:
        return self._app().works_at_desk(principal)

    def relation_case_owner(self, principal, payload) -> bool:
        return self._app().owns_case(principal, payload.get("number"))

    def relation_liability_authority(self, principal, payload) -> bool:
        return self._app().may_decide_liability(principal, payload.get("number"))

    def subject_remedy_proposer(self, payload):
        return self._app().remedy_proposer(payload.get("number"))

    def subject_export_requester(self, payload):
        return self._app().export_requester(payload.get("export_id"))

    # -- scheduled reports (rules §2 Reports; reporting.py) ---------------------------
    @operation(schemas.ReportRef)
    def report(self, payload):
        return reporting.report_file(self._app(), self.report_schedule, payload["report_id"],
                                     payload["format"])

    # The report as a file to save: the operation's answer (same rights, same
    # refusals), its XLSX or CSV sent as the file itself.
    @http("GET", "/api/v1/complaints/reports/<report_id>.<any(xlsx,csv):ext>")
    def http_report_file(self, request, report_id, ext):
        refused = self._refuse_host(request)
        if refused is not None:
            return refused
        answer = self._dispatch(REPORT, {"report_id": report_id, "format": ext}, request)
        if answer.status_code != 200:
            return answer
        file = json.loads(answer.get_data())
        return spreadsheets.download(file, file["ascii_filename"])

    def relation_report_reader(self, principal, payload) -> bool:
        return reporting.may_read(self._app(), self.report_schedule, principal,
                                  payload.get("report_id"))

    # -- timers -------------------------------------------------------------------
    # Units of work of up to 50 cases, not one for the whole sweep (see sweeping.py);
    # then the reports falling due, one unit each (reporting.py).
    @operation(schemas.Sweep, unit=False)
    def sweep(self, payload):
        return reporting.sweep(self._app(), self.report_schedule, payload["now"])

    @sweeping.SweepTimer.decorator("ZHIDU_SWEEP_INTERVAL")
    def sweep_timer(self):
        reporting.sweep(self._app(), self.report_schedule, utcnow())

    def refresh_metrics(self) -> None:
        self._app().refresh_gauges(utcnow())
        reporting.refresh_gauges(self.store, self.report_schedule, self.metrics,
                                 self.rules.calendar.tz, utcnow())


# Cases other departments' packages open by event (sources.GROUP): a repair the
# customer is still unhappy with, say.
attach_event_sources(ComplaintsService, sources.GROUP, sources.handler)
