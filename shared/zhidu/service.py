"""The base every Zhidu service class inherits.

It brings what the contract asks of each service, so a service class holds
only its own operations: ``health``, ``GET /health``, ``GET /metrics``, the
OpenAPI document, the REST door onto its operations, the outbox relay and the
dead-letter queue operations.
"""
from __future__ import annotations

import json
import logging
import time

from kombu import Connection
from nameko.dependency_providers import Config
from nameko.web.handlers import http
from werkzeug.wrappers import Response

from . import __version__
from .config import setting
from .errors import Unauthenticated, ValidationError, ZhiduError
from .events import Outbox, config_timer, list_dead_letters, on_event, replay_dead_letters
from .guard import Identity
from .jsonschema import openapi_document
from .metrics import Metrics
from .mongo import Mongo, Store
from .operations import operation, to_contract_error
from .schemas import Payload, fields, validate
from .times import parse_time

log = logging.getLogger(__name__)

JSON = "application/json; charset=utf-8"


def json_response(status: int, body) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=None,
                    content_type=JSON)


def error_response(exc: ZhiduError) -> Response:
    response = json_response(exc.http_status, exc.payload())
    if isinstance(exc, Unauthenticated):
        response.headers["WWW-Authenticate"] = 'Bearer realm="zhidu"'
    return response


class DeadLettersQuery(Payload):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class ReplayPayload(Payload):
    ids = fields.List(fields.String(), load_default=None, allow_none=True)


class ZhiduService:
    name = "zhidu"
    version = __version__
    routes: list = []

    config = Config()
    store = Mongo(Store)
    outbox = Outbox()
    metrics = Metrics()
    identity = Identity()

    # -- contract basics -------------------------------------------------------
    @operation()
    def health(self, payload):
        checks = {"mongo": self._check_mongo(), "broker": self._check_broker()}
        status = "ok" if all(v == "ok" for v in checks.values()) else "degraded"
        return {"service": self.name, "status": status, "version": self.version,
                "checks": checks}

    def _check_mongo(self) -> str:
        try:
            self.store.ping()
            return "ok"
        except Exception as exc:  # health reports, it does not raise
            return f"error: {type(exc).__name__}"

    def _check_broker(self) -> str:
        try:
            with Connection(setting(self.config, "AMQP_URI"),
                            connect_timeout=2) as conn:
                conn.ensure_connection(max_retries=1)
            return "ok"
        except Exception as exc:
            return f"error: {type(exc).__name__}"

    @operation(DeadLettersQuery)
    def dead_letters(self, payload):
        """Failed events parked after their last retry, oldest first."""
        return list_dead_letters(setting(self.config, "AMQP_URI"),
                                 self.name, payload["limit"])

    @operation(ReplayPayload)
    def replay_dead_letters(self, payload):
        """Send parked events back to the handler they failed in."""
        replayed = replay_dead_letters(setting(self.config, "AMQP_URI"),
                                       self.name, payload["ids"])
        return {"replayed": replayed}

    # -- the directory copy that callers' roles and reporting lines come from --------
    @on_event("directory", "employee_upserted")
    def remember_person(self, envelope):
        data = envelope["data"]
        self.store.remember_person(data["employee_id"], data, parse_time(envelope["time"]))
        self.identity.forget(data["employee_id"])

    @on_event("directory", "employee_departed")
    def forget_person(self, envelope):
        data = envelope["data"]
        self.store.remember_person(data["employee_id"], {"departed_at": data["at"]},
                                   parse_time(envelope["time"]))
        self.identity.forget(data["employee_id"])

    @config_timer("ZHIDU_OUTBOX_INTERVAL")
    def relay_outbox(self):
        self.outbox.relay()
        self.metrics.outbox_pending.labels(self.name).set(self.outbox.pending_count())

    # -- HTTP ----------------------------------------------------------------
    @http("GET", "/health")
    def http_health(self, request):
        report = self.health({})
        return json_response(200 if report["status"] == "ok" else 503, report)

    @http("GET", "/metrics")
    def http_metrics(self, request):
        self.refresh_metrics()
        return Response(self.metrics.render(), content_type=self.metrics.content_type)

    def refresh_metrics(self) -> None:
        """Hook: services update scrape-time gauges here."""

    @http("GET", "/openapi.json")
    def http_openapi(self, request):
        return json_response(200, self.openapi())

    def openapi(self) -> dict:
        operations = {r.operation: getattr(type(self), r.operation) for r in self.routes}
        return openapi_document(self.name, self.version, self.routes, operations,
                                self.identity.provider.permissions)

    @http("GET,POST,PUT,PATCH,DELETE", "/api/v1/<service>/<path:rest>")
    def http_api(self, request, service, rest):
        if service != self.name:
            return json_response(404, {"error": "NotFound",
                                       "message": f"no service {service!r} here"})
        for route in self.routes:
            params = route.match(request.method, rest)
            if params is not None:
                return self._dispatch(route, params, request)
        return json_response(404, {"error": "NotFound", "message": f"no route {rest!r}"})

    def _dispatch(self, route, params, request):
        started = time.perf_counter()
        response = self._call_route(route, params, request)
        # Count REST calls under their operation, not under the router.
        outcome = "ok" if response.status_code < 500 else "error"
        labels = (self.name, route.operation, "http")
        self.metrics.calls.labels(*labels, outcome).inc()
        self.metrics.latency.labels(*labels).observe(time.perf_counter() - started)
        return response

    def _call_route(self, route, params, request):
        self.identity.bearer = request.headers.get("Authorization")
        try:
            payload = dict(request.args.to_dict())
            if request.method not in ("GET", "DELETE") and request.get_data():
                body = request.get_json(force=True, silent=True)
                if not isinstance(body, dict):
                    raise ValidationError({"_schema": ["body must be a JSON object"]})
                payload.update(body)
            payload.update(params)
            result = getattr(self, route.operation)(payload)
            return json_response(route.status, result)
        except ZhiduError as exc:
            return error_response(exc)
        except Exception as exc:
            mapped = to_contract_error(exc)
            if mapped is not None:
                return error_response(mapped)
            log.exception("%s %s failed", request.method, request.path)
            return json_response(500, {"error": "InternalError",
                                       "message": "the service failed; see its log"})
