"""Payloads the dormitory accepts, the directory data it copies, the events it emits.

Rule codes and revocation reasons are checked against the loaded catalogue
by the domain, not here: the catalogue is configuration, these are code.
"""
from marshmallow import EXCLUDE, Schema, fields, validate, validates_schema
from marshmallow import ValidationError as MarshmallowError
from zhidu.schemas import MAX_YUAN, Payload, Time, actor_field

ID = validate.Length(min=1, max=64)
# Building and room number are path segments of the REST API: no slashes.
PLACE = validate.Regexp(r"^[^/]{1,40}$", error="1 to 40 characters, no '/'.")
GENDER = validate.OneOf(["M", "F"])


def _request_id():
    return fields.String(load_default=None, allow_none=True,
                         validate=validate.Length(min=1, max=128))


class RoomRef(Payload):
    building = fields.String(required=True, validate=PLACE)
    room_no = fields.String(required=True, validate=PLACE)


class AddRoom(RoomRef):
    capacity = fields.Integer(required=True, strict=True,
                              validate=validate.Range(min=1, max=64))
    gender = fields.String(required=True, validate=GENDER)
    at = Time(load_default=None, allow_none=True)
    request_id = _request_id()
    actor = actor_field()


class ListRooms(Payload):
    building = fields.String(load_default=None, validate=PLACE)
    gender = fields.String(load_default=None, validate=GENDER)
    free_only = fields.Boolean(load_default=False)


class AssignBed(RoomRef):
    employee_id = fields.String(required=True, validate=ID)
    at = Time(required=True)
    bed_no = fields.Integer(load_default=None, allow_none=True, strict=True,
                            validate=validate.Range(min=1))
    request_id = _request_id()
    actor = actor_field()


class ReleaseBed(Payload):
    employee_id = fields.String(required=True, validate=ID)
    at = Time(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))
    request_id = _request_id()
    actor = actor_field()


class SetRoomLeader(RoomRef):
    employee_id = fields.String(required=True, validate=ID)
    at = Time(load_default=None, allow_none=True)
    request_id = _request_id()
    actor = actor_field()


class Finding(Payload):
    code = fields.String(required=True, validate=validate.Length(min=1, max=8))
    employee_ids = fields.List(fields.String(validate=ID), load_default=None,
                               allow_none=True)
    note = fields.String(load_default=None, allow_none=True,
                         validate=validate.Length(max=500))


class RecordInspection(RoomRef):
    inspector_id = fields.String(required=True, validate=ID)
    at = Time(required=True)
    findings = fields.List(fields.Nested(Finding), required=True,
                           validate=validate.Length(max=100))
    request_id = _request_id()
    actor = actor_field()


class RevokeAccommodation(Payload):
    employee_id = fields.String(required=True, validate=ID)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=40))
    at = Time(required=True)
    note = fields.String(load_default=None, allow_none=True,
                         validate=validate.Length(max=500))
    damage_cost_yuan = fields.Integer(load_default=None, allow_none=True, strict=True,
                                      validate=validate.Range(min=0, max=MAX_YUAN))
    request_id = _request_id()
    actor = actor_field()


class ReinstateAccommodation(Payload):
    employee_id = fields.String(required=True, validate=ID)
    at = Time(required=True)
    note = fields.String(load_default=None, allow_none=True,
                         validate=validate.Length(max=500))
    request_id = _request_id()
    actor = actor_field()


class ResidentRef(Payload):
    employee_id = fields.String(required=True, validate=ID)


class CatalogQuery(Payload):
    pass


class ListViolations(Payload):
    employee_id = fields.String(load_default=None, validate=ID)
    since = Time(load_default=None, allow_none=True)
    until = Time(load_default=None, allow_none=True)
    limit = fields.Integer(load_default=1000, validate=validate.Range(min=1, max=10000))

    @validates_schema
    def _ordered(self, data, **kwargs):
        if data.get("since") and data.get("until") and data["until"] <= data["since"]:
            raise MarshmallowError("must be after since", "until")


class Sweep(Payload):
    now = Time(required=True)


# -- what the dormitory copies from the directory's events ------------------------

class EmployeeCopy(Schema):
    class Meta:
        unknown = EXCLUDE  # the directory may add fields we do not keep

    employee_id = fields.String(required=True, validate=ID)
    gender = fields.String(required=True, validate=GENDER)
    name = fields.String(load_default=None, allow_none=True)
    department = fields.String(load_default=None, allow_none=True)
    unit = fields.String(load_default=None, allow_none=True)


class DepartureCopy(Schema):
    class Meta:
        unknown = EXCLUDE

    employee_id = fields.String(required=True, validate=ID)
    at = Time(required=True)


# -- events emitted on dormitory.events -------------------------------------------

class ViolationRecorded(Payload):
    violation_id = fields.String(required=True)
    incident_id = fields.String(required=True,
                                metadata={"description": "the inspection id, or the "
                                          "move-out deadline's id for D01"})
    employee_id = fields.String(required=True)
    code = fields.String(required=True)
    points = fields.Integer(required=True)
    at = Time(required=True)
    building = fields.String(required=True)
    room_no = fields.String(required=True)
    domain = fields.String(required=True, validate=validate.OneOf(["dormitory"]))
    note = fields.String(allow_none=True)


class BedAssigned(Payload):
    assignment_id = fields.String(required=True)
    employee_id = fields.String(required=True)
    building = fields.String(required=True)
    room_no = fields.String(required=True)
    bed_no = fields.Integer(required=True)
    at = Time(required=True)


class BedReleased(BedAssigned):
    since = Time(required=True)
    reason = fields.String(required=True)


class AccommodationRevoked(Payload):
    revocation_id = fields.String(required=True)
    employee_id = fields.String(required=True)
    reason = fields.String(required=True)
    at = Time(required=True)
    note = fields.String(allow_none=True)
    damage_cost_yuan = fields.Integer(allow_none=True)
    building = fields.String(allow_none=True, metadata={"description": "the bed lost, "
                                                        "if there was one"})
    room_no = fields.String(allow_none=True)
    bed_no = fields.Integer(allow_none=True)


EVENTS = {
    "violation_recorded": ViolationRecorded,
    "bed_assigned": BedAssigned,
    "bed_released": BedReleased,
    "accommodation_revoked": AccommodationRevoked,
}
