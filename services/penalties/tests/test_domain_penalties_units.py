"""What a unit (单位) bears for its people: pure rules, no database."""
from datetime import datetime

from penalties.accounts import unit_account
from penalties.appeals import reversal_of
from penalties.booking import book
from penalties.catalog import BUILTIN_DIR, load_catalogs
from penalties.policy import load_policy
from penalties.publication import publication
from penalties.units import (
    due_unit_thresholds,
    unit_admonishment,
    unit_flags,
    unit_key,
    unit_threshold_id,
)

CATS = load_catalogs([BUILTIN_DIR])
POLICY = load_policy()
PEOPLE = {f"e{i}": {"unit": "north", "unit_head_id": "UH"} for i in range(1, 6)}


def entry(domain, code, employee="e1", n=1, at="2026-11-10T10:00:00", unit="north", **over):
    entries = book({"domain": domain, "codes": [code], "employee_id": employee,
                    "incident_id": f"{code}-{employee}-{n}", "at": at, **over}, CATS)
    for e in entries:
        e["unit"] = unit       # as the ledger writer records it
    return entries


def dress(employee, day, n=1):
    return entry("conduct", "B01", employee, n=n, at=f"2026-11-{day:02d}T09:00:00")


def keys(due):
    return [d["key"] for d in due]


def test_three_dress_code_penalties_in_a_unit_in_a_month_book_b02_on_its_head_000_s4_6_1():
    """同一单位累计扣分人次达3人以上的对该单位领导扣罚5分/次."""
    two = dress("e1", 3) + dress("e2", 4)
    assert due_unit_thresholds("north", two, PEOPLE, CATS, POLICY) == []
    # Person-times: e1's second B01 is the third in the unit.
    three = two + dress("e1", 20, n=2)
    [due] = due_unit_thresholds("north", three, PEOPLE, CATS, POLICY)
    assert due["key"] == ("dress_code", "north", 2026, 11)
    assert due["threshold_id"] == "unit:north:dress_code:2026-11"
    assert (due["employee_id"], due["unit_head_id"]) == ("e1", "UH")
    assert due["reason"] == {"penalties": 3, "employee_ids": ["e1", "e2"]}
    assert due["at"].isoformat() == "2026-11-20T01:00:00+00:00"
    [b02] = due["entries"]
    assert (b02["code"], b02["employee_id"], b02["share"], b02["points"],
            b02["amount_yuan"]) == ("B02", "UH", "unit_head", 5, 50)
    assert (b02["offender_id"], b02["unit"], b02["year"], b02["month"]) == (
        "unit:north", "north", 2026, 11)
    assert b02["incident_id"] == "unit:north:dress_code:2026-11"
    # A fourth B01 changes nothing: the entry id does not depend on who crossed.
    four = three + dress("e3", 25)
    again = due_unit_thresholds("north", four, PEOPLE, CATS, POLICY)
    assert again[0]["entries"][0]["entry_id"] == b02["entry_id"]
    # Once raised, once: the month is done.
    assert due_unit_thresholds("north", four, PEOPLE, CATS, POLICY,
                               raised=[list(due["key"])]) == []


def test_dress_code_counts_the_unit_month_and_live_individual_penalties_only():
    # e1's B01 also puts a team leader's share on e2: not a further person-time.
    with_share = entry("conduct", "B01", "e1", at="2026-11-03T09:00:00",
                       reporting_line={"team_leader_id": "e2"})
    assert [e["share"] for e in with_share] == ["individual", "team_leader"]
    other_unit = entry("conduct", "B01", "e4", at="2026-11-05T09:00:00", unit="south")
    last_month = entry("conduct", "B01", "e5", at="2026-10-30T09:00:00")
    cleared = dress("e3", 6)
    ledger = (with_share + dress("e2", 4) + other_unit + last_month + cleared
              + [reversal_of(cleared[0], at="2026-11-07T10:00:00")])
    assert due_unit_thresholds("north", ledger, PEOPLE, CATS, POLICY) == []
    assert keys(due_unit_thresholds("north", ledger + dress("e5", 8), PEOPLE, CATS,
                                    POLICY)) == [("dress_code", "north", 2026, 11)]


def test_without_a_known_unit_head_the_consequence_is_raised_and_b02_noted_not_booked():
    ledger = dress("e1", 3) + dress("e2", 4) + dress("e3", 5)
    [due] = due_unit_thresholds("north", ledger, {}, CATS, POLICY)
    assert due["unit_head_id"] is None and due["entries"] == []


def test_the_units_meeting_penalties_over_3_or_15_points_lose_its_eligibility_000_s3_10_8():
    """年度扣罚超过3次或扣分超过15分的责任人和单位 — on the unit's own count."""
    four_people = [entry("meeting", "M01", f"e{i}", at=f"2026-0{i}-10T09:05:00")
                   for i in range(1, 5)]
    three = [e for es in four_people[:3] for e in es]
    assert due_unit_thresholds("north", three, PEOPLE, CATS, POLICY) == []
    [due] = due_unit_thresholds("north", three + four_people[3], PEOPLE, CATS, POLICY)
    assert (due["key"], due["employee_id"]) == (("award_ineligible", "north", 2026), "e4")
    assert due["reason"] == {"penalties": 4, "points": 8} and due["entries"] == []
    heavy = (entry("meeting", "M04", "e1") + entry("meeting", "M03", "e2")
             + entry("meeting", "M05", "e3"))                    # 17 points
    assert keys(due_unit_thresholds("north", heavy, PEOPLE, CATS, POLICY)) == [
        ("award_ineligible", "north", 2026)]


def test_an_admonishment_is_a_case_for_the_unit_000_s4_note_3():
    """同时扣罚责任单位年度绩效工资总额的5%,并取消责任单位评先、评优资格."""
    admonished = {"employee_id": "e1", "year": 2026, "kind": "admonishment",
                  "at": datetime.fromisoformat("2026-06-02T02:00:00+00:00"),
                  "reason": {"points": 30,
                                                              "subjective_failures": 0}}
    case = unit_admonishment("north", admonished, "UH", POLICY)
    assert case["key"] == ("admonishment", "north", 2026, "e1")
    assert case["threshold_id"] == unit_threshold_id("north", case["key"]) == \
        "unit:north:admonishment:2026:e1"
    assert case["reason"]["performance_pay_cut_percent"] == 5
    assert (case["unit_head_id"], case["month"]) == ("UH", None)


def record(kind, key_tail, at, **reason):
    year = key_tail[0]
    month = key_tail[1] if kind == "dress_code" else None
    return {"unit": "north", "kind": kind, "year": year, "month": month,
            "employee_id": key_tail[-1] if kind == "admonishment" else None,
            "at": datetime.fromisoformat(at), "reason": reason}


def test_unit_flags_add_the_cuts_of_each_case_and_show_the_standing_through_a_month():
    raised = [
        record("dress_code", (2026, 3), "2026-03-20T01:00:00+00:00"),
        record("admonishment", (2026, "e1"), "2026-06-02T02:00:00+00:00",
               performance_pay_cut_percent=5),
        record("admonishment", (2026, "e2"), "2026-09-02T02:00:00+00:00",
               performance_pay_cut_percent=5),
        record("admonishment", (2025, "e9"), "2025-09-02T02:00:00+00:00",
               performance_pay_cut_percent=5),
    ]
    assert unit_flags(raised, year=2026) == {
        "admonishment": True, "admonished": ["e1", "e2"], "performance_pay_cut_percent": 10,
        "award_eligible": False, "dress_code_months": [3]}
    assert unit_flags(raised, year=2026, through_month=5) == {
        "admonishment": False, "admonished": [], "performance_pay_cut_percent": 0,
        "award_eligible": True, "dress_code_months": [3]}
    meetings = [record("award_ineligible", (2027,), "2027-04-01T01:00:00+00:00")]
    flags = unit_flags(meetings, year=2027)
    assert flags["award_eligible"] is False and flags["admonishment"] is False


def test_only_entries_that_can_move_a_unit_consequence_name_one():
    [b01] = dress("e1", 3)
    [m01] = entry("meeting", "M01")
    [d16] = entry("dormitory", "D16")
    assert unit_key(b01, POLICY) == ("dress_code", "north", 2026, 11)
    assert unit_key(m01, POLICY) == ("award_ineligible", "north", 2026)
    assert unit_key(d16, POLICY) is None
    assert unit_key({**b01, "unit": None}, POLICY) is None
    assert unit_key(reversal_of(b01, at="2026-11-04T10:00:00"), POLICY) is None


def test_unit_account_totals_its_people_and_carries_its_flags():
    ledger = (dress("e1", 3) + dress("e2", 4) + entry("meeting", "M04", "e2")
              + entry("dormitory", "D16", "e3", unit="south")
              + entry("meeting", "M01", "e1", at="2026-10-10T09:05:00"))
    raised = [record("dress_code", (2026, 11), "2026-11-20T01:00:00+00:00")]
    acct = unit_account("north", ledger, raised, year=2026)
    # B01's 2 points: the individual's 60 % (no leaders known here) is 1.2.
    assert (acct["unit"], acct["points_total"], acct["amount_yuan_total"],
            acct["penalty_count"], acct["people_count"]) == ("north", 14.4, 144, 4, 2)
    assert [(p["employee_id"], p["points_total"]) for p in acct["people"]] == [
        ("e1", 3.2), ("e2", 11.2)]
    assert acct["flags"]["dress_code_months"] == [11] and acct["flags"]["award_eligible"]
    november = unit_account("north", ledger, raised, year=2026, month=11)
    assert (november["points_total"], november["penalty_count"]) == (12.4, 3)


def test_the_publication_carries_each_units_flags_as_of_the_month_covered_000_s4_note_1():
    ledger = dress("e1", 3) + entry("dormitory", "D16", "e3", unit=None)
    raised = [record("admonishment", (2026, "e1"), "2026-11-05T02:00:00+00:00",
                     performance_pay_cut_percent=5),
              record("dress_code", (2026, 12), "2026-12-05T02:00:00+00:00")]
    people = {"e1": {"unit": "north"}, "e3": {"unit": "south"}}
    pub = publication(ledger, people, year=2026, month=12, raised=raised)
    north, south = pub["units"]
    assert north["unit"] == "north" and north["flags"] == {
        "admonishment": True, "admonished": ["e1"], "performance_pay_cut_percent": 5,
        "award_eligible": False, "dress_code_months": []}
    # An entry booked without a unit goes by the unit its person is in now.
    assert south["unit"] == "south" and south["flags"]["award_eligible"]
