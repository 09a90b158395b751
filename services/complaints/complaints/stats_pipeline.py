"""MongoDB aggregations for the monthly table and the open-clock gauges.

The figures are defined in :mod:`stats`; these pipelines only count what
those definitions need, and :func:`shape_monthly` turns the counts into the
exact table :func:`stats.summarise_cases` returns, so the two can be compared
case for case. Each pipeline starts with a ``$match`` on an indexed field.
"""
from __future__ import annotations

from datetime import datetime, tzinfo

from zhidu.times import UTC

from . import sla, stats


def month_bounds(year: int, month: int, tz: tzinfo) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) of a local month, in UTC."""
    start = datetime(year, month, 1, tzinfo=tz)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def followup_clocks(policy) -> set[str]:
    """The clocks a follow-up call meets: the follow-up rate counts these."""
    return {name for name, clock in policy.clocks.items()
            if stats.FOLLOWUP_MOMENT in clock.met_by}


def _is_set(path: str) -> dict:
    return {"$ne": [{"$ifNull": [path, None]}, None]}


def _count_if(condition) -> dict:
    return {"$sum": {"$cond": [condition, 1, 0]}}


def _by(expression) -> list[dict]:
    return [{"$group": {"_id": expression, "n": {"$sum": 1}}}]


def monthly(match: dict) -> list[dict]:
    resolved = _is_set("$resolved_at")
    return [
        {"$match": match},
        {"$facet": {
            "cases": [{"$group": {
                "_id": None,
                "count": {"$sum": 1},
                "major": _count_if({"$eq": ["$major", True]}),
                "delay_investigations": _count_if(_is_set("$delay_investigation_at")),
                "resolved": _count_if(resolved),
                "reopened": _count_if({"$and": [resolved, {"$gt": ["$round", 1]}]}),
                "hours_sum": {"$sum": {"$cond": [resolved, "$resolve_working_hours", 0]}},
                "hours_n": _count_if({"$and": [resolved,
                                               _is_set("$resolve_working_hours")]}),
            }}],
            "by_department": _by({"$ifNull": ["$department", "unassigned"]}),
            "by_category": _by("$category"),
            "by_channel": _by("$channel"),
            "by_liability": _by({"$ifNull": ["$liability.party", "undetermined"]}),
            "clocks": [
                {"$unwind": "$clocks"},
                {"$group": {"_id": {"name": "$clocks.name", "state": "$clocks.state",
                                    "breached": "$clocks.breached"},
                            "n": {"$sum": 1}}},
            ],
            "followups": [
                {"$unwind": "$followups"},
                {"$group": {"_id": None, "n": {"$sum": 1},
                            "satisfied": _count_if({"$eq": ["$followups.satisfied", True]})}},
            ],
        }},
    ]


def shape_monthly(raw: dict, followup_clocks: set[str]) -> dict:
    """The monthly table from :func:`monthly`'s result, as ``summarise_cases`` gives it."""
    cases = (raw.get("cases") or [{}])[0]

    def groups(name):
        return {g["_id"]: g["n"] for g in raw.get(name, ())}

    clock_counts: dict[str, dict] = {}
    done = owed = 0
    for group in raw.get("clocks", ()):
        key, n = group["_id"], group["n"]
        outcome = stats.clock_outcome({"breached": key["breached"], "state": key["state"]})
        counts = clock_counts.setdefault(key["name"], dict.fromkeys(
            (stats.ON_TIME, stats.LATE, stats.OPEN, stats.WAIVED), 0))
        counts[outcome] += n
        if key["name"] in followup_clocks:
            if key["state"] == sla.MET:
                done += n
                owed += n
            elif key["breached"]:
                owed += n
    on_time = {name: {**c, "rate": stats.rate(c[stats.ON_TIME],
                                              c[stats.ON_TIME] + c[stats.LATE])}
               for name, c in sorted(clock_counts.items())}
    followups = (raw.get("followups") or [{}])[0]
    return {
        "count": cases.get("count", 0),
        "by_department": groups("by_department"),
        "by_category": groups("by_category"),
        "by_channel": groups("by_channel"),
        "by_liability": groups("by_liability"),
        "major": cases.get("major", 0),
        "on_time": on_time,
        "mean_working_hours_to_resolve": stats.rate(cases.get("hours_sum", 0),
                                                    cases.get("hours_n", 0)),
        "followup_rate": stats.rate(done, owed),
        "satisfaction_rate": stats.rate(followups.get("satisfied", 0), followups.get("n", 0)),
        "reopen_rate": stats.rate(cases.get("reopened", 0), cases.get("resolved", 0)),
        "delay_investigations": cases.get("delay_investigations", 0),
    }


# -- on-call gauges ------------------------------------------------------------------
ON_TRACK, WARNED, BREACHED, PAUSED = "on_track", "warned", "breached", "paused"
GAUGE_STATES = (ON_TRACK, WARNED, BREACHED, PAUSED)


def open_clocks(match: dict) -> list[dict]:
    """Open clocks by name and on-call state, with the earliest due still ahead of breach."""
    running = {"$eq": ["$clocks.state", sla.RUNNING]}
    return [
        {"$match": match},
        {"$unwind": "$clocks"},
        {"$match": {"clocks.state": {"$in": list(sla.ACTIVE)}}},
        {"$group": {
            "_id": {"clock": "$clocks.name", "state": {"$switch": {"branches": [
                {"case": {"$eq": ["$clocks.state", sla.PAUSED]}, "then": PAUSED},
                {"case": {"$eq": ["$clocks.breached", True]}, "then": BREACHED},
                {"case": {"$eq": ["$clocks.warned", True]}, "then": WARNED},
            ], "default": ON_TRACK}}},
            "n": {"$sum": 1},
            "next_due": {"$min": {"$cond": [
                {"$and": [running, {"$ne": ["$clocks.breached", True]}]},
                "$clocks.due", None]}},
        }},
    ]
