"""The application layer on an in-memory store and outbox: intake, changes, the sweep,
reads and exports, and what a call that fails leaves behind (nothing). No broker, no
database: each test runs in milliseconds."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from complaints import monitoring, sweeping
from complaints.handling import Handling
from prometheus_client import CollectorRegistry
from zhidu.domain import DomainConflict, DomainNotFound, DomainValidation
from zhidu.envelope import derived_id
from zhidu.fakes import FakeOutbox

STAFF = {"id": "cs-01", "role": "staff"}
MANAGER = {"id": "mgr-01", "role": "dept_manager"}
GM = {"id": "gm-01", "role": "gm"}
IT = {"id": "it-01", "role": "it_admin"}
OFFICER = {"id": "sec-1", "role": "info_officer"}


@pytest.fixture
def file(app, intake):
    """File a complaint received at Shanghai wall-clock ``when``; the reply."""
    def run(when="2026-11-13 10:00", actor=STAFF, **fields):
        return app("file", {**intake(when, **fields), "actor": actor})
    return run


@pytest.fixture
def change(app, t):
    def run(command, number, when, actor=STAFF, **fields):
        return app("change", command, {"number": number, "at": t(when), "actor": actor,
                                       **fields})
    return run


def ids(envelopes):
    return [e["id"] for e in envelopes]


# -- intake ------------------------------------------------------------------------------
def test_file_draws_the_local_months_next_number_and_announces_it(app, fake_store, file):
    first = file("2026-11-13 10:00")
    assert first == {"number": "2611-0001", "status": "received", "major": False,
                     "major_reasons": [], "deadlines": first["deadlines"]}
    assert set(first["deadlines"]) == {"acknowledge", "resolve"}
    assert file("2026-11-13 11:00")["number"] == "2611-0002"
    # months are local: 00:30 on 1 December in Shanghai is still November in UTC
    assert file("2026-12-01 00:30")["number"] == "2612-0001"
    received = app.of_type("received")
    assert [r["number"] for r in received] == ["2611-0001", "2611-0002", "2612-0001"]
    # ids follow number:version:position, whoever and however often files it
    assert app.published[0]["id"] == derived_id("complaints", "received", "2611-0001:1:0")
    assert fake_store.get("2611-0001")["received_by"] == "cs-01"
    assert app.of_type("major_reported") == []


def test_a_major_intake_is_reported_with_it_001_s5(app, file):
    reply = file(households_affected=3)
    assert reply["major_reasons"] == ["collective_complaint"]
    [report] = app.of_type("major_reported")
    assert report["number"] == reply["number"]
    assert report["notify_roles"] == ["dept_manager", "deputy_gm", "gm"]


def test_a_refused_or_failed_intake_consumes_no_number(app, fake_store, file, monkeypatch):
    with pytest.raises(DomainValidation) as refused:
        file(channel="fax", major_reason="boredom")
    assert set(refused.value.errors) == {"channel", "major_reason"}

    insert = fake_store.insert

    def insert_then_die(case):
        insert(case)
        raise RuntimeError("the worker died before its unit committed")

    monkeypatch.setattr(fake_store, "insert", insert_then_die)
    with pytest.raises(RuntimeError):
        file()
    monkeypatch.undo()
    assert (fake_store.cases, fake_store.counters, app.published) == ({}, {}, [])
    assert file()["number"] == "2611-0001"
    assert file()["number"] == "2611-0002"


# -- changes to a case -------------------------------------------------------------------
def test_a_change_writes_the_next_version_and_emits_under_its_ids(app, fake_store, file,
                                                                  change):
    number = file()["number"]
    reply = change("decide_validity", number, "2026-11-13 10:10", valid=True, reason="成立",
                   reply="已受理，今日安排处理")
    assert (reply["status"], reply["version"]) == ("accepted", 2)
    assert "complainant" not in reply                    # command replies carry no contacts
    [moved] = app.of_type("status_changed")
    assert (moved["from"], moved["to"]) == ("received", "accepted")
    assert app.published[-1]["id"] == derived_id("complaints", "status_changed",
                                                 f"{number}:2:0")
    change("assign", number, "2026-11-13 10:20", department="service", owner_id="emp-7")
    change("agree_plan", number, "2026-11-13 11:00", plan="上门道歉")
    change("submit_report", number, "2026-11-13 13:00", root_cause="培训不足")
    change("propose_remedy", number, "2026-11-13 13:30", remedy="补偿", amount_yuan=800)
    change("approve_remedy", number, "2026-11-13 13:40", actor=MANAGER)
    change("resolve", number, "2026-11-13 14:00", resolution="已补偿")
    closed = change("follow_up", number, "2026-11-16 10:00", satisfied=True)
    assert closed["status"] == "closed" and closed["deadlines"] == {}
    case = fake_store.get(number)
    assert case["version"] == 9 and case["remedies"][-1]["approver_role"] == "dept_manager"
    assert [e["type"].split(".")[1] for e in app.published][-2:] == ["status_changed",
                                                                     "closed"]
    assert len(set(ids(app.published))) == len(app.published)


def test_a_refused_change_leaves_the_case_and_emits_nothing(app, fake_store, file, change):
    number = file()["number"]
    before, published = fake_store.get(number), len(app.published)
    with pytest.raises(DomainConflict):
        change("resolve", number, "2026-11-13 11:00", resolution="r")
    with pytest.raises(DomainValidation) as bad:
        change("pause", number, "2026-11-13 11:00", reason=" ")
    assert list(bad.value.errors) == ["reason"]
    with pytest.raises(DomainNotFound):
        change("acknowledge", "2611-0999", "2026-11-13 11:00")
    assert fake_store.get(number) == before and len(app.published) == published


def test_a_case_written_between_read_and_write_is_decided_again_on_the_fresh_one(
        app, fake_store, rules, file, change, t):
    number = file()["number"]

    def another_worker_accepts(cases):
        cases[number] = rules.decide_validity(cases[number], valid=True, reason="成立",
                                              at=t("2026-11-13 10:05"), actor=MANAGER).case

    fake_store.before_replace = another_worker_accepts
    units = fake_store.units
    # Decided again on the accepted case, the rejection is refused, not lost.
    with pytest.raises(DomainConflict):
        change("decide_validity", number, "2026-11-13 10:06", valid=False, reason="不成立")
    assert fake_store.units == units + 2
    assert fake_store.get(number)["status"] == "accepted"
    assert app.of_type("status_changed") == []


def test_racing_acknowledgements_both_land_in_order(fake_store, rules, file, change, t):
    number = file()["number"]

    def another_worker_acknowledges(cases):
        cases[number] = rules.acknowledge(cases[number], at=t("2026-11-13 10:05"),
                                          actor=MANAGER).case

    fake_store.before_replace = another_worker_acknowledges
    reply = change("acknowledge", number, "2026-11-13 10:06")
    assert reply["version"] == 3
    assert [h["actor"]["id"] for h in fake_store.get(number)["history"][1:]] == [
        "mgr-01", "cs-01"]


# -- the SLA sweep -----------------------------------------------------------------------
@pytest.fixture
def metrics():
    registry = CollectorRegistry()
    declared = monitoring.declare(registry)
    declared["registry"] = registry
    return declared


def breaches(metrics, clock="acknowledge", department="unassigned"):
    return metrics["registry"].get_sample_value(
        "zhidu_complaints_sla_breaches_total", {"clock": clock, "department": department})


def test_the_sweep_emits_each_due_action_once_in_a_unit_per_case(app, fake_store, file, t,
                                                                  metrics):
    app.metrics = metrics
    first, second = file("2026-11-13 10:00")["number"], file("2026-11-13 10:05")["number"]
    file("2026-11-13 12:55")                                        # not due yet
    units = fake_store.units
    report = app("sweep", t("2026-11-13 13:00"), unit=False)
    assert (report["cases"], report["updated"]) == (2, 2)
    assert report["events"]["sla_breached"] == 2
    assert fake_store.units == units + 2
    assert {b["number"] for b in app.of_type("sla_breached")} == {first, second}
    assert breaches(metrics) == 2
    assert metrics["registry"].get_sample_value("zhidu_complaints_swept_cases_total") == 2
    again = app("sweep", t("2026-11-13 13:00"), unit=False)
    assert (again["cases"], again["events"]) == (0, {})
    assert len(app.of_type("sla_breached")) == 2


def test_a_sweep_racing_another_replica_emits_nothing_it_emitted(app, fake_store, rules,
                                                                 file, t, metrics):
    app.metrics = metrics
    number = file()["number"]
    now = t("2026-11-13 13:00")

    def the_other_replica_sweeps(cases):
        cases[number] = rules.sweep(cases[number], now=now).case

    stale = fake_store.get(number)
    fake_store.before_replace = the_other_replica_sweeps
    report = app("sweep", now, unit=False)
    assert (report["cases"], report["updated"]) == (1, 0)
    assert app.of_type("sla_breached") == [] and breaches(metrics) is None
    # a replica still holding the case as it was before either sweep: nothing to do
    late = FakeOutbox("complaints")
    assert sweeping._sweep_case(Handling(fake_store, rules, late), stale, now) == []
    assert late.envelopes == []


def test_a_sweep_unit_run_again_counts_and_emits_its_events_once(app, fake_store, file, t,
                                                                 metrics):
    app.metrics = metrics
    number = file()["number"]

    def another_unit_writes_the_case(cases):
        cases[number]["version"] += 1

    fake_store.before_replace = another_unit_writes_the_case
    report = app("sweep", t("2026-11-13 13:00"), unit=False)
    assert report["updated"] == 1
    assert len(app.of_type("sla_breached")) == 1 and breaches(metrics) == 1


def test_a_sweep_that_dies_keeps_what_it_finished_and_the_rest_stays_due(
        app, fake_store, rules, file, t):
    first, second = file("2026-11-13 10:00")["number"], file("2026-11-13 10:05")["number"]
    now = t("2026-11-13 13:00")
    outbox = FakeOutbox("complaints")
    persist = outbox.persist

    def die_on_the_second_case():
        persist()
        if any(e["data"]["number"] == second for e in outbox.envelopes):
            raise RuntimeError("the sweeping worker died")

    outbox.persist = die_on_the_second_case
    with pytest.raises(RuntimeError):
        sweeping.sweep(Handling(fake_store, rules, outbox), now)
    assert fake_store.get(first)["version"] == 2 and fake_store.get(second)["version"] == 1
    report = app("sweep", now, unit=False)
    assert (report["cases"], report["updated"]) == (1, 1)
    assert {b["number"] for b in app.of_type("sla_breached")} == {second}


def test_a_backlog_is_swept_in_units_growing_to_full_batches(app, fake_store, file, t):
    numbers = [file(f"2026-11-13 10:{m:02d}")["number"] for m in range(10)]
    outbox = FakeOutbox("complaints")
    report = sweeping.sweep(Handling(fake_store, app.rules, outbox), t("2026-11-13 13:00"),
                            per_unit=4)
    assert (report.cases, report.updated, report.units) == (10, 10, 4)    # 1, 2, 4, 3
    assert sorted(e["number"] for e in outbox.of_type("sla_breached")) == numbers


def test_a_batch_racing_another_replica_runs_again_and_emits_each_action_once(
        app, fake_store, rules, file, t):
    first, second, third = (file(f"2026-11-13 10:0{m}")["number"] for m in range(3))
    now = t("2026-11-13 13:00")

    def the_other_replica_sweeps_the_second(cases):
        cases[second] = rules.sweep(cases[second], now=now).case

    cases = [fake_store.get(n) for n in (first, second, third)]
    fake_store.before_replace = the_other_replica_sweeps_the_second
    outbox = FakeOutbox("complaints")
    swept, reruns = sweeping._sweep_unit(Handling(fake_store, rules, outbox), cases, now)
    assert reruns == 1
    assert [case["number"] for case, _ in swept] == [first, third]
    # the first run's events were rolled back with it: one breach each, none for the second
    assert sorted(e["number"] for e in outbox.of_type("sla_breached")) == [first,
                                                                                  third]
    assert [fake_store.get(n)["version"] for n in (first, second, third)] == [2, 2, 2]


def test_the_timer_sweeps_every_15_s_unless_configured(monkeypatch):
    def interval(config):
        timer = sweeping.SweepTimer("ZHIDU_SWEEP_INTERVAL")
        timer.container = SimpleNamespace(config=config, service_name="complaints")
        timer.setup()
        return timer.interval

    for key in ("ZHIDU_SWEEP_INTERVAL", "ZHIDU_COMPLAINTS_SWEEP_INTERVAL"):
        monkeypatch.delenv(key, raising=False)
    assert interval({}) == sweeping.INTERVAL_SECONDS == 15
    assert interval({"ZHIDU_SWEEP_INTERVAL": "0.5"}) == 0.5
    assert interval({"ZHIDU_COMPLAINTS_SWEEP_INTERVAL": "5",
                     "ZHIDU_SWEEP_INTERVAL": "60"}) == 5


# -- reads and exports ---------------------------------------------------------------------
def test_reads_mask_contacts_and_audit_the_full_ones_001_s2(app, fake_store, file):
    number = file()["number"]
    assert app("get", number, STAFF)["complainant"]["phone"] == "138****5678"
    assert fake_store.audit == []
    assert app("get", number, OFFICER)["complainant"]["phone"] == "13812345678"
    [row] = app("search", {"status": "received", "actor": OFFICER})
    assert row["complainant"]["email"] == "wang@example.com"
    assert [(r["operation"], r["actor"]["id"]) for r in app("audit_log", number, 10)] == [
        ("search", "sec-1"), ("get", "sec-1")]
    with pytest.raises(DomainNotFound):
        app("get", "2611-0999", STAFF)


def test_search_finds_an_owners_cases_and_without_contacts_reads_nothing_in_full_001_s2(
        app, fake_store, file, change):
    mine, theirs = file()["number"], file(subject="请回电13812345678")["number"]
    for number, owner in ((mine, "emp-7"), (theirs, "emp-8")):
        change("decide_validity", number, "2026-11-13 10:10", valid=True, reason="成立")
        change("assign", number, "2026-11-13 10:20", department="service", owner_id=owner)
    owned = app("search", {"owner_id": "emp-7", "status": "assigned", "actor": STAFF})
    assert [c["number"] for c in owned] == [mine]
    # A board or a queue for a reader with the full right: no contacts, nothing audited.
    rows = app("search", {"status": "assigned", "contacts": False, "clocks": True,
                          "actor": OFFICER})
    assert {r["number"] for r in rows} == {mine, theirs}
    assert all("complainant" not in r for r in rows)
    # The board's countdowns come with the rows: this round's open clocks only.
    clocks = {c["name"]: c for c in rows[0]["clocks"]}
    assert {"plan", "report", "resolve"} <= set(clocks)
    assert all(c["state"] in ("running", "paused") and c["round"] == 1 for c in clocks.values())
    assert set(clocks["plan"]) >= {"due", "warn_at", "warned", "unit", "escalation_level"}
    assert next(r for r in rows if r["number"] == theirs)["subject"] == "请回电138****5678"
    assert fake_store.audit == []
    [full] = app("search", {"owner_id": "emp-8", "actor": OFFICER})
    assert full["complainant"]["phone"] == "13812345678" and len(fake_store.audit) == 1


def test_an_export_is_approved_by_the_gm_then_taken_once_and_audited_001_s2_3_4_1(
        app, fake_store, file, t):
    numbers = {file("2026-11-13 10:00")["number"], file("2026-11-20 10:00")["number"]}
    file("2026-12-02 10:00")                                        # outside the period
    since, until = t("2026-11-01 00:00"), t("2026-12-01 00:00")
    with pytest.raises(DomainValidation) as backwards:
        app("request_export", until, since, "年度审计", IT)
    assert list(backwards.value.errors) == ["until"]
    export = app("request_export", since, until, "年度审计", IT)
    export_id = export["export_id"]
    assert export["status"] == "awaiting_approval" and export["requested_by"] == IT
    with pytest.raises(DomainConflict):
        app("take_export", export_id, IT)
    approved = app("approve_export", export_id, GM)
    assert (approved["status"], approved["approved_by"]) == ("approved", GM)
    assert fake_store.get_export(export_id)["status"] == "approved"
    with pytest.raises(DomainConflict):
        app("approve_export", export_id, GM)
    taken = app("take_export", export_id, IT)
    assert taken["status"] == "exported"
    assert {c["number"] for c in taken["cases"]} == numbers
    assert {c["complainant"]["phone"] for c in taken["cases"]} == {"13812345678"}
    assert sorted((r["number"], r["operation"]) for r in fake_store.audit) == sorted(
        (n, "export") for n in numbers)
    with pytest.raises(DomainConflict):
        app("take_export", export_id, IT)
    with pytest.raises(DomainNotFound):
        app("approve_export", "nope", GM)


def test_relations_and_subjects_the_permissions_file_names(app, fake_store, rules, file,
                                                           change, t):
    number = file(kind="internal")["number"]
    change("decide_validity", number, "2026-11-13 10:10", valid=True, reason="成立")
    change("assign", number, "2026-11-13 10:20", department="service", owner_id="emp-7")
    change("agree_plan", number, "2026-11-13 11:00", plan="p")
    change("submit_report", number, "2026-11-13 12:00", root_cause="r")
    change("propose_remedy", number, "2026-11-13 12:10", remedy="x", amount_yuan=10)
    handling = Handling(fake_store, rules, FakeOutbox("complaints"))

    def principal(id_, *roles, department=None):
        return SimpleNamespace(id=id_, roles=roles, person={"department": department})

    assert handling.works_at_desk(principal("cs-01", "staff", department="customer_service"))
    assert not handling.works_at_desk(principal("x", "staff", department="engineering"))
    assert handling.owns_case(principal("emp-7", "staff"), number)
    assert not handling.owns_case(principal("emp-8", "staff"), number)
    assert handling.may_decide_liability(principal("h", "hr"), number)      # internal: HR
    assert not handling.may_decide_liability(principal("o", "gm_office"), number)
    assert handling.remedy_proposer(number) == "cs-01"
    assert handling.remedy_proposer(None) is None
    export = app("request_export", t("2026-11-01 00:00"), t("2026-12-01 00:00"), "r", IT)
    assert handling.export_requester(export["export_id"]) == "it-01"
