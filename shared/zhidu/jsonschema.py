"""Marshmallow schemas to JSON Schema, for OpenAPI documents and event schemas.

Only the field types the services use are mapped; anything else is described
as an unconstrained value rather than guessed.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from . import schemas as zs


def _base(field: fields.Field) -> dict:
    if isinstance(field, zs.Time):
        return {"type": "string", "format": "date-time"}
    if isinstance(field, zs.Day):
        return {"type": "string", "format": "date"}
    if isinstance(field, fields.Nested):
        nested = field.nested() if callable(field.nested) and not isinstance(
            field.nested, type) else field.nested
        inner = to_json_schema(nested)
        return {"type": "array", "items": inner} if field.many else inner
    if isinstance(field, fields.List):
        return {"type": "array", "items": _field(field.inner)}
    if isinstance(field, fields.Dict):
        return {"type": "object"}
    if isinstance(field, fields.Boolean):
        return {"type": "boolean"}
    if isinstance(field, fields.Integer):
        return {"type": "integer"}
    if isinstance(field, (fields.Float, fields.Decimal, fields.Number)):
        return {"type": "number"}
    if isinstance(field, fields.Email):
        return {"type": "string", "format": "email"}
    if isinstance(field, fields.Url):
        return {"type": "string", "format": "uri"}
    if isinstance(field, fields.DateTime):
        return {"type": "string", "format": "date-time"}
    if isinstance(field, fields.Date):
        return {"type": "string", "format": "date"}
    if isinstance(field, fields.String):
        return {"type": "string"}
    return {}


def _field(field: fields.Field) -> dict:
    out = _base(field)
    for v in field.validators:
        if isinstance(v, validate.OneOf):
            out["enum"] = list(v.choices)
        elif isinstance(v, validate.Range):
            if v.min is not None:
                out["minimum"] = v.min
            if v.max is not None:
                out["maximum"] = v.max
        elif isinstance(v, validate.Length):
            key = "Items" if out.get("type") == "array" else "Length"
            if v.min is not None:
                out[f"min{key}"] = v.min
            if v.max is not None:
                out[f"max{key}"] = v.max
        elif isinstance(v, validate.Regexp):
            out["pattern"] = v.regex.pattern
    if field.allow_none:
        out = {"anyOf": [out, {"type": "null"}]}
    if field.metadata.get("description"):
        out["description"] = field.metadata["description"]
    return out


def to_json_schema(schema: Schema | type[Schema]) -> dict:
    if isinstance(schema, type):
        schema = schema()
    props, required = {}, []
    for name, field in schema.fields.items():
        if field.dump_only:
            continue
        key = field.data_key or name
        props[key] = _field(field)
        if field.required:
            required.append(key)
    out = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    return out


def openapi_document(service: str, version: str, routes, operations: dict,
                     permissions=None) -> dict:
    """OpenAPI 3.1 for a service's routes; ``operations`` maps name → function.

    Each operation states who may call it (``x-zhidu-permission``, from the
    service's permissions file) and whether it needs a bearer token.
    """
    paths: dict = {}
    for route in routes:
        fn = operations.get(route.operation)
        schema = getattr(fn, "zhidu_schema", None)
        body = to_json_schema(schema) if schema is not None else {"type": "object"}
        path_params = [p[1:-1] for p in route.path.split("/") if p.startswith("{")]
        op = {
            "operationId": route.operation,
            "summary": route.summary or route.operation.replace("_", " "),
            "tags": list(route.tags) or [service],
            "parameters": [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in path_params
            ],
            "responses": {
                str(route.status): {"description": "OK",
                                    "content": {"application/json": {"schema": {}}}},
                "400": {"description": "ValidationError: {fields: {field: [messages]}}"},
                "401": {"description": "Unauthenticated: no or bad bearer token"},
                "403": {"description": "PermissionDenied: the caller may not (the rule "
                                       "is named)"},
                "404": {"description": "NotFound"},
                "409": {"description": "Conflict"},
            },
        }
        if permissions is not None and route.operation in permissions.rules:
            rule = permissions.rule(route.operation)
            op["x-zhidu-permission"] = rule.as_dict()
            op["description"] = f"Who may call: {rule.describe()}."
            if rule.public:
                op["security"] = []
                del op["responses"]["401"]
        props = {k: v for k, v in body.get("properties", {}).items() if k not in path_params}
        if route.method in ("GET", "DELETE"):
            op["parameters"] += [
                {"name": k, "in": "query", "required": k in body.get("required", []),
                 "schema": v} for k, v in props.items()
            ]
        else:
            request = dict(body, properties=props)
            request["required"] = [r for r in body.get("required", []) if r not in path_params]
            if not request["required"]:
                request.pop("required")
            op["requestBody"] = {"required": True,
                                 "content": {"application/json": {"schema": request}}}
        paths.setdefault(f"/api/v1/{service}{route.path}", {})[route.method.lower()] = op
    paths["/health"] = {"get": {"operationId": "health", "responses": {"200": {
        "description": "service, status, version and checks"}}}}
    paths["/metrics"] = {"get": {"operationId": "metrics", "responses": {"200": {
        "description": "Prometheus text exposition"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": f"Zhidu {service}", "version": version},
        "paths": paths,
        "components": {"securitySchemes": {"bearer": {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "A token from the suite's issuer (directory login, "
                           "zhidu token issue) or the company's OpenID Connect provider."}}},
        "security": [{"bearer": []}],
    }
