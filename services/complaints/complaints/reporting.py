"""The complaint reports on their schedule: produced by the sweep, stored, announced,
downloaded (rules §2 Reports; what each report is: :mod:`complaints.reports`).

Each report is produced once per period however many replicas sweep: the
sweep reads the period's cases outside any transaction, then stores each
report and emits its ``report_produced`` in one unit of work keyed by the
report's id. A replica that comes second finds the report stored (or hits
its duplicate key, and its unit runs again to find it) and emits nothing;
the event id derives from the report id, so even a re-run emission is one
event. When every department's report of a period is stored, the period is
marked produced; the mark is what the lateness gauge reads, so a week in
which no complaint came in counts as reported, with nothing to send.

The stored report holds the figures, not the files: XLSX and CSV are
written from it on each download, so they always agree with each other and
with what was announced.
"""
from __future__ import annotations

import functools
import logging
from datetime import datetime

from pymongo.errors import PyMongoError
from zhidu import spreadsheets
from zhidu.config import setting
from zhidu.domain import DomainNotFound
from zhidu.times import as_utc

from . import reports, stats_pipeline
from .reports import ALL, EXTERNAL, INTERNAL, ReportRule, Schedule

log = logging.getLogger(__name__)

# A week's cases of all departments are read in one query; more than this in
# one week would be a load test, not a week.
WEEKLY_LIMIT = 20_000
EVENT = "report_produced"


def load_schedule(config) -> Schedule:
    """The reports' schedule (``ZHIDU_COMPLAINTS_REPORTS``, else the shipped
    ``rules/reports.yaml``); a bad file stops the service at start-up."""
    return reports.load_schedule(setting(config, "ZHIDU_COMPLAINTS_REPORTS") or None)


# -- the sweep -------------------------------------------------------------------------------
def sweep(handling, schedule: Schedule, now: datetime) -> dict:
    """The SLA sweep (:mod:`complaints.sweeping`), then the reports falling due."""
    return {**handling.sweep(now), "reports": produce_due(handling, schedule, now)}


def produce_due(handling, schedule: Schedule, now: datetime) -> list[str]:
    """Produce every report whose period has ended and whose time has come; the ids
    this call stored (another replica's are not listed)."""
    tz = handling.rules.calendar.tz
    produced = []
    for rule in schedule.rules.values():
        period = reports.due_to_produce(rule, now, tz)
        if period is None:
            continue
        marker = reports.period_marker(rule.kind, period)
        if handling.store.report_period_done(marker):
            continue
        documents = _documents(handling, schedule, rule, period, now)
        for doc in documents:
            if _store(handling, doc, now):
                produced.append(doc["report_id"])
        ids = [d["report_id"] for d in documents]
        handling.store.unit(functools.partial(
            handling.store.mark_report_period, marker, rule.kind, period.key,
            as_utc(now), ids))
        log.info("complaint reports %s %s produced: %d", rule.kind, period.key, len(ids))
    return produced


def _documents(handling, schedule: Schedule, rule: ReportRule, period: reports.Period,
               now: datetime) -> list[dict]:
    store, tz = handling.store, handling.rules.calendar.tz
    start, end = period.bounds(tz)
    field = "concluded_at" if rule.basis == "concluded" else "received_at"
    if rule.per_department:
        cases = store.cases_between(field, start, end, WEEKLY_LIMIT)
        return reports.weekly(rule, period, cases, tz=tz, produced_at=now,
                              desk_department=handling.rules.policy.desk_departments[0],
                              schedule=schedule)
    followups = stats_pipeline.followup_clocks(handling.rules.policy)
    tables = {kind: stats_pipeline.shape_monthly(
        store.monthly(field, start, end, kind=None if kind == ALL else kind), followups)
        for kind in (EXTERNAL, INTERNAL, ALL)}
    return [reports.rollup(rule, period, tables, tz=tz, produced_at=now, schedule=schedule)]


def _store(handling, doc: dict, now: datetime) -> bool:
    """Store ``doc`` and announce it in one unit, unless it is stored already."""
    store, outbox = handling.store, handling.outbox

    def unit():
        if store.report(doc["report_id"]) is not None:
            return False
        store.insert_report(doc)
        outbox.emit(EVENT, reports.event_data(doc), key=doc["report_id"], at=now)
        outbox.persist()
        return True

    mark = outbox.mark()
    return store.unit(unit, on_retry=lambda: outbox.rollback(mark))


# -- reads -----------------------------------------------------------------------------------
def report_file(handling, schedule: Schedule, report_id: str, fmt: str) -> dict:
    """A stored report as a file: its summary, the file name, media type and base64."""
    doc = handling.store.report(report_id)
    if doc is None:
        raise DomainNotFound(f"report {report_id} not found")
    sheets = reports.sheets(doc, schedule, handling.rules.calendar.tz)
    return {**reports.summary(doc),
            **spreadsheets.file(sheets, reports.file_stem(doc), fmt),
            "ascii_filename": reports.ascii_name(doc, fmt)}


def may_read(handling, schedule: Schedule, principal, report_id: str | None) -> bool:
    """The relation ``report_reader`` (permissions.yaml): the caller is one of the
    report's readers (rules/reports.yaml). A report that does not exist leaves
    nothing to protect: a holder of any reader role hears NotFound."""
    doc = handling.store.report(report_id or "")
    if doc is None:
        return bool(schedule.reader_roles & set(principal.roles))
    department = (principal.person or {}).get("department")
    return reports.may_read(doc, schedule.rule(doc["kind"]), principal.roles, department)


# -- lateness ----------------------------------------------------------------------------------
def refresh_gauges(store, schedule: Schedule, metrics, tz, now: datetime) -> None:
    """Per kind: when its newest period was produced, and since when one must have
    been (the end of the newest period past its deadline); the alert compares them."""
    if metrics is None:
        return
    try:
        produced = store.last_reports_produced(list(schedule.rules))
    except PyMongoError:
        log.warning("report gauges not refreshed", exc_info=True)
        return
    for kind, rule in schedule.rules.items():
        metrics["reports_last_produced"].labels(kind).set(produced.get(kind, 0.0))
        since = reports.expected_since(rule, now, tz)
        metrics["reports_expected_since"].labels(kind).set(
            since.timestamp() if since is not None else 0.0)
