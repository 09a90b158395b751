"""The store on the real MongoDB-wire server: monthly aggregation, due index, races."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from complaints import sweeping
from complaints.handling import Handling
from complaints.stats import summarise_cases
from complaints.store import ComplaintsStore
from zhidu.config import database_name
from zhidu.mongo import connect
from zhidu.times import utcnow

pytestmark = pytest.mark.integration

STAFF = {"id": "cs-01", "role": "staff"}
OK = {"valid": True, "reason": "成立"}


class RecordingOutbox:
    """Stands in for the worker's outbox: keeps what was emitted."""

    def __init__(self):
        self.envelopes = []

    def emit(self, event_type, data, *, key=None, at=None):
        self.envelopes.append({"type": event_type, "data": data, "key": key})

    def persist(self):
        self.persisted = len(self.envelopes)


@pytest.fixture
def store(mongo_uri):
    client = connect(mongo_uri)
    name = f"t{uuid.uuid4().hex[:10]}_zhidu_complaints"
    store = ComplaintsStore(client[name])
    store.ensure_indexes()
    yield store
    client.drop_database(name)
    client.close()


def handled(day, dept="service", owner="e1"):
    """Accepted, assigned, planned and reported on ``day`` from 10:10 to 13:00."""
    return [("decide_validity", f"{day} 10:10", OK),
            ("assign", f"{day} 10:20", {"department": dept, "owner_id": owner}),
            ("agree_plan", f"{day} 11:00", {"plan": "p"}),
            ("submit_report", f"{day} 13:00", {"root_cause": "r"})]


@pytest.fixture
def month_of_cases(filed, walk, rules, t):
    """A known November 2026: six cases concluded in it, one in October, one open."""
    liability = ("determine_liability", "2026-11-02 13:30",
                 {"department": "service", "employee_ids": ["emp-1"], "fine_yuan": 300})
    happy = walk(filed("2026-11-02 10:00", number="2611-0001"), *handled("2026-11-02"),
                 liability, ("resolve", "2026-11-02 14:00", {"resolution": "ok"}),
                 ("follow_up", "2026-11-03 10:00", {"satisfied": True}))
    reopened = walk(filed("2026-11-04 10:00", number="2611-0002", channel="email"),
                    *handled("2026-11-04"), ("resolve", "2026-11-04 14:00", {"resolution": "a"}),
                    ("follow_up", "2026-11-05 10:00", {"satisfied": False}),
                    ("assign", "2026-11-05 11:00", {"department": "engineering",
                                                    "owner_id": "e2"}),
                    ("agree_plan", "2026-11-05 12:00", {"plan": "p2"}),
                    ("submit_report", "2026-11-05 13:00", {"root_cause": "r2"}),
                    ("resolve", "2026-11-06 10:00", {"resolution": "b"}),
                    ("follow_up", "2026-11-06 11:00", {"satisfied": True}))
    rejected = walk(filed("2026-11-09 10:00", number="2611-0003", channel="online",
                          category="quality"),
                    ("decide_validity", "2026-11-09 13:00", {"valid": False, "reason": "不成立"}))
    late = walk(filed("2026-11-10 10:00", number="2611-0004"), *handled("2026-11-10"),
                ("determine_liability", "2026-11-10 13:30",
                 {"department": "purchasing", "employee_ids": [], "party": "supplier"}),
                ("resolve", "2026-11-16 09:00", {"resolution": "late"}),
                ("follow_up", "2026-11-17 10:00", {"satisfied": True}))
    paused = walk(filed("2026-11-11 10:00", number="2611-0005", channel="written",
                        category="quality"),
                  ("decide_validity", "2026-11-11 10:10", OK),
                  ("assign", "2026-11-11 10:20", {"department": "quality", "owner_id": "q1"}),
                  ("agree_plan", "2026-11-11 11:00", {"plan": "p"}),
                  ("pause", "2026-11-11 12:00", {"reason": "第三方检测"}),
                  ("resume", "2026-11-12 12:00"),
                  ("submit_report", "2026-11-12 13:00", {"root_cause": "r"}),
                  ("resolve", "2026-11-12 14:00", {"resolution": "ok"}),
                  ("follow_up", "2026-11-13 10:00", {"satisfied": True}))
    major = walk(filed("2026-11-18 10:00", number="2611-0006", channel="onsite",
                       major_reason="fire"), *handled("2026-11-18"),
                 ("resolve", "2026-11-18 15:00", {"resolution": "ok"}))
    major = rules.sweep(major, now=t("2026-11-26 10:00")).case            # follow-up overdue
    major = walk(major, ("follow_up", "2026-11-26 11:00", {"satisfied": True}))
    october = walk(filed("2026-10-12 10:00", number="2610-0001"), *handled("2026-10-12"),
                   ("resolve", "2026-10-12 14:00", {"resolution": "ok"}),
                   ("follow_up", "2026-10-13 10:00", {"satisfied": True}))
    still_open = walk(filed("2026-11-20 10:00", number="2611-0007"), *handled("2026-11-20")[:2])
    concluded = [happy, reopened, rejected, late, paused, major]
    return concluded, [october, still_open]


def test_monthly_statistics_by_aggregation_match_the_reference(
        month_of_cases, start_service, rpc, zhidu_config, mongo_uri, cal, policy):
    from complaints.service import ComplaintsService

    start_service(ComplaintsService)
    client = connect(mongo_uri)
    store = ComplaintsStore(client[database_name(zhidu_config, "complaints")])
    concluded, others = month_of_cases
    store.insert_many(concluded + others)
    table = rpc.complaints.stats({"year": 2026, "month": 11})
    client.close()

    reference = summarise_cases(concluded, cal, policy)
    mean = table.pop("mean_working_hours_to_resolve")
    assert mean == pytest.approx(reference.pop("mean_working_hours_to_resolve"))
    assert {k: v for k, v in table.items() if k in reference} == reference
    assert (table["from"], table["until"]) == ("2026-10-31T16:00:00+00:00",
                                               "2026-11-30T16:00:00+00:00")
    # and the figures worked out by hand
    assert table["count"] == 6 and table["major"] == 1
    assert table["by_channel"] == {"phone": 2, "email": 1, "online": 1, "written": 1,
                                   "onsite": 1}
    assert table["by_department"] == {"service": 3, "engineering": 1, "quality": 1,
                                      "unassigned": 1}
    assert table["by_category"] == {"service": 4, "quality": 2}
    assert table["by_liability"] == {"company": 1, "supplier": 1, "undetermined": 4}
    assert table["on_time"]["acknowledge"] == {"on_time": 5, "late": 1, "open": 0,
                                               "waived": 0, "rate": 5 / 6}
    assert table["on_time"]["resolve"]["late"] == 1
    assert table["on_time"]["followup"]["late"] == 1
    # 4 h, 15 h 40, 30 h 20, 4 h (a day's pause excluded) and 5 h over five resolved cases
    assert mean == pytest.approx((4 + 15 + 40 / 60 + 30 + 20 / 60 + 4 + 5) / 5)
    assert table["satisfaction_rate"] == 5 / 6
    assert table["reopen_rate"] == 1 / 5
    assert table["followup_rate"] == 1.0
    assert table["delay_investigations"] == 3
    received = rpc.complaints.stats({"year": 2026, "month": 11, "basis": "received"})
    assert received["count"] == 7
    assert rpc.complaints.stats({"year": 2026, "month": 12})["count"] == 0


def test_the_due_query_walks_the_index(store, filed, t):
    store.insert_many([filed("2026-11-13 10:00", number=f"2611-{i:04d}") for i in range(1, 6)])
    plan = store.explain_due(t("2026-11-20 09:00"))["queryPlanner"]["winningPlan"]
    text = repr(plan)
    assert "IXSCAN" in text and "'due'" in text and "COLLSCAN" not in text


def test_a_sweep_that_lost_the_race_emits_nothing(store, filed, rules, t):
    store.insert(filed("2026-11-13 10:00", number="2611-0001"))
    stale = store.get("2611-0001")
    now = t("2026-11-20 09:00")
    winner = RecordingOutbox()
    report = sweeping.sweep(Handling(store, rules, winner), now)
    assert report.updated == 1 and winner.envelopes
    loser = RecordingOutbox()
    assert sweeping._sweep_case(Handling(store, rules, loser), stale, now) == []
    assert loser.envelopes == []
    assert store.get("2611-0001")["version"] == stale["version"] + 1
    assert sweeping.sweep(Handling(store, rules, loser), now).cases == 0


def _crash_after_write(store, rules, case, command, when, **kwargs):
    """A writer that stored its change and died before publishing its events."""
    from complaints.handling import pending_batches

    outcome = getattr(rules, command)(case, at=when, actor={"id": "s1", "role": "staff"},
                                      **kwargs)
    assert outcome.events
    assert store.replace(outcome.case, expected_version=case["version"],
                         announce=pending_batches(case, outcome, when))
    return outcome


def test_events_a_dead_writer_left_are_published_by_the_next_change(store, filed, rules,
                                                                     t):
    store.insert(filed("2026-11-13 10:00", number="2611-0001"))
    crashed = _crash_after_write(store, rules, store.get("2611-0001"), "decide_validity",
                                 t("2026-11-13 10:10"), valid=True, reason="ok")
    outbox = RecordingOutbox()
    Handling(store, rules, outbox).change("2611-0001", "assign", at=t("2026-11-13 10:20"),
                                          actor={"id": "s1", "role": "staff"},
                                          department="service", owner_id="e1")
    version = crashed.case["version"]
    keys = [e["key"] for e in outbox.envelopes]
    # The dead writer's events come again, under the ids they would have had.
    assert [f"2611-0001:{version}:{i}" for i in range(len(crashed.events))] == \
        keys[-len(crashed.events):]
    assert {e["type"] for e in outbox.envelopes} >= {e["type"] for e in crashed.events}
    assert "_announce" not in store.get("2611-0001")


def test_the_sweep_publishes_for_a_writer_that_died(store, filed, rules, t):
    store.insert(filed("2026-11-13 10:00", number="2611-0001"))
    crashed = _crash_after_write(store, rules, store.get("2611-0001"), "decide_validity",
                                 t("2026-11-13 10:10"), valid=True, reason="ok")
    outbox = RecordingOutbox()
    # Not yet: the writer may still be alive and about to publish.
    early = sweeping.sweep(Handling(store, rules, outbox), t("2026-11-13 10:10"))
    assert early.republished == 0
    late = sweeping.sweep(Handling(store, rules, outbox), utcnow() + timedelta(minutes=5))
    assert late.republished == 1
    version = crashed.case["version"]
    assert {e["key"] for e in outbox.envelopes} >= {
        f"2611-0001:{version}:{i}" for i in range(len(crashed.events))}
    assert "_announce" not in store.get("2611-0001")
    again = sweeping.sweep(Handling(store, rules, RecordingOutbox()),
                           utcnow() + timedelta(minutes=5))
    assert again.republished == 0
