"""The scheduled reports' application layer (complaints/reporting.py) on an
in-memory store: the sweep produces each report once per period, another
replica's report is never produced again, downloads read back, readers."""
from __future__ import annotations

import base64
import copy
import csv
import io
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
from complaints import reporting, reports, stats
from complaints.handling import Handling
from complaints.monitoring import declare
from openpyxl import load_workbook
from prometheus_client import CollectorRegistry
from pymongo.errors import DuplicateKeyError
from zhidu.domain import DomainNotFound
from zhidu.fakes import FakeOutbox
from zhidu.identity import Principal
from zhidu.uow import StaleWrite

from .conftest import FakeStore


class ReportStore(FakeStore):
    """The fake store with the reports' methods. ``slip_report`` stores a report
    as another replica would, committed, just before this unit inserts its own."""

    def __init__(self, policy):
        super().__init__()
        self.policy = policy
        self.reports: dict[str, dict] = {}
        self.periods: dict[str, dict] = {}
        self.slip_report = None
        self.others: dict[str, dict] = {}   # committed by another replica: no rollback

    def unit(self, body, on_retry=None):
        if self.depth:
            return body()
        for attempt in range(5):
            if attempt and on_retry is not None:
                on_retry()
            saved = copy.deepcopy((self.cases, self.reports, self.periods))
            self.depth += 1
            try:
                return body()
            except (StaleWrite, DuplicateKeyError):
                self.cases, self.reports, self.periods = saved
            except BaseException:
                self.cases, self.reports, self.periods = saved
                raise
            finally:
                self.depth -= 1
        raise AssertionError("ran out of attempts")

    def report(self, report_id):
        return copy.deepcopy(self.reports.get(report_id) or self.others.get(report_id))

    def insert_report(self, doc):
        if self.slip_report is not None:
            slip, self.slip_report = self.slip_report, None
            self.others[slip["report_id"]] = copy.deepcopy(slip)
        if doc["report_id"] in self.reports or doc["report_id"] in self.others:
            raise DuplicateKeyError("E11000 duplicate key")
        self.reports[doc["report_id"]] = copy.deepcopy(doc)

    def report_period_done(self, marker):
        return marker in self.periods

    def mark_report_period(self, marker, kind, period, produced_at, report_ids):
        self.periods.setdefault(marker, {"kind": kind, "period": period,
                                         "produced_at": produced_at,
                                         "reports": list(report_ids)})

    def last_reports_produced(self, kinds):
        out = dict.fromkeys(kinds, 0.0)
        for mark in self.periods.values():
            out[mark["kind"]] = max(out[mark["kind"]], mark["produced_at"].timestamp())
        return out

    def cases_between(self, field, start, end, limit):
        found = [c for c in self.cases.values() if c.get(field) and start <= c[field] < end]
        return copy.deepcopy(sorted(found, key=lambda c: c[field])[:limit])

    def monthly(self, field, start, end, kind=None):
        """What the aggregation answers, from the definitions in stats.py."""
        chosen = [c for c in self.cases.values() if c.get(field) and start <= c[field] < end
                  and (kind is None or c["kind"] == kind)]
        if not chosen:
            return {}
        resolved = [c for c in chosen if c.get("resolved_at")]

        def groups(pick):
            return [{"_id": k, "n": n} for k, n in Counter(map(pick, chosen)).items()]

        clocks = Counter((k["name"], k["state"], k["breached"])
                         for c in chosen for k in c.get("clocks", ()))
        followups = [f for c in chosen for f in c.get("followups", ())]
        return {
            "cases": [{"count": len(chosen), "major": sum(bool(c.get("major")) for c in chosen),
                       "delay_investigations": sum(bool(c.get("delay_investigation_at"))
                                                   for c in chosen),
                       "resolved": len(resolved),
                       "reopened": sum(c.get("round", 1) > 1 for c in resolved),
                       "hours_sum": sum(c.get("resolve_working_hours") or 0 for c in resolved),
                       "hours_n": sum(c.get("resolve_working_hours") is not None
                                      for c in resolved)}],
            "by_department": groups(lambda c: c.get("department") or "unassigned"),
            "by_category": groups(lambda c: c.get("category")),
            "by_channel": groups(lambda c: c.get("channel")),
            "by_liability": groups(lambda c: (c.get("liability") or {}).get(
                "party", "undetermined")),
            "clocks": [{"_id": {"name": n, "state": s, "breached": b}, "n": count}
                       for (n, s, b), count in clocks.items()],
            "followups": [{"n": len(followups),
                           "satisfied": sum(bool(f["satisfied"]) for f in followups)}],
        }


@pytest.fixture(scope="module")
def schedule():
    return reports.load_schedule()


@pytest.fixture
def store(policy):
    return ReportStore(policy)


@pytest.fixture
def sweep(store, rules, schedule, t):
    """A sweep at Shanghai wall-clock ``when`` with its own outbox; returns the reply
    and what it published."""
    def run(when):
        outbox = FakeOutbox("complaints")
        reply = reporting.sweep(Handling(store, rules, outbox), schedule, t(when))
        return reply, [e for e in outbox.envelopes[:outbox.persisted]
                       if e["type"] == "complaints.report_produced"]
    return run


@pytest.fixture
def cases(store, filed, walk):
    """Cases received in February 2026; some concluded (rejected) in it."""
    def rejected(number, kind, received, decided, department=None):
        case = filed(received_at=received, number=number, kind=kind)
        case = walk(case, ("decide_validity", decided, {"valid": False, "reason": "不成立"}))
        case["department"] = department
        store.insert(case)
        return case

    made = [rejected("2602-0001", "external", "2026-02-23 09:00", "2026-02-23 10:00", "service"),
            rejected("2602-0002", "external", "2026-02-24 09:00", "2026-02-24 10:00", "service"),
            rejected("2602-0003", "internal", "2026-02-25 09:00", "2026-02-25 10:00", "canteen"),
            # Received in February, concluded in March: March's table, February's week.
            rejected("2602-0004", "external", "2026-02-26 09:00", "2026-03-02 10:00")]
    return made


def test_001_s1_9_the_sweep_produces_last_months_table_once(sweep, store, cases):
    reply, events = sweep("2026-03-01 01:59")
    assert "monthly-2026-02" not in reply["reports"]

    reply, events = sweep("2026-03-01 02:00")
    assert "monthly-2026-02" in reply["reports"]
    [monthly] = [e["data"] for e in events if e["data"]["kind"] == "monthly"]
    assert monthly["period"] == "2026-02" and monthly["title"] == "客诉案件统计表"
    assert (monthly["external_count"], monthly["internal_count"], monthly["count"]) == (2, 1, 3)
    assert monthly["readers"] == ["gm_office", "deputy_gm", "gm", "hr"]
    assert monthly["department"] is None
    assert monthly["download_path"] == "/api/v1/complaints/reports/monthly-2026-02.xlsx"
    stored = store.reports["monthly-2026-02"]
    assert stored["tables"]["internal"]["by_department"] == {"canteen": 1}
    assert stored["tables"]["all"]["by_category"] == {"service": 3}
    # The newest ended quarter and year are due as well: produced once, empty.
    assert store.reports["quarterly-2025-Q4"]["counts"]["all"] == 0
    assert "monthly:2026-02" in store.periods

    again, events = sweep("2026-03-01 23:00")
    assert again["reports"] == [] and events == []
    # Days later (that week's records are new), February's table is not made again.
    later, events = sweep("2026-03-09 09:00")
    assert not [r for r in later["reports"] if not r.startswith("weekly")]
    assert [r for r in store.reports if r.startswith("monthly")] == ["monthly-2026-02"]


def test_001_s6_7_1_monday_brings_each_departments_weekly_record(sweep, store, cases):
    sweep("2026-03-01 12:00")                      # the monthly and the rest, not this week
    assert not [r for r in store.reports if r.startswith("weekly-2026-W09")]

    reply, events = sweep("2026-03-02 02:00")
    weekly = {e["data"]["department"]: e["data"] for e in events}
    # 2602-0004 was never passed to a department: the desk received it.
    assert set(weekly) == {"service", "canteen", "customer_service"}
    assert weekly["service"]["report_id"] == "weekly-2026-W09-service"
    assert (weekly["service"]["external_count"], weekly["service"]["internal_count"]) == (2, 0)
    assert (weekly["canteen"]["external_count"], weekly["canteen"]["internal_count"]) == (0, 1)
    assert weekly["service"]["readers"] == ["dept_manager"]
    assert sorted(reply["reports"]) == sorted(d["report_id"] for d in weekly.values())
    assert store.periods["weekly:2026-W09"]["reports"] == sorted(
        d["report_id"] for d in weekly.values())


def test_a_report_another_replica_stored_first_is_not_announced_again(sweep, store, cases,
                                                                       schedule, rules, t):
    # The other replica read the same month and stored the same report between
    # this one's check and its insert.
    tz = rules.calendar.tz
    february = reports.parse_period("month", "2026-02")
    theirs = reports.rollup(schedule.rule("monthly"), february,
                            {k: stats.summarise_cases([], rules.calendar, rules.policy)
                             for k in ("external", "internal", "all")},
                            tz=tz, produced_at=t("2026-03-01 02:00"), schedule=schedule)
    store.slip_report = theirs
    reply, events = sweep("2026-03-01 02:00")
    assert "monthly-2026-02" not in reply["reports"]
    assert [e for e in events if e["data"]["kind"] == "monthly"] == []
    assert "monthly-2026-02" not in store.reports
    assert store.report("monthly-2026-02")["counts"]["all"] == 0   # theirs stands
    assert "monthly:2026-02" in store.periods


def test_001_s1_9_the_file_downloads_with_zh_cn_headings(sweep, store, cases, rules,
                                                         schedule):
    sweep("2026-03-01 02:00")
    handling = Handling(store, rules, FakeOutbox("complaints"))
    xlsx = reporting.report_file(handling, schedule, "monthly-2026-02", "xlsx")
    assert xlsx["filename"] == "客诉案件统计表-2026-02.xlsx"
    assert xlsx["ascii_filename"] == "complaints-monthly-2026-02.xlsx"
    assert xlsx["period_label"] == "2026年2月"
    book = load_workbook(io.BytesIO(base64.b64decode(xlsx["base64"])))
    summary = book["汇总"]
    assert summary["A1"].value == "客诉案件统计表"
    assert [c.value for c in summary[3]] == ["项目", "外部客诉", "内部投诉", "合计"]
    assert [c.value for c in summary[4]] == ["结案件数", 2, 1, 3]
    text = reporting.report_file(handling, schedule, "monthly-2026-02", "csv")
    rows = list(csv.reader(io.StringIO(base64.b64decode(text["base64"]).decode("utf-8-sig"))))
    assert rows[:3] == [["汇总"], ["项目", "外部客诉", "内部投诉", "合计"],
                        ["结案件数", "2", "1", "3"]]
    with pytest.raises(DomainNotFound):
        reporting.report_file(handling, schedule, "monthly-2030-01", "xlsx")


def test_readers_of_each_report(sweep, store, cases, rules, schedule):
    sweep("2026-03-02 02:00")
    handling = Handling(store, rules, FakeOutbox("complaints"))

    def person(role, department):
        return Principal(id=f"{role}-{department}", roles=(role,),
                         person={"department": department})

    def may(principal, report_id):
        return reporting.may_read(handling, schedule, principal, report_id)

    assert may(person("dept_manager", "service"), "weekly-2026-W09-service")
    assert not may(person("dept_manager", "canteen"), "weekly-2026-W09-service")
    assert not may(person("staff", "service"), "weekly-2026-W09-service")
    assert may(person("hr", "hr"), "monthly-2026-02")
    assert not may(person("hr", "hr"), "weekly-2026-W09-service")
    assert not may(person("dept_manager", "service"), "monthly-2026-02")
    # No such report: a reader hears NotFound, anyone else is refused.
    assert may(person("hr", "hr"), "monthly-2030-01")
    assert not may(person("staff", "service"), "monthly-2030-01")


def test_the_lateness_gauges(sweep, store, schedule, t):
    registry = CollectorRegistry()
    metrics = declare(registry)
    tz = ZoneInfo("Asia/Shanghai")

    def gauge(name, kind):
        return registry.get_sample_value(f"zhidu_complaints_report_{name}_timestamp_seconds",
                                         {"kind": kind})

    reporting.refresh_gauges(store, schedule, metrics, tz, t("2026-03-11 00:00"))
    assert gauge("last_produced", "monthly") == 0
    assert gauge("expected_since", "monthly") == t("2026-03-01 00:00").timestamp()
    sweep("2026-03-01 02:00")
    reporting.refresh_gauges(store, schedule, metrics, tz, t("2026-03-11 00:00"))
    assert gauge("last_produced", "monthly") == t("2026-03-01 02:00").timestamp()
    assert gauge("last_produced", "monthly") >= gauge("expected_since", "monthly")
