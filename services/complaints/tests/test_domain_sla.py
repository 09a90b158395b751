"""SLA clocks on the 2026 calendar: holidays, make-up days, pauses, the ladder."""
from __future__ import annotations

import copy

from complaints import sla

STAFF = {"id": "cs-01", "role": "staff"}
MANAGER = {"id": "mgr-01", "role": "dept_manager"}


def kinds(outcome, clock=None):
    return [(e["type"], e["data"].get("level")) for e in outcome.events
            if clock is None or e["data"].get("clock") == clock]


# -- due times on the working calendar -------------------------------------------
def test_friday_filing_before_the_make_up_sunday(rules, intake, t, clock_of):
    # Friday 18 Sep 2026; Saturday is off, Sunday 20 Sep is a make-up working day.
    out = rules.file(intake("2026-09-18 15:00"), number="2609-0001", actor=STAFF)
    case = out.case
    assert clock_of(case, "acknowledge")["due"] == t("2026-09-18 17:00")      # plain 2 h
    resolve = clock_of(case, "resolve")
    assert resolve["due"] == t("2026-09-22 15:00")     # Sun 20, Mon 21, Tue 22
    # 80 % of 3 × 7 h 50 min = 18 h 48 min of working time: Fri 1:20, Sun, Mon, Tue 1:48.
    assert resolve["warn_at"] == t("2026-09-22 10:18")
    received = out.events[0]
    assert received["type"] == "received"
    assert received["data"]["deadlines"] == {
        "acknowledge": "2026-09-18T09:00:00+00:00", "resolve": "2026-09-22T07:00:00+00:00"}
    assert case["next_check_at"] == t("2026-09-18 16:36")


def test_after_hours_filing_counts_from_the_next_opening(filed, t, clock_of):
    case = filed("2026-09-18 18:00", major=True, major_reason="fire")
    # counting starts Sunday 08:30 (make-up day); one full working day later is Monday 08:30
    assert clock_of(case, "resolve")["due"] == t("2026-09-21 08:30")
    assert clock_of(case, "acknowledge")["due"] == t("2026-09-18 20:00")


def test_national_day_assignment_deadlines(filed, walk, t, clock_of):
    case = filed("2026-09-30 09:00", number="2609-0002", category="quality")
    case = walk(case, ("decide_validity", "2026-09-30 09:30", {"valid": True, "reason": "成立",
                                                            "reply": "已受理"}),
                ("assign", "2026-09-30 10:00", {"department": "quality",
                                                 "owner_id": "qa-07"}))
    assert clock_of(case, "acknowledge")["state"] == "met"
    assert clock_of(case, "plan")["due"] == t("2026-10-08 10:00")       # after 1-7 Oct
    assert clock_of(case, "report")["due"] == t("2026-10-10 10:00")     # make-up Saturday
    assert clock_of(case, "feedback")["due"] == t("2026-10-10 10:00")
    assert clock_of(case, "resolve")["due"] == t("2026-10-15 09:00")    # 15 plain days
    assert clock_of(case, "plan")["department"] == "quality"


def test_resolve_budget_follows_category_region_and_major(filed, t, clock_of):
    service = filed("2026-09-30 09:00")
    foreign = filed("2026-09-30 09:00", category="quality",
                    complainant={"name": "ACME", "region": "foreign"})
    major = filed("2026-09-30 18:00", households_affected=3)
    assert clock_of(service, "resolve")["due"] == t("2026-10-10 09:00")
    assert clock_of(foreign, "resolve")["due"] == t("2026-10-20 09:00")
    assert major["major_reasons"] == ["collective_complaint"]
    assert clock_of(major, "resolve")["due"] == t("2026-10-09 08:30")


# -- pauses ----------------------------------------------------------------------------
def test_pause_across_a_weekend_excludes_the_paused_working_time(filed, walk, rules, t,
                                                                 clock_of):
    case = filed("2026-11-13 10:00", number="2611-0001")            # a Friday
    case = walk(case, ("decide_validity", "2026-11-13 10:30", {"valid": True, "reason": "ok"}))
    assert clock_of(case, "resolve")["due"] == t("2026-11-18 10:00")
    paused = rules.pause(case, reason="等待客户提供照片", at=t("2026-11-13 14:00"),
                         actor=STAFF).case
    resolve = clock_of(paused, "resolve")
    assert resolve["state"] == "paused" and resolve["due"] is None
    assert resolve["consumed_seconds"] == 4 * 3600
    assert paused["next_check_at"] is None
    assert rules.sweep(paused, now=t("2026-11-20 09:00")).events == []
    resumed = rules.resume(paused, at=t("2026-11-16 11:00"), actor=STAFF).case
    assert resumed["status"] == "accepted"
    # paused working time: Fri 14:00-16:20 and Mon 08:30-11:00 = 4 h 50 min
    assert clock_of(resumed, "resolve")["due"] == t("2026-11-18 14:50")
    assert resumed["pauses"] == [{"from": t("2026-11-13 14:00"), "to": t("2026-11-16 11:00"),
                                  "reason": "等待客户提供照片", "status": "accepted"}]


def test_pause_stops_a_plain_time_clock_too(filed, walk, rules, t, clock_of):
    case = filed("2026-11-13 10:00", category="quality")
    case = walk(case, ("decide_validity", "2026-11-13 10:30", {"valid": True, "reason": "ok"}),
                ("pause", "2026-11-13 14:00", {"reason": "第三方检测"}),
                ("resume", "2026-11-16 11:00"))
    assert clock_of(case, "resolve")["due"] == t("2026-12-01 07:00")   # 28 Nov 10:00 + 69 h


# -- warning, breach, reminder, ladder -----------------------------------------------
def ack_only(raw):
    raw["clocks"] = {"acknowledge": raw["clocks"]["acknowledge"]}


def test_each_step_of_the_ladder_exactly_once(rules_with, intake, t):
    rules = rules_with(ack_only)
    case = rules.file(intake("2026-11-13 10:00"), number="2611-0001", actor=STAFF).case
    assert case["next_check_at"] == t("2026-11-13 11:36")
    expected = [
        ("2026-11-13 11:00", [], "2026-11-13 11:36"),
        ("2026-11-13 11:36", [("sla_warning", None)], "2026-11-13 12:00"),
        ("2026-11-13 11:50", [], "2026-11-13 12:00"),
        ("2026-11-13 12:00", [("sla_breached", None), ("reminder_issued", None)],
         "2026-11-16 12:00"),
        ("2026-11-14 12:00", [], "2026-11-16 12:00"),       # the weekend does not count
        ("2026-11-16 12:00", [("escalated", 1)], "2026-11-17 12:00"),
        ("2026-11-16 16:00", [], "2026-11-17 12:00"),
        ("2026-11-17 12:00", [("escalated", 2)], "2026-11-18 12:00"),
        ("2026-11-18 12:00", [("escalated", 3)], None),
        ("2026-11-30 12:00", [], None),
    ]
    for now, events, next_check in expected:
        out = rules.sweep(case, now=t(now))
        assert kinds(out) == events, now
        assert out.next_check_at == (next_check and t(next_check)), now
        again = rules.sweep(out.case, now=t(now))
        assert again.events == [] and again.case["version"] == out.case["version"]
        case = out.case
    roles = [e["role"] for e in case["clocks"][0]["escalations"]]
    assert roles == ["dept_manager", "deputy_gm", "gm"]
    assert case["escalation_level"] == 3 and case["breached"]


def test_a_sweep_after_downtime_emits_every_missed_step_once_in_order(rules_with, intake, t):
    rules = rules_with(ack_only)
    case = rules.file(intake("2026-11-13 10:00"), number="2611-0001", actor=STAFF).case
    out = rules.sweep(case, now=t("2026-11-19 09:00"))
    assert kinds(out) == [("sla_warning", None), ("sla_breached", None),
                          ("reminder_issued", None), ("escalated", 1), ("escalated", 2),
                          ("escalated", 3)]
    escalated = [e["data"] for e in out.events if e["type"] == "escalated"]
    assert [e["to_role"] for e in escalated] == ["dept_manager", "deputy_gm", "gm"]
    assert escalated[0]["due"] == "2026-11-13T04:00:00+00:00"
    for later in ("2026-11-19 09:00", "2026-11-13 13:00", "2027-01-01 00:00"):
        assert rules.sweep(out.case, now=t(later)).events == []


def test_evaluate_is_pure(rules_with, intake, t, cal):
    rules = rules_with(ack_only)
    case = rules.file(intake("2026-11-13 10:00"), number="2611-0001", actor=STAFF).case
    before = copy.deepcopy(case)
    first = sla.evaluate(case, t("2026-11-16 12:00"), cal, rules.policy)
    assert first == sla.evaluate(case, t("2026-11-16 12:00"), cal, rules.policy)
    assert case == before
    assert first.next_check_at == t("2026-11-17 12:00")


def test_pause_after_breach_keeps_the_climb(rules_with, intake, t):
    rules = rules_with(ack_only)
    case = rules.file(intake("2026-11-13 10:00"), number="2611-0001", actor=STAFF).case
    paused = rules.pause(case, reason="客户出差", at=t("2026-11-13 14:00"), actor=STAFF)
    # what fell due before the pause is settled by the pause itself
    assert kinds(paused) == [("sla_warning", None), ("sla_breached", None),
                             ("reminder_issued", None), ("status_changed", None)]
    resumed = rules.resume(paused.case, at=t("2026-11-17 09:00"), actor=STAFF).case
    # 2 h were already overdue; the rest of the working day is 5 h 50 min from 09:00
    assert resumed["next_check_at"] == t("2026-11-17 14:50")
    assert rules.sweep(resumed, now=t("2026-11-17 14:49")).events == []
    assert kinds(rules.sweep(resumed, now=t("2026-11-17 14:50"))) == [("escalated", 1)]


def test_reminder_goes_to_the_owner(filed, walk, rules, t):
    case = filed("2026-11-13 10:00")
    case = walk(case, ("decide_validity", "2026-11-13 10:10", {"valid": True, "reason": "ok",
                                                            "reply": "已受理"}),
                ("assign", "2026-11-13 10:20", {"department": "service", "owner_id": "emp-9"}))
    out = rules.sweep(case, now=t("2026-11-16 10:20"))          # plan due after 1 working day
    reminders = [e["data"] for e in out.events if e["type"] == "reminder_issued"]
    assert reminders == [{"number": "2609-0001", "clock": "plan", "round": 1,
                          "due": "2026-11-16T02:20:00+00:00", "owner_id": "emp-9",
                          "department": "service"}]


# -- meeting, waiving, follow-up, delay investigation ---------------------------------
def test_late_resolution_breaches_without_reminder_and_closing_opens_a_delay_investigation(
        filed, walk, rules, t, clock_of):
    case = filed("2026-11-13 10:00")
    case = walk(case, ("decide_validity", "2026-11-13 10:10", {"valid": True, "reason": "ok",
                                                            "reply": "已受理"}),
                ("assign", "2026-11-13 10:20", {"department": "service", "owner_id": "e1"}),
                ("give_feedback", "2026-11-13 10:50", {"feedback": "今日上门"}),
                ("agree_plan", "2026-11-13 11:00", {"plan": "道歉"}),
                ("submit_report", "2026-11-16 09:00", {"root_cause": "培训不足"}))
    out = rules.resolve(case, resolution="已道歉并补偿", at=t("2026-11-19 09:00"), actor=STAFF)
    assert [e["type"] for e in out.events] == ["status_changed", "sla_breached", "resolved"]
    resolve = clock_of(out.case, "resolve")
    assert resolve["state"] == "met" and resolve["on_time"] is False
    assert resolve["breached_at"] == t("2026-11-18 10:00")
    assert clock_of(out.case, "followup")["due"] == t("2026-11-20 09:00")   # 1 working day
    closed = rules.follow_up(out.case, satisfied=True, at=t("2026-11-20 09:00"), actor=STAFF)
    types = [e["type"] for e in closed.events]
    assert types == ["status_changed", "closed", "delay_investigation_opened"]
    assert closed.events[-1]["data"]["clocks"] == ["resolve"]
    assert closed.case["next_check_at"] is None
    assert all(c["state"] in ("met", "waived") for c in closed.case["clocks"])


def test_on_time_case_closes_without_delay_investigation(filed, walk, rules, t, clock_of):
    case = filed("2026-11-13 10:00", major=True)
    case = walk(case, ("decide_validity", "2026-11-13 10:10", {"valid": True, "reason": "ok",
                                                            "reply": "已受理"}),
                ("assign", "2026-11-13 10:20", {"department": "service", "owner_id": "e1"}),
                ("give_feedback", "2026-11-13 10:40", {"feedback": "抢修中"}),
                ("agree_plan", "2026-11-13 11:00", {"plan": "抢修"}),
                ("submit_report", "2026-11-13 15:00", {"root_cause": "线路老化"}),
                ("resolve", "2026-11-16 10:00", {"resolution": "已修复"}))
    assert clock_of(case, "resolve")["on_time"] is True            # met exactly at due
    assert clock_of(case, "followup")["due"] == t("2026-11-17 10:00")   # 1 working day
    out = rules.follow_up(case, satisfied=True, at=t("2026-11-17 10:00"), actor=STAFF)
    assert "delay_investigation_opened" not in [e["type"] for e in out.events]
    assert all(c["on_time"] for c in out.case["clocks"])


def test_an_unfollowed_resolution_breaches_the_followup_clock(filed, walk, rules, t):
    case = filed("2026-11-13 10:00")
    case = walk(case, ("decide_validity", "2026-11-13 10:10", {"valid": True, "reason": "ok",
                                                            "reply": "已受理"}),
                ("assign", "2026-11-13 10:20", {"department": "service", "owner_id": "e1"}),
                ("agree_plan", "2026-11-13 11:00", {"plan": "p"}),
                ("submit_report", "2026-11-13 12:00", {"root_cause": "r"}),
                ("resolve", "2026-11-13 13:00", {"resolution": "done"}))
    out = rules.sweep(case, now=t("2026-11-16 13:00"))          # one working day later
    assert kinds(out, "followup") == [("sla_warning", None), ("sla_breached", None),
                                      ("reminder_issued", None)]
    closed = rules.follow_up(out.case, satisfied=True, at=t("2026-11-16 15:00"), actor=STAFF)
    assert closed.events[-1]["type"] == "delay_investigation_opened"
    assert closed.events[-1]["data"]["clocks"] == ["followup"]


def test_reopen_restarts_the_round_clocks(filed, walk, rules, t, clock_of):
    case = filed("2026-11-13 10:00")
    case = walk(case, ("decide_validity", "2026-11-13 10:10", {"valid": True, "reason": "ok"}),
                ("assign", "2026-11-13 10:20", {"department": "service", "owner_id": "e1"}),
                ("agree_plan", "2026-11-13 11:00", {"plan": "p"}),
                ("submit_report", "2026-11-13 12:00", {"root_cause": "r"}),
                ("resolve", "2026-11-13 13:00", {"resolution": "done"}))
    out = rules.follow_up(case, satisfied=False, note="仍有异响", at=t("2026-11-16 09:00"),
                          actor=STAFF)
    reopened = out.case
    assert reopened["status"] == "reopened" and reopened["round"] == 2
    assert clock_of(reopened, "followup", 1)["state"] == "met"
    assert [c["name"] for c in sla.current_clocks(reopened)] == ["resolve"]
    assert clock_of(reopened, "resolve")["due"] == t("2026-11-19 09:00")
    assert out.events[-1] == {"type": "reopened", "data": {
        "number": "2609-0001", "at": "2026-11-16T01:00:00+00:00", "round": 2}}
    again = rules.assign(reopened, department="engineering", owner_id="e2",
                         at=t("2026-11-16 10:00"), actor=MANAGER).case
    assert again["status"] == "assigned"
    assert sorted(c["name"] for c in sla.current_clocks(again)) == [
        "feedback", "plan", "report", "resolve"]
    assert clock_of(again, "plan")["due"] == t("2026-11-17 10:00")
    assert clock_of(again, "plan", 1)["state"] == "met"          # round 1 kept for statistics


def test_resolving_without_report_waives_the_report_clock_when_policy_allows(
        rules_with, intake, t, clock_of):
    def allow(raw):
        raw["lifecycle"]["resolve_requires_report"] = False
    rules = rules_with(allow)
    case = rules.file(intake("2026-11-13 10:00"), number="2611-0001", actor=STAFF).case
    for name, when, kwargs in (
            ("decide_validity", "2026-11-13 10:10", {"valid": True, "reason": "ok"}),
            ("assign", "2026-11-13 10:20", {"department": "service", "owner_id": "e1"}),
            ("agree_plan", "2026-11-13 11:00", {"plan": "p"}),
            ("resolve", "2026-11-13 12:00", {"resolution": "done"})):
        case = getattr(rules, name)(case, at=t(when), actor=STAFF, **kwargs).case
    assert case["status"] == "resolved"
    assert clock_of(case, "report")["state"] == "waived"
    assert clock_of(case, "report")["on_time"] is None


def test_stored_times_survive_a_round_trip_through_millisecond_storage(rules, intake, t):
    case = rules.file(intake("2026-11-13 10:00:00.123456"), number="2611-0001",
                      actor=STAFF).case
    assert case["received_at"].microsecond == 123000
    assert all(c["due"].microsecond % 1000 == 0 for c in case["clocks"])


def test_a_case_read_back_with_naive_utc_times_behaves_the_same(rules_with, intake, t):
    """pymongo without tz_aware hands back naive UTC datetimes."""
    def naive(value):
        if isinstance(value, dict):
            return {k: naive(v) for k, v in value.items()}
        if isinstance(value, list):
            return [naive(v) for v in value]
        if hasattr(value, "tzinfo") and getattr(value, "tzinfo", None) is not None:
            return value.replace(tzinfo=None)
        return value

    rules = rules_with(ack_only)
    case = rules.file(intake("2026-11-13 10:00"), number="2611-0001", actor=STAFF).case
    aware = rules.sweep(case, now=t("2026-11-16 12:00"))
    stored = rules.sweep(naive(case), now=t("2026-11-16 12:00"))
    assert stored.events == aware.events
    assert stored.next_check_at == aware.next_check_at
    paused = rules.pause(naive(aware.case), reason="x", at=t("2026-11-16 13:00"), actor=STAFF)
    resumed = rules.resume(naive(paused.case), at=t("2026-11-17 13:00"), actor=STAFF)
    assert resumed.case["next_check_at"] == t("2026-11-18 12:00")


def test_a_case_stored_before_clocks_carried_their_ladder_behaves_the_same(rules_with,
                                                                            intake, t):
    def earlier_shape(case):
        case = copy.deepcopy(case)
        for clock in case["clocks"]:
            for key in ("owner", "ladder", "step_unit", "step_seconds"):
                del clock[key]
        return case

    rules = rules_with(ack_only)
    case = rules.file(intake("2026-11-13 10:00"), number="2611-0001", actor=STAFF).case
    old = earlier_shape(case)
    assert sla.evaluate(old, t("2026-11-17 12:00"), rules.calendar, rules.policy) == \
        sla.evaluate(case, t("2026-11-17 12:00"), rules.calendar, rules.policy)
    assert "ladder" not in old["clocks"][0]
    swept, swept_old = (rules.sweep(c, now=t("2026-11-16 12:00")) for c in (case, old))
    assert swept_old.events == swept.events and swept_old.case == swept.case
    paused, paused_old = (rules.pause(c, reason="x", at=t("2026-11-16 13:00"), actor=STAFF)
                          for c in (swept.case, earlier_shape(swept.case)))
    assert paused_old.case == paused.case
    resumed = rules.resume(earlier_shape(paused.case), at=t("2026-11-17 13:00"), actor=STAFF)
    assert resumed.case["next_check_at"] == t("2026-11-18 12:00")
    assert kinds(rules.sweep(resumed.case, now=t("2026-11-18 12:00"))) == [("escalated", 2)]
