"""A broker or database restart in the middle of a steady load loses and doubles nothing.

The chain — inspection → dormitory.violation_recorded → penalties books →
penalties.penalty_issued → an inbox item — runs under a steady load of
inspections over REST while the test restarts the broker (a RabbitMQ node of
its own, never the machine's) or the database (a SecantusDB of its own, on
the same port and data directory after the restart). The services are real
processes and are not touched: they must notice, say so on ``/health``, and
carry on by themselves. At the end every inspection has exactly one ledger
entry and one inbox item, nothing sits in a dead-letter queue and every
outbox is drained.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta

import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from zhidu import rabbit_node
from zhidu.launcher import answers
from zhidu.testing import free_port, service_db, wait_for
from zhidu.times import UTC

from .scene import (
    Rest,
    SteadyInspections,
    Suite,
    base_config,
    dead_letters,
    house,
    ledger_entries_twice,
    operator_token,
    upsert_people,
)

pytestmark = pytest.mark.integration

CHAIN = {"directory": 1, "dormitory": 1, "penalties": 1, "notifications": 1}
RESIDENTS = [f"R{i:02d}" for i in range(12)]
INSPECTIONS = 80
RATE = 4.0  # inspections a second: well under what the chain takes, so it is steady
# Inspections fall on a day long past, a minute apart: the penalty month is fixed.
FIRST = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def _scene(suite: Suite) -> tuple[Rest, dict[str, str]]:
    rest = Rest(suite, operator_token(suite.config))
    # No reporting line: each violation books exactly one (individual) ledger entry.
    upsert_people(rest, [{"employee_id": r, "department": "property", "unit": "north"}
                         for r in RESIDENTS])
    return rest, house(rest, RESIDENTS)


def _statuses(suite: Suite) -> dict[str, tuple]:
    return {f"{h['service']}:{port}": (h.get("http"), h.get("status"), h.get("checks"))
            for port, h in suite.health().items()}


def _wait_health(suite: Suite, ready, timeout: float, what: str) -> dict:
    """Until every process has answered ``ready`` once; a busy one may answer late."""
    seen: dict[int, dict] = {}

    def everyone():
        for port, report in suite.health().items():
            if port not in seen and ready(report):
                seen[port] = report
        return len(seen) == len(suite.all())
    try:
        wait_for(everyone, timeout=timeout, interval=0.3, message=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last: {_statuses(suite)}") from None
    return seen


def _degraded(check: str):
    return lambda h: (h.get("http") == 503 and h.get("status") == "degraded"
                      and (h.get("checks") or {}).get(check, "ok") != "ok")


def _ok(h: dict) -> bool:
    return h.get("http") == 200 and h.get("status") == "ok"


def _assert_every_inspection_booked_and_told_once(config: dict, load: SteadyInspections):
    violations = load.violations()
    assert len(load.landed) == INSPECTIONS and len(violations) == INSPECTIONS
    ledger = service_db(config, "penalties")
    inbox = service_db(config, "notifications").inbox

    wait_for(lambda: ledger.entries.count_documents({}) >= INSPECTIONS
             and inbox.count_documents({}) >= INSPECTIONS, timeout=60, interval=0.5,
             message=f"{INSPECTIONS} ledger entries and inbox items")
    for service in ("dormitory", "penalties"):
        wait_for(lambda s=service: service_db(config, s).outbox.count_documents({}) == 0,
                 timeout=30, message=f"{service}'s outbox drained")
    # Whatever arrives late would show up now.
    time.sleep(2)

    entries = list(ledger.entries.find({}, {"incident_id": 1, "employee_id": 1, "share": 1}))
    assert ledger_entries_twice(config) == {}
    assert sorted(e["incident_id"] for e in entries) == sorted(violations)
    assert all(violations[e["incident_id"]] == e["employee_id"] for e in entries)

    items = list(inbox.find({}, {"recipient_id": 1, "event_id": 1, "event_type": 1}))
    assert {i["event_type"] for i in items} == {"penalties.penalty_issued"}
    assert len({i["event_id"] for i in items}) == len(items) == INSPECTIONS
    per_resident = {r: 0 for r in RESIDENTS}
    for item in items:
        per_resident[item["recipient_id"]] += 1
    expected = {r: 0 for r in RESIDENTS}
    for resident in violations.values():
        expected[resident] += 1
    assert per_resident == expected

    assert dead_letters(config["AMQP_URI"], CHAIN) == {s: 0 for s in CHAIN}


def _rpc_answers(config: dict, token: str) -> dict:
    """Every service answers RPC again: its consumers reconnected by themselves."""
    with ClusterRpcProxy(config, timeout=20,
                         context_data={"authorization": f"Bearer {token}"}) as rpc:
        return {name: getattr(rpc, name).health({})["status"] for name in CHAIN}


# -- the broker -----------------------------------------------------------------------

@pytest.fixture
def own_broker():
    if not rabbit_node.available():
        pytest.skip("Debian's rabbitmq-server is not installed")
    with rabbit_node.RabbitNode() as node:
        yield node


def test_a_broker_restart_mid_stream_loses_and_doubles_nothing(own_broker, mongo_uri,
                                                                zhidu_key_dir):
    # Retries long enough to outlast the restart, as production's (1 s ... 10 min) do.
    config = base_config(own_broker.amqp_uri, mongo_uri, zhidu_key_dir,
                         ZHIDU_RETRY_DELAYS="0.5,1,2,4,8")
    with Suite(config) as suite:
        suite.start(CHAIN)
        rest, rooms = _scene(suite)
        ledger = service_db(config, "penalties").entries
        load = SteadyInspections(rest, rooms, FIRST, RATE).start(INSPECTIONS)
        try:
            wait_for(lambda: ledger.count_documents({}) >= INSPECTIONS // 5, timeout=30,
                     message="the chain flowing before the restart")
            own_broker.stop()
            stopped_at, landed_at_stop = time.monotonic(), len(load.landed)
            down = _wait_health(suite, _degraded("broker"), 20,
                                "every service reporting the broker away")
            # Inspections keep landing over REST while the broker is away; their
            # events wait in the dormitory's outbox.
            wait_for(lambda: len(load.landed) > landed_at_stop + 4
                     and time.monotonic() - stopped_at > 4,
                     timeout=20, message="inspections landing without the broker")
            booked_while_down = ledger.count_documents({})
            landed_while_down = len(load.landed)
            own_broker.start()
            _wait_health(suite, _ok, 60, "every service healthy again")
        except BaseException:
            load.abandon()
            raise
        load.finish()
        assert booked_while_down < INSPECTIONS
        assert landed_while_down < INSPECTIONS
        assert all(h["checks"]["mongo"] == "ok" for h in down.values())

        _assert_every_inspection_booked_and_told_once(config, load)
        assert set(_rpc_answers(config, operator_token(config)).values()) == {"ok"}


# -- the database ---------------------------------------------------------------------

class OwnDatabase:
    """A SecantusDB the test may stop and start again on the same port and data."""

    def __init__(self):
        self.port = free_port()
        self.data = tempfile.mkdtemp(prefix="zhidu-test-restart-db-")
        self.uri = f"mongodb://127.0.0.1:{self.port}/"
        self.proc = None

    def start(self, timeout: float = 60) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "secantus", "--host", "127.0.0.1", "--port",
             str(self.port), "--storage-path", self.data, "--log-level", "WARNING"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not answers("127.0.0.1", self.port, 0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the test's database did not start")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        deadline = time.monotonic() + 10
        while answers("127.0.0.1", self.port, 0.2) and time.monotonic() < deadline:
            time.sleep(0.1)

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.data, ignore_errors=True)


@pytest.fixture
def own_database():
    database = OwnDatabase()
    try:
        database.start()
        yield database
    finally:
        database.close()


def test_a_database_restart_mid_stream_loses_and_doubles_nothing(own_database, rabbit_config,
                                                                  zhidu_key_dir):
    config = base_config(rabbit_config["AMQP_URI"], own_database.uri, zhidu_key_dir,
                         ZHIDU_RETRY_DELAYS="0.5,1,2,4,8,16")
    with Suite(config) as suite:
        suite.start(CHAIN)
        rest, rooms = _scene(suite)
        ledger = service_db(config, "penalties").entries
        load = SteadyInspections(rest, rooms, FIRST + timedelta(days=1), RATE)
        load.start(INSPECTIONS)
        try:
            wait_for(lambda: ledger.count_documents({}) >= INSPECTIONS // 5, timeout=30,
                     message="the chain flowing before the restart")
            own_database.stop()
            stopped_at, sent_at_stop = time.monotonic(), len(load.sent)
            down = _wait_health(suite, _degraded("mongo"), 30,
                                "every service reporting the database away")
            # Calls go on arriving while the database is away: they wait or
            # fail, and a failed one is sent again.
            wait_for(lambda: time.monotonic() - stopped_at > 4, timeout=10)
            sent_while_down = len(load.sent) - sent_at_stop
            own_database.start()
            _wait_health(suite, _ok, 60, "every service healthy again")
        except BaseException:
            load.abandon()
            raise
        load.finish()
        assert all(h["checks"]["broker"] == "ok" for h in down.values())
        assert sent_while_down > 0 and sent_at_stop < INSPECTIONS

        _assert_every_inspection_booked_and_told_once(config, load)
