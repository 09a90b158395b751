"""Every operation of every service, called with no token, by someone who may not, and
by someone who may — over RPC and over REST, against the real broker and database.

The matrix is generated from the services' own permissions files and schemas, so a
new operation is covered the day it is added. Payloads are built from each schema
(required fields with plausible values); "may not" callers are ordinary employees
with no relation to the subject, so what refuses them is the permission alone, and
nothing they send is written.
"""
from __future__ import annotations

import pytest
import requests
from marshmallow import fields, validate
from nameko.exceptions import RemoteError
from zhidu import schemas as zschemas
from zhidu.config import database_name
from zhidu.guard import load_permissions, operations_of
from zhidu.plugins import discover
from zhidu.testing import service_db

pytestmark = pytest.mark.integration

SERVICES = sorted(discover())
OUTSIDER = "Z-outsider"      # staff, in no department the rules know, manages nobody
SUBJECT = "E-subject"        # whom payloads name: not the outsider
PATTERNS = {  # sample values for the formats the schemas pin with a regular expression
    r"^\d{4}-\d{4,}$": "2611-0001",
    r"^([01]\d|2[0-3]):[0-5]\d$": "08:30",
}


def sample(field, name: str):
    """A value the field accepts, or None when it has no safe default."""
    for validator in _validators(field):
        if isinstance(validator, validate.OneOf):
            return list(validator.choices)[0]
        if isinstance(validator, validate.Regexp):
            pattern = validator.regex.pattern
            return PATTERNS.get(pattern, "X1")
    if isinstance(field, zschemas.Time):
        return "2026-11-13T10:00:00"
    if isinstance(field, zschemas.Day):
        return "2026-11-13"
    if isinstance(field, fields.Nested):
        return payload_for(field.schema)
    if isinstance(field, fields.List):
        inner = sample(field.inner, name)
        return [] if inner is None else [inner]
    if isinstance(field, fields.Email):
        return "someone@example.com"
    if isinstance(field, fields.Boolean):
        return True
    if isinstance(field, (fields.Integer, fields.Float)):
        low = next((v.min for v in _validators(field) if isinstance(v, validate.Range)
                    and v.min is not None), 1)
        return max(low, 1) if not isinstance(low, float) else low
    if isinstance(field, fields.Dict):
        return {}
    if isinstance(field, fields.String):
        if name.endswith("_id") or name.endswith("_ids"):
            return SUBJECT
        least = max([v.min for v in _validators(field)
                     if isinstance(v, validate.Length) and v.min] or [2])
        return "X" * least
    return None


def _validators(field):
    found = field.validators if hasattr(field, "validators") else []
    return list(found)


def payload_for(schema, everything: bool = False) -> dict:
    """Required fields only, or (``everything``) every field a sample can be made for."""
    schema = schema() if isinstance(schema, type) else schema
    out = {}
    for name, field in schema.fields.items():
        if name in ("actor", "request_id"):
            continue
        if field.required or everything:
            value = sample(field, name)
            if value is not None:
                out[field.data_key or name] = value
    return out


def rest_routes(service_cls) -> dict:
    return {route.operation: route for route in service_cls.routes}


def fill_path(route, payload) -> str:
    path = route.path
    for part in path.split("/"):
        if part.startswith("{"):
            path = path.replace(part, str(payload.get(part[1:-1], "X1")))
    return path


def _body(route, payload) -> dict:
    """GET and DELETE carry the payload as query parameters, the others as JSON."""
    if route.method in ("GET", "DELETE"):
        return {"params": {k: v for k, v in payload.items() if not isinstance(v, (dict, list))}}
    return {"json": payload}


def document_counts(config, service) -> dict:
    db = service_db(config, service)
    skip = {"processed_events", "requests", "outbox", "people", "counters"}
    return {name: db[name].count_documents({}) for name in db.list_collection_names()
            if name not in skip}


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_refuses_the_anonymous_and_the_unentitled(
        service, start_service, rpc, people, tokens, zhidu_config):
    plugin = discover()[service]
    cls = plugin.load_class()
    container = start_service(cls)
    permissions = load_permissions(cls, service)
    people.add(OUTSIDER, "staff", department="nowhere")
    people.add(SUBJECT, "staff", department="nowhere", manager_id="M-other")
    routes = rest_routes(cls)
    outsider = rpc.as_person(OUTSIDER)
    anonymous = rpc.anonymous()
    outsider_rest = tokens.header(tokens.person(OUTSIDER))
    checked = {"anonymous": 0, "denied": 0, "allowed": 0}
    before = document_counts(zhidu_config, service)

    for operation in sorted(operations_of(cls)):
        rule = permissions.rule(operation)
        schema = getattr(cls, operation).zhidu_schema
        payload = payload_for(schema) if schema is not None else {}
        if rule.public:
            continue
        # 1. No token: Unauthenticated, whatever the payload.
        with pytest.raises(RemoteError) as err:
            getattr(getattr(anonymous, service), operation)(payload)
        assert err.value.exc_type == "Unauthenticated", (service, operation)
        route = routes.get(operation)
        if route is not None:
            url = f"{container.web_url}/api/v1/{service}{fill_path(route, payload)}"
            reply = requests.request(route.method, url, timeout=10, **_body(route, payload))
            assert reply.status_code == 401, (service, operation, reply.text)
        checked["anonymous"] += 1
        # 2. An ordinary employee with no relation to the subject.
        if rule.anyone:
            continue
        with pytest.raises(RemoteError) as err:
            getattr(getattr(outsider, service), operation)(payload)
        if err.value.exc_type == "ValidationError" and schema is not None:
            # A whole-payload rule wants optional fields too (e.g. "channels or locale").
            payload = payload_for(schema, everything=True)
            with pytest.raises(RemoteError) as err:
                getattr(getattr(outsider, service), operation)(payload)
        if err.value.exc_type == "NotFound" and (rule.subject or "").startswith("@"):
            # The subject is a stored record that does not exist: there is nothing
            # to refuse access to, and the service says so without revealing more.
            checked["denied"] += 1
            continue
        assert err.value.exc_type == "PermissionDenied", (service, operation,
                                                          err.value.exc_type, err.value.value)
        assert f"permissions: {operation}" in err.value.value
        if route is not None:
            url = f"{container.web_url}/api/v1/{service}{fill_path(route, payload)}"
            reply = requests.request(route.method, url, headers=outsider_rest, timeout=10,
                                     **_body(route, payload))
            assert reply.status_code == 403, (service, operation, reply.text)
        checked["denied"] += 1
    assert document_counts(zhidu_config, service) == before, "a refused call wrote"

    # 3. Someone the rule names: never refused at the door (the call may still
    #    fail on its own terms: NotFound, Conflict, bad sample input).
    for operation in sorted(operations_of(cls)):
        rule = permissions.rule(operation)
        entitled = _entitled(rule, rpc, people, tokens, service)
        if entitled is None:
            continue
        caller, caller_id = entitled
        schema = getattr(cls, operation).zhidu_schema
        payload = payload_for(schema) if schema is not None else {}
        for field in rule.caller_fields:
            payload[field] = caller_id
        try:
            getattr(getattr(caller, service), operation)(payload)
        except RemoteError as exc:
            assert exc.exc_type not in ("Unauthenticated", "PermissionDenied"), (
                service, operation, exc.value)
        checked["allowed"] += 1
    assert checked["anonymous"] >= len(operations_of(cls)) - 2
    # The OpenAPI document says, per operation, who may call it.
    document = requests.get(f"{container.web_url}/openapi.json", timeout=10).json()
    described = {op["operationId"]: op for path in document["paths"].values()
                 for op in path.values()}
    for operation in routes:
        assert described[operation]["x-zhidu-permission"] == \
            permissions.rule(operation).as_dict(), operation
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    print(service, checked, database_name(zhidu_config, service))


def _entitled(rule, rpc, people, tokens, service):
    """A caller the rule admits on a sample payload, or None where only a record can."""
    if rule.public:
        return None  # open to all: what it answers is its own business (a log-in)
    if rule.roles:
        role = sorted(rule.roles)[0]
        people.add(f"R-{role}", role, department="nowhere")
        if rule.not_self and rule.subject and rule.subject.startswith("@"):
            return None  # the subject is a stored record's person
        if rule.limits:
            return None  # the sample amount may exceed the role's limit
        return rpc.as_person(f"R-{role}"), f"R-{role}"
    if rule.scopes:
        name = f"svc:{service}-matrix"
        return rpc.as_(tokens.service(name, scopes=sorted(rule.scopes))), name
    if rule.anyone:
        return rpc.as_person(OUTSIDER), OUTSIDER
    if "self" in rule.relations and rule.subject and not rule.subject.startswith("@"):
        return rpc.as_person(SUBJECT), SUBJECT
    return None
