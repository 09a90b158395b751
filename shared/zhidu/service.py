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
from nameko.extensions import DependencyProvider
from nameko.messaging import QueueConsumer
from nameko.web.handlers import http
from nameko.web.server import WebServer, WsgiApp
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.wrappers import Response

from . import __version__
from .config import setting
from .errors import Unauthenticated, ZhiduError
from .events import Outbox, config_timer, list_dead_letters, on_event, replay_dead_letters
from .guard import Identity
from .jsonschema import openapi_document
from .metrics import Metrics
from .mongo import Mongo, Store
from .operations import operation, to_contract_error
from .schemas import Payload, bounded_messages, fields, validate
from .times import parse_time

log = logging.getLogger(__name__)

JSON = "application/json; charset=utf-8"


def json_response(status: int, body) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=None,
                    content_type=JSON)


def error_response(exc: ZhiduError) -> Response:
    # A refusal quotes what it refused; bounded, so a hostile payload of a
    # million unknown keys earns a small answer, not a megabyte of echo.
    response = json_response(exc.http_status, bounded_messages(exc.payload()))
    if isinstance(exc, Unauthenticated):
        response.headers["WWW-Authenticate"] = 'Bearer realm="zhidu"'
    return response


def edge_error(status: int, message: str, *, field: str = "_body", allow=None) -> Response:
    """A refusal at the HTTP edge, in the contract's ValidationError shape for 400s."""
    if status == 400:
        body = {"error": "ValidationError", "fields": {field: [message]}}
    else:
        body = {"error": {405: "MethodNotAllowed", 413: "PayloadTooLarge",
                          415: "UnsupportedMediaType"}.get(status, "BadRequest"),
                "message": message}
    response = json_response(status, body)
    if allow:
        response.headers["Allow"] = ", ".join(allow)
    return response


class EdgeRefusal(Exception):
    def __init__(self, status: int, message: str, field: str = "_body"):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field

    def response(self) -> Response:
        return edge_error(self.status, self.message, field=self.field)


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def _finite_float(text):
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError("number out of range")
    return value


def parse_json_body(raw: bytes, max_depth: int, max_keys: int):
    """Strict JSON: UTF-8, no NaN/Infinity, bounded nesting and key count, no lone
    surrogates (which no database or reply could encode)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise EdgeRefusal(400, "the body is not valid UTF-8") from None
    try:
        body = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise EdgeRefusal(400, f"JSON nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise EdgeRefusal(400, f"the body is not JSON ({str(exc)[:100]})") from None
    keys = 0
    stack = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _utf8(value)
        elif isinstance(value, (dict, list)):
            if depth > max_depth:
                raise EdgeRefusal(400, f"JSON nested deeper than {max_depth} levels")
            if isinstance(value, dict):
                keys += len(value)
                if keys > max_keys:
                    raise EdgeRefusal(400, f"more than {max_keys} keys in the body")
                for key, item in value.items():
                    _utf8(key)
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)
    return body


def _utf8(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise EdgeRefusal(400, "the body holds a lone surrogate (not valid Unicode)") from None


def host_name(host: str) -> str:
    """``Host`` without its port: ``[::1]:8101`` → ``[::1]``."""
    host = (host or "").strip().lower()
    if host.startswith("["):
        return host[:host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


BODY_METHODS = ("POST", "PUT", "PATCH")


class JsonWsgiApp(WsgiApp):
    """nameko's router, answering what it cannot route in JSON, like the API.

    werkzeug's own 404 and 405 pages are HTML, which no client of a JSON API
    (nor the OpenAPI document) expects; a path holding a newline, for one,
    never reaches a handler.
    """

    def __call__(self, environ, start_response):
        request_adapter = self.url_map.bind_to_environ(environ)
        try:
            request_adapter.match()
        except HTTPException as exc:
            status = exc.code or 500
            allow = getattr(exc, "valid_methods", None)
            if status == 405 and environ.get("REQUEST_METHOD") == "OPTIONS" and allow:
                response = Response(status=204)
                response.headers["Allow"] = ", ".join(sorted({*allow, "OPTIONS"}))
            elif status == 405:
                response = edge_error(405, f"{environ.get('REQUEST_METHOD')} is not "
                                           "allowed here", allow=sorted({*allow, "OPTIONS"}))
            elif 300 <= status < 400:
                return exc(environ, start_response)
            else:
                response = json_response(status, {"error": "NotFound" if status == 404
                                                   else type(exc).__name__,
                                                   "message": exc.description or ""})
            return response(environ, start_response)
        return super().__call__(environ, start_response)


def _json_wsgi_app(server):
    return JsonWsgiApp(server)


# One web server serves every HTTP entrypoint of a container (the library's
# and a service's own), so its router is replaced where nameko builds it.
WebServer.get_wsgi_app = _json_wsgi_app


class DeadLettersQuery(Payload):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class ReplayPayload(Payload):
    ids = fields.List(fields.String(), load_default=None, allow_none=True)


class Consumers(DependencyProvider):
    """Whether every queue this service consumes is declared, bound and consumed.

    The web server can answer before the consumer thread has declared its
    queues; an event published in that gap, on a first-ever deployment, would
    reach no queue. /health therefore says ``degraded`` until the consumers are
    ready, so orchestrators and tests wait for them.
    """

    def get_dependency(self, worker_ctx):
        return self

    def check(self) -> str:
        waiting = [ext for ext in self.container.extensions
                   if isinstance(ext, QueueConsumer) and not ext._consumers_ready.ready()
                   or isinstance(ext, QueueConsumer) and ext._consumers_ready.has_exception()]
        return "ok" if not waiting else "starting"


class ZhiduService:
    name = "zhidu"
    version = __version__
    routes: list = []

    config = Config()
    store = Mongo(Store)
    outbox = Outbox()
    metrics = Metrics()
    identity = Identity()
    consumers = Consumers()

    # -- contract basics -------------------------------------------------------
    @operation()
    def health(self, payload):
        checks = {"mongo": self._check_mongo(), "broker": self._check_broker(),
                  "consumers": self.consumers.check()}
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
        refused = self._refuse_host(request)
        if refused is not None:
            return refused
        return json_response(200, self.openapi())

    def _refuse_host(self, request) -> Response | None:
        """A Host outside ``ZHIDU_ALLOWED_HOSTS`` is refused: a web page whose name
        was rebound to this machine's address must not reach the API. /health and
        /metrics stay open to probes and scrapers that address the pod by IP."""
        allowed = str(setting(self.config, "ZHIDU_ALLOWED_HOSTS"))
        names = {h.strip().lower() for h in allowed.split(",") if h.strip()}
        if "*" in names:
            return None
        name = host_name(request.host)
        if name in names or name == self.name:
            return None
        return edge_error(400, f"host {name[:100]!r} is not served here "
                               "(ZHIDU_ALLOWED_HOSTS)", field="Host")

    def openapi(self) -> dict:
        operations = {r.operation: getattr(type(self), r.operation) for r in self.routes}
        return openapi_document(self.name, self.version, self.routes, operations,
                                self.identity.provider.permissions)

    @http("GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS", "/api/v1/<service>/<path:rest>")
    def http_api(self, request, service, rest):
        refused = self._refuse_host(request)
        if refused is not None:
            return refused
        if service != self.name:
            return json_response(404, {"error": "NotFound",
                                       "message": f"no service {service[:100]!r} here"})
        methods = [r.method for r in self.routes if r.match(r.method, rest) is not None]
        if not methods:
            return json_response(404, {"error": "NotFound",
                                       "message": f"no route {rest[:200]!r}"})
        allow = sorted(set(methods) | {"OPTIONS"} | ({"HEAD"} if "GET" in methods else set()))
        if request.method == "OPTIONS":
            response = Response(status=204)
            response.headers["Allow"] = ", ".join(allow)
            return response
        # werkzeug drops the body of a HEAD reply and keeps the GET's headers.
        method = "GET" if request.method == "HEAD" else request.method
        for route in self.routes:
            params = route.match(method, rest)
            if params is not None:
                return self._dispatch(route, params, request)
        return edge_error(405, f"{request.method} is not allowed here", allow=allow)

    def _read_body(self, request) -> dict | None:
        """The JSON body of a call, read under the edge's limits, or None."""
        if request.method not in BODY_METHODS:
            return None
        chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
        has_body = bool(request.content_length) or chunked
        if not has_body:
            # Without a body there is nothing to judge; the web server reports
            # a missing Content-Type as text/plain, so it cannot be read either.
            return None
        # Only JSON: a form or text/plain body is what any web page can send
        # across origins without asking first.
        charset = request.mimetype_params.get("charset", "utf-8").lower()
        if request.mimetype != "application/json" or charset not in ("utf-8", "utf8"):
            raise EdgeRefusal(415, "send the body as application/json (UTF-8)")
        limit = int(setting(self.config, "ZHIDU_MAX_BODY_BYTES"))
        if (request.content_length or 0) > limit:
            raise EdgeRefusal(413, f"the body is larger than {limit} bytes")
        request.max_content_length = limit
        try:
            raw = request.get_data(cache=False)
        except RequestEntityTooLarge:
            raise EdgeRefusal(413, f"the body is larger than {limit} bytes") from None
        if not raw:
            return None
        body = parse_json_body(raw, int(setting(self.config, "ZHIDU_MAX_JSON_DEPTH")),
                               int(setting(self.config, "ZHIDU_MAX_JSON_KEYS")))
        if not isinstance(body, dict):
            raise EdgeRefusal(400, "body must be a JSON object", field="_schema")
        return body

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
            # The caller first: a body is read, parsed and judged only for a
            # proven caller, so an anonymous call hears 401 whatever it sent
            # (never a 400, 413 or 415 describing the body to a stranger).
            if not self.identity.provider.permissions.rule(route.operation).public:
                self.identity.authenticate(route.operation)
            payload = dict(request.args.to_dict())
            body = self._read_body(request)
            if body is not None:
                payload.update(body)
            payload.update(params)
            result = getattr(self, route.operation)(payload)
            return json_response(route.status, result)
        except EdgeRefusal as exc:
            return exc.response()
        except ZhiduError as exc:
            return error_response(exc)
        except Exception as exc:
            mapped = to_contract_error(exc)
            if mapped is not None:
                return error_response(mapped)
            log.exception("%s %s failed", request.method, request.path)
            return json_response(500, {"error": "InternalError",
                                       "message": "the service failed; see its log"})
