from marshmallow import fields, validate
from zhidu.schemas import MAX_YUAN, Day, Payload, Time, actor_field

ID = validate.Length(min=1, max=64)


class Employee(Payload):
    employee_id = fields.String(required=True, validate=ID)
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    gender = fields.String(required=True, validate=validate.OneOf(["M", "F"]))
    department = fields.String(required=True, validate=validate.Length(min=1))
    unit = fields.String(required=True, validate=validate.Length(min=1))
    position = fields.String(load_default=None, allow_none=True)
    role = fields.String(load_default="staff")
    team_leader_id = fields.String(load_default=None, allow_none=True, validate=ID)
    manager_id = fields.String(load_default=None, allow_none=True, validate=ID)
    unit_head_id = fields.String(load_default=None, allow_none=True, validate=ID)
    group_leader_id = fields.String(load_default=None, allow_none=True, validate=ID)
    email = fields.Email(load_default=None, allow_none=True)
    phone = fields.String(load_default=None, allow_none=True,
                          validate=validate.Regexp(r"^\+?[0-9 -]{5,20}$"))
    monthly_wage_yuan = fields.Integer(load_default=None, allow_none=True,
                                       validate=validate.Range(min=0, max=MAX_YUAN))
    hired_on = Day(load_default=None, allow_none=True, earliest="1950-01-01")


class UpsertEmployee(Employee):
    request_id = fields.String(load_default=None, allow_none=True, validate=ID)
    actor = actor_field()


class EmployeeRef(Payload):
    employee_id = fields.String(required=True, validate=ID)


class ListEmployees(Payload):
    department = fields.String(load_default=None)
    unit = fields.String(load_default=None)
    include_departed = fields.Boolean(load_default=False)


class Departure(Payload):
    employee_id = fields.String(required=True, validate=ID)
    at = Time(required=True)
    actor = actor_field()


PASSWORD = validate.Length(min=10, max=256, error="must be 10 to 256 characters")


class Login(Payload):
    employee_id = fields.String(required=True, validate=ID)
    password = fields.String(required=True, validate=validate.Length(min=1, max=256))


class SetPassword(Payload):
    employee_id = fields.String(required=True, validate=ID)
    password = fields.String(required=True, validate=PASSWORD)
    actor = actor_field()


class ChangePassword(Payload):
    employee_id = fields.String(required=True, validate=ID)
    current_password = fields.String(required=True, validate=validate.Length(min=1, max=256))
    new_password = fields.String(required=True, validate=PASSWORD)


class DepartedEvent(Payload):
    employee_id = fields.String(required=True)
    at = fields.String(required=True)


EVENTS = {
    "employee_upserted": Employee,
    "employee_departed": DepartedEvent,
}
