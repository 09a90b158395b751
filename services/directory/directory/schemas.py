from marshmallow import fields, validate
from zhidu.schemas import MAX_YUAN, Day, Payload, Time, actor_field

ID = validate.Length(min=1, max=64)


class PublicEmployee(Payload):
    """What every service may know of a person: who they are, where they work,
    whom they answer to (``employee_upserted``)."""

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
    hired_on = Day(load_default=None, allow_none=True, earliest="1950-01-01")


def _email():
    return fields.Email(load_default=None, allow_none=True)


def _phone():
    return fields.String(load_default=None, allow_none=True,
                         validate=validate.Regexp(r"^\+?[0-9 -]{5,20}$"))


def _wage():
    return fields.Integer(load_default=None, allow_none=True,
                          validate=validate.Range(min=0, max=MAX_YUAN))


class Employee(PublicEmployee):
    """The whole record: read by the person, their line managers and HR."""

    email = _email()
    phone = _phone()
    monthly_wage_yuan = _wage()


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


# A person's phone, e-mail and wage leave the directory only in events of
# their own, each for the services that need it: the broker lets no other
# service bind a queue to them, and the catalogue says so (``restricted_to``).
class ContactChanged(Payload):
    """A person's phone and e-mail, for the service that sends to people."""

    restricted_to = ("notifications",)
    employee_id = fields.String(required=True, validate=ID)
    email = _email()
    phone = _phone()


class WageChanged(Payload):
    """A person's monthly wage, for the 20 % ceiling on deductions from it."""

    restricted_to = ("penalties",)
    employee_id = fields.String(required=True, validate=ID)
    monthly_wage_yuan = _wage()


EVENTS = {
    "employee_upserted": PublicEmployee,
    "employee_departed": DepartedEvent,
    "employee_contact_changed": ContactChanged,
    "employee_wage_changed": WageChanged,
}
# The fields of each restricted event, besides employee_id.
PRIVATE = {"employee_contact_changed": ("email", "phone"),
           "employee_wage_changed": ("monthly_wage_yuan",)}
