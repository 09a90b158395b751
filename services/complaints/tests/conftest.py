"""Fixtures for the complaints domain tests: no broker, no database."""
from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
import yaml
from complaints.domain import ComplaintRules
from complaints.policy import DEFAULT_POLICY, load_policy, policy_from_dict
from zhidu.calendar import calendar_from_policy
from zhidu.times import parse_time

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
    ("decide_validity", "2026-11-13T10:10", {"valid": True, "reason": "成立"}),
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
