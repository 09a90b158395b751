"""The attendance clerk's desk: publish a roster, close a day, submit the monthly report."""
from __future__ import annotations

import re
from datetime import date, timedelta

from zhidu.times import local_tz

from ..acting import Refusal
from ..duties import rule
from ..web import Page

LINE = re.compile(r"^\s*(?P<employee>[\w.-]+)\s*[,，\s]\s*(?P<date>\d{4}-\d{2}-\d{2})\s*"
                  r"[,，\s]\s*(?P<shift>[\w-]+)\s*$")


def desk(page: Page):
    today = page.now.astimezone(local_tz()).date()
    department = page.person.department or ""
    last_month = (today.replace(day=1) - timedelta(days=1))
    shifts = page.start("attendance", "list_shifts", {})
    report = page.start("attendance", "report_status", {
        "department": department, "year": last_month.year, "month": last_month.month}) \
        if department else None
    return page.render("attendance.html", shifts=shifts.result_or([]),
                       report=report.result_or(None) if report else None,
                       department=department, today=today.isoformat(),
                       yesterday=(today - timedelta(days=1)).isoformat(),
                       report_year=last_month.year, report_month=last_month.month,
                       rules={k: rule(k) for k in ("roster", "monthly_report")})


def parse_roster(text: str) -> tuple[list[dict], list[int]]:
    """``工号, 日期, 班次`` per line → roster entries, and the numbers of bad lines."""
    entries, bad = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        match = LINE.match(line)
        if not match:
            bad.append(number)
            continue
        try:
            date.fromisoformat(match["date"])
        except ValueError:
            bad.append(number)
            continue
        entries.append({"employee_id": match["employee"], "date": match["date"],
                        "shift_code": match["shift"]})
    return entries, bad


def act(page: Page, action: str):
    try:
        if action == "roster":
            entries, bad = parse_roster(page.request.form.get("entries") or "")
            if bad or not entries:
                page.flash("error", page.t("invalid.roster_lines",
                                           lines=", ".join(map(str, bad)) or "—"))
                return page.redirect("/attendance")
            page.call("attendance", "set_roster", {
                "entries": entries, "published": page.form("published") == "1",
                "reason": page.form("reason") or None,
                "request_id": page.form("request_id") or None})
            page.flash("ok", page.t("done.roster", count=len(entries)))
        elif action == "close-day":
            result = page.call("attendance", "close_day", {"date": page.form("date")})
            page.flash("ok", page.t("done.day_closed", date=page.form("date"),
                                    count=len(result.get("evaluations") or result.get(
                                        "employees") or []) if isinstance(result, dict)
                                    else len(result or [])))
        elif action == "report":
            page.call("attendance", "submit_monthly_report", {
                "department": page.form("department"), "year": int(page.form("year")),
                "month": int(page.form("month")), "at": page.now.isoformat(),
                "request_id": f"report-{page.form('department')}-{page.form('year')}-"
                              f"{page.form('month')}"})
            page.flash("ok", page.t("done.report", month=f"{page.form('year')}-"
                                                        f"{int(page.form('month')):02d}"))
        else:
            page.flash("error", page.t("refusal.not_found.reason"))
    except (ValueError, TypeError):
        page.flash("error", page.t("invalid.required"))
    except Refusal as refusal:
        if refusal.kind == "Unauthenticated":
            raise
        page.flash_refusal(refusal)
    return page.redirect("/attendance")
