"""Shift handover (交接班, 002 §4.7).

The incoming staff are on post 10 minutes before their shift (4.7.1); both
sides sign the log (4.7.5, 4.7.8); important work left unfinished blocks the
handover (4.7.9). The seed prices none of this, so the check reports findings
and whether the outgoing person may leave; it books no points.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from zhidu.times import as_utc

from .policy import AttendancePolicy


def check_handover(*, shift_start: datetime, incoming_arrived_at: datetime | None,
                   outgoing_signed: bool, incoming_signed: bool,
                   unfinished_important: Iterable[str] = (),
                   policy: AttendancePolicy) -> dict:
    """``{"may_leave": bool, "findings": [str], "arrive_by": datetime}``.

    Findings: ``arrived_late`` (after ``arrive_by``), ``not_arrived``,
    ``unsigned_outgoing``, ``unsigned_incoming``, ``unfinished_work``.
    """
    arrive_by = as_utc(shift_start) - timedelta(minutes=policy.handover.arrive_early_minutes)
    findings = []
    if incoming_arrived_at is None:
        findings.append("not_arrived")
    elif as_utc(incoming_arrived_at) > arrive_by:
        findings.append("arrived_late")
    if not outgoing_signed:
        findings.append("unsigned_outgoing")
    if not incoming_signed:
        findings.append("unsigned_incoming")
    if list(unfinished_important or ()):
        findings.append("unfinished_work")
    blocking = {"not_arrived", "unsigned_outgoing", "unsigned_incoming", "unfinished_work"}
    return {"may_leave": not blocking & set(findings), "findings": findings,
            "arrive_by": arrive_by}
