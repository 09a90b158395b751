"""The scheduled complaint reports, pure (rules §2 Reports; complaints/reports.py):
the period arithmetic in Asia/Shanghai, the schedule as data, the split into
external and internal complaints, who reads what."""
from __future__ import annotations

import copy
import json
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest
import yaml
from complaints import reports, stats
from complaints.reports import DEFAULT_REPORTS, ReportsError, schedule_from_dict
from complaints.schemas import ReportProducedEvent
from zhidu.schemas import load

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def schedule():
    return reports.load_schedule()


@pytest.fixture
def raw():
    with open(DEFAULT_REPORTS, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


# -- periods ---------------------------------------------------------------------------
def test_001_s6_7_1_weeks_run_monday_to_sunday_in_shanghai():
    # Sunday 23:59 in Shanghai is still the week of Monday 23 February...
    sunday = reports.period_of("week", local("2026-03-01T23:59").date())
    assert (sunday.start, sunday.end, sunday.key) == (date(2026, 2, 23), date(2026, 3, 2),
                                                      "2026-W09")
    # ...and a minute later, Sunday 16:00 UTC, that week has ended.
    assert reports.last_ended("week", local("2026-03-01T23:59"), SHANGHAI).key == "2026-W08"
    assert reports.last_ended("week", datetime(2026, 3, 1, 16, 0, tzinfo=UTC),
                              SHANGHAI).key == "2026-W09"
    assert sunday.bounds(SHANGHAI) == (datetime(2026, 2, 22, 16, tzinfo=UTC),
                                       datetime(2026, 3, 1, 16, tzinfo=UTC))
    assert sunday.label == "2026年第9周（2月23日至3月1日）"
    # ISO weeks: the week of 28 December 2026 is 2026's 53rd; 2027's first starts 4 January.
    assert reports.period_of("week", date(2027, 1, 3)).key == "2026-W53"
    assert reports.period_of("week", date(2027, 1, 4)).key == "2027-W01"
    assert reports.parse_period("week", "2026-W53").start == date(2026, 12, 28)


def test_001_s6_7_1_the_weekly_record_is_produced_and_due_on_the_monday_after(schedule):
    weekly = schedule.rule("weekly")
    assert reports.due_to_produce(weekly, local("2026-03-02T01:59"), SHANGHAI) is None
    produced = reports.due_to_produce(weekly, local("2026-03-02T02:00"), SHANGHAI)
    assert produced.key == "2026-W09"
    assert reports.due_at(weekly, produced, SHANGHAI) == local("2026-03-03T00:00")
    # Late only once that Monday is over: until then the newest past its deadline
    # is the week before, which ended on 23 February.
    assert reports.expected_since(weekly, local("2026-03-02T23:59"), SHANGHAI) == \
        local("2026-02-23T00:00")
    assert reports.expected_since(weekly, local("2026-03-03T00:00"), SHANGHAI) == \
        local("2026-03-02T00:00")


def test_001_s1_9_the_monthly_table_is_produced_on_the_1st_and_due_by_the_10th(schedule):
    monthly = schedule.rule("monthly")
    assert monthly.title == "客诉案件统计表" and monthly.basis == "concluded"
    assert reports.due_to_produce(monthly, local("2026-03-01T01:59"), SHANGHAI) is None
    february = reports.due_to_produce(monthly, local("2026-03-01T02:00"), SHANGHAI)
    assert (february.key, february.label) == ("2026-02", "2026年2月")
    assert february.bounds(SHANGHAI) == (datetime(2026, 1, 31, 16, tzinfo=UTC),
                                         datetime(2026, 2, 28, 16, tzinfo=UTC))
    # Calendar days: the 10th, whatever the working calendar says of it.
    assert reports.due_at(monthly, february, SHANGHAI) == local("2026-03-11T00:00")
    assert reports.expected_since(monthly, local("2026-03-10T23:59"), SHANGHAI) == \
        local("2026-02-01T00:00")
    assert reports.expected_since(monthly, local("2026-03-11T00:00"), SHANGHAI) == \
        local("2026-03-01T00:00")
    # Any later day of the month still produces February's, the newest ended month.
    assert reports.due_to_produce(monthly, local("2026-03-31T23:00"), SHANGHAI).key == \
        "2026-02"


def test_003_s4_3_10_4_quarterly_and_yearly_roll_ups(schedule):
    quarterly, yearly = schedule.rule("quarterly"), schedule.rule("yearly")
    q = reports.due_to_produce(quarterly, local("2026-04-01T03:00"), SHANGHAI)
    assert (q.key, q.start, q.end, q.label) == ("2026-Q1", date(2026, 1, 1),
                                                date(2026, 4, 1), "2026年第1季度")
    assert reports.due_to_produce(quarterly, local("2026-05-20T12:00"), SHANGHAI).key == \
        "2026-Q1"
    assert reports.due_to_produce(quarterly, local("2026-04-01T02:59"), SHANGHAI) is None
    y = reports.due_to_produce(yearly, local("2027-01-01T04:00"), SHANGHAI)
    assert (y.key, y.label) == ("2026", "2026年")
    assert reports.expected_since(yearly, local("2027-01-11T00:00"), SHANGHAI) == \
        local("2027-01-01T00:00")
    for unit, key in (("quarter", "2026-Q4"), ("month", "2026-12"), ("year", "2026")):
        assert reports.parse_period(unit, key).key == key
    with pytest.raises(ValueError):
        reports.parse_period("quarter", "2026-Q5")


# -- the schedule is data ----------------------------------------------------------------
def test_rules_s2_the_schedule_is_data(raw):
    raw["reports"]["monthly"]["due"] = {"day": 5, "time": "18:00"}
    monthly = schedule_from_dict(raw).rule("monthly")
    assert reports.due_at(monthly, reports.parse_period("month", "2026-02"), SHANGHAI) == \
        local("2026-03-05T18:00")


@pytest.mark.parametrize("change,message", [
    (lambda r: r["reports"]["monthly"].update(when="x"), "unknown key"),
    (lambda r: r["reports"]["monthly"].update(period="fortnight"), "period"),
    (lambda r: r["reports"]["weekly"].update(produce={"day": 8}), "past the next week"),
    (lambda r: r["reports"]["monthly"].update(due={"day": 1, "time": "01:00"}),
     "before it is produced"),
    (lambda r: r["reports"]["monthly"].update(readers=["dept_manager"]), "has none"),
    (lambda r: r["reports"]["monthly"].update(produce={"day": 1, "time": "25:00"}), "HH:MM"),
    (lambda r: r["reports"]["monthly"].update(basis="filed"), "basis"),
])
def test_rules_s2_a_wrong_schedule_stops_the_service(raw, change, message):
    change(raw)
    with pytest.raises(ReportsError, match=message):
        schedule_from_dict(raw)


# -- the documents -----------------------------------------------------------------------
def case(number, kind, received, department=None, **more):
    return {"number": number, "kind": kind, "received_at": local(received),
            "department": department, "category": "service", "channel": "phone",
            "status": "received", "major": False, "breached": False,
            "complainant": {"name": "王女士", "phone": "13812345678"},
            "subject": "态度差", **more}


def test_001_s6_7_1_and_002_s4_5_1_3_weekly_records_per_department_split(schedule):
    week = reports.parse_period("week", "2026-W09")
    cases = [
        case("2602-0003", "external", "2026-02-25T09:00", "service", major=True,
             status="closed", concluded_at=local("2026-02-27T10:00")),
        case("2602-0001", "external", "2026-02-23T08:00", "service", breached=True),
        case("2602-0002", "internal", "2026-02-24T08:00", "service"),
        case("2602-0004", "external", "2026-02-26T08:00"),      # not yet assigned
    ]
    docs = reports.weekly(schedule.rule("weekly"), week, cases, tz=SHANGHAI,
                          produced_at=local("2026-03-02T02:00"),
                          desk_department="customer_service", schedule=schedule)
    assert [d["report_id"] for d in docs] == ["weekly-2026-W09-customer_service",
                                              "weekly-2026-W09-service"]
    desk, service = docs
    assert desk["counts"] == {"external": 1, "internal": 0, "all": 1}
    assert service["counts"] == {"external": 2, "internal": 1, "all": 3}
    assert [r["number"] for r in service["rows"]] == ["2602-0001", "2602-0002", "2602-0003"]
    # What the record lists: nothing of the complainant, no free text.
    assert not {"complainant", "subject"} & set(service["rows"][0])
    assert service["readers"] == ["dept_manager"]
    summary, record = reports.sheets(service, schedule, SHANGHAI)
    assert summary["subtitle"] == "service　2026年第9周（2月23日至3月1日）"
    assert [c["heading"] for c in summary["columns"]] == ["项目", "外部客诉", "内部投诉", "合计"]
    rows = {r["item"]: (r["external"], r["internal"], r["all"]) for r in summary["rows"]}
    assert rows["受理件数"] == (2, 1, 3)
    assert rows["已结案"] == (1, 0, 1) and rows["未结案"] == (1, 1, 2)
    assert rows["重大客诉"] == (1, 0, 1) and rows["已超时"] == (1, 0, 1)
    assert record["rows"][0] == {
        "seq": 1, "number": "2602-0001", "received_at": "2026-02-23 08:00",
        "kind": "外部客诉", "category": "服务", "channel": "电话", "major": "否",
        "status": "已受理", "breached": "是", "concluded_at": None}
    event = reports.event_data(service)
    assert json.loads(json.dumps(event))["produced_at"] == "2026-03-01T18:00:00+00:00"
    assert load(ReportProducedEvent, event)["department"] == "service"   # its published schema
    assert (event["external_count"], event["internal_count"], event["count"]) == (2, 1, 3)
    assert event["download_path"] == "/api/v1/complaints/reports/weekly-2026-W09-service.xlsx"


def test_a_department_name_unsafe_in_a_url_gets_an_id_that_is(schedule):
    week = reports.parse_period("week", "2026-W09")
    rid = reports.report_id("weekly", week, "客服/前台")
    assert rid.startswith("weekly-2026-W09-d") and "/" not in rid
    assert reports.report_id("weekly", week, "客服部") == "weekly-2026-W09-客服部"


def test_001_s1_9_the_monthly_table_is_split_internal_and_external(schedule, policy, cal):
    concluded = [
        {"number": "2602-0001", "kind": "external", "department": "service",
         "category": "service", "channel": "phone", "liability": {"party": "company"},
         "major": True, "clocks": [], "followups": [{"satisfied": True}]},
        {"number": "2602-0002", "kind": "external", "department": "service",
         "category": "quality", "channel": "email", "clocks": [], "followups": []},
        {"number": "2602-0003", "kind": "internal", "department": "canteen",
         "category": "service", "channel": "written", "clocks": [],
         "followups": [{"satisfied": False}]},
    ]

    def table(kind):
        chosen = [c for c in concluded if kind == "all" or c["kind"] == kind]
        return stats.summarise_cases(chosen, cal, policy)

    doc = reports.rollup(schedule.rule("monthly"), reports.parse_period("month", "2026-02"),
                         {k: table(k) for k in ("external", "internal", "all")},
                         tz=SHANGHAI, produced_at=local("2026-03-01T02:00"),
                         schedule=schedule)
    assert doc["report_id"] == "monthly-2026-02" and doc["department"] is None
    assert doc["counts"] == {"external": 2, "internal": 1, "all": 3}
    assert doc["readers"] == ["gm_office", "deputy_gm", "gm", "hr"]
    sheets = {s["name"]: s for s in reports.sheets(doc, schedule, SHANGHAI)}
    assert list(sheets) == ["汇总", "按部门", "按类别", "按渠道", "按责任归属", "各时限准时率"]
    assert sheets["汇总"]["title"] == "客诉案件统计表" and sheets["汇总"]["subtitle"] == "2026年2月"
    summary = {r["item"]: (r["external"], r["internal"], r["all"])
               for r in sheets["汇总"]["rows"]}
    assert summary["结案件数"] == (2, 1, 3)
    assert summary["重大客诉"] == (1, 0, 1)
    assert summary["满意率（%）"] == (100.0, 0.0, 50.0)
    departments = {r["item"]: (r["external"], r["internal"], r["all"])
                   for r in sheets["按部门"]["rows"]}
    assert departments == {"canteen": (0, 1, 1), "service": (2, 0, 2)}
    assert sheets["按部门"]["total"] == {"item": "合计", "external": 2, "internal": 1, "all": 3}
    liability = {r["item"]: r["all"] for r in sheets["按责任归属"]["rows"]}
    assert liability == {"公司责任": 1, "未判定": 2}


# -- who reads ------------------------------------------------------------------------------
def test_readers_a_department_manager_reads_only_their_own_weekly_record(schedule):
    weekly = {"kind": "weekly", "department": "service", "readers": ["dept_manager"]}
    monthly = {"kind": "monthly", "department": None,
               "readers": ["gm_office", "deputy_gm", "gm", "hr"]}
    rule = schedule.rule
    assert reports.may_read(weekly, rule("weekly"), ["dept_manager"], "service")
    assert not reports.may_read(weekly, rule("weekly"), ["dept_manager"], "canteen")
    assert not reports.may_read(weekly, rule("weekly"), ["staff"], "service")
    assert reports.may_read(monthly, rule("monthly"), ["hr"], "hr")
    assert not reports.may_read(monthly, rule("monthly"), ["dept_manager"], "service")
    # The kind's readers as the schedule says now, not as the report was stored with.
    narrower = copy.deepcopy(monthly)
    narrower["readers"] = ["gm"]
    assert reports.may_read(narrower, rule("monthly"), ["hr"], None)
