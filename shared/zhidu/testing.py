"""Pytest fixtures for tests that cross a service boundary.

They use the real parts: RabbitMQ (one fresh vhost per test, through nameko's
``rabbit_config``) and a MongoDB-wire server (``MONGO_URI``, or SecantusDB
started for the session), each test with its own database names.

Load with ``pytest_plugins = ["zhidu.testing"]`` after eventlet monkey-patching.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager

import pytest
from kombu import Connection, Exchange, Queue

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


@pytest.fixture
def zhidu_config(rabbit_config, mongo_uri):
    """Config for a test's services: own vhost, own databases, quick retries."""
    return {
        "AMQP_URI": rabbit_config["AMQP_URI"],
        "MONGO_URI": mongo_uri,
        "ZHIDU_DB_PREFIX": f"t{uuid.uuid4().hex[:10]}_",
        "ZHIDU_RETRY_DELAYS": "0.2,0.4",
        "ZHIDU_OUTBOX_INTERVAL": "0.5",
        "ZHIDU_CLAIM_LEASE": "3",
        "ZHIDU_SWEEP_INTERVAL": "3600",
    }


@pytest.fixture
def start_service(container_factory, zhidu_config):
    """``start_service(ServiceClass, **config)`` → a running container.

    Each container gets its own HTTP port; ``container.web_url`` points at it.
    """
    def start(service_cls, **overrides):
        port = free_port()
        config = dict(zhidu_config, WEB_SERVER_ADDRESS=f"127.0.0.1:{port}", **overrides)
        container = container_factory(service_cls, config)
        container.start()
        container.web_url = f"http://127.0.0.1:{port}"
        return container
    return start


@pytest.fixture
def rpc(zhidu_config):
    """``rpc.<service>.<method>(payload)`` against the test's broker."""
    from nameko.standalone.rpc import ClusterRpcProxy

    with ClusterRpcProxy(zhidu_config, timeout=30) as proxy:
        yield proxy


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


def publish_event(amqp_uri: str, envelope: dict) -> None:
    """Publish an envelope as its source service would (persistent, confirmed)."""
    from nameko.amqp.publish import Publisher
    from nameko.standalone.events import get_event_exchange

    source, event_type = envelope["type"].split(".", 1)
    Publisher(amqp_uri, serializer="json").publish(
        envelope, exchange=get_event_exchange(source, {}), routing_key=event_type)


class ServiceProcess:
    """A service in its own OS process, as deployed, so a test can kill -9 it."""

    def __init__(self, service: str, config: dict):
        self.service = service
        self.port = free_port()
        self.env = dict(os.environ, **{k: str(v) for k, v in config.items()},
                        WEB_SERVER_ADDRESS=f"127.0.0.1:{self.port}",
                        ZHIDU_LOG_LEVEL="WARNING")
        self.proc = None

    def start(self, timeout: float = 60.0) -> ServiceProcess:
        import requests

        self.proc = subprocess.Popen([sys.executable, "-m", "zhidu.serve", self.service],
                                     env=self.env)

        def healthy():
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.service} exited with {self.proc.returncode}")
            try:
                return requests.get(f"http://127.0.0.1:{self.port}/health",
                                    timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(healthy, timeout, interval=0.2, message=f"{self.service} healthy")
        return self

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, unacked messages go back to the broker."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def service_process(zhidu_config):
    started = []

    def start(service: str, **overrides) -> ServiceProcess:
        proc = ServiceProcess(service, dict(zhidu_config, **overrides)).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()
