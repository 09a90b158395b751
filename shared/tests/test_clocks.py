"""The shared clock engine: definitions from YAML, due/warn/breach on the
working calendar, pauses, agreed deadlines, extensions and the ladder."""
from zoneinfo import ZoneInfo

import pytest
from zhidu import clocks as clk
from zhidu.calendar import calendar_from_policy
from zhidu.times import parse_time

SHANGHAI = ZoneInfo("Asia/Shanghai")
BOOK = {
    "warning_fraction": 0.8,
    "escalation": {"ladder": ["owner", "dept_manager", "deputy_gm", "gm"],
                   "step": {"working_days": 1}},
    "clocks": {
        "plan": {"starts_on": ["assigned"], "met_by": ["planned"],
                 "budgets": [{"when": {"major": True}, "working_hours": 4},
                             {"working_days": 1}]},
        "arrival": {"starts_on": ["dispatched"], "met_by": ["arrived"],
                    "stopped_by": ["called"], "budgets": [{"minutes": 20}],
                    "escalation": {"ladder": ["desk", "dept_manager"], "step": {"minutes": 20}},
                    "violation": "RP01"},
    },
}


def t(text):
    return parse_time(text, SHANGHAI)


@pytest.fixture(scope="module")
def cal():
    return calendar_from_policy({}, tz=SHANGHAI)


@pytest.fixture(scope="module")
def book():
    return clk.clocks_from_dict(BOOK, moments={"assigned", "planned", "dispatched", "arrived",
                                               "called"},
                                conditions={"major"}, extra_keys={"violation"})


def test_definitions_are_validated_with_the_dotted_key():
    bad = {**BOOK, "clocks": {"plan": {**BOOK["clocks"]["plan"], "met_by": ["plannd"]}}}
    with pytest.raises(ValueError, match=r"clocks.plan.met_by: unknown \['plannd'\]"):
        clk.clocks_from_dict(bad, moments={"assigned", "planned"})
    typo = {**BOOK, "clocks": {"plan": {**BOOK["clocks"]["plan"], "budjets": []}}}
    with pytest.raises(ValueError, match="clocks.plan.budjets: unknown key"):
        clk.clocks_from_dict(typo)
    with pytest.raises(ValueError, match=r"clocks.arrival.violation: unknown key"):
        clk.clocks_from_dict(BOOK)
    two_units = {**BOOK, "clocks": {"x": {"met_by": ["a"], "budgets": [{"days": 1,
                                                                         "hours": 2}]}}}
    with pytest.raises(ValueError, match="exactly one of"):
        clk.clocks_from_dict(two_units, extra_keys={"violation"})


def test_budgets_pick_the_first_match_and_keep_service_keys(book):
    assert book["plan"].budget_for({"major": True}).unit == "working_hours"
    assert book["plan"].budget_for({}).amount == 1
    assert book["arrival"].extra == {"violation": "RP01"}
    assert book["arrival"].ladder.roles == ("desk", "dept_manager")
    assert book["plan"].ladder.step.working


def test_working_day_clock_crosses_a_holiday_warns_breaches_and_climbs(book, cal):
    # Wednesday before National Day, 15:00: one working day is 15:00 on 8 October.
    clock = clk.start_clock(book["plan"], 1, t("2026-09-30 15:00"), cal, owner="E7")
    assert clock["due"] == t("2026-10-08 15:00")
    assert clk.evaluate([clock], t("2026-10-08 13:30"), cal).actions[0].kind == "warning"
    found = clk.evaluate([clock], t("2026-10-10 15:00"), cal)
    kinds = [(a.kind, a.to_role) for a in found.actions]
    # 8 Oct 15:00 due; 9 Oct 15:00 one working day over; 10 Oct (make-up Saturday) two.
    assert kinds == [("warning", None), ("breach", None), ("reminder", "owner"),
                     ("escalation", "dept_manager"), ("escalation", "deputy_gm")]
    clk.apply_actions([clock], found.actions)
    assert clk.evaluate([clock], t("2026-10-10 15:00"), cal).actions == ()
    assert clk.next_check([clock], cal) == t("2026-10-12 15:00")
    assert found.actions[3].data()["owner_id"] == "E7"


def test_plain_minutes_clock_with_its_own_ladder(book, cal):
    clock = clk.start_clock(book["arrival"], 1, t("2026-10-01 21:00"), cal)  # a holiday night
    assert clock["due"] == t("2026-10-01 21:20") and clock["warn_at"] == t("2026-10-01 21:16")
    found = clk.evaluate([clock], t("2026-10-01 21:41"), cal).actions
    assert [(a.kind, a.to_role) for a in found][-2:] == [("reminder", "desk"),
                                                         ("escalation", "dept_manager")]


def test_pause_banks_time_and_resume_restarts_from_what_is_left(book, cal):
    clock = clk.start_clock(book["plan"], 1, t("2026-11-16 09:00"), cal)
    clk.pause_clock(clock, t("2026-11-16 10:00"), cal)
    assert clock["due"] is None and clock["state"] == "paused"
    clk.resume_clock(clock, t("2026-11-17 09:00"), cal)
    assert clock["due"] == t("2026-11-17 15:50")   # 6 h 50 left of 7 h 50


def test_finish_late_is_one_breach_and_a_stop_is_waived(book, cal):
    late = clk.start_clock(book["arrival"], 1, t("2026-11-16 09:00"), cal)
    actions = clk.finish_clock(late, t("2026-11-16 09:30"), cal, met=True)
    assert [a.kind for a in actions] == ["breach"] and late["on_time"] is False
    stopped = clk.start_clock(book["arrival"], 1, t("2026-11-16 09:00"), cal)
    assert clk.finish_clock(stopped, t("2026-11-16 09:10"), cal, met=False) == []
    assert stopped["state"] == "waived" and stopped["on_time"] is None


def test_agreed_deadline_and_extension_only_before_it(book, cal):
    clock = clk.start_clock(book["arrival"], 1, t("2026-11-16 09:00"), cal,
                            due=t("2026-11-16 11:00"))
    assert clock["due"] == t("2026-11-16 11:00") and clock["warn_at"] == t("2026-11-16 10:36")
    clk.extend_clock(clock, t("2026-11-16 13:00"), cal)
    assert clock["due"] == t("2026-11-16 13:00")
    with pytest.raises(ValueError, match="later"):
        clk.extend_clock(clock, t("2026-11-16 12:00"), cal)
    clk.apply_actions([clock], clk.evaluate([clock], t("2026-11-16 13:01"), cal).actions)
    with pytest.raises(ValueError, match="breached"):
        clk.extend_clock(clock, t("2026-11-16 15:00"), cal)


def test_moments_start_meet_and_stop_clocks_once_per_round(book, cal):
    clocks = []
    clk.on_moment(clocks, book, "dispatched", t("2026-11-16 09:00"), 1, cal)
    clk.on_moment(clocks, book, "dispatched", t("2026-11-16 09:05"), 1, cal)
    assert [c["name"] for c in clocks] == ["arrival"]
    late = clk.on_moment(clocks, book, "called", t("2026-11-16 09:30"), 1, cal)
    assert [a.kind for a in late] == ["breach"] and clocks[0]["state"] == "waived"
    clk.on_moment(clocks, book, "assigned", t("2026-11-16 09:30"), 1, cal,
                  facts={"major": True})
    assert clk.deadlines(clocks) == {"plan": t("2026-11-16 13:30")}


def test_a_clock_stored_without_its_ladder_climbs_the_one_given(book, cal):
    fresh = clk.start_clock(book["plan"], 1, t("2026-11-16 09:00"), cal)
    stored = {k: v for k, v in fresh.items()
              if k not in ("owner", "ladder", "step_unit", "step_seconds")}
    assert clk.adopt(stored, book["plan"].ladder, cal) == fresh
    kept = dict(fresh, ladder=["desk"])
    assert clk.adopt(kept, book["plan"].ladder, cal)["ladder"] == ["desk"]
