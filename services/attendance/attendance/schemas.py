"""Payloads of the attendance operations and the data of its events.

Field-level shape only (types, required, enums); the rules themselves — what a
shift code may look like, which leave type exists, who approves — are the
domain's, so a refusal names the field either way.
"""
from marshmallow import ValidationError as MarshmallowError
from marshmallow import fields, validate, validates_schema
from zhidu.schemas import Day, Payload, Time, actor_field

ID = validate.Length(min=1, max=64)
NAME = validate.Length(min=1, max=200)
NOTE = validate.Length(max=2000)
POST = validate.Length(min=1, max=32)
HHMM = validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="expected HH:MM, 00:00-23:59")
YEAR = validate.Range(min=2000, max=2100)
MONTH = validate.Range(min=1, max=12)


def _note(**kwargs):
    return fields.String(load_default=None, allow_none=True, validate=NOTE, **kwargs)


def _names(**kwargs):
    return fields.List(fields.String(validate=NAME), load_default=list,
                       validate=validate.Length(max=50), **kwargs)


def _request_id():
    return fields.String(load_default=None, allow_none=True, validate=ID)


def _id(required=True, **kwargs):
    if required:
        return fields.String(required=True, validate=ID, **kwargs)
    return fields.String(load_default=None, allow_none=True, validate=ID, **kwargs)


# -- shifts and rosters ----------------------------------------------------------
class DefineShift(Payload):
    code = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Za-z0-9_-]{1,32}$", error="1-32 letters, digits, '_' or '-'"))
    start = fields.String(required=True, validate=HHMM)
    end = fields.String(required=True, validate=HHMM)
    actor = actor_field()
    request_id = fields.String(load_default=None, allow_none=True)


class Empty(Payload):
    pass


class RosterEntry(Payload):
    employee_id = _id()
    date = Day(required=True)
    shift_code = fields.String(required=True, validate=validate.Length(min=1, max=32))
    on_call = fields.Boolean(load_default=False, metadata={
        "description": "an on-call (值班) shift: alerts reach this person while it runs"})


class SetRoster(Payload):
    entries = fields.List(fields.Nested(RosterEntry), required=True,
                          validate=validate.Length(min=1, max=20000))
    published = fields.Boolean(load_default=False)
    reason = fields.String(load_default=None, allow_none=True)
    at = Time(load_default=None, allow_none=True,
              metadata={"description": "when the change was approved; default now"})
    request_id = fields.String(load_default=None, allow_none=True)
    actor = actor_field()


class RosterQuery(Payload):
    employee_id = _id(required=False)
    department = fields.String(load_default=None, allow_none=True,
                               validate=validate.Length(min=1, max=64),
                               metadata={"description": "only this department's people"})
    date_from = Day(required=True)
    date_to = Day(required=True)


class HolidayRosterCheck(Payload):
    year = fields.Integer(required=True, validate=YEAR)
    month = fields.Integer(required=True, validate=MONTH)
    department = fields.String(load_default=None, allow_none=True)
    now = Time(load_default=None, allow_none=True)


# -- clocking and the day ----------------------------------------------------------
class Clock(Payload):
    employee_id = _id()
    kind = fields.String(required=True, validate=validate.OneOf(["in", "out"]))
    at = Time(required=True)
    source = fields.String(load_default=None, allow_none=True,
                           validate=validate.Length(max=64))
    request_id = fields.String(load_default=None, allow_none=True)
    actor = actor_field()


class ReportIncident(Payload):
    employee_id = _id()
    kind = fields.String(required=True,
                         validate=validate.OneOf(["off_post", "sleeping_on_duty"]))
    at = Time(required=True)
    minutes = fields.Integer(load_default=None, allow_none=True,
                             validate=validate.Range(min=1, max=24 * 60))
    note = fields.String(load_default=None, allow_none=True)
    actor = actor_field()
    request_id = fields.String(load_default=None, allow_none=True)


class CloseDay(Payload):
    date = Day(required=True)
    at = Time(load_default=None, allow_none=True,
              metadata={"description": "judge only shifts ended by then; default now"})
    actor = actor_field()


class DayQuery(Payload):
    date = Day(required=True)
    employee_id = _id(required=False)
    department = fields.String(load_default=None, allow_none=True,
                               validate=validate.Length(min=1, max=64),
                               metadata={"description": "only this department's people"})


# -- leave -----------------------------------------------------------------------
MAX_LEAVE_DAYS = 366


class RequestLeave(Payload):
    employee_id = _id()
    type = fields.String(required=True, validate=validate.Length(min=1, max=32))
    start = Day(required=True)
    end = Day(required=True)
    reason = fields.String(load_default=None, allow_none=True)
    submitted_at = Time(required=True, happened=True)
    emergency = fields.Boolean(load_default=False)
    seniority_year = fields.String(load_default=None, allow_none=True,
                                   validate=validate.OneOf(["current", "previous"]))
    request_id = fields.String(load_default=None, allow_none=True)
    actor = actor_field()

    @validates_schema
    def _bounded(self, data, **kwargs):
        # Every day of a leave is counted on the calendar: a span of centuries
        # would hold the worker that counts it.
        start, end = data.get("start"), data.get("end")
        if start and end and (end - start).days > MAX_LEAVE_DAYS:
            raise MarshmallowError(f"a leave spans at most {MAX_LEAVE_DAYS} days", "end")


class DecideLeave(Payload):
    leave_id = _id()
    approve = fields.Boolean(required=True)
    at = Time(required=True)
    note = fields.String(load_default=None, allow_none=True)
    request_id = fields.String(load_default=None, allow_none=True)
    actor = actor_field()


class AttachProof(Payload):
    leave_id = _id()
    at = Time(required=True)
    actor = actor_field()


class LeaveRef(Payload):
    leave_id = _id()


class LeaveQuery(Payload):
    employee_id = _id(required=False)
    department = fields.String(load_default=None, allow_none=True,
                               validate=validate.Length(min=1, max=64),
                               metadata={"description": "only this department's people"})
    status = fields.String(load_default=None, allow_none=True,
                           validate=validate.OneOf(["pending", "approved", "rejected"]))
    approver_role = fields.String(load_default=None, allow_none=True)


class SeniorityAccount(Payload):
    employee_id = _id()
    year = fields.Integer(required=True, validate=YEAR)
    entitlement_days = fields.Integer(required=True, validate=validate.Range(min=0, max=366))
    carried_over_days = fields.Integer(load_default=0, validate=validate.Range(min=0, max=366))
    at = Time(load_default=None, allow_none=True)
    actor = actor_field()


class Absenteeism(Payload):
    employee_id = _id()
    as_of = Day(required=True)


# -- the clerk's report --------------------------------------------------------------
class SubmitReport(Payload):
    department = fields.String(required=True, validate=validate.Length(min=1, max=64))
    year = fields.Integer(required=True, validate=YEAR)
    month = fields.Integer(required=True, validate=MONTH)
    at = Time(required=True)
    actor = actor_field()
    request_id = fields.String(load_default=None, allow_none=True)


class ReportQuery(Payload):
    department = fields.String(required=True, validate=validate.Length(min=1, max=64))
    year = fields.Integer(required=True, validate=YEAR)
    month = fields.Integer(required=True, validate=MONTH)


class DecideReport(Payload):
    department = fields.String(required=True, validate=validate.Length(min=1, max=64))
    year = fields.Integer(required=True, validate=YEAR)
    month = fields.Integer(required=True, validate=MONTH)
    approve = fields.Boolean(required=True, metadata={
        "description": "false sends the sheet back to the clerk, with the note"})
    at = Time(required=True)
    note = _note()
    actor = actor_field()
    request_id = _request_id()


# -- handover and the duty log (002 §4 4.7-4.8, 5; 002 §2 二.1-2) --------------------
class UnfinishedItem(Payload):
    item = fields.String(required=True, validate=NAME,
                         metadata={"description": "the name the incoming accepts it by"})
    important = fields.Boolean(load_default=False)


class HandOver(Payload):
    post = fields.String(required=True, validate=POST)
    date = Day(required=True, metadata={"description": "the incoming shift's roster day"})
    shift_code = fields.String(required=True, validate=validate.Length(min=1, max=32))
    outgoing_id = _id()
    incoming_id = _id()
    at = Time(required=True)
    notes = _note(metadata={"description": "the outgoing shift's work record (4.7.7)"})
    property_issues = _names(metadata={"description": "property missing or damaged (4.7.2)"})
    anomalies = _names(metadata={"description": "anomalies in the area (4.7.4)"})
    unfinished = fields.List(fields.Nested(UnfinishedItem), load_default=list,
                             validate=validate.Length(max=50))
    actor = actor_field()
    request_id = _request_id()


class TakeOver(Payload):
    handover_id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    at = Time(required=True)
    accepted = _names(metadata={"description": "unfinished work taken over, by name"})
    actor = actor_field()
    request_id = _request_id()


class HandoverRef(Payload):
    handover_id = fields.String(required=True, validate=validate.Length(min=1, max=100))


class LogDuty(Payload):
    post = fields.String(required=True, validate=POST)
    at = Time(required=True)
    text = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    important = fields.Boolean(load_default=False)
    actor = actor_field()
    request_id = _request_id()


class DutyLogQuery(Payload):
    post = fields.String(required=True, validate=POST)
    date_from = Day(required=True)
    date_to = Day(required=True)


class ReviewDutyLog(Payload):
    post = fields.String(required=True, validate=POST)
    kind = fields.String(required=True,
                         validate=validate.OneOf(["daily", "monthly", "spot_check"]))
    date = Day(load_default=None, allow_none=True,
               metadata={"description": "the day a daily review signs"})
    year = fields.Integer(load_default=None, allow_none=True, validate=YEAR)
    month = fields.Integer(load_default=None, allow_none=True, validate=MONTH)
    days = fields.List(Day(), load_default=list, validate=validate.Length(max=31),
                       metadata={"description": "the days a spot check sampled"})
    at = Time(required=True)
    note = _note()
    actor = actor_field()
    request_id = _request_id()


# -- going out during working hours (002 §1 1.2.3; 000 §2 四.3(3)) ----------------------
class RequestOuting(Payload):
    employee_id = _id()
    out_at = Time(required=True, happened=False)
    expected_back_at = Time(required=True, happened=False)
    reason = _note()
    at = Time(required=True, metadata={"description": "when the request is made"})
    actor = actor_field()
    request_id = _request_id()


class DecideOuting(Payload):
    outing_id = _id()
    approve = fields.Boolean(required=True)
    at = Time(required=True)
    note = _note()
    actor = actor_field()
    request_id = _request_id()


class ReturnFromOuting(Payload):
    outing_id = _id()
    at = Time(required=True)
    actor = actor_field()
    request_id = _request_id()


class OutingRef(Payload):
    outing_id = _id()


# -- meetings --------------------------------------------------------------------------
class ScheduleMeeting(Payload):
    meeting_id = _id()
    kind = fields.String(required=True, validate=validate.Length(min=1, max=32))
    start = Time(required=True)
    planned_minutes = fields.Integer(required=True, strict=True,
                                     validate=validate.Range(min=1, max=24 * 60))
    attendees = fields.List(fields.String(validate=ID), required=True,
                            validate=validate.Length(min=1, max=5000))
    chair_id = _id()
    title = fields.String(load_default=None, allow_none=True, validate=NAME,
                          metadata={"description": "the topic, as the notice names it"})
    location = fields.String(load_default=None, allow_none=True, validate=NAME)
    minute_taker_id = _id(required=False, metadata={
        "description": "who records the meeting and owes its minutes (000 §3 八); "
                       "without one, the general office"})
    actor = actor_field()
    request_id = fields.String(load_default=None, allow_none=True)


class ChangeMeeting(Payload):
    meeting_id = _id()
    at = Time(required=True, metadata={"description": "when the change is made"})
    start = Time(load_default=None, allow_none=True)
    planned_minutes = fields.Integer(load_default=None, allow_none=True, strict=True,
                                     validate=validate.Range(min=1, max=24 * 60))
    attendees = fields.List(fields.String(validate=ID), load_default=None, allow_none=True,
                            validate=validate.Length(min=1, max=5000))
    chair_id = _id(required=False)
    title = fields.String(load_default=None, allow_none=True, validate=NAME)
    location = fields.String(load_default=None, allow_none=True, validate=NAME)
    minute_taker_id = _id(required=False)
    actor = actor_field()
    request_id = _request_id()


class RequestMeetingLeave(Payload):
    meeting_id = _id()
    employee_id = _id()
    substitute_id = _id(metadata={"description": "who attends in the person's place (三.4)"})
    reason = _note()
    at = Time(required=True)
    actor = actor_field()
    request_id = _request_id()


class DecideMeetingLeave(Payload):
    meeting_id = _id()
    employee_id = _id()
    approve = fields.Boolean(required=True)
    at = Time(required=True)
    note = _note()
    actor = actor_field()
    request_id = _request_id()


class MeetingDecision(Payload):
    item = fields.String(required=True, validate=validate.Length(min=1, max=500))
    owner_id = _id(metadata={"description": "who follows it up (000 §3 九.1)"})
    due_date = Day(required=True, metadata={"description": "reported to the general "
                                                          "office by the end of this day"})


class IssueMinutes(Payload):
    meeting_id = _id()
    at = Time(required=True, happened=True)
    summary = _note()
    decisions = fields.List(fields.Nested(MeetingDecision), load_default=list,
                            validate=validate.Length(max=100))
    actor = actor_field()
    request_id = _request_id()


class ReportDecision(Payload):
    meeting_id = _id()
    decision_no = fields.Integer(required=True, validate=validate.Range(min=1, max=100))
    at = Time(required=True, happened=True)
    report = _note()
    actor = actor_field()
    request_id = _request_id()


class MeetingRef(Payload):
    meeting_id = _id()


class MeetingCheckin(Payload):
    meeting_id = _id()
    employee_id = _id()
    at = Time(required=True)
    reminded = fields.Boolean(load_default=False)
    actor = actor_field()


class MeetingIncident(Payload):
    meeting_id = _id()
    employee_id = _id()
    kind = fields.String(required=True,
                         validate=validate.OneOf(["early_leave", "phone", "unprepared"]))
    at = Time(required=True)
    chair_consent = fields.Boolean(load_default=False)
    actor = actor_field()


class CloseMeeting(Payload):
    meeting_id = _id()
    ended_at = Time(required=True, happened=True)
    excused = fields.List(fields.String(validate=ID), load_default=list,
                          metadata={"description": "meeting leave the general office approved"})
    actor = actor_field()


class MeetingStanding(Payload):
    employee_id = _id()
    year = fields.Integer(required=True, validate=YEAR)


# -- the GM office meeting's agenda (000 §3 四.7) ---------------------------------------
def _standing():
    return fields.String(load_default=None, allow_none=True, validate=ID, metadata={
        "description": "the standing meeting taking the agenda (meetings.standing in "
                       "rules/meetings.yaml); without it, the one that does"})


class SubmitAgendaItem(Payload):
    standing = _standing()
    department = fields.String(required=True, validate=validate.Length(min=1, max=64))
    item = fields.String(required=True, validate=validate.Length(min=1, max=500))
    year = fields.Integer(load_default=None, allow_none=True, validate=YEAR)
    month = fields.Integer(load_default=None, allow_none=True, validate=MONTH, metadata={
        "description": "whose agenda: without year and month, the one still open"})
    at = Time(required=True)
    actor = actor_field()
    request_id = _request_id()

    @validates_schema
    def _both_or_neither(self, data, **kwargs):
        if (data.get("year") is None) != (data.get("month") is None):
            raise MarshmallowError("give year and month together, or neither", "month")


class DecideAgenda(Payload):
    standing = _standing()
    year = fields.Integer(required=True, validate=YEAR)
    month = fields.Integer(required=True, validate=MONTH)
    approved = fields.List(fields.Integer(strict=True, validate=validate.Range(min=1)),
                           required=True, validate=validate.Length(max=100), metadata={
                               "description": "the numbers of the items approved: 2-5 "
                                              "hold the meeting, none does not (四.7)"})
    at = Time(required=True)
    note = _note()
    actor = actor_field()
    request_id = _request_id()


class AgendaRef(Payload):
    standing = _standing()
    year = fields.Integer(required=True, validate=YEAR)
    month = fields.Integer(required=True, validate=MONTH)


# -- penalties-side views and the timer --------------------------------------------------
class ViolationQuery(Payload):
    employee_id = _id(required=False)
    domain = fields.String(load_default=None, allow_none=True,
                           validate=validate.OneOf(["attendance", "meeting"]))
    since = Time(load_default=None, allow_none=True)
    until = Time(load_default=None, allow_none=True)
    limit = fields.Integer(load_default=1000, validate=validate.Range(min=1, max=10000))


class Sweep(Payload):
    now = Time(required=True)


# -- events -------------------------------------------------------------------------------
class ViolationRecorded(Payload):
    violation_id = fields.String(required=True)
    incident_id = fields.String(required=True)
    employee_id = fields.String(required=True)
    code = fields.String(required=True)
    points = fields.Integer(required=True)
    at = fields.String(required=True)
    domain = fields.String(required=True, validate=validate.OneOf(["attendance", "meeting"]))
    building = fields.String(allow_none=True)
    room_no = fields.String(allow_none=True)
    detail = fields.Dict(load_default=dict)


class ViolationWithdrawn(ViolationRecorded):
    reason = fields.String(required=True)


class AbsenceRecorded(Payload):
    employee_id = fields.String(required=True)
    date = fields.String(required=True)
    reason = fields.String(required=True)
    days_in_window = fields.Integer(required=True)
    status = fields.String(required=True,
                           validate=validate.OneOf(["absenteeism", "dismissal_review"]))


class DismissalReviewRequired(Payload):
    employee_id = fields.String(required=True)
    days = fields.Integer(required=True)
    dates = fields.List(fields.String(), required=True)
    window_start = fields.String(required=True)
    window_end = fields.String(required=True)


class LeaveEvent(Payload):
    leave_id = fields.String(required=True)
    employee_id = fields.String(required=True)
    type = fields.String(required=True)
    start = fields.String(required=True)
    end = fields.String(required=True)
    days = fields.Integer(required=True)
    status = fields.String(required=True)
    emergency = fields.Boolean(required=True)


class LeaveRequested(LeaveEvent):
    approver_role = fields.String(required=True)
    required_approvals = fields.List(fields.String(), required=True)
    department = fields.String(allow_none=True, metadata={
        "description": "the person's department, where a role approves for it"})


class LeaveDecided(LeaveEvent):
    decided_at = fields.String(required=True)
    decided_by = fields.Dict(required=True)


class LeaveConverted(LeaveEvent):
    converted_leave_id = fields.String(required=True)
    to_type = fields.String(required=True)


class HolidayRosterOverdue(Payload):
    department = fields.String(required=True, allow_none=True)
    holiday = fields.String(required=True)
    first_day = fields.String(required=True)
    last_day = fields.String(required=True)
    deadline = fields.String(required=True)
    uncovered_days = fields.List(fields.String(), required=True)
    unpublished_days = fields.List(fields.String(), required=True)
    late_days = fields.List(fields.String(), required=True)


class DutyEntry(Payload):
    employee_id = fields.String(required=True)
    department = fields.String(required=True, allow_none=True)
    date = fields.String(required=True)
    shift_code = fields.String(required=True)
    on_call = fields.Boolean(required=True)
    start = fields.String(required=True)
    end = fields.String(required=True)


class DutyRostered(Payload):
    entries = fields.List(fields.Nested(DutyEntry), required=True)


class HandoverCompleted(Payload):
    handover_id = fields.String(required=True)
    post = fields.String(required=True)
    department = fields.String(required=True)
    date = fields.String(required=True)
    shift_code = fields.String(required=True)
    outgoing_id = fields.String(required=True)
    incoming_id = fields.String(required=True)
    outgoing_signed_at = fields.String(required=True)
    incoming_signed_at = fields.String(required=True)
    accepted = fields.List(fields.String(), required=True)
    follow_ups = fields.List(fields.String(), required=True)
    arrive_by = fields.String(required=True)
    arrived_at = fields.String(required=True)
    arrived_late = fields.Boolean(required=True)
    late_minutes = fields.Integer(required=True)


class Reminder(Payload):
    due_at = fields.String(required=True)
    reminder_no = fields.Integer(required=True)
    to_ids = fields.List(fields.String(), required=True,
                         metadata={"description": "whom to remind, as the directory stood"})
    to_roles = fields.List(fields.String(), required=True, metadata={
        "description": "who holds the duty: department_head, department_clerk, "
                       "supervisor, or a role"})
    department = fields.String(required=True, allow_none=True)
    source = fields.String(required=True)


class DutyReviewOverdue(Reminder):
    post = fields.String(required=True)
    review = fields.String(required=True,
                           validate=validate.OneOf(["daily", "monthly", "spot_check"]))
    period = fields.String(required=True)


class ReportStepOverdue(Reminder):
    year = fields.Integer(required=True)
    month = fields.Integer(required=True)
    round = fields.Integer(required=True)
    step = fields.String(required=True)


class MonthlyReportAdvanced(Payload):
    department = fields.String(required=True)
    year = fields.Integer(required=True)
    month = fields.Integer(required=True)
    round = fields.Integer(required=True)
    step = fields.String(required=True)
    approve = fields.Boolean(required=True)
    by = fields.Dict(required=True)
    at = fields.String(required=True)
    note = fields.String(required=True, allow_none=True)
    status = fields.String(required=True, validate=validate.OneOf(
        ["on_time", "late", "pending", "overdue"]))
    awaiting = fields.String(required=True, allow_none=True)
    awaiting_due_at = fields.String(required=True, allow_none=True)
    approved = fields.Boolean(required=True)
    to_ids = fields.List(fields.String(), metadata={
        "description": "who acts next: the holders of the awaited step (the clerk when "
                       "sent back), or the clerk and the head once approved"})


class OutingEvent(Payload):
    outing_id = fields.String(required=True)
    employee_id = fields.String(required=True)
    department = fields.String(required=True, allow_none=True)
    out_at = fields.String(required=True)
    expected_back_at = fields.String(required=True)
    approver = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(
        ["pending", "approved", "rejected", "returned"]))


class OutingRequested(OutingEvent):
    reason = fields.String(required=True, allow_none=True)
    to_ids = fields.List(fields.String(), metadata={
        "description": "who may approve it, as the directory stood: the person's direct "
                       "superiors, or the holders of the approving role"})


class OutingDecided(OutingEvent):
    decided_at = fields.String(required=True)
    decided_by = fields.Dict(required=True)
    approved_from = fields.String(required=True, allow_none=True)


class OutingReturned(OutingEvent):
    returned_at = fields.String(required=True)
    late_minutes = fields.Integer(required=True)
    late = fields.Boolean(required=True)
    decided_by = fields.Dict(allow_none=True, metadata={
        "description": "who let the person go ({id, role})"})


class RosterChange(Payload):
    date = fields.String(required=True)
    from_shift = fields.String(required=True)
    to_shift = fields.String(required=True)
    on_call = fields.Boolean(required=True)


class RosterChanged(Payload):
    employee_id = fields.String(required=True)
    department = fields.String(required=True, allow_none=True)
    changes = fields.List(fields.Nested(RosterChange), required=True)
    days = fields.List(fields.String(), required=True, metadata={
        "description": "each change as one line: date, shift before → after"})
    approved_by = fields.Dict(required=True)
    approver_id = fields.String(required=True, allow_none=True)
    reason = fields.String(required=True, allow_none=True)
    at = fields.String(required=True)


class AgendaLine(Payload):
    no = fields.Integer(required=True)
    department = fields.String(required=True)
    item = fields.String(required=True)


class MeetingNotice(Payload):
    meeting_id = fields.String(required=True)
    kind = fields.String(required=True)
    title = fields.String(required=True, allow_none=True)
    location = fields.String(required=True, allow_none=True)
    start = fields.String(required=True)
    seated_by = fields.String(required=True)
    planned_minutes = fields.Integer(required=True)
    attendees = fields.List(fields.String(), required=True)
    chair_id = fields.String(required=True)
    minute_taker_id = fields.String(required=True, allow_none=True)
    version = fields.Integer(required=True)
    standing = fields.String(metadata={
        "description": "a standing meeting's occurrence (000 §3 四): its name"})
    occurrence = fields.String(metadata={
        "description": "the day its cadence names (the day held may be the next "
                       "working day)"})
    agenda = fields.List(fields.Nested(AgendaLine), metadata={
        "description": "the items approved for it (四.7)"})


class MeetingChanged(MeetingNotice):
    changed = fields.List(fields.String(), required=True)
    previous_start = fields.String(required=True)
    added_ids = fields.List(fields.String(), required=True)
    removed_ids = fields.List(fields.String(), required=True, metadata={
        "description": "no longer invited: told so"})
    changed_at = fields.String(required=True)


class MeetingLeaveEvent(Payload):
    meeting_id = fields.String(required=True)
    kind = fields.String(required=True)
    title = fields.String(required=True, allow_none=True)
    start = fields.String(required=True)
    chair_id = fields.String(required=True)
    employee_id = fields.String(required=True)
    substitute_id = fields.String(required=True)
    reason = fields.String(required=True, allow_none=True)
    status = fields.String(required=True,
                           validate=validate.OneOf(["pending", "approved", "rejected"]))


class MeetingLeaveRequested(MeetingLeaveEvent):
    requested_at = fields.String(required=True)


class MeetingLeaveDecided(MeetingLeaveEvent):
    decided_at = fields.String(required=True)
    decided_by = fields.Dict(required=True)
    note = fields.String(required=True, allow_none=True)


class MinutesDecision(Payload):
    no = fields.Integer(required=True)
    item = fields.String(required=True)
    owner_id = fields.String(required=True)
    due_date = fields.String(required=True)


class MeetingMinutesIssued(Payload):
    meeting_id = fields.String(required=True)
    kind = fields.String(required=True)
    title = fields.String(required=True, allow_none=True)
    start = fields.String(required=True)
    chair_id = fields.String(required=True)
    attendees = fields.List(fields.String(), required=True)
    issued_at = fields.String(required=True)
    due_at = fields.String(required=True)
    on_time = fields.Boolean(required=True)
    summary = fields.String(required=True, allow_none=True)
    decisions = fields.List(fields.Nested(MinutesDecision), required=True)
    owner_ids = fields.List(fields.String(), required=True)


class MeetingReminder(Reminder):
    meeting_id = fields.String(required=True)
    title = fields.String(required=True, allow_none=True)
    start = fields.String(required=True, allow_none=True)
    chair_id = fields.String(required=True, allow_none=True)


class MeetingDecisionChased(MeetingReminder):
    decision_no = fields.Integer(required=True)
    item = fields.String(required=True)
    owner_id = fields.String(required=True)
    due_date = fields.String(required=True)


class AgendaReminder(Reminder):
    standing = fields.String(required=True)
    title = fields.String(required=True)
    month = fields.String(required=True, metadata={"description": "YYYY-MM"})
    closes_at = fields.String(required=True, metadata={
        "description": "items are taken until then (四.7: by the 5th)"})


class AgendaItem(AgendaLine):
    submitted_by_id = fields.String(required=True, allow_none=True)
    submitted_at = fields.String(required=True)


class AgendaEvent(Payload):
    standing = fields.String(required=True)
    title = fields.String(required=True)
    month = fields.String(required=True)
    closes_at = fields.String(required=True)
    meeting_start = fields.String(required=True, allow_none=True, metadata={
        "description": "when the month's meeting is due, if held"})
    items = fields.List(fields.Nested(AgendaItem), required=True)
    agenda = fields.List(fields.String(), required=True, metadata={
        "description": "the items as a notice lists them"})
    submitted_by_ids = fields.List(fields.String(), required=True)


class MeetingAgendaClosed(AgendaEvent):
    outcome = fields.String(required=True,
                            validate=validate.OneOf(["awaiting_approval", "not_held"]),
                            metadata={"description": "awaiting_approval: for the GM to "
                                                     "approve; not_held: too few items (四.7)"})
    closed_at = fields.String(required=True)
    min_items = fields.Integer(required=True)
    max_items = fields.Integer(required=True)


class MeetingAgendaDecided(AgendaEvent):
    held = fields.Boolean(required=True)
    outcome = fields.String(required=True, validate=validate.OneOf(["held", "not_held"]))
    approved = fields.List(fields.Nested(AgendaItem), required=True)
    meeting_id = fields.String(required=True, allow_none=True)
    decided_by = fields.Dict(required=True)
    decided_at = fields.String(required=True)
    note = fields.String(required=True, allow_none=True)


EVENTS = {
    "violation_recorded": ViolationRecorded,
    "violation_withdrawn": ViolationWithdrawn,
    "absence_recorded": AbsenceRecorded,
    "dismissal_review_required": DismissalReviewRequired,
    "leave_requested": LeaveRequested,
    "leave_decided": LeaveDecided,
    "leave_converted": LeaveConverted,
    "holiday_roster_overdue": HolidayRosterOverdue,
    "duty_rostered": DutyRostered,
    "handover_completed": HandoverCompleted,
    "duty_review_overdue": DutyReviewOverdue,
    "monthly_report_advanced": MonthlyReportAdvanced,
    "report_step_overdue": ReportStepOverdue,
    "outing_requested": OutingRequested,
    "outing_decided": OutingDecided,
    "outing_returned": OutingReturned,
    "roster_changed": RosterChanged,
    "meeting_scheduled": MeetingNotice,
    "meeting_changed": MeetingChanged,
    "meeting_leave_requested": MeetingLeaveRequested,
    "meeting_leave_decided": MeetingLeaveDecided,
    "meeting_minutes_issued": MeetingMinutesIssued,
    "meeting_minutes_overdue": MeetingReminder,
    "meeting_decision_chased": MeetingDecisionChased,
    "meeting_agenda_reminder": AgendaReminder,
    "meeting_agenda_closed": MeetingAgendaClosed,
    "meeting_agenda_decided": MeetingAgendaDecided,
}
