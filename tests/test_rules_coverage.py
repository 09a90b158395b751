"""The rules-coverage table (docs/rules-coverage.yaml) cannot drift: every rule
of the spec's rules.md has its entry, every file, key, name and test it cites
exists, and the page it renders is the committed one. Tests are found by
reading their files, not by running them."""
from __future__ import annotations

import copy
import re

import pytest
from zhidu import coverage

SAMPLE = """\
# Domain rules

Preamble text that is a rule,
on two lines.

## 1. First

Sources: 000 §1, 001 §2.

**Intake.** Channels: phone and
email. Kinds follow.
- A bullet that
  goes on.
  - A nested bullet.

| code | what | points |
|---|---|---|
| D01 | late | 2 |
| D02 | early | 3 |

## 2. Second

- Only one.
"""


@pytest.fixture(scope="module")
def table():
    return coverage.load()


def test_rules_md_is_cut_into_the_same_units_every_time():
    units = coverage.units(SAMPLE)
    assert [(u.id, u.text) for u in units] == [
        ("0.1", "Preamble text that is a rule, on two lines."),
        ("1.1", "**Intake.** Channels: phone and email. Kinds follow."),
        ("1.2", "A bullet that goes on."),
        ("1.3", "A nested bullet."),
        ("1.4", "| D01 | late | 2 |"),
        ("1.5", "| D02 | early | 3 |"),
        ("2.1", "Only one."),
    ]
    assert coverage.units(SAMPLE) == units
    # Rewrapping a rule keeps its fingerprint; changing a word does not.
    rewrapped = SAMPLE.replace("phone and\nemail", "phone\nand email")
    assert [u.fingerprint for u in coverage.units(rewrapped)] == [u.fingerprint for u in units]
    edited = SAMPLE.replace("| D01 | late | 2 |", "| D01 | late | 3 |")
    assert coverage.units(edited)[4].fingerprint != units[4].fingerprint


def test_every_rule_of_rules_md_has_its_entry_and_its_text_is_the_one_reviewed(table):
    path = coverage.rules_md()
    if not path.is_file():
        pytest.skip(f"no spec at {path}; ZHIDU_RULES_MD names where it is")
    assert coverage.spec_problems(table, path.read_text(encoding="utf-8")) == []


def test_the_rules_md_part_lists_each_section_in_order_without_gaps(table):
    """Where rules.md is not at hand, the ids must still be the ones the cut gives."""
    ids = [tuple(map(int, e["id"].split("."))) for e in table["parts"][0]["rules"]]
    assert ids == sorted(ids)
    sections = sorted({s for s, _ in ids})
    for section in sections:
        numbers = [n for s, n in ids if s == section]
        assert numbers == list(range(1, len(numbers) + 1)), f"section {section}"
    assert set(table["parts"][0]["sections"]) == set(sections)


def test_everything_the_table_cites_exists(table):
    assert coverage.problems(table) == []


def test_the_page_is_rendered_from_the_table(table):
    page = (coverage.REPO / coverage.PAGE).read_text(encoding="utf-8")
    assert page == coverage.render(table), "run `.venv/bin/zhidu docs`"
    for entry in (e for part in table["parts"] for e in part["rules"]):
        assert re.search(rf"^\| {re.escape(entry['id'])} \|", page, re.M), entry["id"]


def test_a_missing_test_key_name_or_file_and_a_changed_rule_are_each_named(table):
    broken = copy.deepcopy(table)
    entry = broken["parts"][0]["rules"][0]
    entry["tests"] = [*entry["tests"], "shared/tests/test_calendar.py::test_no_such_test",
                      "tests/test_nowhere.py::test_x"]
    entry["where"] = [*entry["where"],
                      {"shared/zhidu/calendar.yaml": "working_hours.nights"},
                      {"shared/zhidu/calendar.py": "WorkingCalendar.no_such_method"},
                      "shared/zhidu/no_such_module.py"]
    broken["parts"][0]["rules"][1]["status"] = "done"
    broken["parts"][1]["rules"][0]["status"] = "partial"
    broken["parts"][1]["rules"][0].pop("note", None)
    found = coverage.problems(broken)
    rid, other = entry["id"], broken["parts"][0]["rules"][1]["id"]
    issue = broken["parts"][1]["rules"][0]["id"]
    assert f"rule {rid}: no test shared/tests/test_calendar.py::test_no_such_test" in found
    assert f"rule {rid}: no test file for tests/test_nowhere.py::test_x" in found
    assert f"rule {rid}: no key working_hours.nights in shared/zhidu/calendar.yaml" in found
    assert (f"rule {rid}: no name WorkingCalendar.no_such_method in "
            "shared/zhidu/calendar.py") in found
    assert f"rule {rid}: no file shared/zhidu/no_such_module.py" in found
    assert any(p.startswith(f"rule {other}: status 'done'") for p in found)
    assert f"rule {issue}: partial needs a note saying what is lacking" in found

    units = coverage.units(SAMPLE)
    made = {"parts": [{"rules": [{"id": u.id, "fingerprint": u.fingerprint}
                                 for u in units[:-1]]}]}
    edited = SAMPLE.replace("Only one.", "Only one, now two.").replace("late | 2", "late | 4")
    problems = coverage.spec_problems(made, edited)
    assert any(p.startswith("rule 1.4 of rules.md changed or moved") for p in problems)
    assert any(p.startswith("rule 2.1 of rules.md has no entry") for p in problems)


@pytest.mark.parametrize("key, exists", [
    ("rules[code=D16].points", True),
    ("rules[code=D99].points", False),
    ("rules[0].code", True),
    ("rules[99]", False),
    ("routes[complaints.major_reported].recipients", True),
    ("routes.complaints.major_reported", False),
    ("move_out_days.value", False),
])
def test_key_paths_pick_list_items_by_field_or_place_and_keys_holding_dots(key, exists):
    doc = {"move_out_days": 3,
           "rules": [{"code": "D01", "points": 2}, {"code": "D16", "points": 3}],
           "routes": {"complaints.major_reported": {"recipients": []}}}
    assert coverage._key_exists(doc, key) is exists
