"""Two replicas of every stateful service, as the Kubernetes manifests run them.

Twelve processes — two each of directory, complaints, attendance, dormitory,
penalties and notifications — share one broker and one database. Every timer
fires in both replicas twice a second, and the test also sends the same sweep
to both replicas at the same moment, while:

- the chain runs: inspections over REST, spread over both dormitory replicas,
  are booked by the penalties replicas and told by the notifications replicas;
- the complaint sweep warns, breaches, reminds and escalates overdue cases;
- the attendance sweep closes yesterday's roster, whose staff never came;
- the penalties replicas are replaced one pair for another (a rolling update)
  and the new pair publishes last month's deductions per unit (公示).

Then nothing is booked, warned, escalated, notified or published twice, and
nothing is missing: each fact has one event id, one ledger line and one inbox
item per person it concerns, and no dead-letter queue holds anything.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta

import eventlet
import pytest
from zhidu.testing import EventTap, service_db, wait_for
from zhidu.times import UTC

from .scene import (
    STATEFUL,
    ApiError,
    Rest,
    SteadyInspections,
    Suite,
    base_config,
    dead_letters,
    facts_told_twice,
    house,
    inbox_items_twice,
    ledger_entries_twice,
    local_now,
    operator_token,
    timer_runs,
    upsert_people,
)

pytestmark = pytest.mark.integration

REPLICAS = {name: 2 for name in STATEFUL}
SOURCES = ("dormitory", "attendance", "complaints", "penalties")
TIMED = ("complaints", "attendance", "dormitory", "penalties", "notifications")
RESIDENTS = [f"R{i:02d}" for i in range(8)]
ABSENT = [f"A{i}" for i in range(4)]
COMPLAINTS = 4
LAST_MONTH_INSPECTIONS = 16
THIS_MONTH_INSPECTIONS = 16
# Before the rolling update the month is not published yet (no day is the 32nd),
# so the publication cannot run before last month's chain has been booked.
NOT_YET = {"ZHIDU_PENALTY_PUBLICATION_DAY": "32"}
PUBLISH = {"ZHIDU_PENALTY_PUBLICATION_DAY": "1"}


def _people() -> list[dict]:
    north = {"department": "property", "unit": "north", "unit_head_id": "UH1"}
    return [
        {"employee_id": "UH1", "department": "property", "unit": "north",
         "role": "dept_manager"},
        {"employee_id": "HR1", "department": "hr", "unit": "hq", "role": "hr"},
        {"employee_id": "O1", "department": "service", "unit": "centre"},
        {"employee_id": "M2", "department": "service", "unit": "centre",
         "role": "dept_manager"},
        {"employee_id": "DG1", "department": "management", "unit": "hq", "role": "deputy_gm"},
        {"employee_id": "G1", "department": "management", "unit": "hq", "role": "gm"},
        *({"employee_id": r, **north} for r in RESIDENTS),
        *({"employee_id": a, "department": "customer_service", "unit": "centre"}
          for a in ABSENT),
    ]


def _month_start(day: datetime) -> datetime:
    return day.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _race(suite: Suite, rest: Rest, service: str, rounds: int = 3) -> None:
    """The same sweep sent to every replica of ``service`` at the same moment."""
    for _ in range(rounds):
        now = datetime.now(UTC).isoformat()
        calls = [eventlet.spawn(rest.call, "POST", service, "/sweep", {"now": now},
                                f"http://127.0.0.1:{proc.port}")
                 for proc in suite.procs[service]]
        for call in calls:
            call.wait()


def _file_complaints(rest: Rest, received: datetime) -> list[str]:
    """Overdue cases, filed in turn on each replica, then validated and assigned."""
    numbers = [rest.call("POST", "complaints", "/complaints", {
        "channel": "phone", "kind": "external", "category": "service",
        "complainant": {"name": f"客户{n}"}, "subject": "维修不到场",
        "description": "约好的维修没有来", "received_at": received.isoformat(),
        "target_department": "service"})["number"] for n in range(COMPLAINTS)]
    assert len(set(numbers)) == COMPLAINTS, numbers
    for number in numbers:
        rest.call("POST", "complaints", f"/complaints/{number}/validity",
                  {"valid": True, "reason": "成立",
                   "at": (received + timedelta(minutes=30)).isoformat()})
        rest.call("POST", "complaints", f"/complaints/{number}/assignment",
                  {"department": "service", "owner_id": "O1",
                   "at": (received + timedelta(hours=1)).isoformat()})
    return numbers


def _roster_yesterday(rest: Rest, today: datetime) -> str:
    """A day shift yesterday for staff who never clocked in: the sweep finds them absent."""
    yesterday = (today - timedelta(days=1)).date().isoformat()
    rest.call("PUT", "attendance", "/shifts/RD", {"start": "08:00", "end": "16:00"})
    rest.until_known("POST", "attendance", "/rosters", {
        "entries": [{"employee_id": a, "date": yesterday, "shift_code": "RD"}
                    for a in ABSENT],
        "published": True, "at": (today - timedelta(days=8)).isoformat()})
    return yesterday


def test_two_replicas_of_every_service_do_each_thing_once(mongo_uri, rabbit_config,
                                                          zhidu_key_dir):
    config = base_config(rabbit_config["AMQP_URI"], mongo_uri, zhidu_key_dir,
                         ZHIDU_SWEEP_INTERVAL="0.5", ZHIDU_RETRY_DELAYS="0.5,1,2,4",
                         ZHIDU_HR_IDS="HR1", ZHIDU_DEPUTY_GM_IDS="DG1", ZHIDU_GM_IDS="G1")
    now = local_now()
    this_month = _month_start(now)
    last_month = _month_start(this_month - timedelta(days=1))
    covers = f"{last_month.year}-{last_month.month:02d}"

    with Suite(config) as suite, EventTap(config["AMQP_URI"], list(SOURCES)) as tap:
        suite.start(REPLICAS, {"penalties": NOT_YET})
        first_penalties = list(suite.procs["penalties"])
        rest = Rest(suite, operator_token(config))
        upsert_people(rest, _people())
        rooms = house(rest, RESIDENTS, since=(last_month - timedelta(days=40)).isoformat())

        # Last month's inspections, while the complaint and attendance sweeps run.
        earlier = SteadyInspections(rest, rooms, last_month + timedelta(days=14, hours=20),
                                    rate=8).start(LAST_MONTH_INSPECTIONS)
        numbers = _file_complaints(rest, now - timedelta(days=8))
        yesterday = _roster_yesterday(rest, now)
        _race(suite, rest, "complaints")
        _race(suite, rest, "attendance")
        earlier.finish()
        ledger = service_db(config, "penalties")
        wait_for(lambda: ledger.entries.count_documents({"domain": "dormitory"})
                 >= LAST_MONTH_INSPECTIONS, timeout=30,
                 message="last month's inspections booked")

        # A rolling update of penalties: the new pair may publish; the chain goes on.
        # A second apart, within the last hour: this month, and in the past.
        later = SteadyInspections(rest, rooms, max(this_month, now - timedelta(hours=1)),
                                  rate=4, spacing=timedelta(seconds=1))
        later.start(THIS_MONTH_INSPECTIONS)
        suite.start({"penalties": 2}, {"penalties": PUBLISH})
        for old in first_penalties:
            suite.retire(old)
        _race(suite, rest, "penalties")
        later.finish()

        violations = {**earlier.violations(), **later.violations()}
        assert len(violations) == LAST_MONTH_INSPECTIONS + THIS_MONTH_INSPECTIONS
        inbox = service_db(config, "notifications").inbox

        def everything_arrived():
            told = {(i["recipient_id"], i["event_type"]) for i in inbox.find(
                {}, {"recipient_id": 1, "event_type": 1})}
            booked = {e["incident_id"] for e in ledger.entries.find(
                {"domain": "dormitory"}, {"incident_id": 1})}
            events = tap.drain()
            types = Counter(e["type"] for e in events)
            return (booked >= set(violations)
                    and {("UH1", "penalties.publication_issued"),
                         ("HR1", "penalties.publication_issued")} <= told
                    and all((a, "penalties.penalty_issued") in told for a in ABSENT)
                    and types["attendance.absence_recorded"] >= len(ABSENT)
                    and types["complaints.escalated"] >= COMPLAINTS)
        wait_for(everything_arrived, timeout=60, interval=0.5,
                 message="the chain, the sweeps and the publication to finish")
        for service in STATEFUL:
            wait_for(lambda s=service: service_db(config, s).outbox.count_documents({}) == 0,
                     timeout=30, message=f"{service}'s outbox drained")
        # The timers keep firing in every replica: a second round of anything would
        # show up now.
        _race(suite, rest, "complaints")
        _race(suite, rest, "attendance")
        _race(suite, rest, "penalties")
        eventlet.sleep(3)
        events = tap.drain()
        # Every replica's own timers ran: the replicas really did sweep side by side.
        timers = {(p.service, p.port): timer_runs(p) for name in TIMED for p in suite.procs[name]}
        relays = {(p.service, p.port): timer_runs(p, "relay_outbox") for p in suite.all()}
        absences = {a: rest.call("GET", "attendance", f"/violations?employee_id={a}")
                    for a in ABSENT}
    assert all(runs > 0 for runs in timers.values()), timers
    assert all(runs > 0 for runs in relays.values()), relays

    by_id = {e["id"]: e for e in events}
    of_type = defaultdict(list)
    for event in by_id.values():
        of_type[event["type"]].append(event["data"])

    # Nothing twice: one id per fact, one ledger line per share, one inbox item
    # per person and fact.
    assert facts_told_twice(events) == {}
    assert ledger_entries_twice(config) == {}
    assert inbox_items_twice(config, by_id) == {}
    for absent in ABSENT:
        assert [v["code"] for v in absences[absent]] == ["A04"], absences[absent]

    # Nothing lost. The chain: every inspection booked and told.
    dormitory_lines = list(ledger.entries.find({"domain": "dormitory"},
                                               {"incident_id": 1, "employee_id": 1}))
    assert sorted(e["incident_id"] for e in dormitory_lines) == sorted(violations)
    told = Counter((i["recipient_id"], i["event_type"]) for i in inbox.find({}))
    for resident in RESIDENTS:
        assert told[(resident, "penalties.penalty_issued")] == \
            sum(1 for r in violations.values() if r == resident)
    # The close of yesterday: each absentee absent once, booked once, told once.
    assert sorted((a["employee_id"], a["date"]) for a in
                  of_type["attendance.absence_recorded"]) == [(a, yesterday) for a in ABSENT]
    for absent in ABSENT:
        assert told[(absent, "penalties.penalty_issued")] == 1
    # The complaint sweep: every case breached, reminded and escalated, once each.
    for number in numbers:
        rungs = sorted(e["level"] for e in of_type["complaints.escalated"]
                       if e["number"] == number and e["clock"] == "plan")
        assert rungs and rungs == sorted(set(rungs)), (number, rungs)
        assert any(e["number"] == number for e in of_type["complaints.reminder_issued"])
    # Reminders and rungs raised after the assignment name the owner, who hears of each.
    reminders = {e["id"] for e in by_id.values()
                 if e["type"] in ("complaints.reminder_issued", "complaints.escalated")
                 and e["data"].get("owner_id") == "O1"}
    assert reminders
    owner_told = {i["event_id"] for i in inbox.find({"recipient_id": "O1"})}
    missed = [by_id[i] for i in reminders - owner_told]
    assert not missed, [(e["type"], e["data"], e["time"]) for e in missed]
    # The publication: last month's deductions of the north unit, once, to its head and HR.
    north = [p for p in of_type["penalties.publication_issued"] if p["unit"] == "north"]
    assert len(north) == 1 and north[0]["covers"] == covers
    assert north[0]["penalty_count"] == LAST_MONTH_INSPECTIONS
    assert told[("UH1", "penalties.publication_issued")] == 1
    assert dead_letters(config["AMQP_URI"], STATEFUL) == {s: 0 for s in STATEFUL}
    # Each kind of timer decision really happened, so "once" was put to the test.
    assert all(of_type[t] for t in ("complaints.sla_warning", "complaints.sla_breached",
                                    "complaints.reminder_issued", "complaints.escalated"))


def test_complaints_filed_at_the_same_moment_on_both_replicas_all_get_a_number(
        mongo_uri, rabbit_config, zhidu_key_dir):
    """Intake over two replicas at once: every call answered, serials 1..n, no gaps.

    Each month's numbering (YYMM-NNNN, 001 §1 第八条) starts with the first
    complaint received in it, so the first filings of a month race to create
    its counter.
    """
    config = base_config(rabbit_config["AMQP_URI"], mongo_uri, zhidu_key_dir)
    months = [datetime(2025, m, 10, 2, 0, tzinfo=UTC) for m in range(1, 7)]
    at_once = 4
    with Suite(config) as suite:
        suite.start({"complaints": 2})
        rest = Rest(suite, operator_token(config))

        def file(received: datetime) -> str:
            try:
                return rest.call("POST", "complaints", "/complaints", {
                    "channel": "phone", "kind": "external", "category": "service",
                    "complainant": {"name": "客户"}, "subject": "维修不到场",
                    "description": "约好的维修没有来", "received_at": received.isoformat(),
                    "target_department": "service"})["number"]
            except ApiError as exc:
                return f"HTTP {exc.status}"
        replies = {}
        for received in months:
            replies[received.strftime("%y%m")] = sorted(
                eventlet.GreenPool(at_once).imap(file, [received] * at_once))
    assert replies == {key: [f"{key}-{n:04d}" for n in range(1, at_once + 1)]
                       for key in replies}
