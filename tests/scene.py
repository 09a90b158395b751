"""What the replica and restart tests share.

Services run as real processes (``python -m zhidu.serve``), several of a kind
when a test asks, and are called over REST with real tokens, each call going
to the next replica in turn as a Kubernetes Service spreads them. REST keeps
working while the broker is away, so a load can go on through a broker
restart. The checks at the end are about facts, not messages: delivery is at
least once, so an event may cross the wire twice under one id; what must
never happen is one fact (a violation booked, a clock warned, a month
published) under two ids, or a fact missing.
"""
from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from datetime import datetime, timedelta

import eventlet
import requests
from kombu import Connection, Queue
from zhidu.events import dead_letter_queue_name
from zhidu.testing import ServiceProcess, service_db, wait_for
from zhidu.times import UTC

STATEFUL = ("directory", "complaints", "attendance", "dormitory", "penalties", "notifications")

# The operator who sets the scene: the clerical roles, every scope.
OPERATOR_ROLES = ("hr", "gm_office", "dorm_admin", "inspector", "attendance_clerk",
                  "it_admin")


def base_config(amqp_uri: str, mongo_uri: str, key_dir: str, **overrides) -> dict:
    """A test's services: its own databases, quick retries and relays."""
    return {
        "AMQP_URI": amqp_uri,
        "MONGO_URI": mongo_uri,
        "ZHIDU_DB_PREFIX": f"t{uuid.uuid4().hex[:10]}_",
        "ZHIDU_RETRY_DELAYS": "0.2,0.4",
        "ZHIDU_OUTBOX_INTERVAL": "0.5",
        "ZHIDU_CLAIM_LEASE": "3",
        "ZHIDU_SWEEP_INTERVAL": "3600",
        "ZHIDU_KEY_DIR": key_dir,
        "ZHIDU_IDENTITY_CACHE_SECONDS": "0",
        **overrides,
    }


class ApiError(Exception):
    """A REST call answered with an error status."""

    def __init__(self, status: int, body: str):
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


class Suite:
    """Service processes by name, started together; stopped by pid, always."""

    def __init__(self, config: dict):
        self.config = config
        self.procs: dict[str, list[ServiceProcess]] = defaultdict(list)
        self._turns: dict[str, itertools.cycle] = {}

    def start(self, replicas: dict[str, int], overrides: dict[str, dict] | None = None,
              timeout: float = 120.0) -> list[ServiceProcess]:
        """Start every process at once (they take seconds each to import)."""
        overrides = overrides or {}
        fresh = []
        for name, count in replicas.items():
            for _ in range(count):
                proc = ServiceProcess(name, dict(self.config, **overrides.get(name, {})))
                self.procs[name].append(proc)
                fresh.append(proc)
        starting = [eventlet.spawn(proc.start, timeout) for proc in fresh]
        failed = []
        for proc, thread in zip(fresh, starting, strict=True):
            try:
                thread.wait()
            except Exception as exc:  # wait for the others before reporting
                failed.append(f"{proc.service}: {exc}")
        if failed:
            raise AssertionError("did not start: " + "; ".join(failed))
        # /health answers before the consumers are bound; an event published
        # in between would find no queue of theirs yet.
        for name in replicas:
            wait_for(lambda n=name: self.consumers(n) >= len(self.procs[n]), timeout,
                     interval=0.2, message=f"every {name} consuming")
        self._turns.clear()
        return fresh

    def consumers(self, service: str) -> int:
        """Processes consuming the service's RPC queue, bound with its event queues."""
        with Connection(self.config["AMQP_URI"]) as conn:
            channel = conn.channel()
            try:
                return channel.queue_declare(f"rpc-{service}", passive=True)[2]
            except Exception:  # not declared yet
                return 0
            finally:
                try:
                    channel.close()
                except Exception:  # already closed by the broker's refusal
                    pass

    def retire(self, proc: ServiceProcess) -> None:
        """A clean stop, as a rolling update does it; the process leaves the rotation."""
        proc.stop()
        self.procs[proc.service].remove(proc)
        self._turns.clear()

    def url(self, service: str) -> str:
        if service not in self._turns:
            self._turns[service] = itertools.cycle(list(self.procs[service]))
        return f"http://127.0.0.1:{next(self._turns[service]).port}"

    def all(self) -> list[ServiceProcess]:
        return [p for procs in self.procs.values() for p in procs]

    def health(self, timeout: float = 20.0) -> dict[int, dict]:
        """Every process's ``GET /health`` body (or the error), by port, asked at once."""
        def ask(proc):
            try:
                reply = requests.get(f"http://127.0.0.1:{proc.port}/health", timeout=timeout)
                return proc.port, dict(reply.json(), http=reply.status_code,
                                       service=proc.service)
            except (requests.RequestException, ValueError) as exc:
                return proc.port, {"service": proc.service, "error": repr(exc)}
        return dict(eventlet.GreenPool(32).imap(ask, self.all()))

    def close(self) -> None:
        for proc in self.all():
            proc.kill()

    def __enter__(self) -> Suite:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Rest:
    """REST calls with a real bearer token, spread over a service's replicas."""

    def __init__(self, suite: Suite, token: str):
        self.suite = suite
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, service: str, path: str, body: dict | None = None,
             base: str | None = None, timeout: float = 30.0):
        url = f"{base or self.suite.url(service)}/api/v1/{service}{path}"
        reply = requests.request(method, url, json=body, headers=self.headers, timeout=timeout)
        if reply.status_code >= 300:
            raise ApiError(reply.status_code, reply.text)
        return reply.json()

    def until_known(self, method: str, service: str, path: str, body: dict,
                    timeout: float = 30.0):
        """A call that needs a copy another service's event brings: retried on 404."""
        result = {}

        def attempt():
            try:
                result["reply"] = self.call(method, service, path, body)
                return True
            except ApiError as exc:
                if exc.status == 404:
                    return False
                raise
        wait_for(attempt, timeout, interval=0.2, message=f"{method} {service}{path}")
        return result["reply"]


def operator_token(config: dict) -> str:
    from zhidu.identity import issue_token

    return issue_token(config, "svc:test-operator", roles=OPERATOR_ROLES, scopes=("*",),
                       ttl=3600)


# -- the dormitory chain: inspection → violation → penalty → inbox ---------------------

ROOM_BEDS = 4


def upsert_people(rest: Rest, people: list[dict]) -> None:
    for person in people:
        fields = {k: v for k, v in person.items() if k != "employee_id"}
        rest.call("PUT", "directory", f"/employees/{person['employee_id']}",
                  {"name": person["employee_id"], "gender": "M", **fields})


def house(rest: Rest, residents: list[str], building: str = "A",
          since: str = "2026-01-01T09:00:00+08:00") -> dict[str, str]:
    """Rooms of four for the residents (already in the directory); resident → room."""
    rooms = {}
    for n in range(0, len(residents), ROOM_BEDS):
        room_no = f"{100 + n // ROOM_BEDS}"
        rest.call("POST", "dormitory", "/rooms", {"building": building, "room_no": room_no,
                                                  "capacity": ROOM_BEDS, "gender": "M"})
        for resident in residents[n:n + ROOM_BEDS]:
            rest.until_known("POST", "dormitory", "/beds/assign", {
                "employee_id": resident, "building": building, "room_no": room_no,
                "at": since})
            rooms[resident] = room_no
    return rooms


def inspection(resident: str, room_no: str, at: datetime, building: str = "A") -> dict:
    """One finding (D16, smoking) against one resident: one violation, one penalty."""
    return {"building": building, "room_no": room_no, "inspector_id": "INS",
            "at": at.isoformat(), "findings": [{"code": "D16", "employee_ids": [resident]}]}


class SteadyInspections:
    """Inspections at a steady pace; a call that fails is sent again until it lands.

    The same inspection (room, inspector, moment) is the same record, so a
    repeat after a failure that did land is recognised, not doubled: that is
    what a careful client does, and what the suite promises it may do.
    """

    def __init__(self, rest: Rest, rooms: dict[str, str], first: datetime, rate: float,
                 spacing: timedelta = timedelta(minutes=1)):
        self.rest, self.rooms, self.first, self.rate = rest, rooms, first, rate
        self.spacing = spacing
        self.residents = sorted(rooms)
        self.sent: dict[int, dict] = {}
        self.landed: dict[int, dict] = {}
        self.failures: list[str] = []
        self._stop = False
        self._pool = eventlet.GreenPool(50)
        self._runner = None

    def payload(self, n: int) -> dict:
        resident = self.residents[n % len(self.residents)]
        return inspection(resident, self.rooms[resident], self.first + n * self.spacing)

    def _one(self, n: int) -> None:
        body = self.sent[n] = self.payload(n)
        for attempt in itertools.count():
            try:
                self.landed[n] = self.rest.call("POST", "dormitory", "/inspections", body)
                return
            except (ApiError, requests.RequestException) as exc:
                self.failures.append(f"{n}: {exc}"[:200])
                eventlet.sleep(min(0.25 * 2 ** attempt, 4.0))  # back off, as clients should

    def _run(self, count: int) -> None:
        started = eventlet.hubs.get_hub().clock()
        n = 0
        while not self._stop and n < count:
            delay = started + n / self.rate - eventlet.hubs.get_hub().clock()
            if delay > 0:
                eventlet.sleep(delay)
            self._pool.spawn(self._one, n)
            n += 1

    def start(self, count: int) -> SteadyInspections:
        self._runner = eventlet.spawn(self._run, count)
        return self

    def finish(self, timeout: float = 120.0) -> None:
        """Until every inspection was sent and landed."""
        try:
            with eventlet.Timeout(timeout):
                if self._runner is not None:
                    self._runner.wait()
                self._pool.waitall()
        except eventlet.Timeout:
            missing = sorted(set(self.sent) - set(self.landed))
            raise AssertionError(f"{len(missing)} inspection(s) never landed, e.g. "
                                 f"{missing[:5]}; last failures: {self.failures[-5:]}") from None

    def abandon(self) -> None:
        """Stop at once (the test failed already): calls in flight are dropped."""
        self._stop = True
        if self._runner is not None:
            self._runner.kill()
        for thread in list(self._pool.coroutines_running):
            thread.kill()

    def violations(self) -> dict[str, str]:
        """violation id → resident, of every inspection that landed."""
        return {v["violation_id"]: v["employee_id"]
                for reply in self.landed.values() for v in reply["violations"]}


# -- what happened, and whether anything happened twice ------------------------------

# The fields that make two events the same fact.
FACTS = {
    "dormitory.violation_recorded": ("incident_id", "employee_id", "code"),
    "attendance.violation_recorded": ("employee_id", "code", "at", "domain"),
    "attendance.absence_recorded": ("employee_id", "date"),
    "penalties.penalty_issued": ("incident_id", "employee_id", "share"),
    "penalties.threshold_reached": ("employee_id", "kind", "year", "month"),
    "penalties.publication_issued": ("covers", "unit"),
    "complaints.received": ("number",),
    "complaints.sla_warning": ("number", "clock", "round"),
    "complaints.sla_breached": ("number", "clock", "round"),
    "complaints.reminder_issued": ("number", "clock", "round"),
    "complaints.escalated": ("number", "clock", "round", "level"),
}


def fact_of(event: dict) -> tuple | None:
    keys = FACTS.get(event.get("type"))
    if keys is None:
        return None
    data = event.get("data") or {}
    return (event["type"], *(data.get(k) for k in keys))


def facts_told_twice(events: list[dict]) -> dict[tuple, set[str]]:
    """Facts that appear under more than one event id."""
    ids: dict[tuple, set[str]] = defaultdict(set)
    for event in events:
        fact = fact_of(event)
        if fact is not None:
            ids[fact].add(event["id"])
    return {fact: found for fact, found in ids.items() if len(found) > 1}


def ledger_entries_twice(config: dict) -> dict[tuple, int]:
    """Ledger lines booked twice for one incident, person and share."""
    counts: dict[tuple, int] = defaultdict(int)
    for doc in service_db(config, "penalties").entries.find(
            {}, {"incident_id": 1, "employee_id": 1, "share": 1}):
        counts[(doc.get("incident_id"), doc.get("employee_id"), doc.get("share"))] += 1
    return {key: n for key, n in counts.items() if n > 1}


def inbox_items_twice(config: dict, events_by_id: dict[str, dict]) -> dict[tuple, int]:
    """One person told one fact in more than one inbox item."""
    counts: dict[tuple, int] = defaultdict(int)
    for doc in service_db(config, "notifications").inbox.find(
            {}, {"recipient_id": 1, "event_id": 1, "event_type": 1}):
        event = events_by_id.get(doc.get("event_id"))
        fact = fact_of(event) if event else None
        counts[(doc.get("recipient_id"), fact or doc.get("event_id"))] += 1
    return {key: n for key, n in counts.items() if n > 1}


def dead_letters(amqp_uri: str, services) -> dict[str, int]:
    """Messages parked in each service's dead-letter queue."""
    parked = {}
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        try:
            for service in services:
                name = dead_letter_queue_name(service)
                try:
                    _, count, _ = Queue(name, durable=True)(channel).queue_declare(passive=True)
                except Exception:  # never declared: nothing failed there
                    channel = conn.channel()
                    count = 0
                parked[service] = count
        finally:
            channel.close()
    return parked


def timer_runs(proc: ServiceProcess, entrypoint: str = "sweep_timer") -> float:
    """How often the timer ``entrypoint`` completed in this process (its own metrics)."""
    text = requests.get(f"http://127.0.0.1:{proc.port}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("zhidu_entrypoint_calls_total{")
               and f'entrypoint="{entrypoint}"' in line and 'outcome="ok"' in line)


def local_now(tz: str = "Asia/Shanghai") -> datetime:
    from zoneinfo import ZoneInfo

    return datetime.now(UTC).astimezone(ZoneInfo(tz))
