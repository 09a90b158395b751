"""The repairs service: work orders, dispatch, clocks, charges, callbacks."""
import base64
import json
from urllib.parse import quote

from nameko.web.handlers import http
from werkzeug.wrappers import Response
from zhidu.calendar import load_calendar
from zhidu.config import setting
from zhidu.events import config_timer
from zhidu.metrics import Metrics
from zhidu.mongo import Mongo
from zhidu.operations import Route, operation
from zhidu.rulebook import RuleBook
from zhidu.service import ZhiduService
from zhidu.times import utcnow

from . import monitoring, schemas
from .app import Repairs
from .domain import RepairRules
from .policy import load_policy
from .store import RepairsStore

ORDER = "/orders/{number}"
REGISTER = Route("GET", "/paid-register/{year}/{month}", "paid_service_register")


def load_rules(config) -> RepairRules:
    """The policy (``ZHIDU_REPAIRS_POLICY``), tariff (``ZHIDU_REPAIRS_TARIFF``) and
    company calendar (``ZHIDU_CALENDAR_FILE``); a bad file stops the service."""
    return RepairRules(load_policy(setting(config, "ZHIDU_REPAIRS_POLICY") or None,
                                   setting(config, "ZHIDU_REPAIRS_TARIFF") or None),
                       load_calendar(setting(config, "ZHIDU_CALENDAR_FILE") or None))


class RepairsService(ZhiduService):
    name = "repairs"
    store = Mongo(RepairsStore)
    metrics = Metrics(declare=monitoring.declare)
    rules = RuleBook(load_rules)
    routes = [
        Route("POST", "/orders", "take_request", status=201),
        Route("GET", "/orders", "search"),
        Route("GET", ORDER, "get"),
        Route("POST", f"{ORDER}/dispatch", "dispatch"),
        Route("POST", f"{ORDER}/appointment", "set_appointment"),
        Route("POST", f"{ORDER}/calls", "record_call"),
        Route("POST", f"{ORDER}/arrival", "record_arrival"),
        Route("POST", f"{ORDER}/survey", "record_survey"),
        Route("POST", f"{ORDER}/quote", "quote"),
        Route("POST", f"{ORDER}/consent", "record_consent"),
        Route("POST", f"{ORDER}/extension", "extend"),
        Route("POST", f"{ORDER}/completion", "complete"),
        Route("POST", f"{ORDER}/audit", "decide_audit"),
        Route("POST", f"{ORDER}/callback", "call_back"),
        Route("POST", f"{ORDER}/complaint", "escalate_to_complaint"),
        Route("GET", "/tariff", "tariff"),
        Route("GET", "/stats/{year}/{month}", "stats"),
        REGISTER,
        Route("POST", "/sweep", "sweep"),
    ]

    def _app(self) -> Repairs:
        return Repairs(self.store, self.rules, self.outbox, self.metrics)

    @operation(schemas.Take, idempotent=True)
    def take_request(self, payload):
        return self._app().take(payload)

    @operation(schemas.Dispatch, idempotent=True)
    def dispatch(self, payload):
        return self._app().change("dispatch", payload)

    @operation(schemas.Appointment, idempotent=True)
    def set_appointment(self, payload):
        return self._app().change("set_appointment", payload)

    @operation(schemas.Call, idempotent=True)
    def record_call(self, payload):
        return self._app().change("record_call", payload)

    @operation(schemas.Command, idempotent=True)
    def record_arrival(self, payload):
        return self._app().change("record_arrival", payload)

    @operation(schemas.Survey, idempotent=True)
    def record_survey(self, payload):
        return self._app().change("record_survey", payload)

    @operation(schemas.Quote, idempotent=True)
    def quote(self, payload):
        return self._app().change("quote", payload)

    @operation(schemas.Consent, idempotent=True)
    def record_consent(self, payload):
        return self._app().change("record_consent", payload)

    @operation(schemas.Extend, idempotent=True)
    def extend(self, payload):
        return self._app().change("extend", payload)

    @operation(schemas.Complete, idempotent=True)
    def complete(self, payload):
        return self._app().change("complete", payload)

    @operation(schemas.Audit, idempotent=True)
    def decide_audit(self, payload):
        return self._app().change("decide_audit", payload)

    @operation(schemas.Callback, idempotent=True)
    def call_back(self, payload):
        return self._app().change("call_back", payload)

    @operation(schemas.ToComplaint, idempotent=True)
    def escalate_to_complaint(self, payload):
        return self._app().change("escalate_to_complaint", payload)

    @operation(schemas.Get)
    def get(self, payload):
        return self._app().get(payload["number"])

    @operation(schemas.Search)
    def search(self, payload):
        return self._app().search(payload)

    @operation(schemas.Empty)
    def tariff(self, payload):
        return self._app().tariff()

    @operation(schemas.Stats)
    def stats(self, payload):
        return self._app().stats(payload["year"], payload["month"])

    @operation(schemas.Register)
    def paid_service_register(self, payload):
        return self._app().paid_service_register(payload["year"], payload["month"])

    # The register as a file to save: the operation's answer (same rights, same
    # refusals), its XLSX or CSV sent as the file itself.
    @http("GET", "/api/v1/repairs/paid-register/<int:year>/<int:month>.<any(xlsx,csv):ext>")
    def http_paid_register_file(self, request, year, month, ext):
        refused = self._refuse_host(request)
        if refused is not None:
            return refused
        answer = self._dispatch(REGISTER, {"year": str(year), "month": str(month)}, request)
        if answer.status_code != 200:
            return answer
        file = json.loads(answer.get_data())["files"][ext]
        ascii_name = f"paid-service-register-{year}-{month:02d}.{ext}"
        return Response(base64.b64decode(file["base64"]), content_type=file["media_type"],
                        headers={"Content-Disposition": f'attachment; filename="{ascii_name}"; '
                                 f"filename*=UTF-8''{quote(file['filename'])}"})

    # -- who the permissions file's relations and subjects name ---------------------
    def relation_desk(self, principal, payload) -> bool:
        return self._app().at_desk(principal)

    def relation_engineering(self, principal, payload) -> bool:
        return self._app().in_engineering(principal)

    def relation_engineering_supervisor(self, principal, payload) -> bool:
        return self._app().supervises_engineering(principal)

    def relation_assigned_engineer(self, principal, payload) -> bool:
        return self._app().assigned_engineer(principal, payload.get("number"))

    def relation_audit_department(self, principal, payload) -> bool:
        return self._app().in_audit(principal)

    def subject_completing_engineer(self, payload):
        return self._app().completing_engineer(payload.get("number"))

    # -- timers: a unit of work per order, not one for the whole sweep ---------------
    @operation(schemas.Sweep, unit=False)
    def sweep(self, payload):
        return self._app().sweep(payload["now"])

    @config_timer("ZHIDU_SWEEP_INTERVAL")
    def sweep_timer(self):
        self._app().sweep(utcnow())

    def refresh_metrics(self) -> None:
        self._app().refresh_gauges()
