"""Payloads of the complaints operations and the data of its events.

The schemas check shapes and types. Which channels, kinds, categories,
regions and major reasons exist is policy (``rules/sla.yaml``), so the domain
checks those values and its refusals reach the caller as the same
field-named ``ValidationError``.
"""
from marshmallow import ValidationError as MarshmallowError
from marshmallow import fields, post_load, pre_load, validate, validates_schema
from zhidu.schemas import MAX_YUAN, Day, Payload, Time, actor_field

NUMBER = validate.Regexp(r"^\d{4}-\d{4,}$", error="expected YYMM-NNNN")
ID = validate.Length(min=1, max=64)
NAME = validate.Length(min=1, max=200)
TEXT = validate.Length(min=1, max=5000)
PHONE = validate.Regexp(r"^\+?[0-9][0-9 ()-]{4,24}$", error="not a phone number")


def _optional(field_cls, *args, **kwargs):
    return field_cls(*args, load_default=None, allow_none=True, **kwargs)


# -- intake --------------------------------------------------------------------
class Complainant(Payload):
    name = fields.String(required=True, validate=NAME)
    phone = _optional(fields.String, validate=PHONE)
    email = _optional(fields.Email)
    customer_id = _optional(fields.String, validate=ID)
    region = _optional(fields.String, metadata={"description": "domestic or foreign"})


class Order(Payload):
    """The order behind a quality complaint (001 §1 第九条)."""

    order_no = fields.String(required=True, validate=ID)
    part_no = _optional(fields.String, validate=ID)
    quantity = _optional(fields.Integer, strict=True, validate=validate.Range(min=0))
    delivery_date = _optional(Day)
    defect_quantity = _optional(fields.Integer, strict=True,
                                validate=validate.Range(min=0))
    note = _optional(fields.String, validate=TEXT, metadata={
        "description": "e.g. 客户加工中未确定 — customer still processing, quantity unknown"})

    @validates_schema
    def _defects_within_quantity(self, data, **kwargs):
        quantity, defects = data.get("quantity"), data.get("defect_quantity")
        if quantity is not None and defects is not None and defects > quantity:
            raise MarshmallowError("must not exceed quantity", "defect_quantity")

    @post_load
    def _date_as_text(self, data, **kwargs):
        # BSON has no plain date; the contract's ISO form is stored as is.
        if data.get("delivery_date") is not None:
            data["delivery_date"] = data["delivery_date"].isoformat()
        return data


class File(Payload):
    channel = fields.String(required=True, metadata={
        "description": "phone, onsite, written, online or email (policy)"})
    kind = fields.String(required=True, metadata={"description": "external or internal"})
    category = fields.String(required=True, metadata={"description": "quality or service"})
    complainant = fields.Nested(Complainant, required=True)
    subject = fields.String(required=True, validate=NAME)
    description = fields.String(required=True, validate=TEXT)
    occurred_at = _optional(Time, happened=True)
    occurred_place = _optional(fields.String, validate=NAME)
    demand = _optional(fields.String, validate=TEXT,
                       metadata={"description": "what the customer asks for"})
    received_at = Time(required=True, happened=True)
    target_department = _optional(fields.String, validate=ID)
    target_employee_id = _optional(fields.String, validate=ID)
    order = _optional(fields.Nested, Order)
    major = _optional(fields.Boolean)
    major_reason = _optional(fields.String)
    households_affected = _optional(fields.Integer, strict=True,
                                    validate=validate.Range(min=0, max=1_000_000))
    request_id = _optional(fields.String, validate=ID)
    actor = actor_field()


# -- commands on one case ------------------------------------------------------------
class Command(Payload):
    number = fields.String(required=True, validate=NUMBER)
    at = Time(required=True)
    actor = actor_field()
    request_id = _optional(fields.String, validate=ID)


class DecideValidity(Command):
    valid = fields.Boolean(required=True)
    reason = fields.String(required=True, validate=TEXT)
    reply = _optional(fields.String, validate=TEXT, metadata={
        "description": "what the customer was told with the decision; without it the "
                       "decision is internal and the reply to the customer still owed "
                       "(002 §2 四.4-5)"})


class Acknowledge(Command):
    next_reply_at = _optional(Time, metadata={
        "description": "the next reply time agreed with the customer: a clock of its own "
                       "(000 §1 三.3)"})
    reply = _optional(fields.String, validate=TEXT, metadata={
        "description": "what the customer was told (for a rejection: the explanation)"})


class GiveFeedback(Command):
    feedback = fields.String(required=True, validate=TEXT, metadata={
        "description": "the responsible department's handling information for customer "
                       "service (003 §4 3.4.2.2)"})


class Assign(Command):
    department = fields.String(required=True, validate=ID)
    owner_id = fields.String(required=True, validate=ID)


class AgreePlan(Command):
    plan = fields.String(required=True, validate=TEXT)


class SubmitReport(Command):
    root_cause = fields.String(required=True, validate=TEXT)


class ProposeRemedy(Command):
    remedy = fields.String(required=True, validate=TEXT)
    amount_yuan = fields.Integer(required=True, strict=True,
                                 validate=validate.Range(min=0, max=MAX_YUAN))


class Resolve(Command):
    resolution = fields.String(required=True, validate=TEXT)


class FollowUp(Command):
    satisfied = fields.Boolean(required=True)
    note = _optional(fields.String, validate=TEXT)


class Pause(Command):
    reason = fields.String(required=True, validate=TEXT)


class DetermineLiability(Command):
    department = fields.String(required=True, validate=ID)
    employee_ids = fields.List(fields.String(validate=ID), required=True)
    fine_yuan = _optional(fields.Integer, strict=True,
                          validate=validate.Range(min=0, max=MAX_YUAN))
    attitude = _optional(fields.String, metadata={"description": "attitude or abuse"})
    party = _optional(fields.String, metadata={
        "description": "company (default), supplier or none; supplier is not penalised"})


# -- reads ---------------------------------------------------------------------------
class Read(Payload):
    """A read names its reader: contact data is masked for roles without the right.

    REST GETs carry no body, so an ``actor_id`` query parameter stands in for
    ``actor``; like ``actor`` it must name the caller. ``actor_role`` is
    accepted and ignored: the proven identity's role decides.
    """

    actor = actor_field()

    @pre_load
    def _flat_actor(self, data, **kwargs):
        if isinstance(data, dict) and ("actor_id" in data or "actor_role" in data):
            data = dict(data)
            # The proven identity decides the role; a named role is ignored.
            data.pop("actor_role", None)
            if "actor_id" in data:
                data.setdefault("actor", {"id": data.pop("actor_id")})
        return data


class AuditLog(Read):
    number = _optional(fields.String, validate=NUMBER)
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    actor = actor_field()


class Get(Read):
    number = fields.String(required=True, validate=NUMBER)


class Search(Read):
    status = _optional(fields.String)
    department = _optional(fields.String, validate=ID)
    owner_id = _optional(fields.String, validate=ID, metadata={
        "description": "cases this person owns (assigned owner_id)"})
    contacts = fields.Boolean(load_default=True, metadata={
        "description": "false: no complainant in the reply and the subject masked, so "
                       "nothing is read in full and nothing is audited (lists, boards)"})
    clocks = fields.Boolean(load_default=False, metadata={
        "description": "true: each case's running and paused clocks of its current round "
                       "(warned, escalation, working time), as get shows them"})
    breached = _optional(fields.Boolean)
    since = _optional(Time, metadata={"description": "received at or after"})
    until = _optional(Time, metadata={"description": "received before"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class Stats(Payload):
    year = fields.Integer(required=True, validate=validate.Range(min=2000, max=2999))
    month = fields.Integer(required=True, validate=validate.Range(min=1, max=12))
    basis = fields.String(load_default="concluded",
                          validate=validate.OneOf(["concluded", "received"]), metadata={
                              "description": "concluded (结案, 001 §1 (九), default) or "
                                             "received in the month"})


class Sweep(Payload):
    now = Time(required=True)


# -- events -----------------------------------------------------------------------
class _Event(Payload):
    number = fields.String(required=True)


class ReceivedEvent(_Event):
    status = fields.String(required=True)
    major = fields.Boolean(required=True)
    category = fields.String(required=True)
    kind = fields.String(required=True)
    channel = fields.String(required=True)
    received_at = Time(required=True)
    deadlines = fields.Dict(keys=fields.String(), values=Time(allow_none=True),
                            required=True)


class MajorReportedEvent(_Event):
    reasons = fields.List(fields.String(), required=True)
    department = fields.String(allow_none=True, required=True,
                               metadata={"description": "the department complained about"})
    subject = fields.String(required=True)
    channel = fields.String(required=True)
    received_at = Time(required=True)
    notify_roles = fields.List(fields.String(), required=True)
    received_by = fields.String(allow_none=True, load_default=None, metadata={
        "description": "who took the complaint: their manager hears of it too"})


class AssignedEvent(_Event):
    department = fields.String(required=True)
    owner_id = fields.String(required=True)
    at = Time(required=True)
    round = fields.Integer(required=True)
    reassigned = fields.Boolean(required=True)


class StatusChangedEvent(_Event):
    from_ = fields.String(required=True, allow_none=True, data_key="from")
    to = fields.String(required=True)
    at = Time(required=True)
    round = fields.Integer(required=True)
    actor_id = fields.String(required=True)


class ClockEvent(_Event):
    clock = fields.String(required=True)
    round = fields.Integer(required=True)
    due = Time(required=True)


class ReminderEvent(ClockEvent):
    owner_id = fields.String(required=True, allow_none=True)
    department = fields.String(required=True, allow_none=True)


class EscalatedEvent(ReminderEvent):
    level = fields.Integer(required=True)
    to_role = fields.String(required=True)


class ResolvedEvent(_Event):
    at = Time(required=True)
    round = fields.Integer(required=True)
    resolution = fields.String(required=True)


class RoundEvent(_Event):
    at = Time(required=True)
    round = fields.Integer(required=True)


class LiabilityEvent(_Event):
    party = fields.String(required=True)
    department = fields.String(required=True)
    employee_ids = fields.List(fields.String(), required=True)
    fine_yuan = fields.Integer(required=True, allow_none=True)
    attitude = fields.String(required=True, allow_none=True)
    at = Time(required=True)


class DelayInvestigationEvent(_Event):
    clocks = fields.List(fields.String(), required=True)
    at = Time(required=True)
    owner_id = fields.String(required=True, allow_none=True)
    department = fields.String(required=True, allow_none=True)


class ReportProducedEvent(Payload):
    """A scheduled report was produced and stored (rules §2 Reports)."""

    report_id = fields.String(required=True)
    kind = fields.String(required=True, metadata={
        "description": "weekly, monthly, quarterly or yearly (rules/reports.yaml)"})
    title = fields.String(required=True, metadata={"description": "e.g. 客诉案件统计表"})
    period = fields.String(required=True, metadata={
        "description": "2026-W09, 2026-02, 2026-Q1 or 2026"})
    period_label = fields.String(required=True, metadata={"description": "e.g. 2026年2月"})
    department = fields.String(required=True, allow_none=True, metadata={
        "description": "the department of a per-department report; null company-wide"})
    readers = fields.List(fields.String(), required=True, metadata={
        "description": "roles it is for; dept_manager: the department's manager"})
    produced_at = Time(required=True)
    external_count = fields.Integer(required=True)
    internal_count = fields.Integer(required=True)
    count = fields.Integer(required=True)
    download_path = fields.String(required=True, metadata={
        "description": "GET it (with a token) for the XLSX file"})
    csv_path = fields.String(required=True, metadata={"description": "the same as CSV"})


EVENTS = {
    "received": ReceivedEvent,
    "major_reported": MajorReportedEvent,
    "assigned": AssignedEvent,
    "status_changed": StatusChangedEvent,
    "sla_warning": ClockEvent,
    "sla_breached": ClockEvent,
    "reminder_issued": ReminderEvent,
    "escalated": EscalatedEvent,
    "resolved": ResolvedEvent,
    "closed": RoundEvent,
    "reopened": RoundEvent,
    "liability_determined": LiabilityEvent,
    "delay_investigation_opened": DelayInvestigationEvent,
    "report_produced": ReportProducedEvent,
}


# -- exports of customer data (001 §2 3.4.1) ----------------------------------------
class RequestExport(Payload):
    since = Time(required=True)
    until = Time(required=True)
    reason = fields.String(required=True, validate=TEXT)
    request_id = _optional(fields.String, validate=ID)
    actor = actor_field()


class ExportRef(Payload):
    export_id = fields.String(required=True, validate=ID)
    actor = actor_field()


# -- scheduled reports (rules §2 Reports) ------------------------------------------------
class ReportRef(Payload):
    report_id = fields.String(required=True, validate=validate.Regexp(
        r"^[\w-]{1,120}$", error="a report id, e.g. monthly-2026-02"))
    format = fields.String(load_default="xlsx", validate=validate.OneOf(["xlsx", "csv"]))
    actor = actor_field()
