import json

import pytest
from marshmallow import fields
from zhidu.envelope import derived_id, make_envelope, validate_envelope
from zhidu.errors import Conflict, ValidationError
from zhidu.jsonschema import to_json_schema
from zhidu.operations import Route, to_contract_error
from zhidu.schemas import Payload, Time, load


def test_caused_events_carry_correlation_and_causation():
    first = make_envelope("dormitory", "violation_recorded", {"code": "D16"})
    assert first["correlation_id"] == first["id"] and first["causation_id"] is None
    second = make_envelope("penalties", "penalty_issued", {}, cause=first,
                           event_id=derived_id(first["id"], "x"))
    assert second["causation_id"] == first["id"]
    assert second["correlation_id"] == first["correlation_id"]
    assert second["id"] == derived_id(first["id"], "x") != derived_id(first["id"], "y")
    assert validate_envelope(second) is second


def test_malformed_envelopes_are_refused_naming_the_field():
    with pytest.raises(ValidationError) as err:
        validate_envelope({"id": "x", "type": "Bad Type"})
    assert {"type", "version", "data"} <= set(err.value.messages)


class Sample(Payload):
    name = fields.String(required=True)
    at = Time(required=True)


def test_load_names_fields_and_reads_local_time():
    with pytest.raises(ValidationError) as err:
        load(Sample, {"at": "yesterday", "extra": 1})
    assert set(err.value.messages) == {"name", "at", "extra"}
    assert json.loads(str(err.value))["name"]
    data = load(Sample, {"name": "x", "at": "2026-11-23T12:00"})
    assert data["at"].isoformat() == "2026-11-23T04:00:00+00:00"


def test_domain_errors_map_to_the_contract_by_type():
    from zhidu.domain import DomainConflict, DomainNotFound, DomainPermission, DomainValidation
    from zhidu.errors import NotFound, PermissionDenied

    mapped = to_contract_error(DomainValidation.one("code", "unknown"))
    assert isinstance(mapped, ValidationError) and mapped.messages == {"code": ["unknown"]}
    assert type(to_contract_error(DomainConflict("full"))) is Conflict
    assert type(to_contract_error(DomainNotFound("gone"))) is NotFound
    assert type(to_contract_error(DomainPermission("no"))) is PermissionDenied

    class ValidationConflictNotFound(Exception):
        """A name is not a type: only the library's own errors are mapped."""

    assert to_contract_error(ValidationConflictNotFound("x")) is None
    assert to_contract_error(KeyError("bug")) is None


def test_routes_match_path_parameters():
    route = Route("GET", "/employees/{employee_id}", "get_employee")
    assert route.match("GET", "employees/E1") == {"employee_id": "E1"}
    assert route.match("POST", "employees/E1") is None
    assert route.match("GET", "employees/E1/x") is None


def test_json_schema_from_payload_schema():
    schema = to_json_schema(Sample)
    assert schema["required"] == ["name", "at"]
    assert schema["properties"]["at"] == {"type": "string", "format": "date-time"}
