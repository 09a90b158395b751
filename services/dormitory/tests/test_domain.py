"""The dormitory rules without a broker or a database."""
from datetime import datetime, timedelta, timezone

import pytest
import yaml
from dormitory import domain
from dormitory.catalogue import DEFAULT_FILE, load_catalogue, parse_catalogue
from dormitory.domain import Resident, Room, Stay
from zhidu.domain import DomainConflict, DomainValidation
from zhidu.errors import Conflict, ValidationError
from zhidu.operations import to_contract_error

UTC = timezone.utc
T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # a Friday, 10:00 in Shanghai
CAT = load_catalogue()
ROOM = Room("A", "101", 2, "M")
ALI = Resident("E1", "M")

# rules.md §4, verbatim.
RULES_TABLE = {"D01": 2, "D02": 2, "D03": 5, "D04": 2, "D05": 2, "D06": 2, "D07": 2,
               "D08": 2, "D09": 2, "D10": 1, "D11": 2, "D12": 2, "D13": 3, "D14": 3,
               "D15": 2, "D16": 3, "D17": 5}


def shipped() -> dict:
    return yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8"))


# -- catalogue ----------------------------------------------------------------------

def test_shipped_catalogue_is_the_rules_table():
    assert {code: rule.points for code, rule in CAT.rules.items()} == RULES_TABLE
    assert list(CAT.rules) == sorted(RULES_TABLE)
    assert CAT.move_out_days == 3
    assert all(r.title_zh and r.title_en for r in CAT.rules.values())
    assert CAT.rule("D16").title_en == "Smoking"
    assert CAT.public()[0] == {"code": "D01", "title_zh": CAT.rule("D01").title_zh,
                               "title_en": CAT.rule("D01").title_en, "points": 2}
    assert set(CAT.reasons) == {"refusing_management", "misconduct", "deliberate_damage",
                                "disturbing_peace", "serious_violation", "theft"}


@pytest.mark.parametrize("mutate, key", [
    (lambda d: d["rules"][3].update(points=0), "rules[3].points"),
    (lambda d: d["rules"][3].update(points=True), "rules[3].points"),
    (lambda d: d["rules"][2].update(pionts=2), "rules[2].pionts"),
    (lambda d: d["rules"][4].update(code="d05"), "rules[4].code"),
    (lambda d: d["rules"][5].update(code="D01"), "rules[5].code"),
    (lambda d: d["rules"][6].pop("title_en"), "rules[6].title_en"),
    (lambda d: d["rules"].pop(0), "D01"),
    (lambda d: d.update(move_out_days="three"), "move_out_days"),
    (lambda d: d.update(rules=[]), "rules"),
    (lambda d: d["revocation_reasons"][1].update(code="Bad Code"),
     "revocation_reasons[1].code"),
    (lambda d: d.update(extra=1), "catalogue.extra"),
])
def test_a_broken_catalogue_is_refused_naming_the_key(mutate, key):
    doc = shipped()
    mutate(doc)
    with pytest.raises(ValueError) as err:
        parse_catalogue(doc)
    assert key in str(err.value)


def test_loading_a_broken_file_names_the_file(tmp_path):
    doc = shipped()
    doc["rules"][15]["points"] = -3
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError, match=r"mine\.yaml: rules\[15\]\.points"):
        load_catalogue(path)
    doc["rules"][15]["points"] = 4
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    assert load_catalogue(path).rule("D16").points == 4


# -- beds -----------------------------------------------------------------------------

def test_lowest_free_bed_and_capacity():
    assert domain.choose_bed(ROOM, ALI, []) == 1
    assert domain.choose_bed(ROOM, ALI, [1]) == 2
    assert domain.choose_bed(ROOM, ALI, [2]) == 1
    with pytest.raises(DomainConflict, match="full"):
        domain.choose_bed(ROOM, ALI, [1, 2])


def test_a_named_bed_must_exist_and_be_free():
    assert domain.choose_bed(ROOM, ALI, [1], wanted=2) == 2
    with pytest.raises(DomainConflict, match="taken"):
        domain.choose_bed(ROOM, ALI, [2], wanted=2)
    with pytest.raises(DomainValidation) as err:
        domain.choose_bed(ROOM, ALI, [], wanted=3)
    assert set(err.value.errors) == {"bed_no"}


@pytest.mark.parametrize("resident, why", [
    (Resident("F1", "F"), "for M residents"),
    (Resident("X", None), "not known"),
    (Resident("E9", "M", departed_at=T0), "left the company"),
    (Resident("E9", "M", revoked=True), "lost the right"),
])
def test_who_may_not_have_a_bed(resident, why):
    with pytest.raises(DomainConflict, match=why):
        domain.choose_bed(ROOM, resident, [])


def test_a_bed_cannot_be_released_before_it_was_assigned():
    domain.check_release_time(T0, T0)
    with pytest.raises(DomainValidation) as err:
        domain.check_release_time(T0, T0 - timedelta(minutes=1))
    assert set(err.value.errors) == {"at"}


def test_the_room_leader_lives_in_the_room():
    domain.check_room_leader(ROOM, "E1", ["E1", "E2"])
    with pytest.raises(DomainConflict):
        domain.check_room_leader(ROOM, "E3", ["E1", "E2"])


def stay(employee_id, bed_no, since_h, until_h=None, room_no="101"):
    return Stay(employee_id, "A", room_no, bed_no, T0 + timedelta(hours=since_h),
                None if until_h is None else T0 + timedelta(hours=until_h))


def test_occupants_at_a_moment_come_from_the_history():
    stays = [stay("E2", 2, 0, 10), stay("E1", 1, 0), stay("E3", 2, 10)]
    assert domain.occupants_at(stays, T0 + timedelta(hours=5)) == ["E1", "E2"]
    assert domain.occupants_at(stays, T0 + timedelta(hours=10)) == ["E1", "E3"]
    assert domain.occupants_at(stays, T0 - timedelta(hours=1)) == []


# -- inspections --------------------------------------------------------------------

def violations(findings, occupants=("E1", "E2")):
    return domain.findings_to_violations(CAT, "insp-1", ROOM, T0, findings, list(occupants))


def test_each_violation_in_an_inspection_counts_separately():
    booked, unattributed = violations([{"code": "D16", "employee_ids": ["E1"]},
                                       {"code": "D13", "employee_ids": ["E1"]}])
    assert [(v["employee_id"], v["code"], v["points"]) for v in booked] == [
        ("E1", "D16", 3), ("E1", "D13", 3)]
    assert unattributed == []
    assert len({v["violation_id"] for v in booked}) == 2
    assert all(v["incident_id"] == "insp-1" and v["at"] == T0 and v["room_no"] == "101"
               for v in booked)
    again, _ = violations([{"code": "D16", "employee_ids": ["E1"]},
                           {"code": "D13", "employee_ids": ["E1"]}])
    assert [v["violation_id"] for v in again] == [v["violation_id"] for v in booked]


def test_an_unnamed_finding_applies_to_every_occupant():
    booked, _ = violations([{"code": "D09"}, {"code": "D15", "employee_ids": ["E2"]}])
    assert [(v["employee_id"], v["code"]) for v in booked] == [
        ("E1", "D09"), ("E2", "D09"), ("E2", "D15")]


def test_one_rule_once_per_person_per_inspection_notes_merged():
    booked, _ = violations([{"code": "D07", "employee_ids": ["E1", "E1"], "note": "poster"},
                            {"code": "D07", "note": "rope"}])
    assert [(v["employee_id"], v["note"]) for v in booked] == [
        ("E1", "poster; rope"), ("E2", "rope")]


def test_a_finding_with_nobody_to_charge_is_unattributed():
    booked, unattributed = violations([{"code": "D10"}, {"code": "D05", "employee_ids": ["E7"]}],
                                      occupants=())
    assert [(v["employee_id"], v["code"]) for v in booked] == [("E7", "D05")]
    assert unattributed == [0]


def test_unknown_codes_are_named_by_position():
    with pytest.raises(DomainValidation) as err:
        violations([{"code": "D16"}, {"code": "D99"}, {"code": "X"}])
    assert set(err.value.errors["findings"]) == {1, 2}
    assert "code" in err.value.errors["findings"][1]


def test_inspection_ids_come_from_the_facts():
    assert domain.inspection_id("A", "101", "I1", T0) == domain.inspection_id("A", "101", "I1", T0)
    assert domain.inspection_id("A", "101", "I1", T0) != domain.inspection_id("A", "102", "I1", T0)


# -- departure ----------------------------------------------------------------------

def test_the_move_out_deadline_is_three_plain_days():
    # Friday 10:00 → Monday 10:00 Shanghai: a weekend counts, working days do not matter.
    assert domain.move_out_due(T0, CAT) == T0 + timedelta(hours=72)


def test_d01_when_the_bed_is_still_held_at_the_deadline():
    due = domain.move_out_due(T0, CAT)
    held = domain.move_out_violation(CAT, "E1", T0, due, [stay("E1", 2, -100)])
    assert held["code"] == "D01" and held["points"] == 2 and held["at"] == due
    assert held["room_no"] == "101" and held["employee_id"] == "E1"
    assert held["incident_id"] == domain.move_out_incident_id("E1", T0)
    again = domain.move_out_violation(CAT, "E1", T0, due, [stay("E1", 2, -100)])
    assert again["violation_id"] == held["violation_id"]


def test_no_d01_when_moved_out_by_the_deadline():
    due = domain.move_out_due(T0, CAT)
    assert domain.move_out_violation(CAT, "E1", T0, due, [stay("E1", 1, -100, 72)]) is None
    assert domain.move_out_violation(CAT, "E1", T0, due, [stay("E1", 1, -100, 30)]) is None
    assert domain.move_out_violation(CAT, "E1", T0, due, [stay("E2", 1, -100)]) is None
    assert domain.move_out_violation(CAT, "E1", T0, due, []) is None
    late = domain.move_out_violation(CAT, "E1", T0, due, [stay("E1", 1, -100, 73)])
    assert late is not None


# -- revocation and errors ----------------------------------------------------------

def test_revocation_reasons_come_from_the_catalogue():
    domain.check_revocation(CAT, "theft", False, "E1")
    with pytest.raises(DomainValidation) as err:
        domain.check_revocation(CAT, "snoring", False, "E1")
    assert set(err.value.errors) == {"reason"}
    with pytest.raises(DomainConflict):
        domain.check_revocation(CAT, "theft", True, "E1")


def test_domain_errors_become_contract_errors():
    mapped = to_contract_error(DomainValidation.one("bed_no", "no such bed"))
    assert isinstance(mapped, ValidationError) and mapped.messages == {
        "bed_no": ["no such bed"]}
    assert isinstance(to_contract_error(DomainConflict("full")), Conflict)


def test_unknown_codes_reach_the_caller_by_position():
    with pytest.raises(DomainValidation) as err:
        violations([{"code": "D16"}, {"code": "D99"}])
    mapped = to_contract_error(err.value)
    assert isinstance(mapped, ValidationError)
    assert list(mapped.messages["findings"]) == [1]
    assert "D99" in mapped.messages["findings"][1]["code"][0]
