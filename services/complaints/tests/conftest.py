"""Fixtures for the complaints tests: the domain's and the application layer's need
no broker and no database; the integration tests' drive the service over RPC."""
from __future__ import annotations

import copy
from zoneinfo import ZoneInfo

import pytest
import yaml
from complaints.domain import ComplaintRules
from complaints.policy import DEFAULT_POLICY, load_policy, policy_from_dict
from zhidu.calendar import calendar_from_policy
from zhidu.domain import DomainConflict
from zhidu.times import parse_time
from zhidu.uow import StaleWrite

SHANGHAI = ZoneInfo("Asia/Shanghai")

STAFF = {"id": "cs-01", "role": "staff"}
MANAGER = {"id": "mgr-01", "role": "dept_manager"}
DEPUTY = {"id": "dgm-01", "role": "deputy_gm"}
GM = {"id": "gm-01", "role": "gm"}


@pytest.fixture(scope="session")
def policy():
    return load_policy()


@pytest.fixture
def raw_policy():
    """The shipped policy as a fresh dict, to vary one rule per test."""
    with open(DEFAULT_POLICY, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture(scope="session")
def cal():
    return calendar_from_policy({}, tz=SHANGHAI)


@pytest.fixture
def rules(policy, cal):
    return ComplaintRules(policy, cal)


@pytest.fixture
def rules_with(raw_policy, cal):
    """Rules built from the shipped policy after ``change(raw_policy)``."""
    def build(change):
        change(raw_policy)
        return ComplaintRules(policy_from_dict(raw_policy), cal)
    return build


@pytest.fixture(scope="session")
def t():
    """Shanghai wall-clock text → aware UTC datetime."""
    return lambda text: parse_time(text, SHANGHAI)


@pytest.fixture
def intake(t):
    def make(received_at="2026-09-18 15:00", **fields):
        base = {
            "channel": "phone", "kind": "external", "category": "service",
            "complainant": {"name": "王女士", "phone": "13812345678",
                            "email": "wang@example.com", "region": "domestic"},
            "subject": "维修人员态度差", "description": "电话里被挂断两次",
            "received_at": t(received_at),
        }
        base.update(fields)
        return base
    return make


@pytest.fixture
def filed(rules, intake):
    """File a complaint and return its case."""
    def make(received_at="2026-09-18 15:00", number="2609-0001", **fields):
        return rules.file(intake(received_at, **fields), number=number, actor=STAFF).case
    return make


def clock(case, name, round_=None):
    round_ = case["round"] if round_ is None else round_
    return next(c for c in case["clocks"] if c["name"] == name and c["round"] == round_)


@pytest.fixture
def clock_of():
    return clock


@pytest.fixture
def walk(rules, t):
    """Drive a case through commands: ``walk(case, ("assign", "2026-..", {...}), ...)``."""
    actors = {"approve_remedy": GM}

    def run(case, *steps):
        for name, when, *kwargs in steps:
            extra = dict(kwargs[0]) if kwargs else {}
            actor = extra.pop("actor", actors.get(name, STAFF))
            case = getattr(rules, name)(case, at=t(when), actor=actor, **extra).case
        return case
    return run


# -- the application layer on an in-memory store ---------------------------------------
class FakeStore:
    """The store methods the application layer calls, kept in memory.

    ``unit`` behaves as the library's: a body that raises leaves nothing it
    wrote (serials included), a ``StaleWrite`` runs it again after
    ``on_retry``, and a unit opened inside another joins it.
    ``before_replace(cases)`` lets a test slip in, between a unit's read and
    its write, another unit that commits first.
    """

    def __init__(self):
        self.cases: dict[str, dict] = {}
        self.counters: dict[str, int] = {}
        self.audit: list[dict] = []
        self.exports: dict[str, dict] = {}
        self.units = 0
        self.depth = 0
        self.before_replace = None
        self._saved = None

    def unit(self, body, on_retry=None):
        if self.depth:
            return body()
        for attempt in range(9):
            if attempt and on_retry is not None:
                on_retry()
            saved = self._saved = copy.deepcopy(
                (self.cases, self.counters, self.audit, self.exports))
            self.units += 1
            self.depth += 1
            try:
                return body()
            except StaleWrite:
                self.cases, self.counters, self.audit, self.exports = saved
                if attempt == 8:
                    raise
            except BaseException:
                self.cases, self.counters, self.audit, self.exports = saved
                raise
            finally:
                self.depth -= 1
        raise AssertionError("unreachable")

    # -- cases
    def next_serial(self, month_key: str) -> int:
        self.counters[month_key] = self.counters.get(month_key, 0) + 1
        return self.counters[month_key]

    def insert(self, case: dict) -> None:
        if case["number"] in self.cases:
            raise DomainConflict(f"complaint {case['number']} already exists")
        self.cases[case["number"]] = copy.deepcopy(case)

    def insert_many(self, cases: list[dict]) -> None:
        for case in cases:
            self.insert(case)

    def get(self, number: str) -> dict | None:
        return copy.deepcopy(self.cases.get(number))

    def replace(self, case: dict, expected_version: int) -> bool:
        if self.before_replace is not None:
            slip, self.before_replace = self.before_replace, None
            slip(self.cases)
            if self._saved is not None:       # committed: a rollback keeps it
                slip(self._saved[0])
        stored = self.cases.get(case["number"])
        if stored is None or stored["version"] != expected_version:
            return False
        self.cases[case["number"]] = copy.deepcopy(case)
        return True

    def set_next_check(self, number: str, version: int, next_check_at) -> bool:
        stored = self.cases.get(number)
        if stored is None or stored["version"] != version:
            return False
        stored["next_check_at"] = next_check_at
        return True

    def get_many(self, numbers: list[str]) -> list[dict]:
        return [self.get(n) for n in numbers if n in self.cases]

    def write_swept(self, decided, rescheduled) -> bool:
        # Every write is tried, as the real unordered bulk write does.
        written = [self.replace(case, version) for case, version in decided]
        written += [self.set_next_check(*due) for due in rescheduled]
        return all(written)

    def due(self, now, limit: int) -> list[dict]:
        due = sorted((c for c in self.cases.values()
                      if c.get("next_check_at") is not None and c["next_check_at"] <= now),
                     key=lambda c: c["next_check_at"])
        return copy.deepcopy(due[:limit])

    def search(self, *, status=None, department=None, owner_id=None, breached=None,
               since=None, until=None, limit=100) -> list[dict]:
        found = [c for c in self.cases.values()
                 if (status is None or c["status"] == status)
                 and (owner_id is None or c.get("owner_id") == owner_id)
                 and (department is None or c.get("department") == department)
                 and (breached is None or bool(c.get("breached")) == breached)
                 and (since is None or c["received_at"] >= since)
                 and (until is None or c["received_at"] < until)]
        found.sort(key=lambda c: c["received_at"], reverse=True)
        return copy.deepcopy(found[:limit])

    # -- audit and exports
    def audit_reads(self, actor: dict, numbers: list[str], operation: str) -> None:
        self.audit.extend({"number": n, "operation": operation,
                           "actor": {"id": actor["id"], "role": actor.get("role")}}
                          for n in numbers)

    def audit_log(self, number=None, limit=100) -> list[dict]:
        rows = [r for r in reversed(self.audit) if number is None or r["number"] == number]
        return copy.deepcopy(rows[:limit])

    def create_export(self, export: dict) -> None:
        self.exports[export["export_id"]] = copy.deepcopy(export)

    def get_export(self, export_id: str) -> dict | None:
        return copy.deepcopy(self.exports.get(export_id))

    def update_export(self, export_id: str, expected_status: str, changes: dict) -> bool:
        export = self.exports.get(export_id)
        if export is None or export["status"] != expected_status:
            return False
        export.update(copy.deepcopy(changes))
        return True

    def received_between(self, since, until, limit: int) -> list[dict]:
        return self.search(since=since, until=until, limit=limit)


class Calls:
    """Calls the application layer as the service's workers do: each call with
    its own outbox, in one unit of work unless ``unit=False``; what a call that
    committed emitted is ``published``."""

    def __init__(self, store: FakeStore, rules, metrics=None):
        self.store, self.rules, self.metrics = store, rules, metrics
        self.published: list[dict] = []

    def __call__(self, method: str, *args, unit: bool = True):
        from complaints.handling import Handling
        from zhidu.fakes import FakeOutbox

        outbox = FakeOutbox("complaints")
        run = getattr(Handling(self.store, self.rules, outbox, self.metrics), method)
        if unit:
            mark = outbox.mark()

            def body():
                result = run(*args)
                outbox.persist()
                return result
            result = self.store.unit(body, on_retry=lambda: outbox.rollback(mark))
        else:
            result = run(*args)
            outbox.persist()
        self.published.extend(outbox.envelopes[:outbox.persisted])
        return result

    def of_type(self, event_type: str) -> list[dict]:
        return [e["data"] for e in self.published if e["type"] == f"complaints.{event_type}"]


@pytest.fixture
def fake_store():
    return FakeStore()


@pytest.fixture
def app(fake_store, rules):
    """``app("file", payload)``, ``app("change", "assign", payload)``, ``app("sweep", now,
    unit=False)`` against the in-memory store."""
    return Calls(fake_store, rules)


# -- integration: the service over RPC ------------------------------------------------
INTAKE = {
    "channel": "phone", "kind": "external", "category": "service",
    "complainant": {"name": "王女士", "phone": "13812345678", "email": "wang@example.com",
                    "customer_id": "C-88", "region": "domestic"},
    "subject": "维修人员态度差", "description": "电话里被挂断两次",
    "occurred_at": "2026-11-12T16:00:00", "occurred_place": "3号楼大堂",
    "demand": "道歉并重新上门", "target_department": "service",
    "target_employee_id": "emp-7", "actor": STAFF,
}
# Steps from acceptance to resolution; times are Shanghai wall clock.
TO_RESOLVED = [
    ("decide_validity", "2026-11-13T10:10", {"valid": True, "reason": "成立",
                                             "reply": "已受理，今日安排上门"}),
    ("assign", "2026-11-13T10:20", {"department": "service", "owner_id": "emp-7"}),
    ("agree_plan", "2026-11-13T11:00", {"plan": "上门道歉"}),
    ("submit_report", "2026-11-13T13:00", {"root_cause": "培训不足"}),
    ("resolve", "2026-11-13T14:00", {"resolution": "已道歉"}),
]


class Desk:
    """Drives the complaints service over RPC."""

    INTAKE = INTAKE
    TO_RESOLVED = TO_RESOLVED
    STAFF, MANAGER, DEPUTY, GM = STAFF, MANAGER, DEPUTY, GM

    # The desk's people, as the directory would describe them: permissions
    # (rules/permissions.yaml) read their department and role from that copy.
    PEOPLE = [(STAFF, "customer_service"), (MANAGER, "customer_service"),
              (DEPUTY, "management"), (GM, "management"),
              ({"id": "gmo-01", "role": "gm_office"}, "gm_office"),
              ({"id": "hr-01", "role": "hr"}, "hr")]
    GM_OFFICE = {"id": "gmo-01", "role": "gm_office"}
    HR = {"id": "hr-01", "role": "hr"}
    # Liability is the GM office's to determine for customer complaints (rules §8).
    STEP_ACTORS = {"determine_liability": GM_OFFICE}

    def __init__(self, rpc, people=None):
        self.rpc = rpc
        self.api = rpc.complaints
        for actor, department in self.PEOPLE if people is not None else ():
            people.add(actor["id"], actor["role"], department=department)

    def file(self, received_at="2026-11-13T10:00", **fields) -> dict:
        payload = {**INTAKE, "received_at": received_at, **fields}
        return self.api.file(payload)

    def walk(self, number, *steps, actor=None):
        reply = None
        for name, at, *extra in steps:
            payload = {"number": number, "at": at,
                       "actor": actor or self.STEP_ACTORS.get(name, STAFF),
                       **(extra[0] if extra else {})}
            reply = getattr(self.api, name)(payload)
        return reply

    def sweep(self, now):
        return self.api.sweep({"now": now})

    def get(self, number, actor=None):
        return self.api.get({"number": number, "actor": actor or STAFF})


@pytest.fixture
def complaints_service(start_service):
    from complaints.service import ComplaintsService
    return start_service(ComplaintsService)


@pytest.fixture
def desk(complaints_service, rpc, people):
    return Desk(rpc, people)
