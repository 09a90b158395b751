"""book(): sum and max combine, the 60/20/10/10 split, ids, overrides, errors."""
from datetime import datetime, timezone

import pytest
from penalties.booking import book
from penalties.catalog import BUILTIN_DIR, load_catalogs
from zhidu.domain import DomainValidation

CATS = load_catalogs([BUILTIN_DIR])
LINE = {"team_leader_id": "tl", "manager_id": "mgr", "unit_head_id": "head",
        "group_leader_id": "grp", "supervisor_id": "sup"}


def incident(**over):
    doc = {"domain": "dormitory", "codes": ["D16"], "employee_id": "e1",
           "incident_id": "insp-1", "at": "2026-11-23T12:00:00+08:00"}
    doc.update(over)
    return doc


def test_two_dormitory_violations_in_one_inspection_both_count():
    entries = book(incident(codes=["D03", "D16"], points={"D16": 3},
                            source="dormitory.violation_recorded"), CATS)
    assert [(e["code"], e["points"], e["amount_yuan"]) for e in entries] == [
        ("D03", 5, 50), ("D16", 3, 30)]
    first = entries[0]
    assert first["employee_id"] == "e1" and first["share"] == "individual"
    assert first["at"] == datetime(2026, 11, 23, 4, tzinfo=timezone.utc)
    assert (first["year"], first["month"]) == (2026, 11)
    assert first["kind"] == "penalty" and first["deducted_yuan"] == 50
    assert first["capped_yuan"] == 0 and first["reverses"] is None
    assert first["appeal"] == {"status": "none"}
    assert first["title_zh"] == "留宿外来人员或男女混居"
    assert len({e["entry_id"] for e in entries}) == 2


def test_rebooking_gives_the_same_ids():
    once = book(incident(codes=["D03", "D16"]), CATS)
    again = book(incident(codes=["D03", "D16"]), CATS)
    assert [e["entry_id"] for e in once] == [e["entry_id"] for e in again]
    other = book(incident(codes=["D03", "D16"], incident_id="insp-2"), CATS)
    assert not {e["entry_id"] for e in once} & {e["entry_id"] for e in other}


def test_conduct_books_only_the_most_severe_rule_and_splits_it():
    entries = book(incident(domain="conduct", codes=["B05", "B08", "B01"],
                            reporting_line=LINE), CATS)
    assert {e["code"] for e in entries} == {"B08"}
    by_share = {e["share"]: e for e in entries}
    assert {s: (e["employee_id"], e["points"], e["amount_yuan"], e["percent"])
            for s, e in by_share.items()} == {
        "individual": ("e1", 12, 120, 60), "team_leader": ("tl", 4, 40, 20),
        "dept_manager": ("mgr", 2, 20, 10), "unit_head": ("head", 2, 20, 10)}
    assert by_share["individual"]["basis"]["suppressed"] == ["B05", "B01"]
    assert all(e["offender_id"] == "e1" for e in entries)
    assert len({e["entry_id"] for e in entries}) == 4


def test_split_shares_always_add_up_to_the_total():
    five = book(incident(domain="conduct", codes=["B05"], reporting_line=LINE), CATS)
    assert [e["points"] for e in five] == [3, 1, 0.5, 0.5]
    assert [e["amount_yuan"] for e in five] == [30, 10, 5, 5]
    odd = book(incident(domain="conduct", codes=["B09"], points=10.1,
                        reporting_line=LINE), CATS)
    assert [e["points"] for e in odd] == [6.1, 2, 1, 1]   # 101 tenths, remainder to 60 %
    assert sum(e["amount_yuan"] for e in odd) == 101


def test_max_combine_compares_overridden_range_values():
    entries = book(incident(domain="conduct", codes=["B08", "B09"],
                            points={"B09": 25}, reporting_line=LINE), CATS)
    assert entries[0]["code"] == "B09" and entries[0]["points"] == 15


def test_unknown_share_holders_are_skipped_with_a_note():
    entries = book(incident(domain="conduct", codes=["B05"],
                            reporting_line={"team_leader_id": "tl"}), CATS)
    assert [(e["share"], e["points"]) for e in entries] == [
        ("individual", 3), ("team_leader", 1)]
    notes = entries[0]["notes"]
    assert any("dept_manager share of B05 (0.5 points) not booked: no manager_id"
               in n for n in notes)
    assert any("unit_head share" in n for n in notes)


def test_leader_breaking_a_rule_bears_no_leadership_share_for_himself():
    entries = book(incident(domain="conduct", codes=["B05"], employee_id="tl",
                            reporting_line=LINE), CATS)
    assert "team_leader" not in {e["share"] for e in entries}
    assert any("tl is the offender" in n for n in entries[0]["notes"])


def test_reporting_line_from_context_is_completed_by_the_incident():
    entries = book(incident(domain="conduct", codes=["B05"],
                            reporting_line={"unit_head_id": "h2"}),
                   CATS, {"reporting_line": LINE})
    assert {e["share"]: e["employee_id"] for e in entries}["unit_head"] == "h2"


def test_rules_charging_clerk_and_department_head_each_in_full():
    entries = book(incident(domain="attendance", codes=["R01"], employee_id="clerk",
                            reporting_line=LINE), CATS)
    assert [(e["employee_id"], e["share"], e["points"]) for e in entries] == [
        ("clerk", "individual", 5), ("mgr", "dept_manager", 5)]


def test_rule_charged_to_a_leader_needs_that_leader():
    q02 = {"domain": "service_quality", "codes": ["Q02"], "nth": 1}
    entries = book(incident(**q02, reporting_line=LINE), CATS)
    assert [(e["employee_id"], e["share"], e["offender_id"]) for e in entries] == [
        ("sup", "supervisor", "e1")]
    fallback = book(incident(**q02, reporting_line={"team_leader_id": "tl"}), CATS)
    assert fallback[0]["employee_id"] == "tl"
    with pytest.raises(DomainValidation) as err:
        book(incident(**q02), CATS)
    assert "reporting_line" in err.value.errors


def test_damage_is_charged_at_the_cost_given_never_a_default_000_s5_3_9():
    [entry] = book(incident(codes=["DC01"], amount_yuan=350), CATS)
    assert (entry["kind"], entry["amount_yuan"], entry["points"]) == ("penalty", 350, 0)
    assert entry["deducted_yuan"] == 350 and "range_default" not in entry["basis"]
    with pytest.raises(DomainValidation) as err:
        book(incident(codes=["DC01"]), CATS)
    assert "charged at cost" in err.value.errors["amount_yuan"][0]


def test_range_rule_without_amount_books_the_minimum_and_says_so():
    entries = book(incident(domain="confidentiality", codes=["P01"]), CATS)
    assert entries[0]["amount_yuan"] == 300 and entries[0]["points"] == 0
    assert entries[0]["basis"]["range_default"] == "minimum"
    assert "range minimum 300 yuan" in entries[0]["notes"][0]


def test_rewards_are_entries_with_money_and_no_deduction():
    entries = book(incident(domain="confidentiality", codes=["P11"],
                            amount_yuan=800), CATS)
    e = entries[0]
    assert (e["kind"], e["amount_yuan"], e["deducted_yuan"]) == ("reward", 800, 0)


def test_local_month_decides_the_period():
    e = book(incident(at="2026-11-30T17:00:00+00:00"), CATS)[0]
    assert (e["year"], e["month"]) == (2026, 12)
    naive = book(incident(at="2026-12-31T23:30:00"), CATS)[0]  # Shanghai time
    assert (naive["year"], naive["month"]) == (2026, 12)


@pytest.mark.parametrize("over, field", [
    ({"domain": "canteen"}, "domain"),
    ({"codes": []}, "codes"),
    ({"codes": ["B05"]}, "codes"),
    ({"codes": ["D16", "D16"]}, "codes"),
    ({"employee_id": ""}, "employee_id"),
    ({"incident_id": None}, "incident_id"),
    ({"at": "yesterday"}, "at"),
    ({"at": None}, "at"),
    ({"points": 4}, "points"),                       # D16 is fixed at 3
    ({"points": "3"}, "points"),
    ({"points": {"D99": 3}}, "points"),
    ({"amount_yuan": 30}, "amount_yuan"),            # D16 is priced in points
    ({"reporting_line": {"boss_id": "x"}}, "reporting_line.boss_id"),
    ({"nth": 0}, "nth"),
])
def test_bad_incidents_are_refused_with_the_field(over, field):
    with pytest.raises(DomainValidation) as err:
        book(incident(**over), CATS)
    assert field in err.value.errors, err.value.errors


def test_range_and_progressive_validation():
    with pytest.raises(DomainValidation) as err:
        book(incident(domain="complaint", codes=["C01"], amount_yuan=1600), CATS)
    assert "outside 200–1500 yuan" in err.value.errors["amount_yuan"][0]
    with pytest.raises(DomainValidation) as err:
        book(incident(domain="service_quality", codes=["Q01"]), CATS)
    assert "nth" in err.value.errors
    q = book(incident(domain="service_quality", codes=["Q01"], nth=3), CATS)
    assert q[0]["points"] == 15 and q[0]["basis"]["nth"] == 3
    with pytest.raises(DomainValidation, match="mix penalties and rewards"):
        book(incident(domain="confidentiality", codes=["P01", "P11"]), CATS)


def test_exact_fixed_override_is_accepted():
    assert book(incident(points=3), CATS)[0]["points"] == 3
