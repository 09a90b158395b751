"""Payloads of the repairs operations and the data of its events.

Schemas check shapes; which kinds, trades, channels and tariff codes exist is
policy (``rules/*.yaml``), checked by the domain with the same field-named
``ValidationError``.
"""
from marshmallow import fields, validate
from zhidu.schemas import Payload, Time, actor_field

# Any text: an unknown number is NotFound (or refused first), and a deployment may
# change the prefix (repairs.yaml numbering.prefix).
NUMBER = validate.Length(min=1, max=32)
ID = validate.Length(min=1, max=64)
NAME = validate.Length(min=1, max=200)
TEXT = validate.Length(min=1, max=5000)
PHONE = validate.Regexp(r"^\+?[0-9][0-9 ()-]{4,24}$", error="not a phone number")
CLOCKS = ("arrival", "appointment", "promise", "survey", "completion", "callback")


def _optional(field_cls, *args, **kwargs):
    return field_cls(*args, load_default=None, allow_none=True, **kwargs)


class Household(Payload):
    unit = fields.String(required=True, validate=NAME,
                         metadata={"description": "household or tenant unit, e.g. 3-1202"})
    name = fields.String(required=True, validate=NAME)
    phone = _optional(fields.String, validate=PHONE)


class Take(Payload):
    household = fields.Nested(Household, required=True)
    location = fields.String(required=True, validate=NAME)
    trades = fields.List(fields.String(validate=ID), required=True,
                         validate=validate.Length(min=1, max=10))
    description = fields.String(required=True, validate=TEXT)
    kind = fields.String(load_default="routine",
                         metadata={"description": "routine, paid or warranty"})
    urgency = fields.String(load_default="normal")
    channel = fields.String(load_default="phone")
    received_at = Time(required=True)
    request_id = _optional(fields.String, validate=ID)
    actor = actor_field()


class Command(Payload):
    number = fields.String(required=True, validate=NUMBER)
    at = Time(required=True)
    request_id = _optional(fields.String, validate=ID)
    actor = actor_field()


class Dispatch(Command):
    engineer_id = fields.String(required=True, validate=ID)
    trade = _optional(fields.String, validate=ID)


class Appointment(Command):
    appointment_at = Time(required=True)
    customer_agreed = fields.Boolean(load_default=False)


class Call(Command):
    finish_by = Time(required=True)
    note = fields.String(required=True, validate=TEXT)


class Attendees(Payload):
    customer_service = _optional(fields.String, validate=NAME)
    engineering = _optional(fields.String, validate=NAME)
    repair_team_leader = _optional(fields.String, validate=NAME)
    contractor = _optional(fields.String, validate=NAME)


class Survey(Command):
    attendees = fields.Nested(Attendees, required=True)
    responsible_party = fields.String(required=True, validate=NAME)
    trades = fields.List(fields.String(validate=ID), load_default=list)
    estimate_yuan = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))


class Item(Payload):
    code = fields.String(required=True, validate=ID)
    quantity = fields.Integer(load_default=1, strict=True, validate=validate.Range(min=1))


class Quote(Command):
    items = fields.List(fields.Nested(Item), required=True, validate=validate.Length(min=1))


class Consent(Command):
    consented = fields.Boolean(required=True)
    note = _optional(fields.String, validate=TEXT)


class Extend(Command):
    until = Time(required=True)
    clock = fields.String(load_default="completion", validate=validate.OneOf(CLOCKS))
    consent_note = fields.String(required=True, validate=TEXT)


class Complete(Command):
    items = fields.List(fields.Nested(Item), load_default=list)
    signed_off_by = fields.String(required=True, validate=NAME,
                                  metadata={"description": "the customer who signed the order"})
    report = fields.String(required=True, validate=TEXT)


class Audit(Command):
    approved = fields.Boolean(required=True)
    note = _optional(fields.String, validate=TEXT)


class Callback(Command):
    satisfied = fields.Boolean(required=True)
    note = _optional(fields.String, validate=TEXT)


class ToComplaint(Command):
    note = fields.String(required=True, validate=TEXT)


class Get(Payload):
    number = fields.String(required=True, validate=NUMBER)
    actor = actor_field()


class Search(Payload):
    status = _optional(fields.String, validate=ID)
    engineer_id = _optional(fields.String, validate=ID)
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    actor = actor_field()


class Stats(Payload):
    year = fields.Integer(required=True, validate=validate.Range(min=2000, max=2100))
    month = fields.Integer(required=True, validate=validate.Range(min=1, max=12))
    actor = actor_field()


class Register(Stats):
    """A month of the paid-service register (《工程部有偿服务登记表》)."""


class Empty(Payload):
    actor = actor_field()


class Sweep(Payload):
    now = Time(required=True)


# -- events ----------------------------------------------------------------------
class _Event(Payload):
    number = fields.String(required=True)
    round = fields.Integer(required=True)


class _Brief(_Event):
    kind = fields.String(required=True)
    urgency = fields.String(required=True)
    trades = fields.List(fields.String(), required=True)
    location = fields.String(required=True)
    engineer_id = fields.String(required=True, allow_none=True)


class _Customer(Payload):
    """The household's contact, on the events the customer is told of (by SMS)."""

    customer_name = fields.String(required=True, allow_none=True)
    customer_phone = fields.String(required=True, allow_none=True)


class ReceivedEvent(_Brief):
    received_at = Time(required=True)
    received_by = fields.String(required=True)
    department = fields.String(required=True, metadata={
        "description": "the department that dispatches the order (its manager)"})


class DispatchedEvent(_Brief):
    trade = fields.String(required=True)
    at = Time(required=True)
    reassigned_from = fields.String(required=True, allow_none=True)


class StatusChangedEvent(_Event):
    from_ = fields.String(data_key="from", required=True, allow_none=True)
    to = fields.String(required=True)
    at = Time(required=True)


class AppointmentEvent(_Brief, _Customer):
    appointment_at = Time(required=True)
    moved = fields.Boolean(required=True)
    at = Time(required=True)


class CalledEvent(_Brief):
    at = Time(required=True)
    finish_by = Time(required=True)
    by = fields.String(required=True)


class ChargeEvent(_Brief):
    amount_yuan = fields.Integer(required=True)
    at = Time(required=True)


class CompletedEvent(ChargeEvent, _Customer):
    payer = fields.String(required=True, metadata={"description": "customer or company"})


class PaidEvent(_Event):
    kind = fields.String(required=True)
    amount_yuan = fields.Integer(required=True)
    payer = fields.String(required=True, metadata={
        "description": "customer: charge the household (001 §11 3.7); company: pay from "
                       "the repair fund and recover from the contractor (003 §1 2.6)"})
    items = fields.List(fields.Dict(), required=True)
    household = fields.Dict(required=True)
    engineer_id = fields.String(required=True, allow_none=True)
    trade = fields.String(required=True, allow_none=True)
    signed_off_by = fields.String(required=True)
    audited_by = fields.String(required=True, allow_none=True)
    at = Time(required=True)


class CalledBackEvent(_Brief, _Customer):
    satisfied = fields.Boolean(required=True)
    at = Time(required=True)


class RoundEvent(_Event):
    at = Time(required=True)


class ReopenedEvent(RoundEvent):
    reopens = fields.Integer(required=True)


class ClockEvent(_Event):
    clock = fields.String(required=True)
    due = Time(required=True, allow_none=True)
    department = fields.String(required=True)
    trade = fields.String(required=True, allow_none=True)
    owner_id = fields.String(required=True, allow_none=True)


class ReminderEvent(ClockEvent):
    level = fields.Integer(required=True)
    to_role = fields.String(required=True)


class ViolationEvent(Payload):
    violation_id = fields.String(required=True)
    incident_id = fields.String(required=True)
    employee_id = fields.String(required=True)
    code = fields.String(required=True)
    domain = fields.String(required=True)
    at = Time(required=True)
    number = fields.String(required=True)
    clock = fields.String(required=True)


class ComplaintDraft(Payload):
    """The fields of complaints.file the complaints side needs."""

    channel = fields.String(required=True)
    kind = fields.String(required=True)
    category = fields.String(required=True)
    complainant = fields.Dict(required=True)
    subject = fields.String(required=True)
    description = fields.String(required=True)
    received_at = Time(required=True)
    target_department = fields.String(required=True)
    target_employee_id = fields.String(required=True, allow_none=True)


class ToComplaintEvent(_Event):
    reason = fields.String(required=True, metadata={
        "description": "reopened, reopened_after_breach, unresolved or customer_request"})
    at = Time(required=True)
    note = fields.String(required=True, allow_none=True)
    breached_clocks = fields.List(fields.String(), required=True)
    reopens = fields.Integer(required=True)
    complaint = fields.Nested(ComplaintDraft, required=True)


EVENTS = {
    "received": ReceivedEvent,
    "dispatched": DispatchedEvent,
    "status_changed": StatusChangedEvent,
    "appointment_set": AppointmentEvent,
    "customer_called": CalledEvent,
    "charge_quoted": ChargeEvent,
    "completed": CompletedEvent,
    "audit_requested": ChargeEvent,
    "order_paid": PaidEvent,
    "called_back": CalledBackEvent,
    "reopened": ReopenedEvent,
    "closed": RoundEvent,
    "sla_warning": ClockEvent,
    "sla_breached": ClockEvent,
    "reminder_issued": ReminderEvent,
    "escalated": ReminderEvent,
    "violation_recorded": ViolationEvent,
    "escalated_to_complaint": ToComplaintEvent,
}
