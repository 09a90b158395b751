"""The store on the real MongoDB-wire server: monthly aggregation, due index, races."""
from __future__ import annotations

import uuid

import pytest
from complaints import sweeping
from complaints.handling import Handling
from complaints.stats import summarise_cases
from complaints.store import ComplaintsStore
from zhidu.config import database_name
from zhidu.events import PendingEvents
from zhidu.fakes import FakeOutbox as RecordingOutbox
from zhidu.mongo import connect

pytestmark = pytest.mark.integration

STAFF = {"id": "cs-01", "role": "staff"}
OK = {"valid": True, "reason": "成立", "reply": "已受理"}


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
                    ("decide_validity", "2026-11-09 13:00", {"valid": False, "reason": "不成立",
                                                             "reply": "已婉转说明"}))
    late = walk(filed("2026-11-10 10:00", number="2611-0004"), *handled("2026-11-10"),
                ("determine_liability", "2026-11-10 13:30",
                 {"department": "purchasing", "employee_ids": [], "party": "supplier"}),
                ("resolve", "2026-11-16 09:00", {"resolution": "late"}),
                ("follow_up", "2026-11-16 16:00", {"satisfied": True}))
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


def test_an_owners_cases_are_searched_on_the_owner_index(store, filed, walk):
    cases = [walk(filed("2026-11-13 10:00", number=f"2611-{i:04d}"),
                  *handled("2026-11-13", owner=f"e{i % 3}")[:2]) for i in range(1, 10)]
    store.insert_many(cases)
    found = store.search(owner_id="e1", status="assigned")
    assert sorted(c["number"] for c in found) == ["2611-0001", "2611-0004", "2611-0007"]
    plan = (store.db.cases.find({"owner_id": "e1", "status": "assigned"})
            .sort("received_at", -1).explain())["queryPlanner"]["winningPlan"]
    assert "'owner'" in repr(plan) and "COLLSCAN" not in repr(plan)


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


class DyingOutbox(PendingEvents):
    """The worker's real outbox, on a worker that dies right after writing the
    events ``dies(fresh)`` picks: the unit's writes are in its transaction,
    nothing is committed."""

    def __init__(self, store, dies=lambda fresh: False):
        super().__init__(None, "complaints", store, None)
        self.dies = dies

    def persist(self):
        fresh = self.envelopes[self.persisted:]
        super().persist()
        if self.dies(fresh):
            raise RuntimeError("the worker died before its unit committed")


def outbox_ids(store):
    return {doc["_id"] for doc in store.db.outbox.find({}, {"_id": 1})}


def test_a_change_that_dies_before_commit_leaves_neither_case_nor_events(store, filed, rules,
                                                                         t):
    store.insert(filed("2026-11-13 10:00", number="2611-0001"))
    before = store.get("2611-0001")
    payload = {"number": "2611-0001", "at": t("2026-11-13 10:10"), "actor": STAFF, **OK}

    def call(outbox):
        reply = Handling(store, rules, outbox).change("decide_validity", payload)
        outbox.persist()
        return reply

    with pytest.raises(RuntimeError):
        store.unit(lambda: call(DyingOutbox(store, dies=bool)))
    assert store.get("2611-0001") == before
    assert outbox_ids(store) == set()
    # Run again (the caller's retry), it lands once, with its events beside it.
    outbox = DyingOutbox(store)
    assert store.unit(lambda: call(outbox))["status"] == "accepted"
    assert store.get("2611-0001")["version"] == before["version"] + 1
    assert outbox_ids(store) == {e["id"] for e in outbox.envelopes} != set()


def test_a_sweep_that_dies_keeps_the_cases_it_finished_and_redoes_none(store, filed,
                                                                       rules, t):
    store.insert_many([filed("2026-11-13 10:00", number="2611-0001"),
                       filed("2026-11-13 10:05", number="2611-0002")])
    now = t("2026-11-13 13:00")                       # both acknowledgements breached
    outbox = DyingOutbox(store, dies=lambda fresh: any(
        e["data"]["number"] == "2611-0002" for e in fresh))
    with pytest.raises(RuntimeError):
        sweeping.sweep(Handling(store, rules, outbox), now)
    filed_version = 1
    assert store.get("2611-0001")["version"] == filed_version + 1   # finished before
    assert store.get("2611-0002")["version"] == filed_version       # as it was: still due
    assert outbox_ids(store) == {e["id"] for e in outbox.envelopes
                                 if e["data"]["number"] == "2611-0001"}
    again = RecordingOutbox("complaints")
    report = sweeping.sweep(Handling(store, rules, again), now)
    assert (report.cases, report.updated) == (1, 1)
    assert {e["data"]["number"] for e in again.envelopes} == {"2611-0002"}
