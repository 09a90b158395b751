"""The SLA board: open complaints by clock state, nearest breach first, and the month's figures.

The open cases come from ``complaints.search`` (one call per open status, in
parallel), each with its running clocks — warned or not, escalation level,
working time — in the same reply and without the complainant's contacts: the
board reads nothing in full, so a refresh by a reader with the full right
audits nothing. The live part of the page refreshes itself (htmx) without a
reload.
"""
from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from zhidu.times import local_tz

from .. import charts
from ..acting import Refusal
from ..clocks import Countdown, countdown
from ..duties import load_duties
from ..refusals import Told, tell
from ..web import MANAGERS, Page, desk_departments, sees_board

STATES = ("breached", "warned", "running", "paused")
PAGE_SIZE = 50


@dataclass
class Row:
    case: dict
    nearest: Countdown | None
    clocks: list[Countdown] = field(default_factory=list)
    level: int = 0

    @property
    def flag(self) -> str:
        flags = [c.flag for c in self.clocks]
        for state in STATES:
            if state in flags:
                return state
        return "running"


def board(page: Page):
    if not sees_board(page.person):
        return _refused(page)
    # The month's figures come after the first paint (htmx): aggregating a
    # month of cases takes the database seconds, the open cases do not.
    return page.render("board.html", live=_live(page), stats=_stats_form(page))


def stats(page: Page):
    if not sees_board(page.person):
        return _refused(page)
    template = "board_stats.html" if page.htmx else "board_stats_page.html"
    return page.render(template, stats=_stats(page))


def live(page: Page):
    if not sees_board(page.person):
        return _refused(page)
    return page.render("board_live.html", live=_live(page))


def _refused(page: Page):
    """Not only hidden from the menu: a typed or bookmarked address is refused too."""
    t = page.t
    told = Told(t("refusal.forbidden.title"), t(
        "refusal.forbidden.board", who=t.labels("role", MANAGERS),
        departments=t.labels("department", desk_departments()),
        held=t.labels("role", page.person.roles) or t("role.none")))
    return page.render("refusal_fragment.html" if page.htmx else "error.html", status=403,
                       told=told)


def _live(page: Page) -> dict:
    duties = load_duties()
    department = page.arg("department")
    state = page.arg("state") if page.arg("state") in STATES else ""
    offset = int(page.arg("page")) if page.arg("page").isdigit() else 0
    searches = []
    for status in duties["open_statuses"]:
        # The board shows no contacts: asked without them, nothing is read in
        # full, so a refresh by IT or an information officer audits nothing.
        query = {"status": status, "limit": 1000, "contacts": False, "clocks": True}
        if department:
            query["department"] = department
        searches.append(page.start("complaints", "search", query))
    cases = [case for s in searches for case in s.result()]
    now = page.now
    rows = [_row(case, now) for case in cases]
    rows.sort(key=lambda r: (r.nearest.due if r.nearest and r.nearest.due else _FAR))
    tally = Counter()
    per_clock: dict[str, Counter] = {}
    levels = Counter()
    for row in rows:
        levels[row.level] += 1
        for clock in row.clocks:
            tally[clock.flag] += 1
            per_clock.setdefault(clock.name, Counter())[clock.flag] += 1
    shown = [r for r in rows if not state or r.flag == state]
    departments = sorted({c.get("department") for c in cases if c.get("department")}
                         | ({department} if department else set()))
    return {"rows": shown[offset:offset + PAGE_SIZE], "total": len(shown),
            "open": len(rows), "tally": tally, "per_clock": per_clock, "levels": levels,
            "department": department, "state": state, "offset": offset,
            "page_size": PAGE_SIZE, "departments": departments, "states": STATES,
            "refreshed": now}


_FAR = datetime.max.replace(tzinfo=local_tz())


def _row(case: dict, now) -> Row:
    clocks = case.get("clocks")
    if clocks is None:
        # A service that does not send clocks with a search: the deadlines alone.
        state = "paused" if case.get("status") == "paused" else "running"
        clocks = [{"name": name, "due": due, "state": state, "unit": "calendar"}
                  for name, due in (case.get("deadlines") or {}).items()]
    level = max([int(case.get("escalation_level") or 0)]
                + [int(c.get("escalation_level") or 0) for c in clocks])
    row = Row(case, None, [countdown(c, now) for c in clocks], level)
    active = [c for c in row.clocks if c.flag != "met" and c.due is not None]
    row.nearest = min(active, key=lambda c: c.due) if active else None
    return row


# The month's figures per person (what they may read is theirs to ask for) for a
# few minutes: they change with each concluded case, not by the second.
_STATS: dict[tuple, tuple[float, dict]] = {}
STATS_SECONDS = 300


def _stats_form(page: Page) -> dict:
    today = page.now.astimezone(local_tz()).date()
    month = page.arg("month") or f"{today.year}-{today.month:02d}"
    basis = page.arg("basis") if page.arg("basis") in ("concluded", "received") else "concluded"
    return {"month": month, "basis": basis, "months": _months(today), "pending": True}


def _months(today) -> list[str]:
    months, cursor = [], today.replace(day=1)
    for _ in range(12):
        months.append(f"{cursor.year}-{cursor.month:02d}")
        cursor = (cursor - timedelta(days=1)).replace(day=1)
    return months


def _stats(page: Page) -> dict:
    today = page.now.astimezone(local_tz()).date()
    month_arg = page.arg("month")
    year, month = today.year, today.month
    if re.fullmatch(r"\d{4}-\d{2}", month_arg) and 1 <= int(month_arg[5:]) <= 12:
        year, month = int(month_arg[:4]), int(month_arg[5:])
    months = _months(today)
    basis = page.arg("basis") if page.arg("basis") in ("concluded", "received") else "concluded"
    key = (page.person.id, year, month, basis)
    hit = _STATS.get(key)
    try:
        if hit is not None and hit[0] > time.monotonic():
            table = hit[1]
        else:
            table = page.call("complaints", "stats", {"year": year, "month": month,
                                                      "basis": basis})
            if len(_STATS) > 5000:
                _STATS.clear()
            _STATS[key] = (time.monotonic() + STATS_SECONDS, table)
    except Refusal as refusal:
        if refusal.kind == "Unauthenticated":
            raise
        return {"told": tell(refusal, page.t), "month": f"{year}-{month:02d}",
                "months": months, "basis": basis}
    t = page.t
    bars = {
        key: charts.bars([(t.label(group, k), v) for k, v in sorted(
            (table.get(key) or {}).items(), key=lambda kv: -kv[1])], unit="")
        for key, group in (("by_department", "department"), ("by_category", "category"),
                           ("by_channel", "channel"), ("by_liability", "party"))}
    on_time = [(t.label("clock", name), row.get("rate"))
               for name, row in (table.get("on_time") or {}).items()]
    bars["on_time"] = charts.bars([(n, round((r or 0) * 100, 1)) for n, r in on_time],
                                  unit="%", scale=100)
    return {"table": table, "bars": bars, "month": f"{year}-{month:02d}", "months": months,
            "basis": basis}
