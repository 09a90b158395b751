"""Each service's own broker user, and what the broker lets it do.

Every service connects to RabbitMQ as a user of its own, named after it
(``penalties``; ``ZHIDU_BROKER_USERS`` may say otherwise). That user may declare and
consume the service's own queues, bind them to the events exchanges, and
publish to three exchanges only: its own ``<service>.events``, its own
``zhidu.<service>.redelivery`` (retries, dead letters and replays; never the
default exchange, which would reach any queue by name) and ``nameko-rpc``,
where topic permissions allow RPC replies only — and requests as well for a
service that calls the others (the console). Binding on ``nameko-rpc`` is
limited to the service's own requests, so no service can listen in on
another's calls and their tokens, and an event a schema restricts to some
services (``restricted_to``) can be bound by those services alone.

Every message a service publishes carries the AMQP ``user_id`` of the user it
connected as, which RabbitMQ refuses to let anyone else claim; consumers
refuse an event whose ``user_id`` is not its source's user
(``zhidu.events``). Permissions stop a service writing another's exchange;
``user_id`` tells a consumer who really sent what it received, whatever the
route.

:func:`definitions` renders all this as RabbitMQ definitions. ``zhidu docs``
writes ``deploy/rabbitmq/definitions.json`` from the installed plugins,
without passwords; ``zhidu broker apply`` loads it into a broker through the
management API, with each user's password from
``ZHIDU_AMQP_PASSWORD_<SERVICE>`` (``zhidu deploy secrets`` makes them);
``zhidu run`` applies the same to a broker
it started itself, and the test harness to each test's vhost, with users of its
own that it removes afterwards.
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

DEFAULT_USERS = "{service}"
OFF = "off"
RPC_EXCHANGE = "nameko-rpc"
DEFINITIONS_FILE = "deploy/rabbitmq/definitions.json"
_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_NAME = "[a-z][a-z0-9_]*"


def redelivery_exchange_name(service: str) -> str:
    return f"zhidu.{service}.redelivery"


def users_pattern(config=None) -> str | None:
    """``ZHIDU_BROKER_USERS``: the pattern naming each service's broker user,
    or None when it is ``off`` (services sharing one user check no sender)."""
    from .config import setting

    pattern = str(setting(config, "ZHIDU_BROKER_USERS", DEFAULT_USERS)).strip()
    if pattern.lower() == OFF:
        return None
    if "{service}" not in pattern or re.search(r"\{(?!service\})", pattern):
        raise ValueError(f"ZHIDU_BROKER_USERS must name the user with {{service}} "
                         f"(like {DEFAULT_USERS}) or be {OFF}; got {pattern!r}")
    return pattern


def broker_user(pattern: str, service: str) -> str:
    return pattern.replace("{service}", service)


def connection_user(amqp_uri: str) -> str:
    """The user a connection to ``amqp_uri`` authenticates as (kombu's default: guest)."""
    return unquote(urlparse(amqp_uri).username or "") or "guest"


def with_user(amqp_uri: str, user: str, password: str, vhost: str | None = None) -> str:
    parts = urlparse(amqp_uri)
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    path = parts.path if vhost is None else "/" + quote(vhost, safe="")
    return f"{parts.scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{host}{port}{path}"


def vhost_of(amqp_uri: str) -> str:
    path = urlparse(amqp_uri).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def password_variable(service: str) -> str:
    return f"ZHIDU_AMQP_PASSWORD_{service.upper()}"


# -- what a service needs --------------------------------------------------------
@dataclass(frozen=True)
class Needs:
    """What a service does on the broker, beyond what every service does."""

    service: str
    calls: bool = False  # calls other services over RPC
    sources: frozenset[str] = field(default_factory=frozenset)


def needs_of(service_cls) -> Needs:
    """Read a nameko service class: the sources of its event handlers, and
    whether it keeps an RPC reply queue (it calls other services)."""
    from nameko.extensions import (
        ENTRYPOINT_EXTENSIONS_ATTR,
        is_dependency,
        iter_extensions,
    )
    from nameko.rpc import ReplyListener

    from .events import ReliableEventHandler

    sources, calls = set(), False
    for _, member in inspect.getmembers(service_cls):
        for entrypoint in getattr(member, ENTRYPOINT_EXTENSIONS_ATTR, ()) or ():
            if isinstance(entrypoint, ReliableEventHandler):
                sources.add(entrypoint.source_service)
        if is_dependency(member):
            calls = calls or any(isinstance(ext, ReplyListener)
                                 for ext in iter_extensions(member))
    return Needs(service_cls.name, calls, frozenset(sources))


def bindable_events(plugins) -> dict[str, dict[str, tuple[str, ...] | None]]:
    """Per source with restricted events: each event and who may bind it
    (None: anyone). Sources without restricted events are left out."""
    out = {}
    for plugin in plugins.values():
        schemas = plugin.load_event_schemas()
        events = {}
        for event in plugin.emits:
            only = getattr(schemas.get(event), "restricted_to", None)
            events[event] = None if only is None else tuple(only)
        if any(only is not None for only in events.values()):
            out[plugin.name] = events
    return out


# -- permissions -----------------------------------------------------------------
def _alternatives(*patterns: str) -> str:
    return "^(" + "|".join(patterns) + ")$"


def _literal(name: str) -> str:
    # Names here are lower-case letters, digits, "_", "-" and ".": only the dot
    # means anything in a pattern.
    return name.replace(".", r"\.")


def permissions(needs: Needs) -> dict[str, str]:
    """Configure, write and read patterns of a service's user (anchored: an
    unanchored RabbitMQ pattern matches anywhere in a name)."""
    s = _literal(needs.service)
    own_queues = [
        f"rpc-{s}",
        # nameko's pooled event handler queues and their retry delays
        rf"evt-{_NAME}-{_NAME}--{s}\.{_NAME}(\.delay\.[0-9]+ms)?",
        # nameko's broadcast handler queues: one per instance, exclusive
        rf"evt-{_NAME}-{_NAME}--{s}\.{_NAME}-[0-9a-f]{{32}}",
        rf"zhidu\.{s}\.dead_letters",
    ]
    if needs.calls:
        own_queues.append(rf"rpc\.reply-{s}-{_UUID}")
    own_exchanges = [rf"{s}\.events", _literal(redelivery_exchange_name(needs.service))]
    # nameko declares the RPC exchange on every start, so each service may
    # configure it; publishing on it is limited by topic permissions below.
    mine = [_literal(RPC_EXCHANGE), *own_exchanges, *own_queues]
    return {
        "configure": _alternatives(*mine),
        # Write on a queue is what binding it takes; publishing is to exchanges.
        "write": _alternatives(*mine),
        # Reading an exchange lets a service bind its own queues to it.
        "read": _alternatives(_literal(RPC_EXCHANGE), rf"{_NAME}\.events", *own_exchanges[1:],
                              *own_queues),
    }


def topic_permissions(needs: Needs, bindable: dict | None = None) -> list[dict]:
    """Routing keys: on ``nameko-rpc`` replies only (requests too for a caller),
    and its own requests bound; on a source with restricted events, only the
    events the service may bind, each by name (no wildcards)."""
    s = _literal(needs.service)
    rpc_write = [_UUID] + ([rf"{_NAME}\.{_NAME}"] if needs.calls else [])
    rpc_read = [rf"{s}\.\*"] + ([_UUID] if needs.calls else [])
    out = [{"exchange": RPC_EXCHANGE, "write": _alternatives(*rpc_write),
            "read": _alternatives(*rpc_read)}]
    for source, events in sorted((bindable or {}).items()):
        if source == needs.service:
            continue
        allowed = [_literal(event) for event, only in events.items()
                   if only is None or needs.service in only]
        out.append({"exchange": f"{source}.events", "write": "^$",
                    "read": _alternatives(*allowed) if allowed else "^$"})
    return out


def exchanges(service: str) -> list[dict]:
    """What a service publishes to, declared beforehand so that a consumer,
    which may not declare another's exchange, can bind to it."""
    return [{"name": f"{service}.events", "type": "topic"},
            {"name": redelivery_exchange_name(service), "type": "direct"}]


def definitions(services: list[Needs], *, vhost: str = "/", pattern: str = DEFAULT_USERS,
                passwords: dict[str, str] | None = None, bindable: dict | None = None,
                users: bool = True) -> dict:
    """RabbitMQ definitions for ``services`` in ``vhost``.

    A user with a password in ``passwords`` (by service) gets it; one without
    is written with no password, which logs nobody in until one is set.
    ``users=False`` leaves the users out (they exist already).
    """
    services = sorted(services, key=lambda n: n.service)
    declared = [{"name": RPC_EXCHANGE, "type": "topic"}]
    for needs in services:
        declared += exchanges(needs.service)
    doc = {
        "users": [],
        "vhosts": [{"name": vhost}],
        "permissions": [{"user": broker_user(pattern, n.service), "vhost": vhost,
                         **permissions(n)} for n in services],
        "topic_permissions": [{"user": broker_user(pattern, n.service), "vhost": vhost, **t}
                              for n in services for t in topic_permissions(n, bindable)],
        "exchanges": [{**e, "vhost": vhost, "durable": True, "auto_delete": False,
                       "internal": False, "arguments": {}} for e in declared],
    }
    if users:
        for needs in services:
            user = {"name": broker_user(pattern, needs.service), "tags": []}
            password = (passwords or {}).get(needs.service)
            if password:
                user["password"] = password
            else:
                user.update(password_hash="", hashing_algorithm="rabbit_password_hashing_sha256")
            doc["users"].append(user)
    else:
        del doc["users"]
    return doc


def suite_needs(plugins) -> list[Needs]:
    return [needs_of(plugin.load_class()) for plugin in plugins.values()]


def suite_definitions(plugins, **kwargs) -> dict:
    return definitions(suite_needs(plugins), bindable=bindable_events(plugins), **kwargs)


def deployment_files(plugins) -> dict[str, str]:
    """``deploy/rabbitmq/definitions.json``: every service's user (no
    passwords), permissions and exchanges, for ``zhidu broker apply``."""
    doc = suite_definitions(plugins)
    return {DEFINITIONS_FILE: json.dumps(doc, indent=2, sort_keys=True) + "\n"}


COMPOSE_JOB = "broker-users"


def compose_job(image_service: str, uid: int) -> list[str]:
    """The compose service that loads the definitions into the suite's broker
    (any service's image has ``zhidu``); the services start once it has run."""
    return [
        f"  {COMPOSE_JOB}:",
        "    # Each service's broker user with its password from secrets/rabbitmq.env,",
        "    # its permissions and the exchanges (rabbitmq/definitions.json).",
        "    build:",
        "      context: ..",
        f"      dockerfile: services/{image_service}/Dockerfile",
        "    command: [\"zhidu\", \"broker\", \"apply\", \"/etc/zhidu/rabbitmq/definitions.json\"]",
        "    env_file: [secrets/rabbitmq.env]",
        "    environment:",
        "      AMQP_URI: amqp://rabbitmq:5672/",
        "      ZHIDU_BROKER_ADMIN_URL: http://rabbitmq:15672",
        "    volumes: [\"./rabbitmq:/etc/zhidu/rabbitmq:ro\"]",
        f"    user: \"{uid}:{uid}\"",
        "    read_only: true",
        "    cap_drop: [ALL]",
        "    security_opt: [\"no-new-privileges:true\"]",
        "    depends_on: [rabbitmq]",
        "    restart: on-failure",
    ]


def compose_depends_on() -> list[str]:
    """A service's ``depends_on``: its users must exist before it connects."""
    return ["    depends_on:",
            "      rabbitmq: {condition: service_started}",
            "      mongo: {condition: service_started}",
            f"      {COMPOSE_JOB}: {{condition: service_completed_successfully}}"]


def with_passwords(doc: dict, passwords: dict[str, str]) -> dict:
    """``doc`` with each user's password from ``passwords`` (by user name)."""
    doc = json.loads(json.dumps(doc))
    for user in doc.get("users", []):
        password = passwords.get(user["name"])
        if password:
            user.pop("password_hash", None)
            user.pop("hashing_algorithm", None)
            user["password"] = password
    return doc


# -- the management API ----------------------------------------------------------
class Management:
    """RabbitMQ's management HTTP API, as an administrator."""

    def __init__(self, url: str, user: str = "guest", password: str = "guest",
                 timeout: float = 30.0):
        import requests

        parts = urlparse(url)
        if parts.username:
            user, password = unquote(parts.username), unquote(parts.password or "")
            netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
            url = parts._replace(netloc=netloc).geturl()
        self.base = url.rstrip("/") + "/api"
        self.session = requests.Session()
        self.session.auth = (user, password)
        self.timeout = timeout

    @classmethod
    def for_broker(cls, amqp_uri: str, api_url: str | None = None,
                   timeout: float = 30.0) -> Management:
        """The API beside the broker of ``amqp_uri``, with its credentials,
        unless ``api_url`` (``http://user:password@host:15672``) says otherwise."""
        parts = urlparse(amqp_uri)
        url = api_url or f"http://{parts.hostname or 'localhost'}:15672"
        return cls(url, connection_user(amqp_uri), unquote(parts.password or "") or "guest",
                   timeout=timeout)

    def _call(self, method: str, path: str, **kwargs):
        response = self.session.request(method, f"{self.base}/{path}",
                                        timeout=self.timeout, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def answers(self) -> bool:
        try:
            self._call("GET", "overview")
            return True
        except Exception:  # not up (yet), or not ours to ask
            return False

    def nodes(self) -> list[str]:
        """``<node> <os pid>`` of each running node: who this broker is."""
        return sorted(f"{n['name']} {n.get('os_pid')}" for n in self._call("GET", "nodes"))

    def users(self) -> set[str]:
        return {user["name"] for user in self._call("GET", "users")}

    def load(self, doc: dict) -> None:
        """Add (or update) what ``doc`` defines; nothing else is touched."""
        self._call("POST", "definitions", json=doc)

    def delete_users(self, names) -> None:
        names = sorted(names)
        if names:
            self._call("POST", "users/bulk-delete", json={"users": names})


# -- zhidu broker ----------------------------------------------------------------
def _passwords_from_env(doc: dict, pattern: str) -> dict[str, str]:
    """Each user's password from ``ZHIDU_AMQP_PASSWORD_<SERVICE>``."""
    prefix, _, suffix = pattern.partition("{service}")
    out, missing = {}, []
    for user in doc.get("users", []):
        name = user["name"]
        service = name[len(prefix):len(name) - len(suffix)]
        value = os.environ.get(password_variable(service))
        if value:
            out[name] = value
        else:
            missing.append(password_variable(service))
    if missing:
        raise SystemExit("no password in the environment for " + ", ".join(missing)
                         + " (`zhidu deploy secrets` writes them to deploy/secrets/rabbitmq.env)")
    return out


def admin_api(amqp_uri: str, api_url: str | None = None) -> Management:
    """The management API as the broker's administrator: the credentials in
    ``api_url``, else ``RABBITMQ_DEFAULT_USER``/``RABBITMQ_DEFAULT_PASS`` (the
    broker image's own), else those of ``amqp_uri``."""
    api = Management.for_broker(amqp_uri, api_url)
    if not (api_url and urlparse(api_url).username) and os.environ.get("RABBITMQ_DEFAULT_USER"):
        api.session.auth = (os.environ["RABBITMQ_DEFAULT_USER"],
                            os.environ.get("RABBITMQ_DEFAULT_PASS", ""))
    return api


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="zhidu broker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    apply = sub.add_parser("apply", help="load the definitions into a broker, each user "
                                         "with its password from ZHIDU_AMQP_PASSWORD_<SERVICE>")
    apply.add_argument("file", nargs="?", default=DEFINITIONS_FILE)
    apply.add_argument("--api", default=os.environ.get("ZHIDU_BROKER_ADMIN_URL"),
                       help="the management API, http://host:15672 (env "
                            "ZHIDU_BROKER_ADMIN_URL; default: beside AMQP_URI)")
    apply.add_argument("--wait", type=float, default=120.0,
                       help="seconds to wait for the management API to answer")
    show = sub.add_parser("definitions", help="print the installed services' definitions "
                                              "(users named by ZHIDU_BROKER_USERS)")
    show.add_argument("--vhost", default="/")
    args = parser.parse_args(argv)

    from .config import setting
    from .plugins import discover

    pattern = users_pattern(None) or DEFAULT_USERS
    if args.action == "definitions":
        print(json.dumps(suite_definitions(discover(), vhost=args.vhost, pattern=pattern),
                         indent=2, sort_keys=True))
        return 0
    doc = json.loads(Path(args.file).read_text(encoding="utf-8"))
    doc = with_passwords(doc, _passwords_from_env(doc, pattern))
    api = admin_api(setting(None, "AMQP_URI"), args.api)
    deadline = time.monotonic() + args.wait
    while not api.answers():
        if time.monotonic() > deadline:
            raise SystemExit(f"the management API at {api.base} did not answer")
        time.sleep(2)
    api.load(doc)
    print(f"loaded {len(doc.get('users', []))} users and {len(doc.get('exchanges', []))} "
          f"exchanges into {api.base}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
