"""A RabbitMQ node of the tests' own: to stop and restart, or to manage.

The machine's broker (``rabbit@localhost`` on 5672) serves every other test
and must never go down or be reconfigured, so restart tests run Debian's
``rabbitmq-server`` a second time under another node name, with its own AMQP
and distribution ports and its own data, log, plugin and configuration files
in a temporary directory. The same node, with its management API and
Prometheus endpoint on ports of its own, stands in for the machine's broker
when that broker has no management API: the tests make a vhost and broker
users per run, which only the management API can do, and enabling a plugin on
a broker the suite did not start is not the suite's to do.

None of the machine's ``/etc/rabbitmq`` files are read: its ``rabbitmq.conf``
names port 5672 and its ``enabled_plugins`` the management listener on 15672,
both of which would collide. The node also gets its own Erlang cookie
(through ``HOME``), so nothing is written to the caller's home and the
machine's node cannot be addressed with it, and its own port mapper (epmd) on
a port of its own, so it neither registers with the machine's nor leaves a
daemon behind on a machine that had none.

The node runs in the foreground as a child of the test, in a session of its
own; stopping it signals that child by its pid (the start script's trap stops
the Erlang VM cleanly), and a restart starts it again on the same data
directory, so durable queues and persistent messages survive as they would on
a real broker.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from .processes import die_with_parent

SCRIPTS = Path("/usr/lib/rabbitmq/bin")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def available() -> bool:
    return ((SCRIPTS / "rabbitmq-server").exists() and shutil.which("erl") is not None
            and shutil.which("epmd") is not None)


class RabbitNode:
    """``with RabbitNode() as node:`` → ``node.amqp_uri``; ``node.restart()``."""

    def __init__(self, start_timeout: float = 90.0, management: bool = False):
        self.management = management
        self.api_port = _free_port() if management else None
        self.metrics_port = _free_port() if management else None
        self.name = f"zhidu-test-{uuid.uuid4().hex[:8]}@localhost"
        self.port = _free_port()
        self.dist_port = _free_port()
        self.start_timeout = start_timeout
        self.base = Path(tempfile.mkdtemp(prefix="zhidu-test-rabbit-"))
        self.epmd_port = _free_port()
        self.proc: subprocess.Popen | None = None
        self.epmd: subprocess.Popen | None = None
        self.amqp_uri = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self._prepare()

    def _prepare(self) -> None:
        home = self.base / "home"
        home.mkdir()
        cookie = home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(20).upper())
        cookie.chmod(0o400)
        plugins = "rabbitmq_management,rabbitmq_prometheus" if self.management else ""
        (self.base / "enabled_plugins").write_text(f"[{plugins}].\n")
        (self.base / "rabbitmq-env.conf").write_text("")
        listeners = ""
        if self.management:
            listeners = (
                f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {self.api_port}\n"
                f"prometheus.tcp.ip = 127.0.0.1\nprometheus.tcp.port = {self.metrics_port}\n")
        (self.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\n" + listeners +
            # A test machine's disk may be nearly full of other tests' data;
            # the default 50 MB alarm would block publishers for reasons
            # that have nothing to do with the test.
            "disk_free_limit.absolute = 1MB\n"
            "log.console = true\nlog.console.level = warning\nlog.file = false\n")
        self.env = dict(
            os.environ,
            HOME=str(home),
            RABBITMQ_NODENAME=self.name,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=str(self.base / "mnesia"),
            RABBITMQ_LOG_BASE=str(self.base / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(self.base / "enabled_plugins"),
            RABBITMQ_CONF_ENV_FILE=str(self.base / "rabbitmq-env.conf"),
            RABBITMQ_CONFIG_FILE=str(self.base / "rabbitmq.conf"),
            RABBITMQ_ADVANCED_CONFIG_FILE=str(self.base / "advanced.config"),
            RABBITMQ_PLUGINS_EXPAND_DIR=str(self.base / "plugins-expand"),
            RABBITMQ_PID_FILE=str(self.base / "node.pid"),
            # What the machine's rabbitmq-env.conf would have said: epmd and
            # the distribution listen on the loopback interface only.
            ERL_EPMD_ADDRESS="127.0.0.1",
            ERL_EPMD_PORT=str(self.epmd_port),
            ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}",
        )
        for leaked in ("RABBITMQ_CONFIG_FILES", "RABBITMQ_ENABLED_PLUGINS",
                       "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"):
            self.env.pop(leaked, None)

    # -- life cycle ------------------------------------------------------------
    def _start_epmd(self) -> None:
        """The node's port mapper, in the foreground, so it ends when we end it."""
        if self.epmd is not None and self.epmd.poll() is None:
            return
        self.epmd = subprocess.Popen(
            [shutil.which("epmd") or "epmd", "-port", str(self.epmd_port),
             "-address", "127.0.0.1"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent(signal.SIGKILL))
        deadline = time.monotonic() + 10
        while not _answers(self.epmd_port):
            if self.epmd.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the test node's epmd did not start")
            time.sleep(0.05)

    def start(self) -> RabbitNode:
        if _answers(self.port):
            raise RuntimeError(f"port {self.port} is taken; not starting a second node on it")
        self._start_epmd()
        log = open(self.base / "console.log", "ab")  # noqa: SIM115 - closed with the node
        try:
            self.proc = subprocess.Popen(
                [str(SCRIPTS / "rabbitmq-server")], env=self.env, cwd=self.base,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                # A run killed with -9 runs no teardown: the start script's
                # trap stops the VM when the run is gone.
                start_new_session=True, preexec_fn=die_with_parent(signal.SIGTERM))
        finally:
            log.close()
        deadline = time.monotonic() + self.start_timeout
        while not self._ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"the test's RabbitMQ node exited with "
                                   f"{self.proc.returncode}:\n{self.console_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the test's RabbitMQ node did not start within "
                                   f"{self.start_timeout:.0f}s:\n{self.console_tail()}")
            time.sleep(0.2)
        return self

    @property
    def api_uri(self) -> str | None:
        return f"http://guest:guest@127.0.0.1:{self.api_port}" if self.management else None

    def _ready(self) -> bool:
        """Accepting AMQP, not just the TCP connection (the listener opens before boot ends)."""
        if not _answers(self.port):
            return False
        if self.management and not _answers(self.api_port):
            return False
        from kombu import Connection

        try:
            with Connection(self.amqp_uri, connect_timeout=2) as conn:
                conn.ensure_connection(max_retries=1)
            return True
        except Exception:
            return False

    def stop(self, timeout: float = 60.0) -> None:
        """A clean shutdown, as an operator's restart or a rolling upgrade does it."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._wait_port_closed()

    def kill(self) -> None:
        """Everything the node started (the VM, its port helpers), at once."""
        proc = self.proc
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the session this node was started in
        except ProcessLookupError:
            pass
        proc.wait(10)
        self._wait_port_closed()

    def restart(self) -> None:
        self.stop()
        self.start()

    def _wait_port_closed(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while _answers(self.port) and time.monotonic() < deadline:
            time.sleep(0.1)

    def console_tail(self, lines: int = 30) -> str:
        try:
            text = (self.base / "console.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        try:
            self.stop()
        finally:
            if self.proc is not None and self.proc.poll() is None:
                self.kill()
            if self.epmd is not None and self.epmd.poll() is None:
                self.epmd.terminate()
                try:
                    self.epmd.wait(10)
                except subprocess.TimeoutExpired:
                    self.epmd.kill()
                    self.epmd.wait(10)
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> RabbitNode:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc) -> None:
        self.close()
