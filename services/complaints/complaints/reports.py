"""The complaint reports on their schedule (rules §2 Reports): pure.

``rules/reports.yaml`` says which reports there are, which period each
covers, when the sweep produces it and by when it is due. This module reads
that file, does the period arithmetic, and turns what the store counted into
the stored report and its sheets; the application layer (:mod:`reporting`)
reads, stores and emits.

- The monthly 客诉案件统计表 takes the cases concluded (结案) in the month before,
  due by the 10th (001 §1 (九)); quarterly and yearly roll-ups take the same
  table over their period (003 §4 3.10.4). Each is split into external
  (customer) and internal (employee) complaints, with their total.
- The weekly summary (《客户投诉记录表》, 001 §6 七.1; 002 §4 5.1.3) is one per
  department: the complaints received in the week, Monday to Sunday, listed
  and counted, produced on the Monday after. A case not yet passed to a
  department is the complaint desk's, which received it.
- Periods are local (the calendar's time zone): a week starts on Monday at
  00:00, a quarter in January, April, July or October. Production and due
  times count calendar days after the period ends: the regulations name
  dates ("每月十日前", "下周一"), and the sweep does not rest on holidays.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from pathlib import Path

import yaml
from zhidu.times import UTC, as_utc, to_iso

DEFAULT_REPORTS = Path(__file__).parent / "rules" / "reports.yaml"

WEEK, MONTH, QUARTER, YEAR = "week", "month", "quarter", "year"
UNITS = (WEEK, MONTH, QUARTER, YEAR)
# The shortest length of each period: a report produced later than this after
# its period ended would never be produced (the next period has ended by then).
SHORTEST_DAYS = {WEEK: 7, MONTH: 28, QUARTER: 89, YEAR: 365}
BASES = ("concluded", "received")
EXTERNAL, INTERNAL, ALL = "external", "internal", "all"
KINDS_OF_COMPLAINT = (EXTERNAL, INTERNAL)
DEPT_MANAGER = "dept_manager"
_SAFE_ID = re.compile(r"^[\w-]{1,80}$")
_END_OF_DAY = "24:00"


class ReportsError(ValueError):
    """The reports file is wrong; the service refuses to start."""


# -- the schedule ------------------------------------------------------------------------
@dataclass(frozen=True)
class Moment:
    """``day`` days after a period (1 = the first day after it), at ``at`` local time."""

    day: int
    at: time | None  # None: the end of that day (24:00)

    def after(self, period: Period, tz: tzinfo) -> datetime:
        day = period.end + timedelta(days=self.day - 1)
        if self.at is None:
            return datetime.combine(day + timedelta(days=1), time(0), tz)
        return datetime.combine(day, self.at, tz)

    @property
    def order(self) -> tuple[int, int]:
        if self.at is None:
            return self.day, 24 * 60
        return self.day, self.at.hour * 60 + self.at.minute


@dataclass(frozen=True)
class ReportRule:
    kind: str
    title: str
    source: str
    unit: str
    basis: str
    per_department: bool
    produce: Moment
    due: Moment
    readers: tuple[str, ...]


@dataclass(frozen=True)
class Schedule:
    rules: dict[str, ReportRule]
    labels: dict[str, dict[str, str]] = field(default_factory=dict)

    def rule(self, kind: str) -> ReportRule | None:
        return self.rules.get(kind)

    @property
    def reader_roles(self) -> frozenset[str]:
        return frozenset(r for rule in self.rules.values() for r in rule.readers)

    def label(self, table: str, value) -> str:
        if value is None:
            return ""
        return self.labels.get(table, {}).get(str(value), str(value))


def load_schedule(path: str | os.PathLike | None = None) -> Schedule:
    """Read and check ``path`` (default: the shipped ``rules/reports.yaml``)."""
    path = Path(path or DEFAULT_REPORTS)
    try:
        with open(path, encoding="utf-8") as handle:
            raw = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as exc:
        raise ReportsError(f"{path}: {exc}") from None
    try:
        return schedule_from_dict(raw)
    except ReportsError as exc:
        raise ReportsError(f"{path}: {exc}") from None


def schedule_from_dict(raw) -> Schedule:
    if not isinstance(raw, dict):
        raise ReportsError("expected a mapping with `reports`")
    _only(raw, {"reports", "labels"}, "the file")
    reports = raw.get("reports")
    if not isinstance(reports, dict) or not reports:
        raise ReportsError("reports: expected a mapping of report kinds")
    rules = {str(kind): _rule(str(kind), spec) for kind, spec in reports.items()}
    labels = raw.get("labels") or {}
    if not isinstance(labels, dict) or not all(
            isinstance(t, dict) and all(isinstance(v, str) for v in t.values())
            for t in labels.values()):
        raise ReportsError("labels: expected tables of value → text")
    return Schedule(rules=rules, labels={str(k): {str(a): b for a, b in t.items()}
                                         for k, t in labels.items()})


def _only(node: dict, allowed: set[str], where: str) -> None:
    unknown = set(node) - allowed
    if unknown:
        raise ReportsError(f"{where}: unknown key(s) {sorted(unknown)}; "
                           f"known: {sorted(allowed)}")


def _rule(kind: str, spec) -> ReportRule:
    where = f"reports.{kind}"
    if not re.fullmatch(r"[a-z_]{1,32}", kind):
        raise ReportsError(f"{where}: a kind is lower-case letters and _")
    if not isinstance(spec, dict):
        raise ReportsError(f"{where}: expected a mapping")
    keys = {"title", "source", "period", "basis", "per_department", "produce", "due",
            "readers"}
    _only(spec, keys, where)
    missing = {"title", "period", "basis", "produce", "due", "readers"} - set(spec)
    if missing:
        raise ReportsError(f"{where}: missing {sorted(missing)}")
    unit = spec["period"]
    if unit not in UNITS:
        raise ReportsError(f"{where}.period: one of {list(UNITS)}, not {unit!r}")
    if spec["basis"] not in BASES:
        raise ReportsError(f"{where}.basis: one of {list(BASES)}, not {spec['basis']!r}")
    produce = _moment(spec["produce"], f"{where}.produce")
    due = _moment(spec["due"], f"{where}.due")
    if produce.day > SHORTEST_DAYS[unit]:
        raise ReportsError(f"{where}.produce: day {produce.day} is past the next "
                           f"{unit}'s end; at most {SHORTEST_DAYS[unit]}")
    if due.order < produce.order:
        raise ReportsError(f"{where}.due: before it is produced")
    readers = spec["readers"]
    if not isinstance(readers, list) or not readers or not all(
            isinstance(r, str) and r for r in readers):
        raise ReportsError(f"{where}.readers: a non-empty list of roles")
    per_department = spec.get("per_department", False)
    if not isinstance(per_department, bool):
        raise ReportsError(f"{where}.per_department: true or false")
    if (DEPT_MANAGER in readers) and not per_department:
        raise ReportsError(f"{where}.readers: {DEPT_MANAGER} names the manager of the "
                           "report's department; this report has none")
    return ReportRule(kind=kind, title=str(spec["title"]), source=str(spec.get("source", "")),
                      unit=unit, basis=spec["basis"], per_department=per_department,
                      produce=produce, due=due, readers=tuple(readers))


def _moment(spec, where: str) -> Moment:
    if not isinstance(spec, dict):
        raise ReportsError(f"{where}: expected {{day, time}}")
    _only(spec, {"day", "time"}, where)
    day = spec.get("day")
    if isinstance(day, bool) or not isinstance(day, int) or day < 1:
        raise ReportsError(f"{where}.day: a whole number from 1")
    text = str(spec.get("time", _END_OF_DAY))
    if text == _END_OF_DAY:
        return Moment(day, None)
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", text)
    if not match:
        raise ReportsError(f"{where}.time: HH:MM, or 24:00 for the end of the day")
    return Moment(day, time(int(match[1]), int(match[2])))


# -- periods -----------------------------------------------------------------------------
def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Period:
    """[start, end) in local dates."""

    unit: str
    start: date
    end: date

    @property
    def key(self) -> str:
        if self.unit == WEEK:
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        if self.unit == MONTH:
            return f"{self.start.year}-{self.start.month:02d}"
        if self.unit == QUARTER:
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        return f"{self.start.year}"

    @property
    def label(self) -> str:
        """The period as the report's heading names it (zh-CN)."""
        if self.unit == WEEK:
            year, week, _ = self.start.isocalendar()
            last = self.end - timedelta(days=1)
            return (f"{year}年第{week}周（{self.start.month}月{self.start.day}日至"
                    f"{last.month}月{last.day}日）")
        if self.unit == MONTH:
            return f"{self.start.year}年{self.start.month}月"
        if self.unit == QUARTER:
            return f"{self.start.year}年第{(self.start.month - 1) // 3 + 1}季度"
        return f"{self.start.year}年"

    def bounds(self, tz: tzinfo) -> tuple[datetime, datetime]:
        """The period's first instant and the next period's, in UTC."""
        return (datetime.combine(self.start, time(0), tz).astimezone(UTC),
                datetime.combine(self.end, time(0), tz).astimezone(UTC))

    def previous(self) -> Period:
        return period_of(self.unit, self.start - timedelta(days=1))


def period_of(unit: str, day: date) -> Period:
    """The period of ``unit`` that contains ``day``."""
    if unit == WEEK:
        start = day - timedelta(days=day.weekday())
        return Period(unit, start, start + timedelta(days=7))
    if unit == MONTH:
        start = day.replace(day=1)
        return Period(unit, start, _add_months(start, 1))
    if unit == QUARTER:
        start = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        return Period(unit, start, _add_months(start, 3))
    if unit == YEAR:
        return Period(unit, date(day.year, 1, 1), date(day.year + 1, 1, 1))
    raise ValueError(f"no such period {unit!r}")


def parse_period(unit: str, key: str) -> Period:
    """The period a key (``2026-W09``, ``2026-02``, ``2026-Q1``, ``2026``) names."""
    try:
        if unit == WEEK:
            year, week = re.fullmatch(r"(\d{4})-W(\d{2})", key).groups()
            return period_of(unit, date.fromisocalendar(int(year), int(week), 1))
        if unit == MONTH:
            year, month = re.fullmatch(r"(\d{4})-(\d{2})", key).groups()
            return period_of(unit, date(int(year), int(month), 1))
        if unit == QUARTER:
            year, quarter = re.fullmatch(r"(\d{4})-Q([1-4])", key).groups()
            return period_of(unit, date(int(year), 3 * int(quarter) - 2, 1))
        if unit == YEAR:
            return period_of(unit, date(int(re.fullmatch(r"(\d{4})", key)[1]), 1, 1))
    except (AttributeError, TypeError, ValueError):
        pass
    raise ValueError(f"{key!r} is not a {unit}")


def last_ended(unit: str, now: datetime, tz: tzinfo) -> Period:
    """The newest period of ``unit`` that has ended by ``now``."""
    return period_of(unit, as_utc(now).astimezone(tz).date()).previous()


def produce_at(rule: ReportRule, period: Period, tz: tzinfo) -> datetime:
    return rule.produce.after(period, tz)


def due_at(rule: ReportRule, period: Period, tz: tzinfo) -> datetime:
    return rule.due.after(period, tz)


def due_to_produce(rule: ReportRule, now: datetime, tz: tzinfo) -> Period | None:
    """The period whose report the sweep produces at ``now``, if any.

    Only the newest ended period: a report that was never produced in its
    window (the service down for a whole period) is produced by a sweep at a
    time inside that window, as the runbook says, not guessed at later.
    """
    period = last_ended(rule.unit, now, tz)
    return period if as_utc(now) >= produce_at(rule, period, tz) else None


def expected_since(rule: ReportRule, now: datetime, tz: tzinfo) -> datetime | None:
    """When the newest report past its deadline could first be produced (its period's
    end, UTC): if none of the kind was produced since, one is late. None while no
    period has come due."""
    period = last_ended(rule.unit, now, tz)
    for _ in range(16):  # a due day is at most a period or so after its end
        if due_at(rule, period, tz) <= as_utc(now):
            return period.bounds(tz)[1]
        period = period.previous()
    return None


# -- identities and names ------------------------------------------------------------------
def report_id(kind: str, period: Period, department: str | None = None) -> str:
    """``monthly-2026-02``, ``weekly-2026-W09-service``: readable, and safe in a URL."""
    base = f"{kind}-{period.key}"
    if department is None:
        return base
    if _SAFE_ID.match(department):
        return f"{base}-{department}"
    return f"{base}-d{hashlib.sha256(department.encode()).hexdigest()[:12]}"


def period_marker(kind: str, period: Period) -> str:
    """The key that says a kind's period is done (every department's report with it)."""
    return f"{kind}:{period.key}"


def file_stem(doc: dict) -> str:
    """The file's name as people see it: title, department, period."""
    parts = [doc["title"]]
    if doc.get("department"):
        parts.append(doc["department_label"] or doc["department"])
    parts.append(doc["period"])
    return "-".join(p.replace("/", "_") for p in parts)


def ascii_name(doc: dict, fmt: str) -> str:
    """For clients that cannot read a UTF-8 file name."""
    rid = doc["report_id"]
    return f"complaints-{rid}.{fmt}" if rid.isascii() else \
        f"complaints-{doc['kind']}-{doc['period']}.{fmt}"


def download_path(rid: str, fmt: str = "xlsx") -> str:
    return f"/api/v1/complaints/reports/{rid}.{fmt}"


# -- the documents -----------------------------------------------------------------------
def _head(rule: ReportRule, period: Period, tz: tzinfo, produced_at: datetime,
          department: str | None, schedule: Schedule) -> dict:
    start, end = period.bounds(tz)
    return {"report_id": report_id(rule.kind, period, department), "kind": rule.kind,
            "title": rule.title, "source": rule.source, "basis": rule.basis,
            "period": period.key, "period_label": period.label, "unit": period.unit,
            "from": start, "until": end, "department": department,
            "department_label": schedule.label("department", department)
            if department else None,
            "readers": list(rule.readers), "produced_at": as_utc(produced_at)}


def rollup(rule: ReportRule, period: Period, tables: dict[str, dict], *, tz: tzinfo,
           produced_at: datetime, schedule: Schedule) -> dict:
    """A company-wide report: ``tables`` maps external / internal / all to the
    statistics table (:func:`complaints.stats.summarise_cases`'s shape)."""
    return {**_head(rule, period, tz, produced_at, None, schedule),
            "tables": {k: tables[k] for k in (*KINDS_OF_COMPLAINT, ALL)},
            "counts": {k: tables[k]["count"] for k in (*KINDS_OF_COMPLAINT, ALL)}}


def department_of(case: dict, desk_department: str) -> str:
    """The case's department; the desk's while none has been assigned."""
    return case.get("department") or desk_department


def weekly(rule: ReportRule, period: Period, cases: list[dict], *, tz: tzinfo,
           produced_at: datetime, desk_department: str, schedule: Schedule) -> list[dict]:
    """One report per department that received complaints in the week; none for a
    department without any (there is nothing to hand in)."""
    by_department: dict[str, list[dict]] = {}
    for case in cases:
        by_department.setdefault(department_of(case, desk_department), []).append(case)
    documents = []
    for department in sorted(by_department):
        listed = sorted(by_department[department],
                        key=lambda c: (as_utc(c["received_at"]), c["number"]))
        documents.append({
            **_head(rule, period, tz, produced_at, department, schedule),
            "rows": [_case_row(c) for c in listed],
            "counts": _weekly_counts(listed)})
    return documents


def _case_row(case: dict) -> dict:
    """What the record lists of a case: no complainant, no free text."""
    return {"number": case["number"], "received_at": as_utc(case["received_at"]),
            "kind": case.get("kind"), "category": case.get("category"),
            "channel": case.get("channel"), "major": bool(case.get("major")),
            "status": case.get("status"), "breached": bool(case.get("breached")),
            "concluded_at": as_utc(case["concluded_at"]) if case.get("concluded_at")
            else None}


def _weekly_counts(rows: list[dict]) -> dict:
    counts = {}
    for kind in (*KINDS_OF_COMPLAINT, ALL):
        chosen = [r for r in rows if kind == ALL or r.get("kind") == kind]
        counts[kind] = len(chosen)
    return counts


def split(rows: list[dict], key: str) -> dict[str, int]:
    return {kind: sum(1 for r in rows if r.get("kind") == kind and r.get(key))
            for kind in KINDS_OF_COMPLAINT} | {ALL: sum(1 for r in rows if r.get(key))}


def event_data(doc: dict) -> dict:
    """``complaints.report_produced``: enough for notifications to say what and where."""
    return {"report_id": doc["report_id"], "kind": doc["kind"], "title": doc["title"],
            "period": doc["period"], "period_label": doc["period_label"],
            "department": doc.get("department"), "readers": list(doc["readers"]),
            "produced_at": to_iso(doc["produced_at"]),
            "external_count": doc["counts"][EXTERNAL],
            "internal_count": doc["counts"][INTERNAL], "count": doc["counts"][ALL],
            "download_path": download_path(doc["report_id"], "xlsx"),
            "csv_path": download_path(doc["report_id"], "csv")}


def summary(doc: dict) -> dict:
    """A stored report without its tables: what a download reply carries beside the file."""
    keys = ("report_id", "kind", "title", "source", "basis", "period", "period_label",
            "from", "until", "department", "produced_at", "counts")
    return {k: doc.get(k) for k in keys}


def may_read(doc: dict | None, rule: ReportRule | None, roles, department: str | None) -> bool:
    """Whether a caller with ``roles`` in ``department`` is one of the report's readers.

    Readers are the current schedule's for the report's kind (the report's own
    list if the kind has since gone); ``dept_manager`` reads only its own
    department's report.
    """
    if doc is None:
        return False
    readers = set(rule.readers if rule is not None else doc.get("readers") or ())
    roles = set(roles)
    if DEPT_MANAGER in readers and DEPT_MANAGER in roles and doc.get("department") \
            and doc["department"] == department:
        return True
    return bool((readers - {DEPT_MANAGER}) & roles)


# -- the sheets (zh-CN headings) -----------------------------------------------------------
def _percent(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def _hours(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _local(moment, tz: tzinfo) -> str | None:
    return None if moment is None else as_utc(moment).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _by_kind_columns(first: str, schedule: Schedule, width: int = 16) -> list[dict]:
    return [{"key": "item", "heading": first, "width": width},
            *({"key": k, "heading": schedule.label("kind", k), "width": 12}
              for k in (*KINDS_OF_COMPLAINT, ALL))]


def sheets(doc: dict, schedule: Schedule, tz: tzinfo) -> list[dict]:
    """The report as :mod:`zhidu.spreadsheets` sheets."""
    subtitle = doc["period_label"]
    if doc.get("department"):
        subtitle = f"{doc['department_label'] or doc['department']}　{subtitle}"
    if "rows" in doc:
        return _weekly_sheets(doc, schedule, tz, subtitle)
    return _rollup_sheets(doc, schedule, subtitle)


def _rollup_sheets(doc: dict, schedule: Schedule, subtitle: str) -> list[dict]:
    tables = doc["tables"]
    kinds = (*KINDS_OF_COMPLAINT, ALL)
    counted = "结案件数" if doc["basis"] == "concluded" else "受理件数"

    def row(item, pick):
        return {"item": item, **{k: pick(tables[k]) for k in kinds}}

    summary_rows = [
        row(counted, lambda t: t["count"]),
        row("重大客诉", lambda t: t["major"]),
        row("平均处理工时（小时）", lambda t: _hours(t["mean_working_hours_to_resolve"])),
        row("回访率（%）", lambda t: _percent(t["followup_rate"])),
        row("满意率（%）", lambda t: _percent(t["satisfaction_rate"])),
        row("重开率（%）", lambda t: _percent(t["reopen_rate"])),
        row("延误调查（治办单）", lambda t: t["delay_investigations"]),
    ]
    clocks = sorted({name for k in kinds for name in tables[k]["on_time"]})
    summary_rows += [row(f"准时率（%）：{schedule.label('clock', name)}",
                         lambda t, n=name: _percent((t["on_time"].get(n) or {}).get("rate")))
                     for name in clocks]
    out = [{"name": "汇总", "title": doc["title"], "subtitle": subtitle,
            "columns": _by_kind_columns("项目", schedule, 24), "rows": summary_rows}]
    for key, name, table in (("by_department", "按部门", "department"),
                             ("by_category", "按类别", "category"),
                             ("by_channel", "按渠道", "channel"),
                             ("by_liability", "按责任归属", "liability")):
        values = sorted({str(v) for k in kinds for v in tables[k][key]})
        rows = [{"item": schedule.label(table, v),
                 **{k: tables[k][key].get(v, 0) for k in kinds}} for v in values]
        out.append({"name": name, "title": doc["title"], "subtitle": subtitle,
                    "columns": _by_kind_columns(name[1:], schedule), "rows": rows,
                    "total": {"item": "合计", **{k: tables[k]["count"] for k in kinds}}})
    clock_rows = []
    for clock in clocks:
        for k in kinds:
            counts = tables[k]["on_time"].get(clock) or {}
            clock_rows.append({"clock": schedule.label("clock", clock),
                               "kind": schedule.label("kind", k),
                               "on_time": counts.get("on_time", 0),
                               "late": counts.get("late", 0), "open": counts.get("open", 0),
                               "waived": counts.get("waived", 0),
                               "rate": _percent(counts.get("rate"))})
    out.append({"name": "各时限准时率", "title": doc["title"], "subtitle": subtitle,
                "columns": [{"key": "clock", "heading": "时限", "width": 16},
                            {"key": "kind", "heading": "类型", "width": 10},
                            {"key": "on_time", "heading": "准时"},
                            {"key": "late", "heading": "超时"},
                            {"key": "open", "heading": "未结"},
                            {"key": "waived", "heading": "免计"},
                            {"key": "rate", "heading": "准时率（%）"}],
                "rows": clock_rows})
    return out


def _weekly_sheets(doc: dict, schedule: Schedule, tz: tzinfo, subtitle: str) -> list[dict]:
    rows = doc["rows"]
    kinds = (*KINDS_OF_COMPLAINT, ALL)
    concluded = split(rows, "concluded_at")
    counts = [
        {"item": "受理件数", **{k: doc["counts"][k] for k in kinds}},
        {"item": "已结案", **concluded},
        {"item": "未结案", **{k: doc["counts"][k] - concluded[k] for k in kinds}},
        {"item": "重大客诉", **split(rows, "major")},
        {"item": "已超时", **split(rows, "breached")},
    ]
    yes_no = {True: "是", False: "否"}
    listed = [{"seq": n, "number": r["number"], "received_at": _local(r["received_at"], tz),
               "kind": schedule.label("kind", r.get("kind")),
               "category": schedule.label("category", r.get("category")),
               "channel": schedule.label("channel", r.get("channel")),
               "major": yes_no[bool(r.get("major"))],
               "status": schedule.label("status", r.get("status")),
               "breached": yes_no[bool(r.get("breached"))],
               "concluded_at": _local(r.get("concluded_at"), tz)}
              for n, r in enumerate(rows, start=1)]
    return [
        {"name": "汇总", "title": doc["title"], "subtitle": subtitle,
         "columns": _by_kind_columns("项目", schedule), "rows": counts},
        {"name": "记录表", "title": doc["title"], "subtitle": subtitle,
         "columns": [{"key": "seq", "heading": "序号", "width": 6},
                     {"key": "number", "heading": "编号", "width": 12},
                     {"key": "received_at", "heading": "受理时间", "width": 17},
                     {"key": "kind", "heading": "类型", "width": 10},
                     {"key": "category", "heading": "类别", "width": 8},
                     {"key": "channel", "heading": "渠道", "width": 10},
                     {"key": "major", "heading": "重大", "width": 6},
                     {"key": "status", "heading": "状态", "width": 10},
                     {"key": "breached", "heading": "超时", "width": 6},
                     {"key": "concluded_at", "heading": "结案时间", "width": 17}],
         "rows": listed},
    ]
