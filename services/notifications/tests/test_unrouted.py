"""An event whose route finds none of the people it names: the fallback is told,
the event is counted and logged (000 §1 三.6: a major complaint never reaches
nobody). The application function over an in-memory store."""
import logging

import pytest
from notifications import app
from notifications.rulebook import load_rules
from notifications.service import _declare_metrics
from prometheus_client import CollectorRegistry
from zhidu.envelope import make_envelope

MAJOR = {"number": "2611-0001", "reasons": ["fire"], "department": None, "subject": "电梯困人",
         "channel": "phone", "received_at": "2026-11-13T02:00:00+00:00",
         "notify_roles": ["dept_manager", "deputy_gm", "gm"], "received_by": "CS1"}


class Store:
    """The store methods ``notify`` uses, over a dict of people."""

    def __init__(self, people):
        self.people_ = people
        self.stored = []

    def remember_case(self, *args):
        pass

    def case_owner(self, number):
        return None

    def people(self, ids):
        return {i: {"_id": i, **self.people_[i]} for i in ids if i in self.people_}

    def with_role(self, role, department=None):
        return sorted(i for i, p in self.people_.items() if p.get("role") == role and (
            department is None or p.get("department") == department))

    def preferences(self, ids):
        return {}

    def add_notices(self, items, webhooks):
        self.stored += items
        return items, webhooks


@pytest.fixture(scope="module")
def rules():
    return load_rules({})                                   # the default settings


@pytest.fixture
def metrics():
    return _declare_metrics(CollectorRegistry())


def unrouted(metrics, event_type):
    return metrics["unrouted"].labels(event_type)._value.get()


def test_a_major_complaint_with_nobody_at_the_top_goes_to_the_gm_office_and_it_admin(
        rules, metrics, caplog):
    store = Store({"CS1": {"name": "钱前台", "department": "customer_service"},
                   "O1": {"name": "总经办", "role": "gm_office"},
                   "A1": {"name": "管理员", "role": "it_admin"}})
    with caplog.at_level(logging.WARNING, logger="notifications.app"):
        told = app.notify(store, rules, lambda t: [],
                          make_envelope("complaints", "major_reported", MAJOR),
                          metrics=metrics)
    assert sorted(i["recipient_id"] for i in told.items) == ["A1", "O1"]
    assert unrouted(metrics, "complaints.major_reported") == 1
    [record] = caplog.records
    assert record.levelname == "WARNING" and "told the fallback O1, A1" in record.message


def test_the_top_itself_is_no_fallback(rules, metrics, caplog):
    store = Store({"CS1": {"name": "钱前台", "department": "customer_service",
                           "manager_id": "M1"},
                   "M1": {"name": "客服经理", "role": "dept_manager"},
                   "G1": {"name": "总经理", "role": "gm"},
                   "D1": {"name": "副总", "role": "deputy_gm"},
                   "O1": {"name": "总经办", "role": "gm_office"}})
    with caplog.at_level(logging.WARNING, logger="notifications.app"):
        told = app.notify(store, rules, lambda t: [],
                          make_envelope("complaints", "major_reported", MAJOR),
                          metrics=metrics)
    assert sorted(i["recipient_id"] for i in told.items) == ["D1", "G1", "M1"]
    assert unrouted(metrics, "complaints.major_reported") == 0
    assert caplog.records == []


def test_nobody_at_all_is_an_error_in_the_log_and_still_counted(rules, metrics, caplog):
    with caplog.at_level(logging.WARNING, logger="notifications.app"):
        told = app.notify(Store({}), rules, lambda t: [],
                          make_envelope("complaints", "major_reported", MAJOR),
                          metrics=metrics)
    assert told.items == []
    assert unrouted(metrics, "complaints.major_reported") == 1
    assert [r.levelname for r in caplog.records] == ["ERROR"]
