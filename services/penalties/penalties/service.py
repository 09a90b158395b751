"""The penalties service: one ledger per employee per year, fed by events.

Entry points only: each validates its payload (the schema) and hands the
worker's unit of work to one application function (app.py). Complaint
liabilities are drafted as penalty notices and booked once the charged
people's supervisors and then the GM approve them (notices.py); who may call
each operation is rules/permissions.yaml, resolved against the ``subject_*``
and ``relation_*`` methods below.
"""
from __future__ import annotations

from zhidu.config import setting
from zhidu.events import config_timer, on_event
from zhidu.metrics import Metrics
from zhidu.mongo import Mongo
from zhidu.operations import Route, operation
from zhidu.plugins import attach_event_sources
from zhidu.rulebook import RuleBook
from zhidu.service import ZhiduService
from zhidu.times import parse_time, utcnow

from . import app, plugins, schemas
from .rulebook import load_rules
from .store import PenaltiesStore


def _declare_metrics(registry):
    from prometheus_client import Gauge

    return {"publication_last_issued": Gauge(
        "zhidu_penalties_publication_last_issued_timestamp_seconds",
        "Unix time the newest monthly publication (公示) was issued; 0 when none was.",
        registry=registry)}


class PenaltiesService(ZhiduService):
    name = "penalties"
    store = Mongo(PenaltiesStore)
    metrics = Metrics(_declare_metrics)
    rules = RuleBook(load_rules)
    routes = [
        Route("POST", "/entries", "record_penalty", status=201),
        Route("POST", "/service-stars", "award_service_star", status=201),
        Route("GET", "/accounts/{employee_id}/{year}", "get_account"),
        Route("GET", "/units/{unit}/{year}", "get_unit_account"),
        Route("POST", "/entries/{entry_id}/appeal", "appeal"),
        Route("POST", "/entries/{entry_id}/decision", "decide_appeal"),
        Route("GET", "/publications/{year}/{month}", "publication"),
        Route("GET", "/catalogs", "catalogs"),
        Route("GET", "/notices", "list_notices"),
        Route("POST", "/notices/{notice_id}/decision", "decide_notice"),
        Route("POST", "/sweep", "sweep"),
    ]

    # -- events from the other services ----------------------------------------
    # Entries are keyed by the violation and only new ones are announced.
    @on_event("dormitory", "violation_recorded", keyed=True)
    def on_dormitory_violation(self, envelope):
        app.book_violation(self.store, self.outbox, self.rules, "dormitory", envelope,
                           withdrawable=False, approver_role=self.approver_role)

    # Damage paid at cost (000 §5 三.9); the entry is keyed by the revocation.
    @on_event("dormitory", "accommodation_revoked", keyed=True)
    def on_accommodation_revoked(self, envelope):
        app.book_damage(self.store, self.outbox, self.rules, envelope)

    @on_event("attendance", "violation_recorded")
    def on_attendance_violation(self, envelope):
        app.book_violation(self.store, self.outbox, self.rules,
                           envelope["data"].get("domain") or "attendance", envelope,
                           withdrawable=True, approver_role=self.approver_role)

    @on_event("attendance", "violation_withdrawn")
    def on_attendance_withdrawn(self, envelope):
        app.withdraw_violation(self.store, self.outbox, self.rules, envelope["data"])

    @on_event("complaints", "liability_determined")
    def on_liability(self, envelope):
        app.determine_liability(self.store, self.outbox, self.rules, envelope,
                                approver_role=self.approver_role)

    # The wage the ceiling on deductions is worked out from (工资支付暂行规定 art. 16)
    # comes in an event of its own, which only this service receives; it is
    # stamped apart from the rest of the person's copy, so neither event's
    # newest version is refused for the other's being newer.
    @on_event("directory", "employee_wage_changed")
    def on_wage_changed(self, envelope):
        data = envelope["data"]
        self.store.copy_newer("people", data["employee_id"],
                              {"monthly_wage_yuan": data.get("monthly_wage_yuan")},
                              parse_time(envelope["time"]), stamp="wage_as_of")

    # -- operations -------------------------------------------------------------
    @operation(schemas.RecordPenalty, idempotent=True)
    def record_penalty(self, payload):
        return app.record_penalty(self.store, self.outbox, self.rules, payload,
                                  vet=app.Authority(self.identity, self, "record_penalty"))

    @operation(schemas.ServiceStar, idempotent=True)
    def award_service_star(self, payload):
        return app.award_service_star(self.store, self.outbox, self.rules, payload,
                                      vet=app.Authority(self.identity, self,
                                                        "award_service_star"))

    @operation(schemas.AccountQuery)
    def get_account(self, payload):
        return app.get_account(self.store, self.rules, payload)

    @operation(schemas.UnitAccountQuery)
    def get_unit_account(self, payload):
        return app.get_unit_account(self.store, payload)

    @operation(schemas.Appeal, idempotent=True)
    def appeal(self, payload):
        return app.appeal(self.store, payload)

    @operation(schemas.DecideAppeal)
    def decide_appeal(self, payload):
        return app.decide_appeal(self.store, self.outbox, self.rules, payload)

    # -- penalty notices (奖罚通知单, 001 §1 第十二条(二)) ----------------------------
    @operation(schemas.ListNotices)
    def list_notices(self, payload):
        return app.list_notices(self.store, payload)

    @operation(schemas.DecideNotice)
    def decide_notice(self, payload):
        return app.decide_notice(self.store, self.outbox, self.rules, payload,
                                 signer=app.signs_notices(self.identity))

    @operation(schemas.Period)
    def publication(self, payload):
        return app.publication(self.store, payload["year"], payload["month"])

    # A unit per organisational unit announced, not one for the whole month.
    @operation(schemas.Sweep, unit=False)
    def sweep(self, payload):
        return app.sweep(self.store, self.outbox, payload["now"],
                         int(setting(self.config, "ZHIDU_PENALTY_PUBLICATION_DAY", "2")))

    @config_timer("ZHIDU_SWEEP_INTERVAL")
    def sweep_timer(self):
        self.sweep({"now": utcnow().isoformat()})

    @operation(schemas.Empty)
    def catalogs(self, payload):
        return self.rules.catalogs.describe()

    # -- whom the permissions file's subjects name ------------------------------------
    def subject_entry_holder(self, payload):
        return app.entry_holder(self.store, payload.get("entry_id"), self.identity.principal)

    def subject_appellant(self, payload):
        return app.appellant(self.store, payload.get("entry_id"))

    def subject_notice_party(self, payload):
        return app.notice_party(self.store, payload.get("notice_id"), self.identity.principal)

    def relation_notice_approver(self, principal, payload) -> bool:
        return app.notice_approver(self.store, payload.get("notice_id"), principal)

    @property
    def approver_role(self) -> str:
        return app.approver_role(self.identity.provider.permissions)

    def refresh_metrics(self) -> None:
        # From the database, so a restart or another replica reports the same.
        self.metrics["publication_last_issued"].set(self.store.last_publication_timestamp())


def _book_declared(source):
    plugins.check_violation_source(source)

    def handle(self, envelope):
        return app.book_declared_violation(self.store, self.outbox, self.rules, source,
                                           envelope, approver_role=self.approver_role)
    return handle


# The violations other departments' packages declare (plugins.SOURCE_GROUP),
# keyed by the violation as the dormitory's are.
attach_event_sources(PenaltiesService, plugins.SOURCE_GROUP, _book_declared, keyed=True)
