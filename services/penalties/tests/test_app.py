"""The ledger's application functions over a fake unit of work: no broker, no database."""
import copy
import dataclasses
from collections import Counter
from datetime import UTC, datetime

import pytest
from penalties import app
from penalties.catalog import BUILTIN_DIR, load_catalogs
from penalties.notices import AWAITING
from penalties.policy import Notices, load_policy
from penalties.rulebook import Rules
from zhidu.domain import DomainConflict, DomainPermission
from zhidu.envelope import make_envelope
from zhidu.fakes import FakeOutbox

RULES = Rules(load_catalogs([BUILTIN_DIR]), load_policy())
LINE = {"team_leader_id": "TL", "manager_id": "DM", "unit_head_id": "UH"}
GM = {"id": "GM", "role": "gm"}
HR = {"id": "HR", "role": "hr"}


class FakeStore:
    """The penalties store's methods the application functions use, in memory.

    ``calls`` lists every method called, so a test can hold a flow to the
    database round trips it costs.
    """

    def __init__(self, people=None):
        self.people_ = {k: dict(v) for k, v in (people or {}).items()}
        self.entries: dict[str, dict] = {}
        self.notices_: dict[str, dict] = {}
        self.thresholds: dict[str, dict] = {}
        self.unit_records: dict[str, dict] = {}
        self.withdrawn: dict[str, dict] = {}
        self.publications: set[str] = set()
        self.counters: dict[str, dict] = {}
        self.held_months: list[tuple] = []
        self.calls: list[str] = []
        self.units = 0

    def __getattribute__(self, name):
        attr = object.__getattribute__(self, name)
        if callable(attr) and not name.startswith("_") and name != "unit":
            object.__getattribute__(self, "calls").append(name)
        return attr

    def unit(self, body, on_retry=None):
        self.units += 1
        return body()

    def people(self, ids):
        return {i: copy.deepcopy(self.people_[i]) for i in ids if i in self.people_}

    def claim_violation(self, incident_id):
        before = self.withdrawn.get(incident_id)
        if before is None:
            self.withdrawn[incident_id] = {"withdrawn": False}
        return before is not None and before["withdrawn"]

    def mark_withdrawn(self, incident_id, reason):
        self.withdrawn[incident_id] = {"withdrawn": True, "reason": reason}

    def insert_entries(self, entries):
        stored, added = [], []
        for e in entries:
            if e["entry_id"] not in self.entries:
                self.entries[e["entry_id"]] = copy.deepcopy({**e, "booked_at": _now()})
                added.append(copy.deepcopy(self.entries[e["entry_id"]]))
            stored.append(copy.deepcopy(self.entries[e["entry_id"]]))
        return stored, added

    def entry(self, entry_id):
        return copy.deepcopy(self.entries.get(entry_id))

    def entries_by_id(self, entry_ids):
        return [copy.deepcopy(self.entries[i]) for i in entry_ids if i in self.entries]

    def person_entries(self, employee_id, year, month=None):
        return [copy.deepcopy(e) for e in self.entries.values()
                if e["employee_id"] == employee_id and e["year"] == year
                and month in (None, e["month"])]

    def month_entries(self, year, month):
        return [copy.deepcopy(e) for e in self.entries.values()
                if (e["year"], e["month"]) == (year, month)]

    def incident_entries(self, incident_id):
        return [copy.deepcopy(e) for e in self.entries.values()
                if e["incident_id"] == incident_id]

    def set_appeal(self, entry_id, appeal, expected_status):
        entry = self.entries[entry_id]
        if (entry.get("appeal") or {}).get("status", "none") != expected_status:
            return False
        entry["appeal"] = copy.deepcopy(appeal)
        return True

    def months_entries(self, months):
        return [copy.deepcopy(e) for e in self.entries.values()
                if (e["employee_id"], e["year"], e["month"]) in set(months)]

    def hold_months(self, months):
        self.held_months += months

    def notice(self, notice_id):
        return copy.deepcopy(self.notices_.get(notice_id))

    def insert_notice(self, notice):
        assert notice["notice_id"] not in self.notices_
        self.notices_[notice["notice_id"]] = copy.deepcopy(notice)
        return copy.deepcopy(notice)

    def notices(self, *, status=None, employee_id=None, number=None, approver_id=None,
                limit=100):
        found = [n for n in self.notices_.values()
                 if status in (None, n["status"]) and number in (None, n["number"])
                 and (employee_id is None or employee_id in n["named"])
                 and (approver_id is None or approver_id in n.get("awaiting_ids", []))]
        return copy.deepcopy(sorted(found, key=lambda n: n["seq"])[:limit])

    def person_month_notices(self, employee_id, year, month):
        return copy.deepcopy(sorted(
            (n for n in self.notices_.values() if employee_id in n["employee_ids"]
             and (n["year"], n["month"]) == (year, month)), key=lambda n: n["seq"]))

    def update_notice(self, notice_id, fields, *, status, revision=None, awaiting=None):
        notice = self.notices_[notice_id]
        if notice["status"] != status or revision not in (None, notice["revision"]):
            return False
        if awaiting and notice.get("awaiting_ids") != list(awaiting):
            return False
        notice.update(copy.deepcopy(fields))
        return True

    def withdraw_notices(self, incident_id):
        for n in self.notices_.values():
            if n["incident_id"] == incident_id and n["status"] == AWAITING:
                n.update(status="withdrawn", step=None, awaiting_ids=[])

    def next_sequence(self, name):
        counter = self.counters.setdefault(name, {})
        counter["value"] = counter.get("value", 0) + 1
        return counter["value"]

    def hold_complaint_ordinals(self):
        counter = self.counters.setdefault("notices", {})
        counter["holds"] = counter.get("holds", 0) + 1

    def raised_keys(self, employee_id):
        return [tuple(t["key"]) for t in self.thresholds.values()
                if t["employee_id"] == employee_id]

    def touch_year(self, employee_id, year):
        key = f"{employee_id}:{year}"
        self.years = getattr(self, "years", {})
        self.years[key] = self.years.get(key, 0) + 1

    def record_thresholds(self, thresholds):
        for t in thresholds:
            assert t["threshold_id"] not in self.thresholds
            self.thresholds[t["threshold_id"]] = copy.deepcopy(t)

    def unit_entries(self, unit, year, month=None, *, domains=None, codes=None):
        return [copy.deepcopy(e) for e in self.entries.values()
                if e.get("unit") == unit and e["year"] == year and month in (None, e["month"])
                and (not (domains or codes) or e["domain"] in (domains or ())
                     or e["code"] in (codes or ()))]

    def touch_unit_year(self, unit, year):
        self.unit_years = getattr(self, "unit_years", Counter())
        self.unit_years[f"{unit}:{year}"] += 1

    def unit_raised_keys(self, unit, year):
        return [tuple(t["key"]) for t in self.unit_records.values()
                if (t["unit"], t["year"]) == (unit, year)]

    def unit_thresholds(self, year, unit=None):
        return [copy.deepcopy(t) for t in self.unit_records.values()
                if t["year"] == year and unit in (None, t["unit"])]

    def record_unit_thresholds(self, raised):
        for t in raised:
            assert t["threshold_id"] not in self.unit_records
            self.unit_records[t["threshold_id"]] = copy.deepcopy(
                {k: v for k, v in t.items() if k != "entries"})

    def publication_announced(self, key):
        return key in self.publications

    def mark_publication(self, key):
        self.publications.add(key)


def _now():
    return datetime(2026, 11, 20, 1, tzinfo=UTC)


def violation(violation_id="V1", code="D16", employee_id="W1", source="dormitory", **extra):
    return make_envelope(source, "violation_recorded", {
        "violation_id": violation_id, "incident_id": "INSP-1", "employee_id": employee_id,
        "code": code, "at": "2026-11-12T20:00:00+08:00", "building": "A",
        "room_no": "101", **extra})


def book_dormitory(store, outbox, envelope, rules=RULES):
    return app.book_violation(store, outbox, rules, "dormitory", envelope,
                              withdrawable=False, approver_role="gm")


def manual(code, incident_id, amount=None, domain="confidentiality", at="2026-11-20T10:00"):
    return {"employee_id": "W1", "domain": domain, "code": code, "codes": None,
            "incident_id": incident_id, "at": datetime.fromisoformat(at).replace(tzinfo=UTC),
            "points": None, "amount_yuan": amount, "note": None, "actor": HR}


def test_a_dormitory_violation_costs_one_read_and_one_write_of_the_ledger():
    store, outbox = FakeStore({"R1": {"manager_id": "M1"}}), FakeOutbox("penalties")
    [entry] = book_dormitory(store, outbox, violation(employee_id="R1"))
    assert (entry["code"], entry["points"], entry["amount_yuan"]) == ("D16", 3, 30)
    assert entry["note"] == "A-101" and entry["source"] == "dormitory.violation_recorded"
    # The person (wage, reporting line), then the entry: no withdrawal record
    # (the dormitory never withdraws), no month (no wage, no ceiling), no
    # threshold (no dormitory entry moves one).
    assert store.calls == ["people", "insert_entries"]
    assert [e["entry_id"] for e in outbox.of_type("penalty_issued")] == [entry["entry_id"]]


def test_with_a_wage_the_booking_deducts_up_to_the_ceiling_and_holds_the_month():
    store = FakeStore({"W1": {"monthly_wage_yuan": 3000, **LINE}})  # ceiling 600
    outbox = FakeOutbox("penalties")
    app.record_penalty(store, outbox, RULES, manual("P01", "leak-1", 590))
    store.calls.clear()
    [entry] = book_dormitory(store, outbox, violation())
    assert (entry["amount_yuan"], entry["deducted_yuan"], entry["capped_yuan"]) == (30, 10, 20)
    assert store.calls == ["people", "months_entries", "hold_months", "insert_entries"]
    assert store.held_months[-1] == ("W1", 2026, 11)
    # The month is at its ceiling: nothing more is deducted, so nothing to hold.
    store.calls.clear()
    [entry] = book_dormitory(store, outbox, violation("V2"))
    assert (entry["deducted_yuan"], entry["capped_yuan"]) == (0, 30)
    assert store.calls == ["people", "months_entries", "insert_entries"]


def test_an_attendance_withdrawal_before_or_after_its_violation_leaves_nothing_standing():
    store, outbox = FakeStore({"W1": LINE}), FakeOutbox("penalties")

    def absence(violation_id):
        return violation(violation_id, code="A04", source="attendance", points=10,
                         domain="attendance", detail={})

    def book(envelope):
        return app.book_violation(store, outbox, RULES, "attendance", envelope,
                                  withdrawable=True, approver_role="gm")

    booked = book(absence("A-1"))
    assert booked and store.withdrawn["A-1"] == {"withdrawn": False}
    app.withdraw_violation(store, outbox, RULES, {"violation_id": "A-1", "reason": "leave"})
    [reversal] = outbox.of_type("penalty_reversed")
    assert reversal["reverses"] == booked[0]["entry_id"]
    # The withdrawal overtook its violation: the booking finds it and stops.
    app.withdraw_violation(store, outbox, RULES, {"violation_id": "A-2", "reason": "leave"})
    assert book(absence("A-2")) == []
    assert {e["incident_id"] for e in store.entries.values()} == {"A-1"}


def test_an_upheld_appeal_reverses_the_entry_once_and_a_repeat_returns_it_as_taken():
    store, outbox = FakeStore({"W1": LINE}), FakeOutbox("penalties")
    [entry] = app.record_penalty(store, outbox, RULES, manual(
        "D16", "x1", domain="dormitory"))["entries"]
    filed = app.appeal(store, {"entry_id": entry["entry_id"], "reason": "not me", "at": None,
                               "actor": {"id": "W1", "role": "staff"}})
    assert filed["appeal"]["status"] == "pending"
    decision = {"entry_id": entry["entry_id"], "upheld": True, "actor": GM, "at": None,
                "note": None}
    decided = app.decide_appeal(store, outbox, RULES, decision)
    assert decided["entry"]["appeal"]["status"] == "upheld"
    assert [r["reverses"] for r in decided["reversals"]] == [entry["entry_id"]]
    again = app.decide_appeal(store, outbox, RULES, decision)
    assert again["reversals"] == decided["reversals"]
    assert len(outbox.of_type("penalty_reversed")) == 1 and len(store.entries) == 2
    with pytest.raises(DomainConflict, match="final"):
        app.decide_appeal(store, outbox, RULES, {**decision, "upheld": False})


def liability(number, employee_ids=("W1",), at="2026-11-13T12:00:00+08:00"):
    return make_envelope("complaints", "liability_determined", {
        "number": number, "employee_ids": list(employee_ids), "fine_yuan": 500,
        "attitude": None, "at": at}, actor={"id": "GMO", "role": "gm_office"})


def decide(store, outbox, notice, approve, revision=None, actor=GM, rules=RULES):
    return app.decide_notice(store, outbox, rules, {
        "notice_id": notice["notice_id"], "approve": approve, "actor": actor, "at": None,
        "note": None, "revision": revision})


TL = {"id": "TL", "role": "staff"}
DM = {"id": "DM", "role": "dept_manager"}
# W1 reports to the team leader TL, who reports to the department manager DM.
LINES = {"W1": LINE, "TL": {"manager_id": "DM"}, "DM": {"manager_id": "GM"}}


def test_the_supervisor_approves_first_then_the_gm_signs_001_s1_9_6_and_12_2():
    store, outbox = FakeStore(LINES), FakeOutbox("penalties")
    app.determine_liability(store, outbox, RULES, liability("2611-0001"), approver_role="gm")
    [notice] = store.notices()
    assert store.entries == {} and outbox.of_type("penalty_issued") == []
    assert [(s["step"], s.get("approver_id"), s.get("employee_ids"), s["status"])
            for s in notice["steps"]] == [("supervisor", "TL", ["W1"], "pending"),
                                          ("gm", None, None, "pending")]
    [announced] = outbox.of_type("notice_awaiting_approval")
    assert (announced["amount_yuan_total"], announced["points_total"]) == (550, 5)
    assert (announced["step"], announced["approver_role"], announced["approver_ids"]) == (
        "supervisor", "supervisor", ["TL"])
    assert [n["notice_id"] for n in store.notices(approver_id="TL")] == [notice["notice_id"]]
    # The GM does not sign before the supervisor (个人惩处种类呈主管批示).
    with pytest.raises(DomainConflict, match="第九条"):
        decide(store, outbox, notice, approve=True)
    first = decide(store, outbox, notice, approve=True, actor=TL)
    assert first["entries"] == [] and store.entries == {}
    assert (first["notice"]["status"], first["notice"]["step"]) == (AWAITING, "gm")
    assert first["notice"]["steps"][0]["decided_by"] == TL
    assert store.notices(approver_id="TL") == []
    turn = outbox.of_type("notice_awaiting_approval")[-1]
    assert (turn["step"], turn["approver_role"], "approver_ids" in turn) == ("gm", "gm", False)
    # The supervisor's retry changes nothing, and it is not his to sign.
    repeat = decide(store, outbox, notice, approve=True, actor=TL)["notice"]
    assert (repeat["step"], [s["status"] for s in repeat["steps"]]) == (
        "gm", ["approved", "pending"])
    with pytest.raises(DomainConflict, match="approved already"):
        decide(store, outbox, notice, approve=False, actor=TL)
    assert len(outbox.of_type("notice_awaiting_approval")) == 2

    decided = decide(store, outbox, notice, approve=True)
    assert decided["notice"]["status"] == "approved" and decided["notice"]["booked_at"]
    assert [e["entry_id"] for e in decided["entries"]] == \
        [e["entry_id"] for e in notice["entries"]]
    assert all(e["approved_by"] == GM for e in decided["entries"])
    again = decide(store, outbox, notice, approve=True)
    assert again["entries"] == decided["entries"]
    assert decide(store, outbox, notice, approve=True, actor=TL)["entries"] == \
        decided["entries"]
    assert len(outbox.of_type("penalty_issued")) == 2
    [signed] = outbox.of_type("notice_decided")
    assert (signed["decided_by"], signed["step"]) == ("GM", "gm")
    with pytest.raises(DomainConflict, match="final"):
        decide(store, outbox, notice, approve=False)


def test_a_supervisors_refusal_is_final_and_books_nothing_001_s1_9_6():
    store, outbox = FakeStore(LINES), FakeOutbox("penalties")
    app.determine_liability(store, outbox, RULES, liability("2611-0001"), approver_role="gm")
    [notice] = store.notices()
    outsider = {"id": "X9", "role": "staff"}
    with pytest.raises(DomainPermission, match="not X9's to approve"):
        decide(store, outbox, notice, approve=True, actor=outsider)
    decided = decide(store, outbox, notice, approve=False, actor=TL)
    assert decided["notice"]["status"] == "rejected" and store.entries == {}
    [event] = outbox.of_type("notice_decided")
    assert (event["approved"], event["decided_by"], event["step"]) == (False, "TL", "supervisor")
    with pytest.raises(DomainConflict, match="final"):
        decide(store, outbox, notice, approve=True)


def test_a_charged_supervisor_hands_the_step_up_the_line_004_s2_2_and_001_s1_9_6():
    store, outbox = FakeStore(LINES), FakeOutbox("penalties")
    for number in ("2611-0001", "2611-0002"):
        app.determine_liability(store, outbox, RULES, liability(number), approver_role="gm")
    first, second = store.notices()
    # The second complaint charges TL a joint share: TL's manager approves both.
    assert second["named"] == ["W1", "TL"]
    assert [(s["step"], s.get("approver_id"), s.get("employee_ids"))
            for s in second["steps"]] == [("supervisor", "DM", ["W1", "TL"]),
                                          ("gm", None, None)]
    with pytest.raises(DomainPermission):
        decide(store, outbox, second, approve=True, actor=TL)
    decide(store, outbox, second, approve=True, actor=DM)
    # TL refuses the first: the second is recounted and asked again, of TL this time.
    decide(store, outbox, first, approve=False, actor=TL)
    redrafted = store.notice(second["notice_id"])
    assert (redrafted["revision"], redrafted["named"]) == (2, ["W1"])
    assert [(s.get("approver_id"), s["status"]) for s in redrafted["steps"]] == [
        ("TL", "pending"), (None, "pending")]
    announced = outbox.of_type("notice_awaiting_approval")[-1]
    assert (announced["notice_id"], announced["revision"], announced["approver_ids"]) == (
        second["notice_id"], 2, ["TL"])


def test_a_supervisor_who_also_signs_takes_both_steps_at_once():
    store, outbox = FakeStore({"W1": {"manager_id": "GM"}}), FakeOutbox("penalties")
    app.determine_liability(store, outbox, RULES, liability("2611-0001"), approver_role="gm")
    [notice] = store.notices()
    decided = decide(store, outbox, notice, approve=True)
    assert decided["notice"]["status"] == "approved" and len(decided["entries"]) == 2
    assert [s["status"] for s in decided["notice"]["steps"]] == ["approved", "approved"]
    assert len(outbox.of_type("notice_awaiting_approval")) == 1


def test_without_a_supervisor_the_gm_alone_signs_001_s1_12_2():
    store, outbox = FakeStore({"W1": {"department": "property"}}), FakeOutbox("penalties")
    app.determine_liability(store, outbox, RULES, liability("2611-0001"), approver_role="gm")
    [notice] = store.notices()
    assert [s["step"] for s in notice["steps"]] == ["gm"]
    assert outbox.of_type("notice_awaiting_approval")[0]["step"] == "gm"
    assert decide(store, outbox, notice, approve=True)["notice"]["status"] == "approved"


def test_a_deployment_may_let_the_supervisor_alone_approve_small_notices():
    rules = dataclasses.replace(RULES, policy=dataclasses.replace(
        RULES.policy, notices=Notices(("complaint",), ("complaint",), 600)))
    store, outbox = FakeStore(LINES), FakeOutbox("penalties")
    for number in ("2611-0001", "2611-0002"):  # 550 yuan in all, then 500 + 10 × 10 + 30
        app.determine_liability(store, outbox, rules, liability(number), approver_role="gm")
    small, large = store.notices()
    assert [s["step"] for s in small["steps"]] == ["supervisor"]
    assert large["amount_yuan_total"] > 600
    assert [s["step"] for s in large["steps"]] == ["supervisor", "gm"]
    decided = decide(store, outbox, small, approve=True, actor=TL, rules=rules)
    assert decided["notice"]["status"] == "approved" and len(decided["entries"]) == 2
    assert all(e["approved_by"] == TL for e in decided["entries"])
    assert outbox.of_type("notice_decided")[0]["step"] == "supervisor"


def test_a_rejection_recounts_the_months_later_notices_004_s2_2():
    store, outbox = FakeStore({"W1": LINE}), FakeOutbox("penalties")
    for number in ("2611-0001", "2611-0002"):
        app.determine_liability(store, outbox, RULES, liability(number), approver_role="gm")
    first, second = store.notices()
    assert {(e["employee_id"], e["code"]): e["points"] for e in second["entries"]} == {
        ("W1", "C01"): 0, ("W1", "Q01"): 10, ("TL", "Q02"): 3}
    decided = decide(store, outbox, first, approve=False, actor=TL)
    assert decided["entries"] == [] and store.entries == {}
    redrafted = store.notice(second["notice_id"])
    assert redrafted["revision"] == 2 and redrafted["points_total"] == 5
    assert [n["revision"] for n in outbox.of_type("notice_awaiting_approval")] == [1, 1, 2]
    # The recount wrote the counter that drafting writes: a draft racing it conflicts.
    assert store.counters["notices"]["holds"] == 1
    with pytest.raises(DomainConflict, match="redrafted"):
        decide(store, outbox, second, approve=True, revision=1, actor=TL)


def test_a_threshold_is_raised_with_its_event_once():
    store, outbox = FakeStore({"W1": LINE}), FakeOutbox("penalties")
    for i in range(5):
        app.record_penalty(store, outbox, RULES, manual(
            "M01", f"meeting-{i}", domain="meeting", at=f"2026-0{i + 2}-10T09:05"))
    [event] = outbox.of_type("threshold_reached")
    assert (event["kind"], event["year"]) == ("award_ineligible", 2026)
    assert list(store.thresholds) == ["W1:award_ineligible:2026"]


def test_the_sweep_announces_each_unit_in_a_unit_of_its_own_once():
    people = {"W1": {"unit": "north", "unit_head_id": "UH"},
              "W2": {"unit": "south", "unit_head_id": "UH2"}}
    store, outbox = FakeStore(people), FakeOutbox("penalties")
    for who in ("W1", "W2"):
        app.record_penalty(store, outbox, RULES, {**manual(
            "D16", f"oct-{who}", domain="dormitory", at="2026-10-20T21:00"),
            "employee_id": who})
    store.publications.add("2026-11:south")  # announced before a sweep was cut short
    units = store.units
    now = datetime(2026, 11, 2, 0, 5, tzinfo=UTC)
    assert app.sweep(store, outbox, now, 2) == {"announced": ["north"]}
    [published] = outbox.of_type("publication_issued")
    assert (published["unit"], published["unit_head_id"], published["covers"]) == (
        "north", "UH", "2026-10")
    assert store.units - units == 3  # north, south (found done), the month's mark
    assert app.sweep(store, outbox, now, 2) == {"announced": []}
    assert outbox.persisted == len(outbox.envelopes)


def test_a_deployment_may_hold_dormitory_violations_for_a_notice():
    rules = dataclasses.replace(RULES, policy=dataclasses.replace(
        RULES.policy, notices=Notices(("complaint", "dormitory"))))
    store, outbox = FakeStore({"W1": LINE}), FakeOutbox("penalties")
    assert book_dormitory(store, outbox, violation(), rules) == []
    [notice] = store.notices()
    assert (notice["domain"], notice["incident_id"], notice["status"]) == (
        "dormitory", "V1", AWAITING)
    assert store.entries == {} and len(outbox.of_type("notice_awaiting_approval")) == 1


# -- what a unit bears (000 §4 附加说明.3, §3 十.8, §4 六.1) and damage at cost (§5 三.9) --
NORTH = {"unit": "north", **LINE}


def dress_code(store, outbox, who, n=1, day=10):
    return app.record_penalty(store, outbox, RULES, {**manual(
        "B01", f"dress-{who}-{n}", domain="conduct", at=f"2026-11-{day:02d}T09:00"),
        "employee_id": who})["entries"]


def test_the_units_third_dress_code_penalty_books_b02_on_its_head_once_000_s4_6_1():
    store = FakeStore({w: NORTH for w in ("W1", "W2", "W3", "W4")})
    outbox = FakeOutbox("penalties")
    dress_code(store, outbox, "W1", day=3)
    dress_code(store, outbox, "W2", day=4)
    assert outbox.of_type("unit_threshold_reached") == []
    [entry] = [e for e in dress_code(store, outbox, "W3", day=5) if e["share"] == "individual"]
    assert entry["unit"] == "north"                       # the unit it was booked in
    [b02] = [e for e in store.entries.values() if e["code"] == "B02"]
    assert (b02["employee_id"], b02["share"], b02["points"], b02["unit"]) == (
        "UH", "unit_head", 5, "north")
    [event] = outbox.of_type("unit_threshold_reached")
    assert (event["unit"], event["kind"], event["year"], event["month"],
            event["unit_head_id"], event["employee_id"]) == (
        "north", "dress_code", 2026, 11, "UH", "W3")
    assert b02["entry_id"] in {e["entry_id"] for e in outbox.of_type("penalty_issued")}
    assert list(store.unit_records) == ["unit:north:dress_code:2026-11"]
    # Every count wrote the unit's year first: two bookings in one unit conflict.
    assert store.unit_years["north:2026"] == 3
    # A fourth person-time raises nothing more, and once the month is raised
    # it is not counted again; the third booked again adds nothing at all.
    dress_code(store, outbox, "W4", day=6)
    dress_code(store, outbox, "W3", day=5)
    assert store.unit_years["north:2026"] == 3
    assert len(outbox.of_type("unit_threshold_reached")) == 1
    assert sum(e["code"] == "B02" for e in store.entries.values()) == 1


def test_an_admonishment_flags_the_persons_unit_000_s4_note_3():
    store = FakeStore({"W1": NORTH, **{leader: {"unit": "north"} for leader in LINE.values()}})
    outbox = FakeOutbox("penalties")
    for n, month in enumerate(("02", "03")):            # two subjective failures
        app.record_penalty(store, outbox, RULES, {**manual(
            "B10", f"late-work-{n}", domain="conduct", at=f"2026-{month}-10T10:00"),
            "points": 20})
    [person] = outbox.of_type("threshold_reached")
    [unit] = outbox.of_type("unit_threshold_reached")
    assert (person["kind"], unit["kind"], unit["unit"], unit["employee_id"]) == (
        "admonishment", "admonishment", "north", "W1")
    assert unit["reason"]["performance_pay_cut_percent"] == 5
    acct = app.get_unit_account(store, {"unit": "north", "year": 2026, "month": None})
    assert acct["flags"] == {"admonishment": True, "admonished": ["W1"],
                             "performance_pay_cut_percent": 5, "award_eligible": False,
                             "dress_code_months": []}
    # W1 and the leaders who bear a share, all in north.
    assert acct["people_count"] == 4 and acct["penalty_count"] == 8


def test_the_units_meeting_count_loses_its_award_eligibility_000_s3_10_8():
    store = FakeStore({w: NORTH for w in ("W1", "W2")})
    outbox = FakeOutbox("penalties")
    for n, who in enumerate(("W1", "W2", "W1", "W2")):
        app.record_penalty(store, outbox, RULES, {**manual(
            "M01", f"meeting-{n}", domain="meeting", at=f"2026-0{n + 2}-10T09:05"),
            "employee_id": who})
    assert outbox.of_type("threshold_reached") == []       # nobody past 3 alone
    [unit] = outbox.of_type("unit_threshold_reached")
    assert (unit["kind"], unit["year"], unit["reason"]) == (
        "award_ineligible", 2026, {"penalties": 4, "points": 8})
    published = app.publication(store, 2026, 6)            # covers May: W2's 4th
    assert published["units"][0]["flags"]["award_eligible"] is False


def revoked(cost, revocation_id="RV1"):
    return make_envelope("dormitory", "accommodation_revoked", {
        "revocation_id": revocation_id, "employee_id": "W1", "reason": "deliberate_damage",
        "at": "2026-11-21T10:00:00+08:00", "note": "broke the door",
        "damage_cost_yuan": cost, "building": "A", "room_no": "101", "bed_no": 2})


def test_dormitory_damage_is_booked_at_cost_once_000_s5_3_9():
    store, outbox = FakeStore({"W1": NORTH}), FakeOutbox("penalties")
    [entry] = app.book_damage(store, outbox, RULES, revoked(300))
    assert (entry["code"], entry["kind"], entry["amount_yuan"], entry["points"]) == (
        "DC01", "penalty", 300, 0)
    assert entry["incident_id"] == "damage:RV1" and entry["note"] == "A-101; broke the door"
    assert entry["source"] == "dormitory.accommodation_revoked"
    assert app.book_damage(store, outbox, RULES, revoked(300)) == [entry]   # redelivered
    assert len(outbox.of_type("penalty_issued")) == 1
    assert app.book_damage(store, outbox, RULES, revoked(None, "RV2")) == []
    assert app.book_damage(store, outbox, RULES, revoked(0, "RV3")) == []
    assert len(store.entries) == 1
