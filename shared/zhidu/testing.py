"""Pytest fixtures for tests that cross a service boundary.

They use the real parts: RabbitMQ (one fresh vhost per test, through nameko's
``rabbit_config``) and a MongoDB-wire server (``MONGO_URI``, or SecantusDB
started for the session), each test with its own database names.

Each service a test starts connects to the broker as deployed: as a user of
its own, with the permissions of ``deploy/rabbitmq/`` in the test's vhost, and
its consumers take events from their source's user only. The users
(``zhidu-t<session>-<service>``) are made on the session's broker when first
needed and removed when the session ends; the vhosts go with their tests, so
nothing else on the broker changes. ``publish_event`` publishes as the
source's user. On a broker the harness does not manage (a test's own node),
services share the test's user and check no sender (``ZHIDU_BROKER_USERS=off``).

Load with ``pytest_plugins = ["zhidu.testing"]`` after eventlet monkey-patching.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from urllib.parse import urlparse

import pytest
from kombu import Connection, Exchange, Queue
from pymongo import monitoring

from .broker import (
    Management,
    Needs,
    bindable_events,
    broker_user,
    connection_user,
    definitions,
    needs_of,
    suite_needs,
    vhost_of,
    with_user,
)
from .launcher import answers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, message: str = ""):
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout``."""
    import eventlet

    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        eventlet.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate}"
                         f" (last value: {last!r})")


@contextmanager
def embedded_mongo():
    """A throw-away SecantusDB on a free port; yields its URI."""
    port = free_port()
    data = tempfile.mkdtemp(prefix="zhidu-test-db-")
    proc = subprocess.Popen(
        [sys.executable, "-m", "secantus", "--host", "127.0.0.1", "--port", str(port),
         "--storage-path", data, "--log-level", "WARNING"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not answers("127.0.0.1", port, 0.2):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the embedded database did not start")
            time.sleep(0.1)
        yield f"mongodb://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data, ignore_errors=True)


@contextmanager
def mongo_server():
    """``MONGO_URI`` when set, else a throw-away embedded server."""
    if os.environ.get("MONGO_URI"):
        yield os.environ["MONGO_URI"]
        return
    with embedded_mongo() as uri:
        yield uri


@pytest.fixture(scope="session")
def mongo_uri():
    with mongo_server() as uri:
        yield uri


@pytest.fixture(scope="session")
def zhidu_key_dir():
    """The own issuer's keys for the test session (never the developer's var/keys)."""
    from .identity import KeyRing
    from .secretbox import ensure_key_file

    path = tempfile.mkdtemp(prefix="zhidu-test-keys-")
    KeyRing(path).ensure()
    ensure_key_file(path)  # what seals stored secrets (zhidu.secretbox)
    yield path
    shutil.rmtree(path, ignore_errors=True)


class BrokerUsers:
    """Broker users of the session's own, one per service, in each test's vhost."""

    def __init__(self, amqp_uri: str, api_uri: str):
        self.amqp_uri, self.api_uri = amqp_uri, api_uri
        self.pattern = f"zhidu-t{secrets.token_hex(3)}-{{service}}"
        self.password = secrets.token_hex(16)
        self.created: set[str] = set()
        self.granted: dict[str, set[str]] = {}  # vhost → services with permissions
        self._api = None
        self._suite = None

    def manages(self, amqp_uri: str) -> bool:
        """A test's vhost on the session's broker, reached as the session's user."""
        ours, theirs = urlparse(self.amqp_uri), urlparse(amqp_uri)
        return (theirs.hostname == ours.hostname and (theirs.port or 5672) == (ours.port or 5672)
                and connection_user(amqp_uri) == connection_user(self.amqp_uri)
                and vhost_of(amqp_uri) != "/")

    def user(self, service: str) -> str:
        return broker_user(self.pattern, service)

    def uri(self, amqp_uri: str, service: str, service_cls=None) -> str:
        """``amqp_uri`` as ``service``'s user, with its permissions in the vhost."""
        self.grant(vhost_of(amqp_uri), needs_of(service_cls) if service_cls is not None
                   else Needs(service))
        return with_user(amqp_uri, self.user(service), self.password)

    def grant(self, vhost: str, needs: Needs) -> None:
        """Users and permissions in ``vhost`` for every installed service,
        ``needs.service`` and the sources it listens to, and their exchanges."""
        if self._suite is None:
            from .plugins import discover

            plugins = discover()
            self._suite = ({n.service: n for n in suite_needs(plugins)},
                           bindable_events(plugins))
        suite, bindable = self._suite
        wanted = dict(suite)
        known = suite.get(needs.service)
        wanted[needs.service] = needs if known is None else Needs(
            needs.service, needs.calls or known.calls, needs.sources | known.sources)
        for source in wanted[needs.service].sources:
            wanted.setdefault(source, Needs(source))
        granted = self.granted.setdefault(vhost, set())
        fresh = [n for name, n in wanted.items() if name not in granted]
        if not fresh:
            return
        doc = definitions(fresh, vhost=vhost, pattern=self.pattern, bindable=bindable,
                          passwords={n.service: self.password for n in fresh})
        doc["users"] = [u for u in doc["users"] if u["name"] not in self.created]
        del doc["vhosts"]  # the test's, made already
        self.api().load(doc)
        self.created.update(u["name"] for u in doc["users"])
        granted.update(n.service for n in fresh)

    def api(self) -> Management:
        if self._api is None:
            self._api = Management(self.api_uri)
        return self._api

    def close(self) -> None:
        if self.created:
            self.api().delete_users(self.created)
            self.created.clear()


def stand_in_broker(amqp_uri: str, api_uri: str):
    """A broker node of the run's own when the one named has no management API.

    The tests make a vhost and broker users per run, which needs the API; the
    machine's broker is someone else's and is neither reconfigured nor
    stopped. Returns the started node (its ``amqp_uri`` and ``api_uri``), with
    the environment pointed at it for the processes the tests start, or None
    when the named broker will do.
    """
    from . import rabbit_node

    api = urlparse(api_uri)
    if answers(api.hostname or "localhost", api.port or 15672):
        return None
    broker = urlparse(amqp_uri)
    if broker.hostname not in ("localhost", "127.0.0.1") or not rabbit_node.available():
        return None  # the tests needing the API say so when they run
    print(f"\nthe broker at {broker.hostname}:{broker.port or 5672} has no management API; "
          "starting a RabbitMQ node of the test run's own", flush=True)
    node = rabbit_node.RabbitNode(management=True)
    try:
        node.start()
    except BaseException:
        node.close()
        raise
    os.environ["AMQP_URI"] = node.amqp_uri
    os.environ["RABBIT_API_URI"] = node.api_uri
    os.environ["ZHIDU_BROKER_METRICS_ADDRESS"] = f"127.0.0.1:{node.metrics_port}"
    return node


_BROKER_USERS: BrokerUsers | None = None


@pytest.fixture(scope="session", autouse=True)
def broker_users(request):
    """The session's broker users (made when first needed, removed at the end)."""
    global _BROKER_USERS
    try:
        amqp_uri = request.config.getoption("RABBIT_AMQP_URI")
        api_uri = request.config.getoption("RABBIT_API_URI")
    except ValueError:  # nameko's pytest plugin is not loaded: no broker here
        yield None
        return
    _BROKER_USERS = BrokerUsers(amqp_uri, api_uri)
    try:
        yield _BROKER_USERS
    finally:
        users, _BROKER_USERS = _BROKER_USERS, None
        users.close()


def as_service(config: dict, service: str, service_cls=None) -> dict:
    """``config`` for ``service``: its own broker user where the harness
    manages the broker; the test's user, checking no sender, elsewhere."""
    if config.get("ZHIDU_BROKER_USERS"):
        return config  # the test says who is who
    users = _BROKER_USERS
    if users is None or not users.manages(config["AMQP_URI"]):
        return dict(config, ZHIDU_BROKER_USERS="off")
    return dict(config, AMQP_URI=users.uri(config["AMQP_URI"], service, service_cls),
                ZHIDU_BROKER_USERS=users.pattern)


@pytest.fixture
def zhidu_config(rabbit_config, mongo_uri, zhidu_key_dir):
    """Config for a test's services: own vhost, own databases, quick retries."""
    return {
        "AMQP_URI": rabbit_config["AMQP_URI"],
        "MONGO_URI": mongo_uri,
        "ZHIDU_DB_PREFIX": f"t{uuid.uuid4().hex[:10]}_",
        "ZHIDU_RETRY_DELAYS": "0.2,0.4",
        "ZHIDU_OUTBOX_INTERVAL": "0.5",
        "ZHIDU_SWEEP_INTERVAL": "3600",
        "ZHIDU_KEY_DIR": zhidu_key_dir,
        # Tests change a person's role between calls; production caches it briefly.
        "ZHIDU_IDENTITY_CACHE_SECONDS": "0",
        # Every event emitted is checked against its published JSON Schema.
        "ZHIDU_CHECK_EVENTS": "1",
    }


# Who a test acts as when a call names no actor: an operator's service account,
# as `zhidu token issue svc:... --role hr --scope '*'` mints. It holds the
# clerical roles and every scope, but not it_admin or info_officer, so what it
# reads of complainants is masked like an ordinary reader's.
OPERATOR = "svc:test-operator"
OPERATOR_ROLES = ("hr", "gm_office", "dorm_admin", "inspector", "attendance_clerk")


class People:
    """The directory copy each service resolves callers against, seeded for a test.

    Real deployments fill it from ``directory.employee_upserted``; tests that
    are not about the directory put people there directly, in every service's
    database, as the event would.
    """

    SEEDED_AS_OF = "2000-01-01T00:00:00+00:00"

    def __init__(self, config: dict):
        self.config = config
        self.known: dict[str, dict] = {}

    def add(self, employee_id: str, role: str = "staff", **fields) -> dict:
        from .config import database_name
        from .mongo import connect
        from .plugins import discover
        from .times import parse_time

        record = {"employee_id": employee_id, "role": role, **fields}
        if self.known.get(employee_id) == record:
            return record
        client = _client(self.config["MONGO_URI"], connect)
        as_of = parse_time(self.SEEDED_AS_OF)
        for name in discover():
            # The directory resolves callers against its own records.
            collection = "employees" if name == "directory" else "people"
            fields_ = {k: v for k, v in record.items() if k != "employee_id"}
            client[database_name(self.config, name)][collection].update_one(
                {"_id": employee_id}, {"$set": {**fields_, "as_of": as_of},
                                       "$setOnInsert": {"departed_at": None}}, upsert=True)
        self.known[employee_id] = record
        return record

    def ensure(self, actor: dict) -> None:
        known = self.known.get(actor["id"])
        role = actor.get("role") or "staff"
        if known is None or known.get("role") != role:
            self.add(actor["id"], role, **{k: v for k, v in (known or {}).items()
                                           if k not in ("employee_id", "role")})


_CLIENTS: dict = {}


def _client(uri, connect):
    if uri not in _CLIENTS:
        _CLIENTS[uri] = connect(uri)
    return _CLIENTS[uri]


class Tokens:
    def __init__(self, config: dict):
        self.config = config
        self._cache: dict = {}

    def person(self, employee_id: str) -> str:
        return self._issue(employee_id)

    def service(self, name: str, roles=(), scopes=("*",)) -> str:
        subject = name if name.startswith("svc:") else f"svc:{name}"
        return self._issue(subject, tuple(roles), tuple(scopes))

    def operator(self) -> str:
        return self.service(OPERATOR, OPERATOR_ROLES)

    def header(self, token: str) -> dict:
        return {"Authorization": f"Bearer {token}"}

    def _issue(self, subject, roles=(), scopes=()):
        from .identity import issue_token

        key = (subject, roles, scopes)
        if key not in self._cache:
            self._cache[key] = issue_token(self.config, subject, roles=roles, scopes=scopes,
                                           ttl=3600)
        return self._cache[key]


@pytest.fixture
def people(zhidu_config):
    return People(zhidu_config)


@pytest.fixture
def tokens(zhidu_config):
    return Tokens(zhidu_config)


@pytest.fixture
def auth_headers(tokens, people):
    """``auth_headers()`` → the operator's header; ``auth_headers("E1", role="gm")`` a person's."""
    def headers(who: str | None = None, role: str | None = None) -> dict:
        if who is None:
            return tokens.header(tokens.operator())
        if who.startswith("svc:"):
            return tokens.header(tokens.service(who))
        if role is not None:
            people.ensure({"id": who, "role": role})
        return tokens.header(tokens.person(who))
    return headers


@pytest.fixture
def start_service(container_factory, zhidu_config):
    """``start_service(ServiceClass, **config)`` → a running container.

    Each container gets its own HTTP port; ``container.web_url`` points at it.
    """
    def start(service_cls, **overrides):
        port = free_port()
        config = as_service(dict(zhidu_config, WEB_SERVER_ADDRESS=f"127.0.0.1:{port}",
                                 **overrides), service_cls.name, service_cls)
        container = container_factory(service_cls, config)
        container.start()
        container.web_url = f"http://127.0.0.1:{port}"
        return container
    return start


class ActingRpc:
    """``rpc.<service>.<method>(payload)`` with a real token for the call's actor.

    A payload naming an ``actor`` is sent with that person's token (the person
    is put in the directory copy with the role the test gives); one without
    is sent as the test operator. ``rpc.as_(token)`` pins one token.
    """

    def __init__(self, config: dict, tokens: Tokens, people: People, token: str | None = None):
        self._config, self._tokens, self._people = config, tokens, people
        self._token = token
        self._proxies: dict = {}

    def as_(self, token: str) -> ActingRpc:
        acting = ActingRpc(self._config, self._tokens, self._people, token)
        acting._proxies = self._proxies
        return acting

    def as_person(self, employee_id: str, role: str | None = None) -> ActingRpc:
        if role is not None:
            self._people.ensure({"id": employee_id, "role": role})
        return self.as_(self._tokens.person(employee_id))

    def __getattr__(self, service: str):
        if service.startswith("_"):
            raise AttributeError(service)
        return _ActingService(self, service)

    def _proxy(self, token: str | None):
        from nameko.standalone.rpc import ClusterRpcProxy

        key = token
        if key not in self._proxies:
            context = {"authorization": f"Bearer {token}"} if token else {}
            proxy = ClusterRpcProxy(self._config, context_data=context, timeout=30)
            self._proxies[key] = (proxy, proxy.start())
        return self._proxies[key][1]

    def _token_for(self, payload) -> str:
        if self._token is not None:
            return self._token
        actor = payload.get("actor") if isinstance(payload, dict) else None
        if isinstance(actor, dict) and isinstance(actor.get("id"), str) and actor["id"]:
            self._people.ensure(actor)
            return self._tokens.person(actor["id"])
        return self._tokens.operator()

    def anonymous(self) -> ActingRpc:
        acting = ActingRpc(self._config, self._tokens, self._people, "")
        acting._proxies = self._proxies
        return acting

    def close(self) -> None:
        for proxy, _ in self._proxies.values():
            proxy.stop()
        self._proxies.clear()


class _ActingService:
    def __init__(self, acting: ActingRpc, service: str):
        self._acting, self._service = acting, service

    def __getattr__(self, method: str):
        return _ActingMethod(self._acting, self._service, method)


class _ActingMethod:
    def __init__(self, acting: ActingRpc, service: str, method: str):
        self._acting, self._service, self._method = acting, service, method

    def _target(self, payload):
        token = self._acting._token_for(payload)
        proxy = self._acting._proxy(token or None)
        return getattr(getattr(proxy, self._service), self._method)

    def __call__(self, payload=None, *args, **kwargs):
        return self._target(payload)(payload, *args, **kwargs)

    def call_async(self, payload=None, *args, **kwargs):
        return self._target(payload).call_async(payload, *args, **kwargs)


@pytest.fixture
def rpc(zhidu_config, tokens, people):
    """``rpc.<service>.<method>(payload)`` against the test's broker, with real tokens."""
    acting = ActingRpc(zhidu_config, tokens, people)
    yield acting
    acting.close()


class CommandNames(monitoring.CommandListener):
    """The names of the commands a database client sends, in order, as they
    start: what a call costs the database, held command by command. Connection
    upkeep is left out, or only the names in ``only`` are kept."""

    UPKEEP = frozenset({"hello", "ismaster", "isMaster", "ping", "endSessions", "buildInfo"})

    def __init__(self, only=None):
        self.only = frozenset(only) if only else None
        self.names: list[str] = []

    def started(self, event):
        name = event.command_name
        if name in self.only if self.only else name not in self.UPKEEP:
            self.names.append(name)

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


class EventTap:
    """Records every event published on the given exchanges, for assertions."""

    def __init__(self, amqp_uri: str, sources: list[str]):
        self.amqp_uri = amqp_uri
        self.queue_name = f"tap-{uuid.uuid4().hex[:8]}"
        self.sources = sources
        self.events: list[dict] = []

    def __enter__(self):
        self.conn = Connection(self.amqp_uri)
        channel = self.conn.channel()
        self.queue = Queue(self.queue_name, auto_delete=True, channel=channel)
        self.queue.declare()
        for source in self.sources:
            exchange = Exchange(f"{source}.events", type="topic", durable=True)
            exchange(channel).declare()
            self.queue.bind_to(exchange=exchange, routing_key="#")
        self.channel = channel
        return self

    def __exit__(self, *exc):
        self.conn.release()

    def drain(self) -> list[dict]:
        while True:
            message = self.queue.get(no_ack=True)
            if message is None:
                return self.events
            body = message.body
            self.events.append(json.loads(body) if isinstance(body, (bytes, str))
                               else message.payload)

    def of_type(self, event_type: str) -> list[dict]:
        return [e for e in self.drain() if e.get("type") == event_type]

    def wait(self, event_type: str, count: int = 1, timeout: float = 15.0) -> list[dict]:
        return wait_for(lambda: len(self.of_type(event_type)) >= count
                        and self.of_type(event_type), timeout,
                        message=f"{count} x {event_type}")


@contextmanager
def event_tap_for(config: dict, *sources):
    with EventTap(config["AMQP_URI"], list(sources)) as tap:
        yield tap


@pytest.fixture
def event_tap(zhidu_config):
    return lambda *sources: event_tap_for(zhidu_config, *sources)


def service_db(config: dict, service: str):
    """The service's own database, for tests that check what it stored."""
    from .config import database_name
    from .mongo import connect

    return connect(config["MONGO_URI"])[database_name(config, service)]


def publish_event(amqp_uri: str, envelope: dict, *, sender: str | None = "",
                  exchange: str | None = None) -> None:
    """Publish an envelope as its source service would: as the source's broker
    user, naming it in ``user_id``, persistent and confirmed.

    ``sender`` publishes as another service's user instead (a forgery), and
    ``sender=None`` as ``amqp_uri``'s own user without ``user_id``, as a
    stranger with the right to write the exchange would. ``exchange`` is the
    source whose exchange it goes to (default: the envelope's).
    """
    from nameko.amqp.publish import Publisher
    from nameko.standalone.events import get_event_exchange

    source, event_type = envelope["type"].split(".", 1)
    identity = {}
    if sender is not None:
        users = _BROKER_USERS
        if users is not None and users.manages(amqp_uri):
            amqp_uri = users.uri(amqp_uri, sender or source)
        identity["user_id"] = connection_user(amqp_uri)
    Publisher(amqp_uri, serializer="json", **identity).publish(
        envelope, exchange=get_event_exchange(exchange or source, {}), routing_key=event_type)


class ServiceProcess:
    """A service in its own OS process, as deployed, so a test can kill -9 it.

    It never outlives its test: a start that fails or is interrupted kills
    it, and on Linux it is killed with the test run itself (a run stopped
    with -9 or by a time limit runs no teardown).
    """

    def __init__(self, service: str, config: dict):
        self.service = service
        self.port = free_port()
        config = as_service(config, service)
        self.env = dict(os.environ, **{k: str(v) for k, v in config.items()},
                        WEB_SERVER_ADDRESS=f"127.0.0.1:{self.port}",
                        ZHIDU_LOG_LEVEL="WARNING")
        self.proc = None

    def start(self, timeout: float = 60.0) -> ServiceProcess:
        import signal

        import requests

        from .processes import die_with_parent

        self.proc = subprocess.Popen([sys.executable, "-m", "zhidu.serve", self.service],
                                     env=self.env, preexec_fn=die_with_parent(signal.SIGKILL))

        def healthy():
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.service} exited with {self.proc.returncode}")
            try:
                return requests.get(f"http://127.0.0.1:{self.port}/health",
                                    timeout=1).status_code == 200
            except requests.RequestException:
                return False

        try:
            wait_for(healthy, timeout, interval=0.2, message=f"{self.service} healthy")
        except BaseException:
            # Timed out, exited, or interrupted (Ctrl-C, a greenthread killed):
            # nobody holds a started service yet, so nobody else would stop it.
            self.kill()
            raise
        return self

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, unacked messages go back to the broker."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def service_process(zhidu_config):
    """``service_process(name, timeout=60, **config)`` starts a service in its own
    process; every one it started is killed when the test ends."""
    started = []

    def start(service: str, timeout: float = 60.0, **overrides) -> ServiceProcess:
        proc = ServiceProcess(service, dict(zhidu_config, **overrides))
        # Known before it starts: one whose start is cut short is killed too.
        started.append(proc)
        return proc.start(timeout)

    yield start
    failures = []
    for proc in started:
        try:
            proc.kill()
        except Exception as exc:  # the others are killed all the same
            failures.append(exc)
    if failures:
        raise failures[0]


class HttpReceiver:
    """An HTTP endpoint recording each POST; answers per path from a script.

    It stands for webhook receivers and SMS or chat gateways in tests; start it
    with ``start()`` (or use it as a context manager) and ``stop()`` it.
    """

    def __init__(self):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.received = []
        self.script = {}  # path → statuses to answer in turn; the last one repeats
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append({"path": self.path, "headers": dict(self.headers),
                                          "body": body})
                statuses = receiver.script.get(self.path, [200])
                status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def at(self, path):
        return [r for r in self.received if r["path"] == path]

    def start(self) -> HttpReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> HttpReceiver:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
