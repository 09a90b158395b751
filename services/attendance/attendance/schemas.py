"""Payloads of the attendance operations and the data of its events.

Field-level shape only (types, required, enums); the rules themselves — what a
shift code may look like, which leave type exists, who approves — are the
domain's, so a refusal names the field either way.
"""
from marshmallow import ValidationError as MarshmallowError
from marshmallow import fields, validate, validates_schema
from zhidu.schemas import Day, Payload, Time, actor_field

ID = validate.Length(min=1, max=64)
HHMM = validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="expected HH:MM, 00:00-23:59")
YEAR = validate.Range(min=2000, max=2100)
MONTH = validate.Range(min=1, max=12)


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
    actor = actor_field()
    request_id = fields.String(load_default=None, allow_none=True)


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
}
