"""Who hears a penalty notice awaits approval: the sanctioned people's supervisors
first (001 §1 第九条(六) 个人惩处种类呈主管批示), the GM to sign (第十二条(二)).

The shipped route and templates, no broker; each event is checked against the
schema penalties publishes, so what the route reads is what penalties sends.
"""
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from notifications import fanout
from notifications.retry import load_policy
from notifications.routing import load_routes
from notifications.templates import load_catalogue
from notifications.testing import MemoryDirectory
from zhidu.contracts import EventContracts
from zhidu.envelope import make_envelope

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 13, 4, 0, tzinfo=UTC)
CONTRACTS = EventContracts.for_service("penalties")

PEOPLE = {
    "W1": {"name": "王丽", "department": "service", "role": "staff", "team_leader_id": "TL"},
    "TL": {"name": "赵班长", "department": "service", "role": "staff"},
    "SV": {"name": "钱主管", "department": "service", "role": "supervisor"},
    "G1": {"name": "陈总", "department": "management", "role": "gm"},
}
GROUPS = {"gm": ["G9"]}
DIRECTORY = MemoryDirectory(PEOPLE, GROUPS)


@pytest.fixture(scope="module")
def table():
    return load_routes()


def awaiting(**step) -> dict:
    data = {"notice_id": "N-1", "number": "2611-0001", "domain": "complaint",
            "incident_id": "2611-0001", "employee_ids": ["W1"], "amount_yuan_total": 550,
            "points_total": 5.0, "approver_role": "gm", "revision": 1,
            "at": "2026-11-13T04:00:00+00:00", **step}
    envelope = make_envelope("penalties", "notice_awaiting_approval", data, at=T0)
    CONTRACTS.check(envelope)
    return envelope


def inbox(table, envelope):
    recipients = table.recipients(envelope["type"], envelope["data"], DIRECTORY)
    out = fanout.fan_out(envelope, table.route(envelope["type"]), recipients, people=PEOPLE,
                         preferences={}, subscriptions=[], catalogue=load_catalogue(),
                         policy=load_policy(), channels=fanout.Channels(),
                         default_locale="zh-CN", tz=SHANGHAI, now=T0)
    return {item["recipient_id"]: item for item in out.inbox}


def test_the_supervisor_step_reaches_the_supervisor_named_and_the_gm_001_s1_9_6(table):
    items = inbox(table, awaiting(step="supervisor", approver_role="supervisor",
                                  approver_ids=["TL"]))
    # The supervisor the ledger names; the GMs hear it is on its way. Nobody
    # else who merely holds a "supervisor" role reads another's sanction.
    assert set(items) == {"TL", "G1", "G9"}
    assert "呈直接主管批准" in items["TL"]["body"]
    assert "王丽" in items["TL"]["title"] and "N-1" in items["TL"]["body"]


def test_the_gm_step_reaches_the_gms_only_001_s1_12_2(table):
    items = inbox(table, awaiting(step="gm"))
    assert set(items) == {"G1", "G9"}
    assert "呈总经理批准" in items["G1"]["body"]
