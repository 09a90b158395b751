"""One service star per unit a month (004 二.3 各单位评出"服务明星"一名), and the
sheet rules attendance books on its clerk (000 §2 六.1, 六.4)."""
import copy
import dataclasses
from collections import Counter
from datetime import UTC, datetime

import pytest
from nameko.exceptions import RemoteError
from penalties import app
from penalties.appeals import reversal_of
from penalties.booking import book
from penalties.catalog import BUILTIN_DIR, load_catalogs
from penalties.policy import load_policy
from penalties.rulebook import Rules
from penalties.service_quality import check_unit_stars, service_star_entries
from zhidu.domain import DomainConflict, DomainValidation
from zhidu.envelope import make_envelope
from zhidu.fakes import FakeOutbox

CATS = load_catalogs([BUILTIN_DIR])
POLICY = load_policy()
RULES = Rules(CATS, POLICY)
GO = {"id": "GO", "role": "gm_office"}


def star(employee_id, month=10, unit="north", previous=()):
    entries = service_star_entries(employee_id, year=2026, month=month,
                                   at=f"2026-{month:02d}-28T09:00:00+08:00",
                                   previous=list(previous), catalogs=CATS, policy=POLICY)
    return [dict(e, unit=unit) for e in entries]


def check(employee_id, entries, unit="north", month=10, policy=POLICY):
    check_unit_stars(unit, employee_id, year=2026, month=month, unit_entries=entries,
                     policy=policy)


# -- the rule, pure ----------------------------------------------------------------------
def test_a_second_star_in_the_unit_and_month_is_refused_naming_the_rule_004_s2_3():
    october = star("W1")
    check("W1", [])
    with pytest.raises(DomainConflict) as err:
        check("W2", october)
    assert "004 二.3" in str(err.value) and "north" in str(err.value)
    assert "W1" in str(err.value) and "2026-10" in str(err.value)
    # The same person again is no second star; another month, another unit: free.
    check("W1", october)
    check("W2", october, month=11)
    check("W2", [], unit="south")


def test_a_star_reversed_on_appeal_frees_its_place_004_s2_3():
    [entry] = star("W1")
    reversal = reversal_of(entry, at=datetime(2026, 11, 3, tzinfo=UTC), reason="upheld")
    check("W2", [entry, reversal])


def test_the_number_of_stars_a_unit_has_a_month_is_data_004_s2_3():
    assert POLICY.service_quality.stars_per_unit == 1
    two = dataclasses.replace(POLICY, service_quality=dataclasses.replace(
        POLICY.service_quality, stars_per_unit=2))
    check("W2", star("W1"), policy=two)
    with pytest.raises(DomainConflict, match="at most 2 per unit a month"):
        check("W3", star("W1") + star("W2"), policy=two)


def test_a_person_without_a_unit_gets_no_star_004_s2_3():
    with pytest.raises(DomainValidation) as err:
        check_unit_stars(None, "W9", year=2026, month=10, unit_entries=[], policy=POLICY)
    assert "004 二.3" in err.value.errors["employee_id"][0]


def test_the_limit_is_read_from_the_policy_and_checked(tmp_path):
    override = tmp_path / "stars.yaml"
    override.write_text("service_quality:\n  stars_per_unit: 3\n", encoding="utf-8")
    assert load_policy([override]).service_quality.stars_per_unit == 3
    override.write_text("service_quality:\n  stars_per_unit: -1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"service_quality\.stars_per_unit"):
        load_policy([override])


# -- the reward path over an in-memory ledger -------------------------------------------
class Ledger:
    """The penalties store's methods the reward path uses."""

    def __init__(self, people):
        self.people_ = people
        self.entries: dict[str, dict] = {}
        self.unit_years: Counter = Counter()

    def people(self, ids):
        return {i: copy.deepcopy(self.people_[i]) for i in ids if i in self.people_}

    def person_entries(self, employee_id, year, month=None):
        return [copy.deepcopy(e) for e in self.entries.values()
                if e["employee_id"] == employee_id and e["year"] == year
                and month in (None, e["month"])]

    def unit_entries(self, unit, year, month=None, *, domains=None, codes=None):
        return [copy.deepcopy(e) for e in self.entries.values()
                if e.get("unit") == unit and e["year"] == year and month in (None, e["month"])
                and (not (domains or codes) or e["domain"] in (domains or ())
                     or e["code"] in (codes or ()))]

    def touch_unit_year(self, unit, year):
        self.unit_years[f"{unit}:{year}"] += 1

    def insert_entries(self, entries):
        added = [e for e in entries if e["entry_id"] not in self.entries]
        for e in added:
            self.entries[e["entry_id"]] = copy.deepcopy(e)
        return [copy.deepcopy(self.entries[e["entry_id"]]) for e in entries], added


def award(store, outbox, employee_id, month=10):
    return app.award_service_star(store, outbox, RULES, {
        "employee_id": employee_id, "year": 2026, "month": month,
        "at": datetime(2026, month + 1, 2, 1, tzinfo=UTC), "actor": GO})


@pytest.fixture
def ledger():
    return Ledger({"W1": {"unit": "north"}, "W2": {"unit": "north"},
                   "W3": {"unit": "south"}, "W9": {}})


def test_the_reward_path_books_one_star_per_unit_and_month_004_s2_3(ledger):
    outbox = FakeOutbox("penalties")
    [first] = award(ledger, outbox, "W1")["entries"]
    assert (first["code"], first["amount_yuan"], first["unit"]) == ("S01", 500, "north")
    with pytest.raises(DomainConflict, match="004 二.3"):
        award(ledger, outbox, "W2")
    # The unit's year was written before its stars were read (replicas meet there).
    assert ledger.unit_years["north:2026"] == 2
    assert award(ledger, outbox, "W1")["entries"] == [first]       # a retry books nothing
    assert award(ledger, outbox, "W3")["entries"][0]["unit"] == "south"
    assert award(ledger, outbox, "W2", month=11)["entries"][0]["amount_yuan"] == 500
    with pytest.raises(DomainValidation):
        award(ledger, outbox, "W9")
    assert [e["employee_id"] for e in outbox.of_type("penalty_issued")] == ["W1", "W3", "W2"]


# -- the sheet rules attendance detects (000 §2 六.1, 六.4) --------------------------------
def attendance_violation(code, detail):
    return make_envelope("attendance", "violation_recorded", {
        "violation_id": f"report:finance:2026-03:{code}:1", "employee_id": "K1",
        "incident_id": f"report:finance:2026-03:{code}:1", "code": code, "points": 2,
        "at": "2026-03-28T09:00:00+08:00", "domain": "attendance", "building": None,
        "room_no": None, "detail": detail})


class Violations(Ledger):
    def __init__(self):
        super().__init__({"K1": {"unit": "centre", "manager_id": "S9"},
                          "H1": {"unit": "centre"}})
        self.claimed: set[str] = set()

    def claim_violation(self, incident_id):
        self.claimed.add(incident_id)
        return False


def test_an_irregular_record_charges_clerk_and_head_2_each_000_s2_6_1():
    store, outbox = Violations(), FakeOutbox("penalties")
    booked = app.book_violation(store, outbox, RULES, "attendance",
                                attendance_violation("R02", {"dept_manager_id": "H1"}),
                                withdrawable=True, approver_role="gm")
    assert sorted((e["employee_id"], e["share"], e["points"]) for e in booked) == [
        ("H1", "dept_manager", 2), ("K1", "individual", 2)]


def test_a_misreported_leave_charges_the_clerk_alone_000_s2_6_4():
    entries = book({"domain": "attendance", "codes": ["R04"], "employee_id": "K1",
                    "incident_id": "report:finance:2026-03:R04:L7",
                    "at": "2026-04-10T09:00:00+08:00",
                    "reporting_line": {"manager_id": "H1"}}, CATS)
    assert [(e["employee_id"], e["share"], e["points"]) for e in entries] == [
        ("K1", "individual", 2)]


# -- over the running service ------------------------------------------------------------
@pytest.mark.integration
def test_the_service_refuses_a_units_second_star_of_the_month_004_s2_3(penalties, people):
    people.add("W2", "staff", unit="north", manager_id="DM")
    people.add("W3", "staff", unit="south", manager_id="DM")
    office = penalties.as_person("GO", role="gm_office")
    october = {"year": 2026, "month": 10, "at": "2026-11-02T09:00"}
    [first] = office.penalties.award_service_star(dict(october, employee_id="W1"))["entries"]
    assert (first["code"], first["unit"], first["amount_yuan"]) == ("S01", "north", 500)
    with pytest.raises(RemoteError) as err:
        office.penalties.award_service_star(dict(october, employee_id="W2"))
    assert err.value.exc_type == "Conflict" and "004 二.3" in err.value.value
    assert "W1" in err.value.value
    assert office.penalties.award_service_star(dict(october, employee_id="W3"))["entries"]
    november = dict(october, month=11, at="2026-12-01T09:00")
    assert office.penalties.award_service_star(dict(november, employee_id="W2"))["entries"]
    assert penalties.penalties.get_account({"employee_id": "W2", "year": 2026})[
        "entries"][0]["month"] == 11
