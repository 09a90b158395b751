"""Violation records, the unit the penalties service books.

Every violation carries a deterministic ``key`` built only from the facts that
make it unique (employee, day or meeting, rule, and a discriminator such as
``late``/``early`` or the incident's own id). Re-running an evaluation — a
second ``close_day``, a replayed sweep — yields the same keys, so the store's
unique index on ``key`` books nothing twice. ``violation_id`` and
``incident_id`` equal ``key`` for the same reason: the penalties service derives
its entry ids from (incident_id, code, share, person), so two A01s of one day
(late *and* early) or two phone calls in one meeting must not share an
incident id.

Shape (also the body of ``attendance.violation_recorded``, ``domain`` telling
``attendance`` from ``meeting``)::

    {"violation_id": str, "key": str, "incident_id": str, "domain": str,
     "code": str, "points": int, "employee_id": str | None, "role": str,
     "at": datetime (UTC), "detail": dict}

``role`` is who is booked: ``employee``, or ``attendance_clerk`` for the
report rule R01, whose ``detail.dept_manager_id`` names the department head —
the penalties catalogue charges both the full points from that one event
(000 §2 六.3), so the head gets no violation of his own here.
"""
from __future__ import annotations

from datetime import datetime

from zhidu.times import as_utc

from .policy import Catalogue


def violation(catalogue: Catalogue, code: str, *, key: str, employee_id: str | None,
              at: datetime, role: str = "employee", detail: dict | None = None) -> dict:
    rule = catalogue.rule(code)
    return {"violation_id": key, "key": key, "incident_id": key,
            "domain": catalogue.domain, "code": rule.code, "points": rule.points,
            "employee_id": employee_id, "role": role, "at": as_utc(at),
            "detail": dict(detail or {})}
