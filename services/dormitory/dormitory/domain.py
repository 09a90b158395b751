"""Dormitory rules (seed 000 §5, rules.md §4): pure Python, no I/O.

Decisions where the seed and the spec are silent — the service follows them
and its tests hold them:

- **Beds.** A room has beds ``1..capacity`` and one gender, ``M`` or ``F``
  (mixed living is itself violation D03). An assignment takes the lowest free
  bed unless the caller names one. A full room, a room of the other gender, a
  taken bed, a departed employee, one whose accommodation was revoked, or one
  who already has a bed (release it first: a move is release + assign) is a
  conflict. The store's unique indexes on (room, bed) and on the employee make
  this hold under concurrent calls too. A release (or revocation) may not be
  dated before the assignment it ends.
- **Room leader** (负责人) must live in the room; leaving the room (release or
  revocation) ends the leadership.
- **Findings → violations.** Each violation in an inspection counts on its
  own, so two codes for one person are two violations. A finding naming nobody
  applies to every occupant of the room *at the inspection time* (beds held
  then, from the bed history, not now). A named employee need not live in the
  inspected room (a resident caught smoking next door is still the smoker).
  One inspection books a rule at most once per person: the inspection is the
  occasion the seed's "扣N分/次" counts, and the penalties ledger keys entries
  on (incident, code, person), so a second identical pair would be dropped
  there anyway; the notes are merged. A finding with nobody to charge (empty
  room, nobody named) is kept on the inspection as unattributed.
- **Move-out (D01).** The deadline is ``move_out_days`` (3) *plain* days after
  the departure time — 72 hours, not working days and not "end of the third
  day" (rules.md §1: days without "working" are clock time). D01 is booked once
  per departure, at the deadline, if the employee still held a bed at that
  moment — judged from the bed history, so a replayed sweep decides the same.
  The room is the one the bed was in. A later departure event (a corrected
  date) re-arms the deadline only while no D01 has been booked, so an employee
  gets at most one D01. Assigning a bed to a departed employee is refused.
- **Identity.** One inspector in one room at one moment is one inspection;
  one employee assigned at one moment is one assignment. Their ids derive from
  those facts, so a retried call (with or without ``request_id``) gets its
  first result back and books nothing twice; the same inspection key with
  different findings is a conflict. An assignment that has since ended is
  not made again by a late repeat.
- **Revocation** (取消住宿资格) takes one of the catalogue's reasons (000 §5
  六), releases the bed if there is one, and bars new assignments until the
  accommodation is reinstated. Damage is paid at cost: the amount is recorded,
  it is not a penalty.
- **Listing** violations by time uses the violation's ``at`` (inspection time,
  or the D01 deadline): ``since`` inclusive, ``until`` exclusive.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from zhidu.domain import DomainConflict, DomainValidation

from .catalogue import MOVE_OUT_CODE, Catalogue

GENDERS = ("M", "F")
# Changing it would change every derived id and break de-duplication downstream.
_IDS = uuid.UUID("3c0e5a52-7d3b-4f0e-a8f1-5b2d1c9e6a47")


def derived_id(*parts) -> str:
    """A stable id from the facts that make a thing unique."""
    return str(uuid.uuid5(_IDS, "\x1f".join(str(p) for p in parts)))


@dataclass(frozen=True)
class Room:
    building: str
    room_no: str
    capacity: int
    gender: str

    @property
    def label(self) -> str:
        return f"{self.building}/{self.room_no}"


@dataclass(frozen=True)
class Resident:
    """The dormitory's copy of an employee, as far as the bed rules need it."""

    employee_id: str
    gender: str | None
    departed_at: datetime | None = None
    revoked: bool = False


@dataclass(frozen=True)
class Stay:
    """One person on one bed from ``since`` until ``until`` (None: still there)."""

    employee_id: str
    building: str
    room_no: str
    bed_no: int
    since: datetime
    until: datetime | None = None

    def covers(self, moment: datetime) -> bool:
        return self.since <= moment and (self.until is None or moment < self.until)


# -- beds -------------------------------------------------------------------------

def choose_bed(room: Room, resident: Resident, occupied: Iterable[int],
               wanted: int | None = None) -> int:
    """The bed ``resident`` may have in ``room``, or the reason they may not."""
    occupied = set(occupied)
    if wanted is not None and not 1 <= wanted <= room.capacity:
        raise DomainValidation.one(
            "bed_no", f"room {room.label} has beds 1 to {room.capacity}")
    if resident.departed_at is not None:
        raise DomainConflict(f"employee {resident.employee_id} has left the company")
    if resident.revoked:
        raise DomainConflict(
            f"employee {resident.employee_id} has lost the right to a dormitory bed")
    if resident.gender not in GENDERS:
        raise DomainConflict(f"the gender of employee {resident.employee_id} is not known")
    if resident.gender != room.gender:
        raise DomainConflict(
            f"room {room.label} is for {room.gender} residents; "
            f"employee {resident.employee_id} is {resident.gender}")
    if wanted is not None:
        if wanted in occupied:
            raise DomainConflict(f"bed {wanted} in room {room.label} is taken")
        return wanted
    free = [bed for bed in range(1, room.capacity + 1) if bed not in occupied]
    if not free:
        raise DomainConflict(f"room {room.label} is full ({room.capacity} beds)")
    return free[0]


def check_release_time(since: datetime, at: datetime) -> None:
    if at < since:
        raise DomainValidation.one(
            "at", f"before the bed was assigned ({since.isoformat()})")


def check_room_leader(room: Room, employee_id: str, occupant_ids: Iterable[str]) -> None:
    """A room's leader (负责人) is one of its residents."""
    if employee_id not in set(occupant_ids):
        raise DomainConflict(
            f"employee {employee_id} does not live in room {room.label}")


def occupants_at(stays: Iterable[Stay], moment: datetime) -> list[str]:
    """Who held a bed at ``moment``, by bed number."""
    held = sorted((s for s in stays if s.covers(moment)), key=lambda s: s.bed_no)
    return list(dict.fromkeys(s.employee_id for s in held))


def stay_at(stays: Iterable[Stay], moment: datetime) -> Stay | None:
    for stay in stays:
        if stay.covers(moment):
            return stay
    return None


# -- inspections ------------------------------------------------------------------

def inspection_id(building: str, room_no: str, inspector_id: str, at: datetime) -> str:
    """One inspector in one room at one moment is one inspection."""
    return derived_id("inspection", building, room_no, inspector_id, at.isoformat())


def check_findings(catalogue: Catalogue, findings: Sequence[Mapping]) -> None:
    """Every finding names a rule of the catalogue; all bad ones are reported."""
    problems = {}
    for index, finding in enumerate(findings):
        if finding["code"] not in catalogue.rules:
            problems[index] = {"code": [
                f"unknown rule {finding['code']!r}; the catalogue has "
                f"{', '.join(catalogue.rules)}"]}
    if problems:
        # Keyed by the finding's position, the shape the schema reports too.
        raise DomainValidation({"findings": problems})


def named_in(findings: Sequence[Mapping]) -> set[str]:
    """Everyone the findings name, who must all be known to the dormitory."""
    return {e for finding in findings for e in finding.get("employee_ids") or ()}


def needs_occupants(findings: Sequence[Mapping]) -> bool:
    """Whether a finding names nobody, and so falls on the room's occupants."""
    return any(not finding.get("employee_ids") for finding in findings)


def findings_to_violations(catalogue: Catalogue, incident_id: str, room: Room,
                           at: datetime, findings: Sequence[Mapping],
                           occupants: Sequence[str]) -> tuple[list[dict], list[int]]:
    """The violations an inspection's findings make, and the unattributed findings.

    ``occupants`` are the room's residents at ``at`` (see :func:`occupants_at`).
    """
    check_findings(catalogue, findings)
    booked: dict[tuple[str, str], dict] = {}
    unattributed = []
    for index, finding in enumerate(findings):
        named = list(dict.fromkeys(finding.get("employee_ids") or ()))
        targets = named or list(occupants)
        if not targets:
            unattributed.append(index)
            continue
        rule = catalogue.rule(finding["code"])
        note = finding.get("note")
        for employee_id in targets:
            key = (employee_id, rule.code)
            if key in booked:
                if note:
                    booked[key]["note"] = "; ".join(
                        n for n in (booked[key]["note"], note) if n)
                continue
            booked[key] = _violation(incident_id, employee_id, rule.code, rule.points,
                                     at, room.building, room.room_no, note)
    return list(booked.values()), unattributed


def _violation(incident_id: str, employee_id: str, code: str, points: int, at: datetime,
               building: str, room_no: str, note: str | None) -> dict:
    return {"violation_id": derived_id("violation", incident_id, employee_id, code),
            "incident_id": incident_id, "employee_id": employee_id, "code": code,
            "points": points, "at": at, "building": building, "room_no": room_no,
            "note": note or None}


# -- departure ----------------------------------------------------------------------

def move_out_due(departed_at: datetime, catalogue: Catalogue) -> datetime:
    return departed_at + timedelta(days=catalogue.move_out_days)


def move_out_incident_id(employee_id: str, departed_at: datetime) -> str:
    return derived_id("move_out", employee_id, departed_at.isoformat())


def move_out_violation(catalogue: Catalogue, employee_id: str, departed_at: datetime,
                       due: datetime, stays: Iterable[Stay]) -> dict | None:
    """D01 if the employee still held a bed when the move-out deadline ``due`` passed.

    ``due`` is the deadline fixed at departure (:func:`move_out_due`), so a later
    change of ``move_out_days`` does not move deadlines already running.
    """
    stay = stay_at((s for s in stays if s.employee_id == employee_id), due)
    if stay is None:
        return None
    rule = catalogue.rule(MOVE_OUT_CODE)
    return _violation(move_out_incident_id(employee_id, departed_at), employee_id,
                      rule.code, rule.points, due, stay.building, stay.room_no,
                      f"departed {departed_at.isoformat()}, bed {stay.bed_no} "
                      f"still held at the deadline")


# -- revocation ---------------------------------------------------------------------

def check_revocation(catalogue: Catalogue, reason: str, already_revoked: bool,
                     employee_id: str) -> None:
    if reason not in catalogue.reasons:
        raise DomainValidation.one(
            "reason", f"must be one of {', '.join(catalogue.reasons)}")
    if already_revoked:
        raise DomainConflict(
            f"employee {employee_id} has already lost the right to a dormitory bed")


def revocation_id(employee_id: str, at: datetime) -> str:
    return derived_id("revocation", employee_id, at.isoformat())


def assignment_id(employee_id: str, at: datetime) -> str:
    """Assigning one person at one moment is one assignment: a retry finds it."""
    return derived_id("assignment", employee_id, at.isoformat())
