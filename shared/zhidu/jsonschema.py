"""Marshmallow schemas to JSON Schema, for OpenAPI documents and event schemas.

Only the field types the services use are mapped; anything else is described
as an unconstrained value rather than guessed.
"""
from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from . import schemas as zs

WINDOW = ("between ZHIDU_TIME_MIN (2000-01-01) and ZHIDU_TIME_MAX_AHEAD_DAYS (366) days "
          "from now")


def _base(field: fields.Field, closed: bool = False) -> dict:
    if isinstance(field, zs.Time):
        out = {"type": "string", "format": "date-time"}
        if closed:  # a request: say which times the door takes
            happened = field.happened if field.happened is not None else field.name == "at"
            when = ("when it happened: not in the future (ZHIDU_AT_TOLERANCE_SECONDS); "
                    if happened else "")
            out["x-zhidu-window"] = f"{when}{WINDOW}"
        return out
    if isinstance(field, zs.Day):
        out = {"type": "string", "format": "date"}
        if closed:
            out["x-zhidu-window"] = WINDOW
        return out
    if isinstance(field, fields.Nested):
        nested = field.nested() if callable(field.nested) and not isinstance(
            field.nested, type) else field.nested
        inner = to_json_schema(nested, closed=closed)
        return {"type": "array", "items": inner} if field.many else inner
    if isinstance(field, fields.List):
        return {"type": "array", "items": _field(field.inner, closed)}
    if isinstance(field, fields.Dict):
        out = {"type": "object"}
        if field.value_field is not None:
            out["additionalProperties"] = _field(field.value_field, closed)
        return out
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


def _field(field: fields.Field, closed: bool = False) -> dict:
    out = _base(field, closed)
    for v in field.validators:
        if isinstance(v, validate.OneOf):
            out["enum"] = list(v.choices)
        elif isinstance(v, validate.Equal):
            out["const"] = v.comparable
        elif isinstance(v, validate.Range):
            if v.min is not None:
                out["minimum" if v.min_inclusive else "exclusiveMinimum"] = v.min
            if v.max is not None:
                out["maximum" if v.max_inclusive else "exclusiveMaximum"] = v.max
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


def to_json_schema(schema: Schema | type[Schema], closed: bool = False) -> dict:
    """The JSON Schema of what ``schema`` loads.

    ``closed`` describes a request: objects whose schema refuses unknown keys
    say so (``additionalProperties: false``). Event schemas stay open, since
    consumers must tolerate fields added later.
    """
    if isinstance(schema, type):
        schema = schema()
    props, required = {}, []
    for name, field in schema.fields.items():
        if field.dump_only:
            continue
        key = field.data_key or name
        props[key] = _field(field, closed)
        if field.required:
            required.append(key)
    out = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    if closed and schema.unknown == RAISE:
        out["additionalProperties"] = False
    return out


ERROR_SCHEMAS = {
    "ValidationError": {
        "type": "object", "required": ["error", "fields"],
        "properties": {
            "error": {"const": "ValidationError"},
            "fields": {"type": "object", "description": "field → messages (at most 20 "
                       "entries a level; `_truncated` counts the rest)"},
        },
    },
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    },
}


def _error(description: str, schema: str = "Error") -> dict:
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def _query_schema(schema: dict) -> dict:
    """A query parameter arrives as text: ``null`` cannot be sent, so a
    nullable field is documented by its non-null form."""
    if "anyOf" in schema:
        kept = [s for s in schema["anyOf"] if s.get("type") != "null"]
        if len(kept) == 1:
            rest = {k: v for k, v in schema.items() if k != "anyOf"}
            return {**kept[0], **rest}
    return schema


def _accepts_actor_id(schema) -> bool:
    """Whether a schema takes the REST form ``actor_id`` for its ``actor``."""
    if schema is None:
        return False
    instance = schema() if isinstance(schema, type) else schema
    if "actor" not in instance.fields:
        return False
    errors = instance.validate({"actor_id": "E0"}, partial=True)
    return "actor_id" not in errors


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
        body = (to_json_schema(schema, closed=True) if schema is not None
                else {"type": "object"})
        path_params = [p[1:-1] for p in route.path.split("/") if p.startswith("{")]
        declared = body.get("properties", {})
        op = {
            "operationId": route.operation,
            "summary": route.summary or route.operation.replace("_", " "),
            "tags": list(route.tags) or [service],
            "parameters": [
                {"name": p, "in": "path", "required": True,
                 "schema": _query_schema(declared.get(p, {"type": "string"}))}
                for p in path_params
            ],
            "responses": {
                str(route.status): {"description": "OK",
                                    "content": {"application/json": {"schema": {}}}},
                "400": _error("ValidationError: {fields: {field: [messages]}}; also a "
                              "malformed body, a Host not served", "ValidationError"),
                "401": _error("Unauthenticated: no or bad bearer token"),
                "403": _error("PermissionDenied: the caller may not (the rule is named)"),
                "404": _error("NotFound"),
                "409": _error("Conflict"),
                # The web server refuses a request line over 8 kB before any
                # handler sees it.
                "414": {"description": "the URL is too long"},
            },
        }
        if permissions is not None and route.operation in permissions.rules:
            rule = permissions.rule(route.operation)
            op["x-zhidu-permission"] = rule.as_dict()
            op["description"] = f"Who may call: {rule.describe()}."
            if rule.public:
                op["security"] = []
        props = {k: v for k, v in body.get("properties", {}).items() if k not in path_params}
        if route.method in ("GET", "DELETE"):
            # Query parameters are text: objects cannot be sent that way, and the
            # caller's own id stands in for ``actor`` where the schema takes it.
            query = {k: _query_schema(v) for k, v in props.items()
                     if _query_schema(v).get("type") not in ("object", "array")}
            if _accepts_actor_id(schema):
                query["actor_id"] = {"type": "string", "maxLength": 64,
                                     "description": "optional; must name the caller"}
            op["parameters"] += [
                {"name": k, "in": "query", "required": k in body.get("required", []),
                 "schema": v} for k, v in query.items()
            ]
        else:
            op["responses"]["413"] = _error("the body is larger than the limit "
                                            "(ZHIDU_MAX_BODY_BYTES)")
            op["responses"]["415"] = _error("the body is not application/json")
            request = dict(body, properties=props)
            request["required"] = [r for r in body.get("required", []) if r not in path_params]
            if not request["required"]:
                request.pop("required")
            # No body at all is read as {}: only a payload with required
            # fields needs one.
            op["requestBody"] = {"required": bool(request.get("required")),
                                 "content": {"application/json": {"schema": request}}}
        paths.setdefault(f"/api/v1/{service}{route.path}", {})[route.method.lower()] = op
    health = {"type": "object", "required": ["service", "status", "version", "checks"],
              "properties": {"service": {"const": service},
                             "status": {"enum": ["ok", "degraded"]},
                             "version": {"type": "string"},
                             "checks": {"type": "object",
                                        "additionalProperties": {"type": "string"}}}}
    paths["/health"] = {"get": {"operationId": "health", "security": [], "responses": {
        "200": {"description": "service, status, version and checks",
                "content": {"application/json": {"schema": health}}},
        "503": {"description": "degraded: a check failed",
                "content": {"application/json": {"schema": health}}}}}}
    paths["/metrics"] = {"get": {"operationId": "metrics", "security": [], "responses": {
        "200": {"description": "Prometheus text exposition",
                "content": {"text/plain": {"schema": {"type": "string"}}}}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": f"Zhidu {service}", "version": version},
        "paths": paths,
        "components": {"schemas": ERROR_SCHEMAS, "securitySchemes": {"bearer": {
            "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "A token from the suite's issuer (directory login, "
                           "zhidu token issue) or the company's OpenID Connect provider."}}},
        "security": [{"bearer": []}],
    }
