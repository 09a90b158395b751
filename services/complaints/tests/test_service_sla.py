"""SLA clocks against the real broker and database: the 2026 calendar, pauses,
exactly-once warnings/breaches/reminders/escalations, the timer and the metrics."""
from collections import Counter
from datetime import timedelta

import pytest
import requests
from zhidu.testing import wait_for
from zhidu.times import utcnow

pytestmark = pytest.mark.integration


def dues(case):
    return {c["name"]: c["due"] for c in case["clocks"] if c["round"] == case["round"]}


def test_due_times_on_the_working_calendar_around_national_day(desk):
    # Friday 18 Sep: Saturday off, Sunday 20 Sep a make-up working day.
    friday = desk.file("2026-09-18T15:00")["deadlines"]
    assert friday == {"acknowledge": "2026-09-18T09:00:00+00:00",      # 2 plain hours
                      "resolve": "2026-09-22T07:00:00+00:00"}           # Sun, Mon, Tue 15:00
    after_hours = desk.file("2026-09-18T18:00", major_reason="fire")["deadlines"]
    assert after_hours["resolve"] == "2026-09-21T00:30:00+00:00"        # counted from Sun 08:30
    # Thursday 24 Sep, the eve of the Mid-Autumn holiday (25-27 Sep).
    eve = desk.file("2026-09-24T15:00")["deadlines"]
    assert eve["resolve"] == "2026-09-30T07:00:00+00:00"                 # Mon, Tue, Wed 15:00
    # Wednesday 30 Sep, the eve of National Day (1-7 Oct; Saturday 10 Oct worked).
    reply = desk.file("2026-09-30T14:00")
    assert reply["deadlines"]["resolve"] == "2026-10-10T06:00:00+00:00"  # 8, 9, Sat 10 Oct
    desk.walk(reply["number"],
              ("decide_validity", "2026-09-30T14:30", {"valid": True, "reason": "成立",
                                                       "reply": "已受理"}),
              ("assign", "2026-09-30T15:00", {"department": "service", "owner_id": "emp-7"}))
    case = desk.get(reply["number"])
    assert dues(case) == {
        "acknowledge": "2026-09-30T08:00:00+00:00",
        "resolve": "2026-10-10T06:00:00+00:00",
        "plan": "2026-10-08T07:00:00+00:00",                              # next working day
        "report": "2026-10-10T07:00:00+00:00",
        "feedback": "2026-10-10T07:00:00+00:00",
    }
    quality = desk.file("2026-09-30T14:00", category="quality",
                        complainant={"name": "ACME", "region": "foreign"})
    assert quality["deadlines"]["resolve"] == "2026-10-20T06:00:00+00:00"  # 20 plain days
    # by the holiday: acknowledge of all but the accepted one, resolve of the first three
    assert desk.sweep("2026-10-01T09:00")["events"]["sla_breached"] == 7
    # no working time passes during the holiday: no warning, no rung of the ladder
    assert desk.sweep("2026-10-07T23:00")["events"] == {}


def test_a_pause_across_a_weekend_excludes_the_paused_time(desk, event_tap):
    number = desk.file("2026-11-13T10:00")["number"]                    # Friday
    desk.walk(number, ("decide_validity", "2026-11-13T10:30", {"valid": True, "reason": "ok"}))
    assert dues(desk.get(number))["resolve"] == "2026-11-18T02:00:00+00:00"
    desk.walk(number, ("pause", "2026-11-13T14:00", {"reason": "等待客户提供照片"}))
    paused = desk.get(number)
    assert paused["next_check_at"] is None and dues(paused)["resolve"] is None
    assert desk.sweep("2026-11-20T09:00")["cases"] == 0                # a paused case is not due
    reply = desk.walk(number, ("resume", "2026-11-16T11:00"))
    # paused working time: Fri 14:00-16:20 and Mon 08:30-11:00 = 4 h 50 min
    assert reply["deadlines"]["resolve"] == "2026-11-18T06:50:00+00:00"
    with event_tap("complaints") as tap:
        desk.sweep("2026-11-18T14:49")
        assert not [e for e in tap.drain() if e["type"] == "complaints.sla_breached"]
        desk.sweep("2026-11-18T14:50")
        [breach] = tap.wait("complaints.sla_breached")
    assert breach["data"] == {"number": number, "clock": "resolve", "round": 1,
                              "due": "2026-11-18T06:50:00+00:00"}


def working_day_sweeps():
    days = ["2026-11-16", "2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20",
            "2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27"]
    return [f"{day}T{hour}" for day in days for hour in ("09:00", "10:30", "16:00")]


def test_each_warning_breach_reminder_and_rung_exactly_once_across_two_replicas(
        start_service, desk, event_tap):
    from complaints.service import ComplaintsService

    start_service(ComplaintsService)                                     # a second replica
    number = desk.file("2026-11-13T10:00")["number"]
    desk.walk(number, *desk.TO_RESOLVED[:2])
    with event_tap("complaints") as tap:
        for now in working_day_sweeps():
            # three sweeps at once, spread over both replicas, then one more
            calls = [desk.api.sweep.call_async({"now": now}) for _ in range(3)]
            for call in calls:
                call.result()
            desk.sweep(now)
        tap.wait("complaints.escalated", 12)
        events = [e for e in tap.drain() if e["data"].get("clock")]
    seen = Counter((e["type"].split(".")[1], e["data"]["clock"], e["data"].get("level"))
                   for e in events)
    expected = {(kind, clock, None) for kind in ("sla_warning", "sla_breached",
                                                  "reminder_issued")
                for clock in ("plan", "report", "feedback", "resolve")}
    expected |= {("escalated", clock, level) for clock in ("plan", "report", "feedback",
                                                            "resolve") for level in (1, 2, 3)}
    assert set(seen) == expected
    assert all(n == 1 for n in seen.values()), seen
    plan = [e["data"] for e in events if e["data"]["clock"] == "plan"
            and e["type"] == "complaints.escalated"]
    assert [(e["level"], e["to_role"]) for e in plan] == [
        (1, "dept_manager"), (2, "deputy_gm"), (3, "gm")]
    assert all(e["owner_id"] == "emp-7" and e["department"] == "service" for e in plan)
    [reminder] = [e["data"] for e in events if e["type"] == "complaints.reminder_issued"
                  and e["data"]["clock"] == "plan"]
    assert reminder["owner_id"] == "emp-7" and reminder["due"] == "2026-11-16T02:20:00+00:00"
    case = desk.get(number)
    assert case["escalation_level"] == 3 and case["breached"]
    assert case["next_check_at"] is None


def test_late_close_opens_a_delay_investigation_and_an_unfollowed_resolution_breaches(
        desk, event_tap, complaints_service, people):
    people.add("emp-7", "staff", department="service")  # a department the directory knows
    late = desk.file("2026-11-13T10:00")["number"]
    on_time = desk.file("2026-11-13T10:00")["number"]
    with event_tap("complaints") as tap:
        desk.walk(late, *desk.TO_RESOLVED[:4],
                  ("give_feedback", "2026-11-13T14:00", {"feedback": "已上门"}),
                  ("resolve", "2026-11-19T09:00", {"resolution": "迟到的解决"}),
                  ("follow_up", "2026-11-20T09:00", {"satisfied": True}))
        [opened] = tap.wait("complaints.delay_investigation_opened")
        desk.walk(on_time, *desk.TO_RESOLVED)
        desk.sweep("2026-11-27T14:00")                  # long past the follow-up day
        desk.sweep("2026-11-27T14:00")
        followup = [e for e in tap.wait("complaints.reminder_issued")
                    if e["data"]["clock"] == "followup"]
        breaches = [e["data"] for e in tap.of_type("complaints.sla_breached")]
    assert opened["data"]["number"] == late and opened["data"]["clocks"] == ["resolve"]
    assert {(b["number"], b["clock"]) for b in breaches} == {(late, "resolve"),
                                                             (on_time, "followup")}
    assert len(followup) == 1
    assert desk.get(late)["delay_investigation_at"] == "2026-11-20T01:00:00+00:00"
    breached = desk.api.search({"breached": True})
    assert {c["number"] for c in breached} == {late, on_time}
    metrics = requests.get(f"{complaints_service.web_url}/metrics", timeout=10).text
    assert ('zhidu_complaints_sla_breaches_total{clock="followup",department="service"} 1.0'
            in metrics)
    assert 'zhidu_complaints_open_clocks{clock="followup",state="breached"} 1.0' in metrics
    assert 'zhidu_complaints_open_clocks{clock="resolve",state="on_track"} 0.0' in metrics
    assert "zhidu_complaints_time_to_breach_seconds +Inf" in metrics


def test_the_timer_sweeps_with_the_real_time(start_service, rpc, event_tap):
    from complaints.service import ComplaintsService

    container = start_service(ComplaintsService, ZHIDU_SWEEP_INTERVAL="0.3")
    received = (utcnow() - timedelta(hours=3)).isoformat()
    with event_tap("complaints") as tap:
        reply = rpc.complaints.file({
            "channel": "online", "kind": "external", "category": "service",
            "complainant": {"name": "李先生"}, "subject": "s", "description": "d",
            "received_at": received})
        [breach] = tap.wait("complaints.sla_breached", timeout=10)
    assert breach["data"]["number"] == reply["number"]
    assert breach["data"]["clock"] == "acknowledge"

    def scraped():
        text = requests.get(f"{container.web_url}/metrics", timeout=10).text
        return text if "zhidu_complaints_sweep_duration_seconds_count" in text else None

    metrics = wait_for(scraped)
    assert 'zhidu_complaints_received_total{channel="online"} 1.0' in metrics
    assert ('zhidu_complaints_sla_breaches_total{clock="acknowledge",department="unassigned"}'
            ' 1.0') in metrics
    gauge = next(line for line in metrics.splitlines()
                 if line.startswith("zhidu_complaints_time_to_breach_seconds "))
    assert 0 < float(gauge.split()[1]) < 15 * 86400                    # resolve, 3 working days
    assert 'zhidu_complaints_open_clocks{clock="acknowledge",state="breached"} 1.0' in metrics
