"""The statistics' definitions (客诉案件统计表, 001 §1 (九); rules §2 Reports).

The store may aggregate in MongoDB, but each figure is *defined* here, once,
and :func:`summarise_cases` computes the whole table from case dicts so a
pipeline can be tested against it. Which cases make up a month is the
caller's choice; the 统计表 takes the cases closed (结案) in the month. The
scheduled reports (reports.py) take this table per period, once for external
complaints, once for internal ones and once for both.

Definitions:

* clock outcome — ``on_time``: met and never breached; ``late``: breached
  (met late, waived after breaching, or still overdue); ``open``: running or
  paused, not yet breached; ``waived``: stopped as moot before its due. Only
  decided clocks (on time + late) enter a rate.
* on-time rate of a clock = on_time / (on_time + late).
* follow-up rate = follow-up clocks met / (met + breached); a resolution still
  inside its follow-up window counts in neither (002 §2 四.6 wants 100 %).
* satisfaction rate = satisfied follow-ups / all follow-ups.
* reopen rate = cases reopened at least once / cases resolved at least once.
* working hours to resolve = working time from receipt to the last resolution,
  paused stretches excluded, on the company calendar.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from zhidu.times import as_utc

from . import sla

ON_TIME, LATE, OPEN, WAIVED = "on_time", "late", "open", "waived"
SECONDS_PER_HOUR = 3600
FOLLOWUP_MOMENT = "followed_up"


def clock_outcome(clock: Mapping[str, Any]) -> str:
    if clock["breached"]:
        return LATE
    if clock["state"] == sla.MET:
        return ON_TIME
    if clock["state"] == sla.WAIVED:
        return WAIVED
    return OPEN


def rate(numerator: int, denominator: int) -> float | None:
    """``numerator / denominator``, None when there is nothing to rate."""
    return numerator / denominator if denominator else None


def on_time_by_clock(cases: Iterable[Mapping[str, Any]]) -> dict[str, dict]:
    """``{clock: {on_time, late, open, waived, rate}}`` over every round of ``cases``."""
    counts: dict[str, Counter] = {}
    for case in cases:
        for clock in case.get("clocks", ()):
            counts.setdefault(clock["name"], Counter())[clock_outcome(clock)] += 1
    return {name: {ON_TIME: c[ON_TIME], LATE: c[LATE], OPEN: c[OPEN], WAIVED: c[WAIVED],
                   "rate": rate(c[ON_TIME], c[ON_TIME] + c[LATE])}
            for name, c in sorted(counts.items())}


def followup_counts(cases: Iterable[Mapping[str, Any]],
                    followup_clocks: set[str]) -> tuple[int, int]:
    """(followed up, owed): follow-up clocks met, and met + breached."""
    done = owed = 0
    for case in cases:
        for clock in case.get("clocks", ()):
            if clock["name"] not in followup_clocks:
                continue
            if clock["state"] == sla.MET:
                done += 1
                owed += 1
            elif clock["breached"]:
                owed += 1
    return done, owed


def working_hours_to_resolve(case: Mapping[str, Any], calendar) -> float | None:
    """Working hours from receipt to the last resolution, pauses excluded."""
    if not case.get("resolved_at"):
        return None
    start, end = as_utc(case["received_at"]), as_utc(case["resolved_at"])
    seconds = calendar.working_seconds(start, end)
    for pause in case.get("pauses", ()):
        lo = max(as_utc(pause["from"]), start)
        hi = min(as_utc(pause["to"]) if pause.get("to") else end, end)
        seconds -= calendar.working_seconds(lo, hi)
    return max(0.0, seconds) / SECONDS_PER_HOUR


def summarise_cases(cases: Iterable[Mapping[str, Any]], calendar, policy) -> dict:
    """The monthly table for ``cases``: counts, on-time per clock, and the rates."""
    cases = list(cases)
    by = {key: Counter() for key in ("department", "category", "channel", "liability")}
    for case in cases:
        by["department"][case.get("department") or "unassigned"] += 1
        by["category"][case.get("category")] += 1
        by["channel"][case.get("channel")] += 1
        by["liability"][(case.get("liability") or {}).get("party", "undetermined")] += 1
    followups = [f for case in cases for f in case.get("followups", ())]
    resolved = [c for c in cases if c.get("resolved_at")]
    reopened = [c for c in resolved if c.get("round", 1) > 1]
    hours = [h for h in (working_hours_to_resolve(c, calendar) for c in resolved)
             if h is not None]
    followup_clocks = {n for n, p in policy.clocks.items() if FOLLOWUP_MOMENT in p.met_by}
    done, owed = followup_counts(cases, followup_clocks)
    return {
        "count": len(cases),
        "by_department": dict(by["department"]),
        "by_category": dict(by["category"]),
        "by_channel": dict(by["channel"]),
        "by_liability": dict(by["liability"]),
        "major": sum(1 for c in cases if c.get("major")),
        "on_time": on_time_by_clock(cases),
        "mean_working_hours_to_resolve": rate(sum(hours), len(hours)),
        "followup_rate": rate(done, owed),
        "satisfaction_rate": rate(sum(1 for f in followups if f["satisfied"]),
                                  len(followups)),
        "reopen_rate": rate(len(reopened), len(resolved)),
        "delay_investigations": sum(1 for c in cases if c.get("delay_investigation_at")),
    }
