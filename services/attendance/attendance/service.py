"""The attendance service: shifts, rosters, clocking, leave, going out, handovers
and the duty log, meetings, the monthly attendance sheet.

Entry points only: each validates its payload (schemas) and hands it, with the
call's unit of work, to one application function in ``attendance.app``, which
asks the pure domain what the rules say, writes through the store and emits
what was decided.

Who may call each operation is ``rules/permissions.yaml``, checked against the
proven caller before a handler runs; the ``relation_*`` and ``subject_*``
methods answer the questions it asks (``app.access``). How much authority the
caller then carries — a step of the leave ladder, a change to a published
shift — is the domain's.
"""
from __future__ import annotations

from functools import cached_property

from nameko.events import BROADCAST, event_handler
from zhidu.events import config_timer, on_event
from zhidu.metrics import Metrics
from zhidu.mongo import Mongo
from zhidu.operations import Route, operation
from zhidu.rulebook import RuleBook
from zhidu.service import ZhiduService
from zhidu.times import as_utc, parse_time, to_iso, utcnow

from . import metrics as attendance_metrics
from . import schemas
from .app import (
    clocking,
    dutylog,
    leave,
    meetings,
    outings,
    reports,
    rosters,
    standing,
    sweeping,
)
from .app.access import Access
from .app.work import Caller, Work
from .policy import load_rules
from .store import AttendanceStore


class AttendanceService(ZhiduService):
    name = "attendance"
    store = Mongo(AttendanceStore)
    metrics = Metrics(declare=attendance_metrics.declare)
    tally = attendance_metrics.Tally()
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
        Route("POST", "/reports/{department}/{year}/{month}/decisions",
              "decide_monthly_report"),
        Route("POST", "/handovers", "hand_over", status=201),
        Route("GET", "/handovers/{handover_id}", "get_handover"),
        Route("POST", "/handovers/{handover_id}/signatures", "take_over"),
        Route("POST", "/duty-log", "log_duty", status=201),
        Route("GET", "/duty-log/{post}", "get_duty_log"),
        Route("POST", "/duty-log/{post}/reviews", "review_duty_log", status=201),
        Route("POST", "/outings", "request_outing", status=201),
        Route("GET", "/outings/{outing_id}", "get_outing"),
        Route("POST", "/outings/{outing_id}/decisions", "decide_outing"),
        Route("POST", "/outings/{outing_id}/return", "return_from_outing"),
        Route("POST", "/meetings", "schedule_meeting", status=201),
        Route("GET", "/meetings/{meeting_id}", "get_meeting"),
        Route("POST", "/meetings/{meeting_id}/checkins", "meeting_checkin"),
        Route("POST", "/meetings/{meeting_id}/incidents", "meeting_incident"),
        Route("POST", "/meetings/{meeting_id}/close", "close_meeting"),
        Route("POST", "/meetings/{meeting_id}/changes", "change_meeting"),
        Route("POST", "/meetings/{meeting_id}/leaves", "request_meeting_leave", status=201),
        Route("POST", "/meetings/{meeting_id}/leaves/{employee_id}/decisions",
              "decide_meeting_leave"),
        Route("POST", "/meetings/{meeting_id}/minutes", "issue_minutes", status=201),
        Route("POST", "/meetings/{meeting_id}/decisions/{decision_no}/reports",
              "report_decision"),
        Route("GET", "/meeting-standing/{employee_id}/{year}", "meeting_standing"),
        Route("POST", "/agenda-items", "submit_agenda_item", status=201),
        Route("GET", "/agendas/{year}/{month}", "get_agenda"),
        Route("POST", "/agendas/{year}/{month}/decisions", "decide_agenda"),
        Route("GET", "/violations", "list_violations"),
        Route("POST", "/sweep", "sweep"),
    ]

    @property
    def work(self) -> Work:
        """This run's unit of work (a re-run of the unit starts a fresh tally)."""
        return Work(self.store, self.outbox, self.rules, self.tally.begin(),
                    Caller.of(self.identity))

    @cached_property
    def access(self) -> Access:
        return Access(self.store, self.identity.person,
                      self.identity.provider.permissions.rule("decide_leave").roles,
                      self.rules.attendance)

    # -- who stands where: relations and subjects of rules/permissions.yaml ----------------
    def relation_department_clerk(self, principal, payload) -> bool:
        return self.access.department_clerk(principal, payload)

    def relation_department_head(self, principal, payload) -> bool:
        return self.access.department_head(principal, payload)

    def relation_same_department(self, principal, payload) -> bool:
        return self.access.same_department(principal, payload)

    def relation_emergency_clerk(self, principal, payload) -> bool:
        return self.access.emergency_clerk(principal, payload)

    def relation_roster_supervisor(self, principal, payload) -> bool:
        return self.access.roster_supervisor(principal, payload)

    def relation_leave_approver(self, principal, payload) -> bool:
        return self.access.leave_approver(principal, payload)

    def relation_approver_queue(self, principal, payload) -> bool:
        return self.access.approver_queue(principal, payload)

    def relation_meeting_member(self, principal, payload) -> bool:
        return self.access.meeting_member(principal, payload)

    def relation_meeting_chair(self, principal, payload) -> bool:
        return self.access.meeting_chair(principal, payload)

    def relation_meeting_convenor(self, principal, payload) -> bool:
        return self.access.meeting_convenor(principal, payload)

    def relation_meeting_minute_taker(self, principal, payload) -> bool:
        return self.access.meeting_minute_taker(principal, payload)

    def relation_decision_owner(self, principal, payload) -> bool:
        return self.access.decision_owner(principal, payload)

    def relation_chair_closing(self, principal, payload) -> bool:
        return self.access.chair_closing(principal, payload)

    def relation_duty_log_reviewer(self, principal, payload) -> bool:
        return self.access.duty_log_reviewer(principal, payload)

    def relation_outing_approver(self, principal, payload) -> bool:
        return self.access.outing_approver(principal, payload)

    def subject_leave_employee(self, payload) -> str | None:
        return self.access.leave_employee(payload)

    def subject_handover_incoming(self, payload) -> str | None:
        return self.access.handover_incoming(payload)

    def subject_outing_employee(self, payload) -> str | None:
        return self.access.outing_employee(payload)

    # -- catalogue, shifts and rosters -----------------------------------------------------
    @operation(schemas.Empty)
    def catalog(self, payload):
        return rosters.catalog(self.rules)

    @operation(schemas.DefineShift, idempotent=True)
    def define_shift(self, payload):
        return rosters.define_shift(self.work, payload)

    @operation(schemas.Empty)
    def list_shifts(self, payload):
        return self.store.shifts()

    @operation(schemas.SetRoster, idempotent=True)
    def set_roster(self, payload):
        return rosters.set_roster(self.work, payload)

    @operation(schemas.RosterQuery)
    def get_roster(self, payload):
        return rosters.get_roster(self.store, payload)

    @operation(schemas.HolidayRosterCheck)
    def holiday_roster_check(self, payload):
        return rosters.holiday_roster_check(self.work, payload)

    # -- clocking and the day --------------------------------------------------------------
    @operation(schemas.Clock, idempotent=True)
    def clock(self, payload):
        return clocking.clock(self.work, payload)

    @operation(schemas.ReportIncident, idempotent=True)
    def report_incident(self, payload):
        return clocking.report_incident(self.work, payload)

    # Thousands of people: a unit per batch of them, not one transaction.
    @operation(schemas.CloseDay, unit=False)
    def close_day(self, payload):
        return clocking.close_day(self.work, payload)

    @operation(schemas.DayQuery)
    def get_day(self, payload):
        return clocking.get_day(self.store, payload)

    @operation(schemas.Absenteeism)
    def absenteeism(self, payload):
        return clocking.absenteeism(self.work, payload)

    @operation(schemas.ViolationQuery)
    def list_violations(self, payload):
        return clocking.list_violations(self.store, payload)

    # -- leave -----------------------------------------------------------------------------
    @operation(schemas.RequestLeave, idempotent=True)
    def request_leave(self, payload):
        return leave.request_leave(self.work, payload)

    @operation(schemas.DecideLeave, idempotent=True)
    def decide_leave(self, payload):
        return leave.decide_leave(self.work, payload)

    @operation(schemas.AttachProof)
    def attach_sick_proof(self, payload):
        return leave.attach_sick_proof(self.work, payload)

    @operation(schemas.LeaveRef)
    def get_leave(self, payload):
        return leave.get_leave(self.store, payload)

    @operation(schemas.LeaveQuery)
    def list_leaves(self, payload):
        return leave.list_leaves(self.store, payload)

    @operation(schemas.SeniorityAccount)
    def set_seniority_account(self, payload):
        return leave.set_seniority_account(self.work, payload)

    # -- going out during working hours -----------------------------------------------------
    @operation(schemas.RequestOuting, idempotent=True)
    def request_outing(self, payload):
        return outings.ask_outing(self.work, payload)

    @operation(schemas.DecideOuting, idempotent=True)
    def decide_outing(self, payload):
        return outings.decide_outing(self.work, payload)

    @operation(schemas.ReturnFromOuting, idempotent=True)
    def return_from_outing(self, payload):
        return outings.return_from_outing(self.work, payload)

    @operation(schemas.OutingRef)
    def get_outing(self, payload):
        return outings.get_outing(self.store, payload)

    # -- handovers and the duty log ----------------------------------------------------------
    @operation(schemas.HandOver, idempotent=True)
    def hand_over(self, payload):
        return dutylog.hand_over(self.work, payload)

    @operation(schemas.TakeOver, idempotent=True)
    def take_over(self, payload):
        return dutylog.take_over_shift(self.work, payload)

    @operation(schemas.HandoverRef)
    def get_handover(self, payload):
        return dutylog.get_handover(self.work, payload)

    @operation(schemas.LogDuty, idempotent=True)
    def log_duty(self, payload):
        return dutylog.log_duty(self.work, payload)

    @operation(schemas.DutyLogQuery)
    def get_duty_log(self, payload):
        return dutylog.get_duty_log(self.work, payload)

    @operation(schemas.ReviewDutyLog, idempotent=True)
    def review_duty_log(self, payload):
        return dutylog.review_duty_log(self.work, payload)

    # -- the monthly attendance sheet ---------------------------------------------------------
    @operation(schemas.SubmitReport, idempotent=True)
    def submit_monthly_report(self, payload):
        return reports.submit_monthly_report(self.work, payload)

    @operation(schemas.DecideReport, idempotent=True)
    def decide_monthly_report(self, payload):
        return reports.decide_monthly_report(self.work, payload)

    @operation(schemas.ReportQuery)
    def report_status(self, payload):
        return reports.report_status(self.work, payload)

    # -- meetings --------------------------------------------------------------------------
    @operation(schemas.ScheduleMeeting, idempotent=True)
    def schedule_meeting(self, payload):
        return meetings.schedule_meeting(self.work, payload)

    @operation(schemas.ChangeMeeting, idempotent=True)
    def change_meeting(self, payload):
        return meetings.change_meeting(self.work, payload)

    @operation(schemas.RequestMeetingLeave, idempotent=True)
    def request_meeting_leave(self, payload):
        return meetings.request_meeting_leave(self.work, payload)

    @operation(schemas.DecideMeetingLeave, idempotent=True)
    def decide_meeting_leave(self, payload):
        return meetings.decide_meeting_leave(self.work, payload)

    @operation(schemas.IssueMinutes, idempotent=True)
    def issue_minutes(self, payload):
        return meetings.issue_minutes(self.work, payload)

    @operation(schemas.ReportDecision, idempotent=True)
    def report_decision(self, payload):
        return meetings.report_decision(self.work, payload)

    @operation(schemas.MeetingRef)
    def get_meeting(self, payload):
        return meetings.get_meeting(self.store, payload)

    @operation(schemas.MeetingCheckin)
    def meeting_checkin(self, payload):
        return meetings.meeting_checkin(self.work, payload)

    @operation(schemas.MeetingIncident)
    def meeting_incident(self, payload):
        return meetings.meeting_incident(self.work, payload)

    @operation(schemas.CloseMeeting)
    def close_meeting(self, payload):
        return meetings.close_meeting(self.work, payload)

    @operation(schemas.MeetingStanding)
    def meeting_standing(self, payload):
        return meetings.meeting_standing(self.work, payload)

    # -- the standing meetings' agenda (000 §3 四.7) ---------------------------------------
    @operation(schemas.SubmitAgendaItem, idempotent=True)
    def submit_agenda_item(self, payload):
        return standing.submit_agenda_item(self.work, payload)

    @operation(schemas.DecideAgenda, idempotent=True)
    def decide_agenda(self, payload):
        return standing.decide_agenda(self.work, payload)

    @operation(schemas.AgendaRef)
    def get_agenda(self, payload):
        return standing.get_agenda(self.work, payload)

    # -- the timer and the directory's events ----------------------------------------------
    # Every due item its own unit (a leave, a department's month, a batch of a day,
    # a duty's reminder).
    @operation(schemas.Sweep, unit=False)
    def sweep(self, payload):
        return sweeping.sweep(self.work, as_utc(payload["now"]))

    @config_timer("ZHIDU_SWEEP_INTERVAL")
    def sweep_timer(self):
        self.sweep({"now": to_iso(utcnow())})

    @on_event("directory", "employee_upserted")
    def on_employee_upserted(self, envelope):
        self.store.upsert_employee(envelope["data"], parse_time(envelope["time"]))

    @on_event("directory", "employee_departed")
    def on_employee_departed(self, envelope):
        self.store.mark_departed(envelope["data"]["employee_id"],
                                 parse_time(envelope["data"]["at"]))

    # -- every replica's copy of the roster ------------------------------------------------
    # The roster events above reach one replica per service; each replica's
    # copy of a day's roster (AttendanceStore.roster_for_clock) must hear of
    # them, so these take their own copy of each, on a queue of the replica's
    # own that goes with its connection. They only drop the days named, for
    # the next clock-in to read again: a repeat costs a read, and a message
    # lost leaves the copy to its expiry. The sender is not checked for the
    # same reason: nothing here is taken from the event but which days to read.
    @event_handler("attendance", "duty_rostered", handler_type=BROADCAST,
                   reliable_delivery=False)
    def roster_copy_on_duty_rostered(self, envelope):
        self.store.forget_roster_days(rosters.days_announced(envelope))

    @event_handler("attendance", "roster_changed", handler_type=BROADCAST,
                   reliable_delivery=False)
    def roster_copy_on_roster_changed(self, envelope):
        self.store.forget_roster_days(rosters.days_announced(envelope))

    def refresh_metrics(self) -> None:
        leave.pending_approvals(self.store, self.metrics)
