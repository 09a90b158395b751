from marshmallow import fields, validate
from zhidu.schemas import Payload, Time, actor_field

ID = validate.Length(min=1, max=128)
SHARES = ["individual", "team_leader", "dept_manager", "unit_head", "supervisor",
          "group_leader"]
THRESHOLDS = ["admonishment", "award_ineligible", "worst_of_month", "dismissal_review",
              "transfer_review"]


class RecordPenalty(Payload):
    employee_id = fields.String(required=True, validate=ID)
    domain = fields.String(required=True, validate=ID)
    code = fields.String(load_default=None, validate=ID)
    # One incident breaking several rules of one catalogue (combine applies).
    codes = fields.List(fields.String(validate=ID), load_default=None,
                        validate=validate.Length(min=1))
    incident_id = fields.String(required=True, validate=ID)
    at = Time(required=True)
    points = fields.Float(load_default=None, allow_none=True)
    amount_yuan = fields.Integer(load_default=None, allow_none=True)
    note = fields.String(load_default=None, allow_none=True)
    request_id = fields.String(load_default=None, allow_none=True, validate=ID)
    actor = actor_field(required=True)


class ServiceStar(Payload):
    employee_id = fields.String(required=True, validate=ID)
    year = fields.Integer(required=True, validate=validate.Range(min=2000, max=2100))
    month = fields.Integer(required=True, validate=validate.Range(min=1, max=12))
    at = Time(required=True)
    actor = actor_field(required=True)
    request_id = fields.String(load_default=None, allow_none=True, validate=ID)


class AccountQuery(Payload):
    employee_id = fields.String(required=True, validate=ID)
    year = fields.Integer(required=True, validate=validate.Range(min=2000, max=2100))
    month = fields.Integer(load_default=None, allow_none=True,
                           validate=validate.Range(min=1, max=12))


class Appeal(Payload):
    entry_id = fields.String(required=True, validate=ID)
    reason = fields.String(required=True, validate=validate.Length(min=1))
    at = Time(load_default=None)
    actor = actor_field(required=True)
    request_id = fields.String(load_default=None, allow_none=True, validate=ID)


class DecideAppeal(Payload):
    entry_id = fields.String(required=True, validate=ID)
    upheld = fields.Boolean(required=True)
    note = fields.String(load_default=None, allow_none=True)
    at = Time(load_default=None)
    actor = actor_field(required=True)


class Period(Payload):
    year = fields.Integer(required=True, validate=validate.Range(min=2000, max=2100))
    month = fields.Integer(required=True, validate=validate.Range(min=1, max=12))


class Empty(Payload):
    pass


class Sweep(Payload):
    now = Time(required=True)


class PenaltyIssued(Payload):
    entry_id = fields.String(required=True)
    employee_id = fields.String(required=True)
    offender_id = fields.String()
    share = fields.String(required=True, validate=validate.OneOf(SHARES))
    kind = fields.String(validate=validate.OneOf(["penalty", "reward"]))
    points = fields.Float(required=True)
    amount_yuan = fields.Integer(required=True)
    deducted_yuan = fields.Integer()
    capped_yuan = fields.Integer()
    domain = fields.String(required=True)
    code = fields.String(required=True)
    title_zh = fields.String()
    title_en = fields.String()
    incident_id = fields.String(required=True)
    at = fields.String()


class PenaltyReversed(PenaltyIssued):
    reverses = fields.String(required=True)


class ThresholdReached(Payload):
    employee_id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(THRESHOLDS))
    year = fields.Integer(required=True)
    month = fields.Integer(allow_none=True)
    at = fields.String()
    reason = fields.Dict()


class PublicationIssued(Payload):
    year = fields.Integer(required=True)
    month = fields.Integer(required=True)
    covers = fields.String(required=True, metadata={"description": "YYYY-MM published"})
    unit = fields.String(allow_none=True)
    unit_head_id = fields.String(allow_none=True)
    penalty_count = fields.Integer(required=True)
    points_total = fields.Float(required=True)
    amount_yuan_total = fields.Integer(required=True)
    people_count = fields.Integer(required=True)


EVENTS = {
    "penalty_issued": PenaltyIssued,
    "penalty_reversed": PenaltyReversed,
    "threshold_reached": ThresholdReached,
    "publication_issued": PublicationIssued,
}
