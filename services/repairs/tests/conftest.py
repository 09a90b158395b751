"""Fixtures for the repairs tests: the domain's and the application layer's need
no broker and no database; the integration tests drive the service over RPC."""
from __future__ import annotations

import copy
from zoneinfo import ZoneInfo

import pytest
from repairs.app import Repairs
from repairs.domain import RepairRules
from repairs.policy import load_policy
from zhidu.calendar import calendar_from_policy
from zhidu.fakes import FakeOutbox, FakeUnits
from zhidu.times import parse_time

SHANGHAI = ZoneInfo("Asia/Shanghai")
DESK = {"id": "fd-01", "role": "staff"}
SUPERVISOR = {"id": "eng-mgr", "role": "dept_manager"}
ENGINEER = {"id": "eng-07", "role": "staff"}
AUDITOR = {"id": "aud-01", "role": "staff"}


@pytest.fixture(scope="session")
def policy():
    return load_policy()


@pytest.fixture(scope="session")
def cal():
    return calendar_from_policy({}, tz=SHANGHAI)


@pytest.fixture
def rules(policy, cal):
    return RepairRules(policy, cal)


@pytest.fixture(scope="session")
def t():
    """Shanghai wall-clock text → aware UTC datetime."""
    return lambda text: parse_time(text, SHANGHAI)


class FakeStore(FakeUnits):
    """The store methods the application functions use, in memory."""

    def __init__(self):
        super().__init__()
        self.orders, self.counters = {}, {}

    def next_serial(self, key):
        self.counters[key] = self.counters.get(key, 0) + 1
        return self.counters[key]

    def insert(self, order):
        self.orders[order["number"]] = copy.deepcopy(order)

    def get(self, number):
        return copy.deepcopy(self.orders.get(number))

    def replace(self, order, expected_version):
        if self.orders[order["number"]]["version"] != expected_version:
            return False
        self.orders[order["number"]] = copy.deepcopy(order)
        return True

    def set_next_check(self, number, version, next_check_at):
        self.orders[number]["next_check_at"] = next_check_at

    def due(self, now, limit):
        found = [o for o in self.orders.values()
                 if o.get("next_check_at") is not None and o["next_check_at"] <= now]
        return [copy.deepcopy(o) for o in sorted(found, key=lambda o: o["next_check_at"])][:limit]

    def search(self, status=None, engineer_id=None, limit=100):
        return [copy.deepcopy(o) for o in self.orders.values()
                if status in (None, o["status"]) and engineer_id in (None, o["engineer_id"])]

    def completed_between(self, start, end):
        return [copy.deepcopy(o) for o in self.orders.values()
                if o["first_completed_at"] and start <= o["first_completed_at"] < end]


class Desk:
    """The application layer on fakes, with the people of a repair."""

    DESK, SUPERVISOR, ENGINEER, AUDITOR = DESK, SUPERVISOR, ENGINEER, AUDITOR

    def __init__(self, rules, t):
        self.store, self.outbox, self.t = FakeStore(), FakeOutbox("repairs"), t
        self.app = Repairs(self.store, rules, self.outbox)

    def take(self, received_at="2026-11-13 10:00", **fields):
        payload = {"household": {"unit": "3-1202", "name": "李先生", "phone": "13900001111"},
                   "location": "厨房", "trades": ["plumbing"], "description": "水管漏水",
                   "kind": "routine", "urgency": "urgent", "channel": "phone",
                   "received_at": self.t(received_at), "actor": DESK, **fields}
        return self.app.take(payload)["number"]

    def do(self, command, number, at, actor=None, **fields):
        actor = actor or {"dispatch": SUPERVISOR, "record_call": DESK, "call_back": DESK,
                          "extend": DESK, "escalate_to_complaint": DESK,
                          "decide_audit": AUDITOR, "set_appointment": DESK}.get(command,
                                                                               ENGINEER)
        return self.app.change(command, {"number": number, "at": self.t(at), "actor": actor,
                                         **fields})

    def sweep(self, now):
        return self.app.sweep(self.t(now))

    def events(self, name):
        return self.outbox.of_type(name)

    def order(self, number):
        return self.store.orders[number]


@pytest.fixture
def desk(rules, t):
    return Desk(rules, t)
