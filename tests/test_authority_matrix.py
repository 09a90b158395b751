"""Every operation of every service, called with no token, by someone who may not, and
by someone who may — over RPC and over REST, against the real broker and database.

The matrix is generated from the services' own permissions files and schemas, so a
new operation is covered the day it is added. Payloads are built from each schema
(required fields with plausible values); "may not" callers are ordinary employees
with no relation to the subject, so what refuses them is the permission alone, and
nothing they send is written — no record, no event in the outbox, no remembered
request.

Where a rule turns on a stored record (the order an engineer was dispatched to,
the export someone requested, the entry someone appealed), a scene per service
stores one through the operations themselves, as the people of the rules, and the
calls name it: the refusal is then a refusal of a real record, never a NotFound,
and an entitled caller is let in. An operation neither the generated callers nor a
scene can reach is listed in ``COVERED_ELSEWHERE`` with the story test that calls
it, allowed and refused; a new operation that is in neither fails this test.
"""
from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass
from dataclasses import field as slot
from pathlib import Path

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

ROOT = Path(__file__).resolve().parents[1]
SERVICES = sorted(discover())
OUTSIDER = "Z-outsider"      # staff, in no department the rules know, manages nobody
SUBJECT = "E-subject"        # whom payloads name: not the outsider
PATTERNS = {  # sample values for the formats the schemas pin with a regular expression
    r"^\d{4}-\d{4,}$": "2611-0001",
    r"^([01]\d|2[0-3]):[0-5]\d$": "08:30",
}
# Operations whose allowed call needs records a scene here does not build (a
# penalty notice drafted from a complaint's liability, a leave on a roster, a
# post's handover): each names the story test that calls it as the people the
# rule admits and refuses someone it does not. A listed test must exist and call
# the operation; an operation this matrix reaches itself must not be listed.
COVERED_ELSEWHERE = {
    ("attendance", "decide_outing"): "services/attendance/tests/test_service_workflows.py::"
    "test_going_out_needs_the_direct_superior_and_a_late_return_is_recorded_002_s1_1_2_3",
    ("attendance", "return_from_outing"): "services/attendance/tests/test_service_workflows.py::"
    "test_going_out_needs_the_direct_superior_and_a_late_return_is_recorded_002_s1_1_2_3",
    ("attendance", "hand_over"): "services/attendance/tests/test_service_workflows.py::"
    "test_a_handover_both_sides_sign_and_the_logs_daily_review_is_reminded_002_s4_4_7_4_8",
    ("attendance", "take_over"): "services/attendance/tests/test_service_workflows.py::"
    "test_a_handover_both_sides_sign_and_the_logs_daily_review_is_reminded_002_s4_4_7_4_8",
    ("attendance", "log_duty"): "services/attendance/tests/test_service_workflows.py::"
    "test_a_handover_both_sides_sign_and_the_logs_daily_review_is_reminded_002_s4_4_7_4_8",
    ("attendance", "review_duty_log"): "services/attendance/tests/test_service_workflows.py::"
    "test_a_handover_both_sides_sign_and_the_logs_daily_review_is_reminded_002_s4_4_7_4_8",
    ("attendance", "submit_monthly_report"): "services/attendance/tests/"
    "test_service_workflows.py::"
    "test_the_monthly_sheet_climbs_its_chain_reminded_once_across_replicas_000_s2_5_1",
}


# -- payloads from schemas ------------------------------------------------------------
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


# -- what a refused call must not have written -----------------------------------------
def snapshot(config, service) -> dict:
    """Every stored document, as a digest per id, per collection.

    ``processed_events`` follows events arriving on their own time and ``people`` is
    the directory copy the test itself seeds; the outbox is emptied by its relay as
    it publishes, so for it only an id that was not there before counts.
    """
    db = service_db(config, service)
    out = {}
    for name in db.list_collection_names():
        if name in ("processed_events", "people"):
            continue
        docs = {}
        for doc in db[name].find({}):
            text = json.dumps(doc, sort_keys=True, default=str)
            docs[str(doc["_id"])] = hashlib.sha256(text.encode()).hexdigest()
        out[name] = docs
    return out


def written(before: dict, after: dict) -> dict:
    changes = {}
    for name, docs in after.items():
        earlier = before.get(name, {})
        if name == "outbox":
            new = sorted(set(docs) - set(earlier))
        else:
            new = sorted(k for k, v in docs.items() if earlier.get(k) != v)
            new += sorted(f"-{k}" for k in set(earlier) - set(docs))
        if new:
            changes[name] = new[:5]
    return changes


# -- scenes: records the rules turn on, stored through the operations -------------------
@dataclass
class Scene:
    payloads: dict = slot(default_factory=dict)     # operation → fields naming the record
    callers: dict = slot(default_factory=dict)      # operation → the caller the rule names
    relations: dict = slot(default_factory=dict)    # relation → a person standing in it


def _as(rpc, person: str):
    return rpc.as_person(person)


def complaints_scene(rpc, people, tokens) -> Scene:
    """A case with a remedy proposed by the desk, and an export asked for by IT."""
    people.add("M-desk", "staff", department="customer_service")
    people.add("M-it", "it_admin", department="it")
    people.add("M-gmo", "gm_office", department="gm_office")
    desk = _as(rpc, "M-desk").complaints
    number = desk.file({"channel": "phone", "kind": "external", "category": "service",
                        "complainant": {"name": "王女士", "phone": "13812345678"},
                        "subject": "态度差", "description": "电话被挂断",
                        "received_at": "2026-11-13T10:00"})["number"]
    for step, extra in (("decide_validity", {"valid": True, "reason": "成立"}),
                        ("assign", {"department": "service", "owner_id": SUBJECT}),
                        ("agree_plan", {"plan": "上门道歉"}),
                        ("submit_report", {"root_cause": "培训不足"}),
                        ("propose_remedy", {"remedy": "补偿", "amount_yuan": 500})):
        getattr(desk, step)({"number": number, "at": "2026-11-13T11:00", **extra})
    export = _as(rpc, "M-it").complaints.request_export({
        "since": "2026-11-01T00:00", "until": "2026-11-30T00:00", "reason": "回访"})
    case = {"number": number}
    return Scene(
        payloads={op: case for op in ("approve_remedy", "determine_liability")}
        | {op: {"export_id": export["export_id"]} for op in ("approve_export", "export")},
        callers={"export": "M-it"},
        # A customer's complaint: the GM office determines its liability.
        relations={"desk": "M-desk", "liability_authority": "M-gmo"})


def penalties_scene(rpc, people, tokens) -> Scene:
    """An entry on SUBJECT's account, booked by HR."""
    people.add("M-hr", "hr", department="hr")
    [entry] = _as(rpc, "M-hr").penalties.record_penalty({
        "employee_id": SUBJECT, "domain": "dormitory", "code": "D16", "incident_id": "m1",
        "at": "2026-11-03T21:00"})["entries"]
    ref = {"entry_id": entry["entry_id"]}
    # The appeal is SUBJECT's own; the GM decides it once it is filed (in order).
    return Scene(payloads={"appeal": ref, "decide_appeal": ref}, callers={"appeal": SUBJECT})


def notifications_scene(rpc, people, tokens, config=None) -> Scene:
    """An inbox item for SUBJECT, as an event about them would leave it."""
    from zhidu.times import utcnow

    service_db(config, "notifications").inbox.insert_one({
        "_id": "matrix-item", "recipient_id": SUBJECT, "event_id": "matrix-event",
        "event_type": "penalties.penalty_issued", "title": "处罚", "body": "记 3 分",
        "created_at": utcnow(), "read": False})
    return Scene(payloads={"mark_read": {"id": "matrix-item"}}, callers={"mark_read": SUBJECT})


def repairs_scene(rpc, people, tokens) -> Scene:
    """An order taken at the desk and dispatched by engineering's manager."""
    for person, role, department in (("M-desk", "staff", "customer_service"),
                                     ("M-eng-mgr", "dept_manager", "engineering"),
                                     ("M-engineer", "staff", "engineering"),
                                     ("M-auditor", "staff", "audit")):
        people.add(person, role, department=department)
    number = _as(rpc, "M-desk").repairs.take_request({
        "household": {"unit": "3-1202", "name": "李先生"}, "location": "厨房",
        "trades": ["plumbing"], "description": "水管漏水",
        "received_at": "2026-11-13T10:00"})["number"]
    _as(rpc, "M-eng-mgr").repairs.dispatch({"number": number, "at": "2026-11-13T10:05",
                                            "engineer_id": "M-engineer"})
    relations = {"desk": "M-desk", "engineering": "M-engineer",
                 "engineering_supervisor": "M-eng-mgr", "assigned_engineer": "M-engineer",
                 "audit_department": "M-auditor"}
    order = {"number": number}
    payloads = {op: order for op in operations_of(_cls("repairs"))
                if op not in ("take_request", "search", "tariff", "stats",
                              "paid_service_register", "sweep")}
    # Dispatched again to the same engineer, who stays the one the order names.
    payloads["dispatch"] = {**order, "engineer_id": "M-engineer"}
    return Scene(payloads=payloads, relations=relations)


SCENES = {"complaints": complaints_scene, "penalties": penalties_scene,
          "notifications": notifications_scene, "repairs": repairs_scene}


def _cls(service):
    return discover()[service].load_class()


# -- the matrix ---------------------------------------------------------------------------
@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_refuses_the_anonymous_and_the_unentitled_and_admits_the_entitled(
        service, start_service, rpc, people, tokens, zhidu_config):
    cls = _cls(service)
    container = start_service(cls)
    permissions = load_permissions(cls, service)
    people.add(OUTSIDER, "staff", department="nowhere")
    people.add(SUBJECT, "staff", department="nowhere", manager_id="M-other")
    scene = Scene()
    if service in SCENES:
        build = SCENES[service]
        scene = (build(rpc, people, tokens, zhidu_config) if service == "notifications"
                 else build(rpc, people, tokens))
    routes = rest_routes(cls)
    outsider = rpc.as_person(OUTSIDER)
    anonymous = rpc.anonymous()
    outsider_rest = tokens.header(tokens.person(OUTSIDER))
    listed = {op for (svc, op) in COVERED_ELSEWHERE if svc == service}
    checked = {"anonymous": 0, "denied": 0, "allowed": 0}

    def payload_of(operation, everything=False):
        schema = getattr(cls, operation).zhidu_schema
        payload = payload_for(schema, everything) if schema is not None else {}
        return {**payload, **scene.payloads.get(operation, {})}

    def over_rest(route, payload, headers=None):
        url = f"{container.web_url}/api/v1/{service}{fill_path(route, payload)}"
        return requests.request(route.method, url, headers=headers or {}, timeout=10,
                                **_body(route, payload))

    before = snapshot(zhidu_config, service)
    for operation in sorted(operations_of(cls)):
        rule = permissions.rule(operation)
        if rule.public:
            continue
        payload = payload_of(operation)
        route = routes.get(operation)
        # 1. No token: Unauthenticated, whatever the payload.
        with pytest.raises(RemoteError) as err:
            getattr(getattr(anonymous, service), operation)(payload)
        assert err.value.exc_type == "Unauthenticated", (service, operation)
        if route is not None:
            reply = over_rest(route, payload)
            assert reply.status_code == 401, (service, operation, reply.text)
        checked["anonymous"] += 1
        # 2. An ordinary employee with no relation to the subject.
        if rule.anyone:
            continue
        with pytest.raises(RemoteError) as err:
            getattr(getattr(outsider, service), operation)(payload)
        if err.value.exc_type == "ValidationError":
            # A whole-payload rule wants optional fields too (e.g. "channels or locale").
            payload = payload_of(operation, everything=True)
            with pytest.raises(RemoteError) as err:
                getattr(getattr(outsider, service), operation)(payload)
        if err.value.exc_type == "NotFound" and operation in listed:
            # No record here to refuse access to; the story test refuses one.
            checked["denied"] += 1
            continue
        assert err.value.exc_type == "PermissionDenied", (service, operation,
                                                          err.value.exc_type, err.value.value)
        assert f"permissions: {operation}" in err.value.value
        if route is not None:
            reply = over_rest(route, payload, outsider_rest)
            assert reply.status_code == 403, (service, operation, reply.text)
        checked["denied"] += 1
    assert written(before, snapshot(zhidu_config, service)) == {}, "a refused call wrote"

    # 3. Someone the rule names: never refused at the door, over RPC or REST (the
    #    call may still fail on its own terms: NotFound, Conflict, bad sample input).
    allowed = set()
    for operation in sorted(operations_of(cls)):
        rule = permissions.rule(operation)
        if rule.public:
            continue
        entitled = _entitled(operation, rule, scene, people, tokens, service)
        if entitled is None:
            continue
        token, caller_id = entitled
        payload = payload_of(operation)
        for field_name in rule.caller_fields:
            payload[field_name] = caller_id
        try:
            getattr(getattr(rpc.as_(token), service), operation)(payload)
        except RemoteError as exc:
            assert exc.exc_type not in ("Unauthenticated", "PermissionDenied"), (
                service, operation, caller_id, exc.value)
        route = routes.get(operation)
        if route is not None:
            reply = over_rest(route, payload, tokens.header(token))
            assert reply.status_code not in (401, 403), (service, operation, caller_id,
                                                        reply.text)
        allowed.add(operation)
        checked["allowed"] += 1

    guarded = {op for op in operations_of(cls) if not permissions.rule(op).public}
    missing = sorted(guarded - allowed - listed)
    assert not missing, (f"{service}: no caller is admitted to {missing}; build what the "
                         "rule turns on in a scene here, or list the story test that calls "
                         "it in COVERED_ELSEWHERE")
    stale = sorted(listed & allowed)
    assert not stale, f"{service}: {stale} are reached here; take them out of COVERED_ELSEWHERE"
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


def _entitled(operation, rule, scene, people, tokens, service):
    """(token, caller id) of someone the rule admits, or None where nobody here can be."""
    if operation in scene.callers:
        person = scene.callers[operation]
        return tokens.person(person), person
    if rule.roles:
        roles = sorted(rule.roles)
        if rule.limits:
            # A role without a ceiling: the sample amount may exceed a limited one's.
            roles = [r for r in roles if r not in rule.limits["roles"]] or roles
        role = roles[0]
        people.add(f"R-{role}", role, department="nowhere")
        return tokens.person(f"R-{role}"), f"R-{role}"
    if rule.scopes:
        name = f"svc:{service}-matrix"
        return tokens.service(name, scopes=sorted(rule.scopes)), name
    if rule.anyone:
        return tokens.person(OUTSIDER), OUTSIDER
    for relation in rule.relations:
        if relation in scene.relations:
            person = scene.relations[relation]
            return tokens.person(person), person
    if "self" in rule.relations and rule.subject and not rule.subject.startswith("@"):
        return tokens.person(SUBJECT), SUBJECT
    return None


def test_operations_covered_elsewhere_name_story_tests_that_call_them():
    """The list is checked too: each test exists and calls its operation."""
    for (service, operation), where in COVERED_ELSEWHERE.items():
        assert operation in operations_of(_cls(service)), (service, operation)
        path, _, name = where.partition("::")
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        [test] = [node for node in ast.walk(tree)
                  if isinstance(node, ast.FunctionDef) and node.name == name] or [None]
        assert test is not None, f"{where} does not exist"
        called = {node.func.attr for node in ast.walk(test)
                  if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)}
        assert operation in called, f"{where} never calls {operation}"
