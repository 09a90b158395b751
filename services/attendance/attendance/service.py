"""The attendance service: shifts, rosters, clocking, leave, meetings, reports.

Entry points only: each validates its payload (schemas), asks the pure domain
what the rules say, writes through the store and emits what was decided. The
day-closing pipeline, the booking of violations and the sweep live in
``closing``, ``booking`` and ``sweeping``.

Who may call each operation is ``rules/permissions.yaml``, checked against the
proven caller before a handler runs; the ``relation_*`` and ``subject_*``
methods answer the questions it asks (is the caller this department's clerk,
whose leave is this). How much authority the caller then carries — a step of
the leave ladder, a change to a published shift — is the domain's.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

from zhidu.errors import Conflict, NotFound
from zhidu.events import config_timer, on_event
from zhidu.metrics import Metrics
from zhidu.mongo import Mongo
from zhidu.operations import Route, operation
from zhidu.permissions import LINE_FIELDS
from zhidu.rulebook import RuleBook
from zhidu.service import ZhiduService
from zhidu.times import as_utc, local_date, parse_time, to_iso, utcnow

from . import metrics as attendance_metrics
from . import schemas
from .booking import Booker
from .clocking import incident_outcome
from .closing import DayCloser
from .leave import attach_proof, decide_leave, new_leave
from .meetings import award_eligibility, close_meeting, evaluate_checkin, meeting_incident
from .meetings import schedule_meeting as plan_meeting
from .reports import monthly_report_due, monthly_report_status
from .roles import acting_role, effective_role, satisfies
from .rosters import apply_roster, entry_key, holiday_periods
from .rulebook import load_rules
from .seniority import apply_leave, approve_carry_over, open_year
from .shifts import define_shift as plan_shift
from .shifts import shift_from_dict, shift_instants
from .store import AttendanceStore
from .sweeping import Sweeper


def _ms(moment: datetime) -> datetime:
    """MongoDB keeps milliseconds; trimming first keeps keys and stored times equal."""
    moment = as_utc(moment)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


class AttendanceService(ZhiduService):
    name = "attendance"
    store = Mongo(AttendanceStore)
    metrics = Metrics(declare=attendance_metrics.declare)
    rules = RuleBook(load_rules)
    routes = [
        Route("GET", "/catalog", "catalog"),
        Route("PUT", "/shifts/{code}", "define_shift"),
        Route("GET", "/shifts", "list_shifts"),
        Route("POST", "/rosters", "set_roster"),
        Route("GET", "/rosters", "get_roster"),
        Route("GET", "/holiday-rosters", "holiday_roster_check"),
        Route("POST", "/clocks", "clock", status=201),
        Route("POST", "/incidents", "report_incident", status=201),
        Route("POST", "/days/{date}/close", "close_day"),
        Route("GET", "/days/{date}", "get_day"),
        Route("POST", "/leaves", "request_leave", status=201),
        Route("GET", "/leaves", "list_leaves"),
        Route("GET", "/leaves/{leave_id}", "get_leave"),
        Route("POST", "/leaves/{leave_id}/decisions", "decide_leave"),
        Route("POST", "/leaves/{leave_id}/proof", "attach_sick_proof"),
        Route("PUT", "/seniority/{employee_id}/{year}", "set_seniority_account"),
        Route("GET", "/absenteeism/{employee_id}", "absenteeism"),
        Route("POST", "/reports", "submit_monthly_report", status=201),
        Route("GET", "/reports/{department}/{year}/{month}", "report_status"),
        Route("POST", "/meetings", "schedule_meeting", status=201),
        Route("GET", "/meetings/{meeting_id}", "get_meeting"),
        Route("POST", "/meetings/{meeting_id}/checkins", "meeting_checkin"),
        Route("POST", "/meetings/{meeting_id}/incidents", "meeting_incident"),
        Route("POST", "/meetings/{meeting_id}/close", "close_meeting"),
        Route("GET", "/meeting-standing/{employee_id}/{year}", "meeting_standing"),
        Route("GET", "/violations", "list_violations"),
        Route("POST", "/sweep", "sweep"),
    ]

    # -- helpers (not entrypoints) ----------------------------------------------------
    @property
    def booker(self) -> Booker:
        return Booker(self.store, self.outbox, self.metrics, self.rules)

    @property
    def closer(self) -> DayCloser:
        return DayCloser(self.store, self.booker, self.rules)

    @property
    def sweeper(self) -> Sweeper:
        return Sweeper(self.store, self.outbox, self.rules, self.booker, self.closer)

    def _acting(self, employee_ids=(), needed: str | None = None) -> dict:
        """The proven caller, in the role they act in towards these employees.

        Who may call at all is settled by the permissions file; this is how much
        authority the caller carries for the domain's ladders: the role they hold
        that carries ``needed``, or ``supervisor`` when they are the direct
        superior of every employee concerned.
        """
        principal = self.identity.principal
        ladder = self.rules.attendance.ladder
        role = acting_role(principal.roles, needed, ladder)
        if needed is None or not satisfies(role, needed, ladder):
            people = [self.identity.person(e) for e in sorted(set(employee_ids))]
            role = effective_role({"id": principal.id, "role": role}, people, ladder)
        return {"id": principal.id, "role": role}

    # -- who stands where: relations and subjects of rules/permissions.yaml ----------------
    def relation_department_clerk(self, principal, payload) -> bool:
        return self._of_department(principal, "attendance_clerk", payload)

    def relation_department_head(self, principal, payload) -> bool:
        return self._of_department(principal, "dept_manager", payload)

    def relation_same_department(self, principal, payload) -> bool:
        mine = (principal.person or {}).get("department")
        return not principal.service_account and bool(mine) and \
            self._departments_concerned(payload) == {mine}

    def relation_emergency_clerk(self, principal, payload) -> bool:
        return bool(payload.get("emergency")) and \
            self._of_department(principal, "attendance_clerk", payload)

    def relation_roster_supervisor(self, principal, payload) -> bool:
        employees = {e["employee_id"] for e in payload.get("entries") or []}
        return bool(employees) and all(self._in_line_of(principal.id, e) for e in employees)

    def relation_leave_approver(self, principal, payload) -> bool:
        leave = self._looked_up("leave", payload.get("leave_id"))
        if leave is None:
            return False
        decided_by = {a.get("actor_id") for a in leave.get("approvals") or []}
        return principal.id in decided_by or \
            bool(self._approving_roles(principal) & set(leave.get("required_approvals") or []))

    def relation_approver_queue(self, principal, payload) -> bool:
        return payload.get("status") == "pending" and \
            payload.get("approver_role") in self._approving_roles(principal)

    def _approving_roles(self, principal) -> set[str]:
        """The caller's roles that let them decide any leave their step comes to
        (decide_leave's roles, e.g. gm): the approvers outside the reporting line."""
        return set(principal.roles) & self.identity.provider.permissions.rule("decide_leave").roles

    def relation_meeting_member(self, principal, payload) -> bool:
        meeting = self._looked_up("meeting", payload.get("meeting_id"))
        return meeting is not None and (meeting["chair_id"] == principal.id
                                        or principal.id in meeting["attendees"])

    def relation_meeting_chair(self, principal, payload) -> bool:
        meeting = self._looked_up("meeting", payload.get("meeting_id"))
        return meeting is not None and meeting["chair_id"] == principal.id

    def relation_chair_closing(self, principal, payload) -> bool:
        return not payload.get("excused") and self.relation_meeting_chair(principal, payload)

    def subject_leave_employee(self, payload) -> str | None:
        leave = self._looked_up("leave", payload.get("leave_id"))
        return leave["employee_id"] if leave else None

    def _looked_up(self, kind: str, key: str | None) -> dict | None:
        """A leave or meeting as the permission check saw it, read once per call.

        Only for deciding who may call: handlers read their own fresh copy.
        """
        if not key:
            return None
        seen = self.__dict__.setdefault("_permission_lookups", {})
        if (kind, key) not in seen:
            seen[kind, key] = getattr(self.store, kind)(key)
        return seen[kind, key]

    def _of_department(self, principal, role: str, payload) -> bool:
        """Does the caller hold ``role`` in the one department the call concerns?"""
        mine = (principal.person or {}).get("department")
        if principal.service_account or role not in principal.roles or not mine:
            return False
        concerned = self._departments_concerned(payload)
        return concerned == {mine}

    def _departments_concerned(self, payload) -> set[str] | None:
        """The departments of everything the call names; None when one is unknown."""
        departments = {payload["department"]} if payload.get("department") else set()
        employees = {e["employee_id"] for e in payload.get("entries") or []}
        if payload.get("employee_id"):
            employees.add(payload["employee_id"])
        if payload.get("leave_id"):
            employee = self.subject_leave_employee(payload)
            if employee is None:
                return None
            employees.add(employee)
        for employee_id in employees:
            department = (self.identity.person(employee_id) or {}).get("department")
            if not department:
                return None
            departments.add(department)
        return departments or None

    def _in_line_of(self, caller_id: str, employee_id: str) -> bool:
        person = self.identity.person(employee_id) or {}
        return caller_id != employee_id and caller_id in (
            person.get(f) for f in LINE_FIELDS["line_manager"])

    def _rostered_shift_at(self, employee_id: str, at: datetime, before: timedelta,
                           after: timedelta):
        """The roster entry whose shift (widened by ``before``/``after``) holds ``at``."""
        tz = self.rules.tz
        today = local_date(at, tz)
        days = [(today - timedelta(days=1)).isoformat(), today.isoformat()]
        for entry in sorted(self.store.roster_for_clock(employee_id, days),
                            key=lambda e: e["date"], reverse=True):
            stored = self.store.cached_shift(entry["shift_code"])
            if stored is None:
                continue
            start, end = shift_instants(entry["date"], shift_from_dict(stored), tz)
            if start - before <= at <= end + after:
                return entry, start, end
        return None, None, None

    # -- catalogue and shifts ------------------------------------------------------------
    @operation(schemas.Empty)
    def catalog(self, payload):
        return self.rules.attendance.catalogue.as_list() + self.rules.meetings.catalogue.as_list()

    @operation(schemas.DefineShift, idempotent=True)
    def define_shift(self, payload):
        shift = plan_shift(payload["code"], payload["start"], payload["end"]).as_dict()
        if self.store.insert_shift(shift):
            return shift
        existing = self.store.shift(shift["code"])
        if (existing["start"], existing["end"]) != (shift["start"], shift["end"]):
            raise Conflict(f"shift {shift['code']} is already defined as "
                           f"{existing['start']}-{existing['end']}; rostered days rely on it, "
                           "so define a new code instead")
        return existing

    @operation(schemas.Empty)
    def list_shifts(self, payload):
        return self.store.shifts()

    # -- rosters ---------------------------------------------------------------------------
    @operation(schemas.SetRoster, idempotent=True)
    def set_roster(self, payload):
        at = payload["at"] or utcnow()
        entries = [dict(e, date=e["date"].isoformat()) for e in payload["entries"]]
        shifts = {s["code"]: shift_from_dict(s) for s in self.store.shifts()}
        existing = self.store.roster_entries(entry_key(e["employee_id"], e["date"])
                                             for e in entries)
        changing = [e["employee_id"] for e in entries
                    if (old := existing.get(entry_key(e["employee_id"], e["date"])))
                    and old.get("published") and old["shift_code"] != e["shift_code"]]
        actor = self._acting(changing, self.rules.attendance.roster.change_approver_role) \
            if changing else payload["actor"]
        plan = apply_roster(existing, entries, publish=payload["published"], actor=actor,
                            at=at, shifts=shifts, policy=self.rules.attendance,
                            reason=payload["reason"], tz=self.rules.tz)
        self.store.save_roster(plan["entries"], existing, plan["changes"])
        return {"saved": len(plan["entries"]), "unchanged": len(entries) - len(plan["entries"]),
                "published": payload["published"], "changes": plan["changes"]}

    @operation(schemas.RosterQuery)
    def get_roster(self, payload):
        return self.store.roster_between(payload["date_from"].isoformat(),
                                         payload["date_to"].isoformat(),
                                         employee_ids=self._people_asked(payload))

    @operation(schemas.HolidayRosterCheck)
    def holiday_roster_check(self, payload):
        gaps = []
        for period in holiday_periods(payload["year"], payload["month"], self.rules.calendar,
                                      self.rules.attendance):
            departments = [payload["department"]] if payload["department"] else None
            gaps += self.sweeper.holiday_gaps(payload["year"], payload["month"], period,
                                         payload["now"], departments)
        return gaps

    # -- clocking ----------------------------------------------------------------------------
    @operation(schemas.Clock, idempotent=True)
    def clock(self, payload):
        at, employee_id, kind = _ms(payload["at"]), payload["employee_id"], payload["kind"]
        # The event itself is the key: a client repeating a clock-in adds nothing.
        clock_id = f"{employee_id}:{kind}:{to_iso(at)}"
        recorded = self.store.insert_clock({"_id": clock_id, "employee_id": employee_id,
                                            "kind": kind, "at": at, "source": payload["source"],
                                            "actor": payload["actor"], "recorded_at": utcnow()})
        window = self.rules.attendance.clocking
        entry, start, end = self._rostered_shift_at(
            employee_id, at, timedelta(minutes=window.window_before_minutes),
            timedelta(minutes=window.window_after_minutes))
        reply = {"clock_id": clock_id, "employee_id": employee_id, "kind": kind, "at": at,
                 "recorded": recorded, "roster_date": None, "shift_code": None}
        if entry is not None:
            reply.update(roster_date=entry["date"], shift_code=entry["shift_code"])
            if kind == "in":
                reply["late_minutes"] = max(0, -(-int((at - start).total_seconds()) // 60))
            else:
                reply["early_minutes"] = max(0, -(-int((end - at).total_seconds()) // 60))
        if recorded:
            self.metrics["clocks"].labels(kind).inc()
            if reply.get("late_minutes"):
                self.metrics["late"].inc()
                self.metrics["lateness"].observe(reply["late_minutes"])
        return reply

    @operation(schemas.ReportIncident, idempotent=True)
    def report_incident(self, payload):
        employee_id, at = payload["employee_id"], _ms(payload["at"])
        actor = self._acting([employee_id])
        entry, _, _ = self._rostered_shift_at(employee_id, at, timedelta(0), timedelta(0))
        if entry is None:
            raise Conflict(f"{employee_id} is not on a rostered shift at {to_iso(at)}")
        incident_id = f"{employee_id}:{payload['kind']}:{to_iso(at)}"
        incident = {"_id": incident_id, "employee_id": employee_id, "date": entry["date"],
                    "kind": payload["kind"], "at": at, "minutes": payload["minutes"],
                    "note": payload["note"], "actor": actor}
        outcome = incident_outcome(employee_id, entry["date"],
                                   dict(incident, incident_id=incident_id),
                                   self.rules.attendance)
        self.store.insert_incident(incident)
        if outcome["violation"]:
            self.booker.violations([outcome["violation"]])
        day = date.fromisoformat(entry["date"])
        if self.store.evaluated_dates(employee_id, entry["date"], entry["date"]):
            # The day was closed already: judge it again with the incident in.
            self.closer.close(day, [employee_id])
        return {"incident_id": incident_id, "date": entry["date"], "kind": payload["kind"],
                "violation": outcome["violation"],
                "absence_reason": outcome["absence_reason"]}

    @operation(schemas.CloseDay)
    def close_day(self, payload):
        result = self.closer.close(payload["date"], at=as_utc(payload["at"] or utcnow()))
        self.metrics["days_closed"].inc()
        return result

    @operation(schemas.DayQuery)
    def get_day(self, payload):
        found = self.store.evaluations_on(payload["date"].isoformat(), self._people_asked(payload))
        return [{k: v for k, v in e.items() if k != "fingerprint"}
                for _, e in sorted(found.items())]

    # -- leave ----------------------------------------------------------------------------------
    @operation(schemas.RequestLeave, idempotent=True)
    def request_leave(self, payload):
        employee_id = payload["employee_id"]
        start, end = payload["start"], payload["end"]
        # Shift workers: the roster, not the calendar, says which days count.
        rostered = [e["date"] for e in self.store.roster_between(
            start.isoformat(), end.isoformat(), employee_id) if e.get("published")] \
            if end >= start else []
        back = self.store.next_rostered_date(employee_id, end.isoformat()) if rostered else None
        account = self.store.seniority_account(employee_id, start.year) \
            if payload["type"] == "seniority" else None
        leave = new_leave(leave_id="?", employee_id=employee_id, type=payload["type"],
                          start=start, end=end, submitted_at=payload["submitted_at"],
                          calendar=self.rules.calendar, policy=self.rules.attendance,
                          reason=payload["reason"], emergency=payload["emergency"],
                          seniority_year=payload["seniority_year"],
                          seniority_account=account, rostered_dates=rostered or None,
                          first_day_back=back)
        for other in self.store.overlapping_leaves(employee_id, leave["start"], leave["end"]):
            if _same_request(other, leave):
                # The same form again (a retry after a crash): announce it again.
                return self._requested(other)
            raise Conflict(f"overlaps leave {other['leave_id']} ({other['start']} to "
                           f"{other['end']}, {other['status']}); a correction is a new "
                           "record once that one is decided")
        leave.update(leave_id=f"LV{self.store.next_sequence('leave'):06d}",
                     proof_open=leave["proof_due"] is not None,
                     filed_by=payload["actor"])
        self.store.insert_leave(leave)
        return self._requested(leave)

    def _requested(self, leave: dict) -> dict:
        self.outbox.emit("leave_requested", dict(
            _leave_event(leave), approver_role=leave["next_approver_role"],
            required_approvals=leave["required_approvals"]), key=leave["leave_id"])
        return dict(leave, approver_role=leave["next_approver_role"])

    @operation(schemas.DecideLeave)
    def decide_leave(self, payload):
        leave = self._leave(payload["leave_id"])
        actor = self._acting([leave["employee_id"]], leave.get("next_approver_role"))
        if _repeats_last_approval(leave, actor, payload):
            # The same decision again (a retry after a crash): finish what it
            # implied instead of refusing it as already taken.
            return self._decided(leave, actor)
        account = self._seniority(leave)
        updated = decide_leave(leave, approve=payload["approve"], actor=actor,
                               at=payload["at"], policy=self.rules.attendance,
                               calendar=self.rules.calendar, seniority_account=account,
                               note=payload["note"])
        if updated["status"] == "rejected":
            updated["proof_open"] = False
        if not self.store.replace_leave(updated):
            raise Conflict(f"leave {leave['leave_id']} was decided by someone else meanwhile")
        return self._decided(updated, actor)

    def _seniority(self, leave: dict) -> dict | None:
        if leave["type"] != "seniority":
            return None
        return self.store.seniority_account(leave["employee_id"], int(leave["start"][:4]))

    def _book_seniority(self, leave: dict) -> None:
        """Debit the seniority account once per leave, safe against a racing writer."""
        for _ in range(10):
            account = self._seniority(leave)
            if account is None or leave["leave_id"] in account.get("applied", []):
                return
            booked = apply_leave(account, leave, self.rules.attendance)
            booked["applied"] = [*account.get("applied", []), leave["leave_id"]]
            if self.store.save_seniority_account(booked, expected=account.get("revision")):
                return
        raise Conflict(f"the seniority account of {leave['employee_id']} keeps changing; "
                       "try again")

    def _decided(self, leave: dict, actor: dict) -> dict:
        """Everything a stored decision implies; each step is safe to repeat."""
        if leave["status"] != "pending":
            self.outbox.emit("leave_decided", dict(
                _leave_event(leave), decided_at=to_iso(leave["decided_at"]),
                decided_by={"id": actor.get("id"), "role": actor.get("role")}),
                key=f"{leave['leave_id']}:decided")
        if leave["status"] == "approved":
            self._book_seniority(leave)
            # Days already closed inside the leave lose their absences now.
            for day in self.store.evaluated_dates(leave["employee_id"], leave["start"],
                                                  leave["end"]):
                self.closer.close(date.fromisoformat(day), [leave["employee_id"]])
        return dict(leave, approver_role=leave["next_approver_role"])

    @operation(schemas.AttachProof)
    def attach_sick_proof(self, payload):
        leave = self._leave(payload["leave_id"])
        at = _ms(payload["at"])
        updated = attach_proof(leave, at, self.rules.attendance)
        if leave.get("proof_at") is None:
            on_time = leave["proof_due"] is None or at <= as_utc(leave["proof_due"])
            self.store.set_proof(leave["leave_id"], at, on_time)
        due = updated.get("proof_due")
        return dict(updated, on_time=due is None or as_utc(updated["proof_at"]) <= as_utc(due))

    @operation(schemas.LeaveRef)
    def get_leave(self, payload):
        return self._leave(payload["leave_id"])

    @operation(schemas.LeaveQuery)
    def list_leaves(self, payload):
        return self.store.leaves(status=payload["status"], approver_role=payload["approver_role"],
                                 employee_ids=self._people_asked(payload))

    def _people_asked(self, payload) -> list[str] | None:
        """The employees a list query names: one person, a department, both, or everyone."""
        ids = None
        if payload.get("department"):
            ids = set(self.store.department_members(payload["department"]))
        if payload.get("employee_id"):
            ids = {payload["employee_id"]} if ids is None else ids & {payload["employee_id"]}
        return None if ids is None else sorted(ids)

    def _leave(self, leave_id: str) -> dict:
        leave = self.store.leave(leave_id)
        if leave is None:
            raise NotFound(f"leave {leave_id} not found")
        return leave

    @operation(schemas.SeniorityAccount)
    def set_seniority_account(self, payload):
        policy = self.rules.attendance
        actor = self._acting([payload["employee_id"]],
                             policy.seniority.carry_over_approver
                             if payload["carried_over_days"] else None)
        employee_id, year = payload["employee_id"], payload["year"]
        carry = None
        if payload["carried_over_days"]:
            previous = self.store.seniority_account(employee_id, year - 1) or open_year(
                employee_id, year - 1, payload["carried_over_days"])
            carry = approve_carry_over(previous, payload["carried_over_days"], actor,
                                       payload["at"] or utcnow(), policy)
        account = open_year(employee_id, year, payload["entitlement_days"], carry)
        if carry is not None:
            # Who let the days cross the year (四.1 needs the GM) stays on record.
            account["carry_over"] = carry
        existing = self.store.seniority_account(employee_id, year)
        if existing is not None:
            if payload["entitlement_days"] < existing["used_days"]:
                raise Conflict(f"{existing['used_days']} days of {year} are already used")
            account.update(used_days=existing["used_days"],
                           parts_taken=existing["parts_taken"],
                           previous_used=existing["previous_used"] and not carry)
        self.store.save_seniority_account(account)
        return account

    @operation(schemas.Absenteeism)
    def absenteeism(self, payload):
        return self.booker.absenteeism(payload["employee_id"], payload["as_of"])

    # -- the clerk's monthly report ---------------------------------------------------------
    @operation(schemas.SubmitReport, idempotent=True)
    def submit_monthly_report(self, payload):
        policy, actor = self.rules.attendance, payload["actor"]
        department = payload["department"]
        # The clerk answers for the report (000 §2 五.1, 六.3); when the head
        # submits it, the department's clerk is still the one booked.
        by_clerk = "attendance_clerk" in self.identity.principal.roles
        clerks = self.store.department_role_holders(department, "attendance_clerk")
        clerk_id = actor["id"] if by_clerk or not clerks else clerks[0]
        head_id = self.sweeper.head_of(department, clerk_id)
        status = monthly_report_status(department=department, year=payload["year"],
                                       month=payload["month"], policy=policy,
                                       submitted_at=_ms(payload["at"]), clerk_id=clerk_id,
                                       head_id=head_id, tz=self.rules.tz)
        report = dict(status, clerk_id=clerk_id, head_id=head_id, submitted_by=actor)
        if not self.store.submit_report(report):
            stored = self.store.report(report["key"])
            if stored and as_utc(stored["submitted_at"]) == as_utc(report["submitted_at"]):
                # The same submission again (a retry after a crash).
                self.booker.reannounce(stored.get("violations") or [])
                return stored
            raise Conflict(f"the {department} report for {payload['year']}-"
                           f"{payload['month']:02d} was submitted already")
        self.booker.violations(status["violations"])
        return report

    @operation(schemas.ReportQuery)
    def report_status(self, payload):
        key = f"report:{payload['department']}:{payload['year']:04d}-{payload['month']:02d}"
        stored = self.store.report(key)
        if stored is not None:
            return stored
        due = monthly_report_due(payload["department"], payload["year"], payload["month"],
                                 self.rules.attendance, self.rules.tz)
        return {"key": key, "department": payload["department"], "year": payload["year"],
                "month": payload["month"], "due_at": due, "submitted_at": None,
                "status": "not_submitted"}

    # -- meetings -------------------------------------------------------------------------------
    @operation(schemas.ScheduleMeeting, idempotent=True)
    def schedule_meeting(self, payload):
        meeting = plan_meeting(meeting_id=payload["meeting_id"], kind=payload["kind"],
                               start=_ms(payload["start"]),
                               planned_minutes=payload["planned_minutes"],
                               attendees=payload["attendees"], chair_id=payload["chair_id"],
                               policy=self.rules.meetings)
        if self.store.insert_meeting(meeting):
            return meeting
        existing = self.store.meeting(meeting["meeting_id"])
        same = all(existing.get(k) == meeting[k] for k in
                   ("kind", "start", "planned_minutes", "attendees", "chair_id"))
        if not same:
            raise Conflict(f"meeting {meeting['meeting_id']} exists with other details")
        return existing

    @operation(schemas.MeetingRef)
    def get_meeting(self, payload):
        meeting = self._meeting(payload["meeting_id"])
        return dict(meeting, checked_in=self.store.checked_in(meeting["meeting_id"]))

    @operation(schemas.MeetingCheckin)
    def meeting_checkin(self, payload):
        meeting = self._meeting(payload["meeting_id"])
        result = evaluate_checkin(meeting, payload["employee_id"], _ms(payload["at"]),
                                  reminded=payload["reminded"], policy=self.rules.meetings)
        checkin = {"meeting_id": meeting["meeting_id"], "employee_id": payload["employee_id"],
                   "at": result["at"], "status": result["status"],
                   "minutes_late": result["minutes_late"], "reminded": payload["reminded"],
                   "violation": result["violation"]}
        if not self.store.insert_checkin(checkin):
            # The first check-in stands; a repeat cannot turn M01 into M02 as well,
            # but it announces again what the first one booked.
            first = self.store.checkin(meeting["meeting_id"], payload["employee_id"])
            if first.get("violation"):
                self.booker.reannounce([first["violation"]])
            return dict(first, repeated=True)
        if result["violation"]:
            self.booker.violations([result["violation"]])
        return dict(checkin, repeated=False)

    @operation(schemas.MeetingIncident)
    def meeting_incident(self, payload):
        meeting = self._meeting(payload["meeting_id"])
        found = meeting_incident(meeting, payload["employee_id"], payload["kind"],
                                 _ms(payload["at"]), policy=self.rules.meetings,
                                 chair_consent=payload["chair_consent"])
        booked = self.booker.violations([found]) if found else []
        return {"meeting_id": meeting["meeting_id"], "employee_id": payload["employee_id"],
                "kind": payload["kind"], "violation": found, "booked": bool(booked)}

    @operation(schemas.CloseMeeting)
    def close_meeting(self, payload):
        meeting = self._meeting(payload["meeting_id"])
        ended_at = _ms(payload["ended_at"])
        if meeting["status"] == "closed":
            if as_utc(meeting["ended_at"]) != ended_at:
                raise Conflict(f"meeting {meeting['meeting_id']} closed at "
                               f"{to_iso(meeting['ended_at'])} already")
            return meeting["result"]
        day = local_date(meeting["start"], self.rules.tz).isoformat()
        on_leave = self.store.approved_leaves_on(day, meeting["attendees"])
        result = close_meeting(meeting, ended_at=ended_at,
                               checked_in=self.store.checked_in(meeting["meeting_id"]),
                               excused=set(payload["excused"]) | set(on_leave),
                               policy=self.rules.meetings)
        result["excused"] = sorted((set(payload["excused"]) | set(on_leave))
                                   & set(meeting["attendees"]))
        self.booker.violations(result["violations"])
        if self.store.close_meeting(meeting["meeting_id"], result) and result["over_length"]:
            self.metrics["over_length"].labels(meeting["kind"]).inc()
        return result

    @operation(schemas.MeetingStanding)
    def meeting_standing(self, payload):
        year, tz = payload["year"], self.rules.tz
        since = datetime(year, 1, 1, tzinfo=tz)
        until = datetime(year + 1, 1, 1, tzinfo=tz)
        found = self.store.violations(payload["employee_id"], "meeting", since, until, 10000)
        penalties = [dict(v, reversed=v.get("withdrawn_at") is not None) for v in found]
        return award_eligibility(payload["employee_id"], penalties, year, self.rules.meetings,
                                 tz)

    def _meeting(self, meeting_id: str) -> dict:
        meeting = self.store.meeting(meeting_id)
        if meeting is None:
            raise NotFound(f"meeting {meeting_id} not found")
        return meeting

    # -- violations, the timer and events ---------------------------------------------------------
    @operation(schemas.ViolationQuery)
    def list_violations(self, payload):
        return self.store.violations(payload["employee_id"], payload["domain"],
                                     payload["since"], payload["until"], payload["limit"])

    @operation(schemas.Sweep)
    def sweep(self, payload):
        return self.sweeper.run(as_utc(payload["now"]))

    @config_timer("ZHIDU_SWEEP_INTERVAL")
    def sweep_timer(self):
        self.sweep({"now": to_iso(utcnow())})

    @on_event("directory", "employee_upserted")
    def on_employee_upserted(self, envelope):
        self.store.upsert_employee(envelope["data"], parse_time(envelope["time"]))

    @on_event("directory", "employee_departed")
    def on_employee_departed(self, envelope):
        data = envelope["data"]
        self.store.mark_departed(data["employee_id"], parse_time(data["at"]))

    # The directory copy callers are proven against. The inherited handlers ask
    # the worker's guard to drop its cached entry, which only the provider
    # behind it can do; without these, every directory update would be retried
    # into the dead-letter queue after it was applied.
    @on_event("directory", "employee_upserted")
    def remember_person(self, envelope):
        data = envelope["data"]
        self.store.remember_person(data["employee_id"], data, parse_time(envelope["time"]))
        self.identity.provider.forget(data["employee_id"])

    @on_event("directory", "employee_departed")
    def forget_person(self, envelope):
        data = envelope["data"]
        self.store.remember_person(data["employee_id"], {"departed_at": data["at"]},
                                   parse_time(envelope["time"]))
        self.identity.provider.forget(data["employee_id"])

    def refresh_metrics(self) -> None:
        pending, age = self.metrics["pending"], self.metrics["pending_age"]
        pending.clear()
        age.clear()
        now = utcnow()
        for group in self.store.pending_approvals():
            role = group["_id"] or "unknown"
            pending.labels(role).set(group["count"])
            oldest = group.get("oldest")
            age.labels(role).set(max(0.0, (now - as_utc(oldest)).total_seconds())
                                 if oldest else 0.0)


def _leave_event(leave: dict) -> dict:
    return {"leave_id": leave["leave_id"], "employee_id": leave["employee_id"],
            "type": leave["type"], "start": leave["start"], "end": leave["end"],
            "days": leave["days"], "status": leave["status"],
            "emergency": bool(leave.get("emergency"))}


def _repeats_last_approval(leave: dict, actor: dict, payload: dict) -> bool:
    last = leave["approvals"][-1] if leave.get("approvals") else None
    return (last is not None and last["actor_id"] == actor.get("id")
            and (last["decision"] == "approved") == payload["approve"]
            and as_utc(last["at"]) == as_utc(_ms(payload["at"])))


def _same_request(stored: dict, new: dict) -> bool:
    return all(stored.get(k) == new.get(k) for k in ("type", "start", "end")) and \
        as_utc(stored["submitted_at"]) == as_utc(_ms(new["submitted_at"]))
