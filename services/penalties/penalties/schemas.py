from marshmallow import fields, validate
from zhidu.schemas import MAX_YUAN, Payload, Time, actor_field

ID = validate.Length(min=1, max=128)
SHARES = ["individual", "team_leader", "dept_manager", "unit_head", "supervisor",
          "group_leader"]
NOTICE_STATUSES = ["awaiting_approval", "approved", "rejected", "withdrawn"]
NOTICE_STEPS = ["supervisor", "gm"]
THRESHOLDS = ["admonishment", "award_ineligible", "worst_of_month", "dismissal_review",
              "transfer_review"]
UNIT_THRESHOLDS = ["admonishment", "award_ineligible", "dress_code"]


class RecordPenalty(Payload):
    employee_id = fields.String(required=True, validate=ID)
    domain = fields.String(required=True, validate=ID)
    code = fields.String(load_default=None, validate=ID)
    # One incident breaking several rules of one catalogue (combine applies).
    codes = fields.List(fields.String(validate=ID), load_default=None,
                        validate=validate.Length(min=1))
    incident_id = fields.String(required=True, validate=ID)
    at = Time(required=True)
    points = fields.Float(load_default=None, allow_none=True,
                          validate=validate.Range(min=-1000, max=1000))
    amount_yuan = fields.Integer(load_default=None, allow_none=True,
                                 validate=validate.Range(min=-MAX_YUAN, max=MAX_YUAN))
    note = fields.String(load_default=None, allow_none=True)
    request_id = fields.String(load_default=None, allow_none=True, validate=ID)
    actor = actor_field()


class ServiceStar(Payload):
    employee_id = fields.String(required=True, validate=ID)
    year = fields.Integer(required=True, validate=validate.Range(min=2000, max=2100))
    month = fields.Integer(required=True, validate=validate.Range(min=1, max=12))
    at = Time(required=True)
    actor = actor_field()
    request_id = fields.String(load_default=None, allow_none=True, validate=ID)


class AccountQuery(Payload):
    employee_id = fields.String(required=True, validate=ID)
    year = fields.Integer(required=True, validate=validate.Range(min=2000, max=2100))
    month = fields.Integer(load_default=None, allow_none=True,
                           validate=validate.Range(min=1, max=12))


class UnitAccountQuery(Payload):
    unit = fields.String(required=True, validate=ID,
                         metadata={"description": "the directory's unit (单位)"})
    year = fields.Integer(required=True, validate=validate.Range(min=2000, max=2100))
    month = fields.Integer(load_default=None, allow_none=True,
                           validate=validate.Range(min=1, max=12))


class Appeal(Payload):
    entry_id = fields.String(required=True, validate=ID)
    reason = fields.String(required=True, validate=validate.Length(min=1))
    at = Time(load_default=None)
    actor = actor_field()
    request_id = fields.String(load_default=None, allow_none=True, validate=ID)


class DecideAppeal(Payload):
    entry_id = fields.String(required=True, validate=ID)
    upheld = fields.Boolean(required=True)
    note = fields.String(load_default=None, allow_none=True)
    at = Time(load_default=None)
    actor = actor_field()


class ListNotices(Payload):
    status = fields.String(load_default=None, allow_none=True,
                           validate=validate.OneOf(NOTICE_STATUSES))
    employee_id = fields.String(load_default=None, allow_none=True, validate=ID,
                                metadata={"description": "notices naming this person"})
    number = fields.String(load_default=None, allow_none=True, validate=ID)
    approver_id = fields.String(load_default=None, allow_none=True, validate=ID, metadata={
        "description": "notices awaiting this supervisor's approval (001 §1 第九条(六))"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class DecideNotice(Payload):
    notice_id = fields.String(required=True, validate=ID)
    approve = fields.Boolean(required=True)
    note = fields.String(load_default=None, allow_none=True)
    revision = fields.Integer(load_default=None, allow_none=True,
                              metadata={"description": "the revision read; a notice "
                                                       "redrafted since is a Conflict"})
    at = Time(load_default=None)
    actor = actor_field()


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


class UnitThresholdReached(Payload):
    unit = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(UNIT_THRESHOLDS))
    year = fields.Integer(required=True)
    month = fields.Integer(allow_none=True, metadata={"description": "dress_code only"})
    at = fields.String()
    employee_id = fields.String(allow_none=True, metadata={
        "description": "the person admonished, or whose penalty reached the count"})
    unit_head_id = fields.String(allow_none=True)
    reason = fields.Dict(metadata={"description": "admonishment: "
                                   "performance_pay_cut_percent; dress_code: penalties, "
                                   "employee_ids"})


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


class NoticeAwaitingApproval(Payload):
    notice_id = fields.String(required=True)
    number = fields.String(required=True, allow_none=True,
                           metadata={"description": "the complaint number, if any"})
    domain = fields.String(required=True)
    incident_id = fields.String(required=True)
    employee_ids = fields.List(fields.String(), required=True)
    amount_yuan_total = fields.Integer(required=True)
    points_total = fields.Float(required=True)
    approver_role = fields.String(required=True, metadata={
        "description": "who approves now: supervisor, or the signing role"})
    revision = fields.Integer(metadata={"description": "raised when the notice is redrafted"})
    at = fields.String()
    step = fields.String(validate=validate.OneOf(NOTICE_STEPS), metadata={
        "description": "supervisor: the charged people's supervisors approve first "
                       "(001 §1 第九条(六)); gm: the notice awaits its signature"})
    approver_ids = fields.List(fields.String(), metadata={
        "description": "the supervisors whose approval is awaited (step supervisor)"})


class NoticeDecided(Payload):
    notice_id = fields.String(required=True)
    approved = fields.Boolean(required=True)
    decided_by = fields.String(required=True)
    step = fields.String(validate=validate.OneOf(NOTICE_STEPS), metadata={
        "description": "the step the decision was taken at"})
    number = fields.String(allow_none=True)
    domain = fields.String()
    incident_id = fields.String()
    employee_ids = fields.List(fields.String())
    at = fields.String()
    note = fields.String(allow_none=True)


EVENTS = {
    "penalty_issued": PenaltyIssued,
    "penalty_reversed": PenaltyReversed,
    "threshold_reached": ThresholdReached,
    "unit_threshold_reached": UnitThresholdReached,
    "publication_issued": PublicationIssued,
    "notice_awaiting_approval": NoticeAwaitingApproval,
    "notice_decided": NoticeDecided,
}
