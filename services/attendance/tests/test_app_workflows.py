"""Handovers and the duty log, going out, the monthly sheet's chain, and the
reminders of overdue duties — the application functions over an in-memory
store and ``zhidu.fakes.FakeOutbox``, no broker, no database.

Every event a test makes is checked against the JSON Schema attendance
publishes for it (``zhidu.contracts``), as the service does under test.
"""
from __future__ import annotations

import copy
from collections import defaultdict
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from attendance.app import clocking, dutylog, outings, reports
from attendance.app.duties import remind
from attendance.app.sweeping import reports as sweep_reports
from attendance.app.work import Caller, Work
from attendance.metrics import Counts
from attendance.policy import load_rules
from attendance.shifts import define_shift
from zhidu.contracts import EventContracts
from zhidu.domain import DomainConflict, DomainPermission, DomainValidation
from zhidu.fakes import FakeOutbox
from zhidu.uow import StaleWrite

from .fakes import FakeDocs

SH = ZoneInfo("Asia/Shanghai")
RULES = load_rules()
CONTRACTS = EventContracts.for_service("attendance")


def person(employee_id, role="staff", department="customer_service", **line):
    return dict({"employee_id": employee_id, "role": role, "department": department}, **line)


DIRECTORY = {p["employee_id"]: p for p in (
    person("E1", manager_id="S1"), person("E2", manager_id="S1"),
    person("E3", manager_id="S1"),
    person("S1", manager_id="H1"), person("K1", "attendance_clerk", manager_id="H1"),
    person("H1", "dept_manager", manager_id="G1"),
    person("F1", department="finance", manager_id="H2"),
    person("O1", "gm_office", "office"), person("D1", "deputy_gm", "management"),
    person("G1", "gm", "management"))}


def local(*args) -> datetime:
    return datetime(*args, tzinfo=SH)


class FakeStore(FakeDocs):
    """The attendance store's methods these application functions use, in memory."""

    def __init__(self):
        super().__init__()
        self.counters: dict[str, int] = defaultdict(int)
        self.shift_defs = {"N": define_shift("N", "22:00", "06:00").as_dict(),
                           "D": define_shift("D", "08:30", "16:20").as_dict()}
        self.clocks: list[dict] = []
        self.roster: dict[str, dict] = {}

    def _save_revised(self, collection, key, record, read, id_field):
        held = self.docs[collection].get(key)
        if (held is None) != (read is None) or \
                (held or {}).get("revision") != (read or {}).get("revision"):
            raise StaleWrite(key)
        doc = {k: v for k, v in record.items() if k not in (id_field, "revision")}
        self.docs[collection][key] = dict(copy.deepcopy(doc),
                                          revision=((read or {}).get("revision") or 0) + 1)

    # -- directory copy ------------------------------------------------------------------------
    def employee(self, employee_id):
        return copy.deepcopy(DIRECTORY.get(employee_id))

    def department_role_holders(self, department, role):
        return sorted(e for e, p in DIRECTORY.items()
                      if p["department"] == department and p["role"] == role)

    def role_holders(self, role):
        return sorted(e for e, p in DIRECTORY.items() if p["role"] == role)

    def superiors_in_department(self, department):
        members = {e for e, p in DIRECTORY.items() if p["department"] == department}
        return sorted({DIRECTORY[e].get(f) for e in members
                       for f in ("team_leader_id", "manager_id", "unit_head_id")} & members)

    def clerks_by_department(self):
        return {p["department"]: e for e, p in sorted(DIRECTORY.items())
                if p["role"] == "attendance_clerk"}

    # -- shifts, roster, clocks, incidents ---------------------------------------------------------
    def cached_shift(self, code):
        return self.shift_defs.get(code)

    def clocks_between(self, start, end, employee_ids=None):
        grouped = defaultdict(list)
        for c in self.clocks:
            if start <= c["at"] <= end and (employee_ids is None
                                            or c["employee_id"] in employee_ids):
                grouped[c["employee_id"]].append(dict(c))
        return grouped

    def roster_for_clock(self, employee_id, days):
        return [dict(e) for d in days if (e := self.roster.get(f"{employee_id}:{d}"))]

    def insert_incident(self, incident):
        return self._insert_once("incidents", incident["_id"], incident)

    def evaluated_dates(self, employee_id, first, last):
        return []

    def insert_new_violations(self, violations):
        return [v for v in violations if self._insert_once("violations", v["key"], v)]

    # -- handovers and the duty log ----------------------------------------------------------------
    def handover(self, handover_id):
        return self._get("handovers", handover_id, "handover_id")

    def save_handover(self, handover, read):
        self._save_revised("handovers", handover["handover_id"], handover, read, "handover_id")

    def handovers_between(self, post, first, last):
        return [self.handover(k) for k, d in sorted(self.docs["handovers"].items())
                if d["post"] == post and first <= d["date"] <= last]

    def insert_log_entry(self, entry):
        return self._insert_once("duty_log", entry["key"], entry)

    def log_between(self, post, first, last):
        return [copy.deepcopy(d) for d in self.docs["duty_log"].values()
                if d["post"] == post and first <= d["date"] <= last]

    def logged_days(self, post, month):
        return sorted({d["date"] for d in self.docs["duty_log"].values()
                       if d["post"] == post and d["month"] == month})

    def duty_review(self, key):
        return self._get("duty_reviews", key, "key")

    def insert_duty_review(self, review):
        return self._insert_once("duty_reviews", review["key"], review)

    def duty_reviews_between(self, post, first, last):
        return [self.duty_review(k) for k, d in sorted(self.docs["duty_reviews"].items())
                if d["post"] == post]

    # -- reports -----------------------------------------------------------------------------------
    def report(self, key):
        return self._get("reports", key, "key")

    def save_report(self, report, read):
        self._save_revised("reports", report["key"], report, read, "key")

    def insert_report(self, report):
        return self._insert_once("reports", report["key"],
                                 {k: v for k, v in report.items() if k != "key"})

    # -- outings -----------------------------------------------------------------------------------
    def next_sequence(self, name):
        self.counters[name] += 1
        return self.counters[name]

    def insert_outing(self, outing):
        assert self._insert_once("outings", outing["outing_id"], dict(outing, revision=0))

    def outing(self, outing_id):
        return self._get("outings", outing_id, "outing_id")

    def save_outing(self, outing, read):
        self._save_revised("outings", outing["outing_id"], outing, read, "outing_id")

    def outings_around(self, employee_id, at):
        return [self.outing(k) for k, o in self.docs["outings"].items()
                if o["employee_id"] == employee_id and o["out_at"] <= at
                and o["expected_back_at"] >= at]


def work_as(store, caller_id, outbox=None) -> Work:
    roles = (DIRECTORY[caller_id]["role"],) if caller_id in DIRECTORY else ("ops",)
    return Work(store, outbox or FakeOutbox("attendance"), RULES, Counts(),
                Caller(caller_id, roles, DIRECTORY.get))


@pytest.fixture
def store():
    return FakeStore()


@pytest.fixture
def outbox():
    box = FakeOutbox("attendance")
    yield box
    # Every event emitted is one the published catalogue accepts.
    for envelope in box.envelopes:
        CONTRACTS.check(envelope)


def actor(work):
    return {"id": work.caller.id, "role": work.caller.roles[0]}


# -- handover and the duty log ---------------------------------------------------------------------
def hand_over(work, **changes):
    payload = {"post": "front_desk", "date": date(2026, 3, 2), "shift_code": "N",
               "outgoing_id": work.caller.id, "incoming_id": "E2",
               "at": local(2026, 3, 2, 21, 40), "notes": "quiet", "property_issues": [],
               "anomalies": ["lobby door sticks"],
               "unfinished": [{"item": "complaint 2603-0007", "important": True}],
               "actor": actor(work)}
    payload.update(changes)
    return dutylog.hand_over(work, payload)


def take(work, at, accepted=()):
    return dutylog.take_over_shift(work, {"handover_id": "front_desk:2026-03-02:N",
                                          "at": at, "accepted": list(accepted),
                                          "actor": actor(work)})


def test_a_handover_both_sides_sign_blocks_on_important_work_and_records_lateness_002_s4_4_7(
        store, outbox):
    e1, e2 = work_as(store, "E1", outbox), work_as(store, "E2", outbox)
    opened = hand_over(e1)
    assert opened["status"] == "awaiting_incoming"
    assert opened["arrive_by"] == local(2026, 3, 2, 21, 50)
    store.clocks.append({"employee_id": "E2", "kind": "in", "at": local(2026, 3, 2, 21, 53)})
    with pytest.raises(DomainConflict, match="4.7.9"):
        take(e2, local(2026, 3, 2, 21, 55))
    assert outbox.envelopes == [] and store.docs["duty_log"] == {}
    with pytest.raises(DomainPermission):                      # not the one it is handed to
        take(work_as(store, "E3", outbox), local(2026, 3, 2, 21, 55),
             ["complaint 2603-0007"])
    done = take(e2, local(2026, 3, 2, 21, 55), ["complaint 2603-0007"])
    assert (done["status"], done["arrived_at"], done["late_minutes"]) == (
        "completed", local(2026, 3, 2, 21, 53), 3)
    [event] = outbox.of_type("handover_completed")
    assert event["arrived_late"] is True and event["accepted"] == ["complaint 2603-0007"]
    with pytest.raises(DomainConflict):
        hand_over(e1, notes="rewritten after the signatures")
    # The completed handover logs the day, and the day owes its reviews.
    assert store.logged_days("front_desk", "2026-03") == ["2026-03-02"]
    assert sorted(store.docs["duties"]) == ["duty:front_desk:daily:2026-03-02",
                                            "duty:front_desk:monthly:2026-03",
                                            "duty:front_desk:spot_check:2026-03"]


def test_a_handover_goes_to_someone_on_the_posts_staff_002_s4_4_7(store, outbox):
    with pytest.raises(DomainValidation) as err:
        hand_over(work_as(store, "E1", outbox), incoming_id="F1")
    assert "incoming_id" in err.value.errors


def log(work, day, hour=10, text="lift alarm tested"):
    return dutylog.log_duty(work, {"post": "front_desk", "at": local(2026, 3, day, hour),
                                   "text": text, "important": False, "actor": actor(work)})


def review(work, kind, at, **period):
    payload = {"post": "front_desk", "kind": kind, "date": None, "year": None, "month": None,
               "days": [], "at": at, "note": None, "actor": actor(work)}
    payload.update(period)
    return dutylog.review_duty_log(work, payload)


def test_overdue_reviews_are_reminded_and_a_signed_review_stops_them_002_s4_4_8(store, outbox):
    e1 = work_as(store, "E1", outbox)
    for day in (2, 3):
        log(e1, day)
    log(e1, 2, 11)                                             # the same day again
    assert len(store.docs["duties"]) == 4                     # two days, their month's two
    sweeper = work_as(store, "svc:timer", outbox)
    assert remind(sweeper, local(2026, 3, 3, 23)) == []       # nothing due yet
    sent = remind(sweeper, local(2026, 3, 4, 0, 5))
    assert sent == ["duty:front_desk:daily:2026-03-02:reminder:1"]
    [reminder] = outbox.of_type("duty_review_overdue")
    assert (reminder["review"], reminder["period"], reminder["to_ids"]) == (
        "daily", "2026-03-02", ["H1"])
    assert remind(sweeper, local(2026, 3, 4, 0, 5)) == []     # the same sweep again
    with pytest.raises(DomainPermission, match="002 §4 4.8"):  # daily is the head's
        review(work_as(store, "S1", outbox), "daily", local(2026, 3, 4, 9),
               date=date(2026, 3, 3))
    signed = review(work_as(store, "H1", outbox), "daily", local(2026, 3, 4, 9),
                    date=date(2026, 3, 3))
    assert signed["on_time"] is True
    with pytest.raises(DomainConflict, match="H1"):
        review(work_as(store, "H1", outbox), "daily", local(2026, 3, 4, 10),
               date=date(2026, 3, 3))
    later = remind(sweeper, local(2026, 3, 5, 1))
    assert later == ["duty:front_desk:daily:2026-03-02:reminder:2"]   # 3-03 was signed


def test_the_supervisor_reads_the_month_and_a_leader_spot_checks_20_percent_002_s2_2(
        store, outbox):
    e1 = work_as(store, "E1", outbox)
    for day in range(1, 11):
        log(e1, day)
    sweeper = work_as(store, "svc:timer", outbox)
    remind(sweeper, local(2026, 4, 6, 1))
    by_review = {e["review"]: e for e in outbox.of_type("duty_review_overdue")}
    assert by_review["monthly"]["to_ids"] == ["H1", "S1"]     # supervisors and the head
    assert by_review["spot_check"]["to_ids"] == ["D1", "G1"]
    with pytest.raises(DomainPermission, match="二.2"):
        review(work_as(store, "H1", outbox), "spot_check", local(2026, 4, 6, 9), year=2026,
               month=3, days=[date(2026, 3, 2), date(2026, 3, 5)])
    check = review(work_as(store, "D1", outbox), "spot_check", local(2026, 4, 6, 9),
                   year=2026, month=3, days=[date(2026, 3, 2), date(2026, 3, 5)])
    assert check["on_time"] is False and check["days"] == ["2026-03-02", "2026-03-05"]
    month = review(work_as(store, "S1", outbox), "monthly", local(2026, 4, 6, 10),
                   year=2026, month=3)
    assert month["reviewer"]["id"] == "S1"
    assert not any(store.docs["duties"][f"duty:front_desk:{k}:2026-03"]["open"]
                   for k in ("monthly", "spot_check"))
    view = dutylog.get_duty_log(e1, {"post": "front_desk", "date_from": date(2026, 3, 1),
                                     "date_to": date(2026, 3, 31)})
    assert len(view["entries"]) == 10 and len(view["reviews"]) == 2


def test_two_replicas_reminding_at_once_send_one_reminder(store, outbox):
    """One replica counts the reminder between the other's read and its write."""
    log(work_as(store, "E1", outbox), 2)

    class RacingStore(FakeStore):
        def mark_reminded(self, key, sent, number, next_at):
            # the other replica's unit commits first
            FakeStore.mark_reminded(store, key, sent, number, next_at)
            return FakeStore.mark_reminded(store, key, sent, number, next_at)

    racing = RacingStore()
    racing.docs = store.docs
    sent = remind(work_as(racing, "svc:timer", outbox), local(2026, 3, 4, 1))
    assert sent == [] and outbox.of_type("duty_review_overdue") == []
    assert store.docs["duties"]["duty:front_desk:daily:2026-03-02"]["sent"] == 1


# -- going out ---------------------------------------------------------------------------------
def ask(work, employee_id="E1", out=(10, 0), back=(11, 0)):
    return outings.ask_outing(work, {
        "employee_id": employee_id, "out_at": local(2026, 3, 2, *out),
        "expected_back_at": local(2026, 3, 2, *back), "reason": "bank",
        "at": local(2026, 3, 2, 9), "actor": actor(work)})


def decide(work, outing_id, at, approve=True):
    return outings.decide_outing(work, {"outing_id": outing_id, "approve": approve, "at": at,
                                        "note": None, "actor": actor(work)})


def incident(work, employee_id, at):
    return clocking.report_incident(work, {"employee_id": employee_id, "kind": "off_post",
                                           "at": at, "minutes": 20, "note": None,
                                           "actor": actor(work)})


def test_an_approved_outing_is_not_off_post_its_late_return_is_recorded_002_s1_1_2_3(
        store, outbox):
    store.roster["E1:2026-03-02"] = {"key": "E1:2026-03-02", "employee_id": "E1",
                                     "date": "2026-03-02", "shift_code": "D",
                                     "published": True}
    asked = ask(work_as(store, "E1", outbox))
    assert (asked["outing_id"], asked["approver"]) == ("OT000001", "supervisor")
    # The request names who may approve it: the person's direct superior.
    assert outbox.of_type("outing_requested")[0]["to_ids"] == ["S1"]
    with pytest.raises(DomainPermission):                       # a colleague
        decide(work_as(store, "E2", outbox), asked["outing_id"], local(2026, 3, 2, 9, 30))
    s1 = work_as(store, "S1", outbox)
    decide(s1, asked["outing_id"], local(2026, 3, 2, 9, 30))
    [decided] = outbox.of_type("outing_decided")
    assert decided["status"] == "approved" and decided["decided_by"]["id"] == "S1"
    with pytest.raises(DomainConflict, match="OT000001"):       # out with approval
        incident(s1, "E1", local(2026, 3, 2, 10, 30))
    back = outings.return_from_outing(work_as(store, "E1", outbox), {
        "outing_id": asked["outing_id"], "at": local(2026, 3, 2, 11, 25),
        "actor": {"id": "E1"}})
    assert back["late_minutes"] == 25
    [returned] = outbox.of_type("outing_returned")
    assert returned["late"] is True and returned["late_minutes"] == 25
    assert returned["decided_by"] == {"id": "S1", "role": decided["decided_by"]["role"]}
    # The 25 minutes past the expected return are not covered: off post, A02.
    booked = incident(s1, "E1", local(2026, 3, 2, 11, 10))
    assert booked["violation"]["code"] == "A02"


def test_a_department_head_asks_the_gm_000_s2_4_3_3(store, outbox):
    asked = ask(work_as(store, "H1", outbox), employee_id="H1")
    assert asked["approver"] == "gm"
    assert outbox.of_type("outing_requested")[0]["to_ids"] == ["G1"]
    with pytest.raises(DomainPermission, match="000 §2 四.3"):
        decide(work_as(store, "D1", outbox), asked["outing_id"], local(2026, 3, 2, 9, 30))
    done = decide(work_as(store, "G1", outbox), asked["outing_id"], local(2026, 3, 2, 9, 30))
    assert done["decided_by"] == {"id": "G1", "role": "gm"}


# -- the monthly sheet's chain ---------------------------------------------------------------------
def submit(work, at, department="customer_service", month=3):
    return reports.submit_monthly_report(work, {"department": department, "year": 2026,
                                                "month": month, "at": at,
                                                "actor": actor(work)})


def step(work, at, approve=True, note=None, department="customer_service", month=3):
    return reports.decide_monthly_report(work, {"department": department, "year": 2026,
                                                "month": month, "approve": approve,
                                                "at": at, "note": note,
                                                "actor": actor(work)})


def test_the_sheet_climbs_its_chain_each_step_reminded_when_late_000_s2_5_1(store, outbox):
    k1 = work_as(store, "K1", outbox)
    submitted = submit(k1, local(2026, 3, 24, 10))
    assert submitted["awaiting"] == "head_approval" and submitted["status"] == "on_time"
    with pytest.raises(DomainPermission, match="五.1"):
        step(work_as(store, "O1", outbox), local(2026, 3, 24, 11))
    sweeper = work_as(store, "svc:timer", outbox)
    assert remind(sweeper, local(2026, 3, 25, 9)) == []        # due 3-25 10:00
    [late_head] = remind(sweeper, local(2026, 3, 25, 10, 30))
    assert late_head == "report:customer_service:2026-03:head_approval:1:reminder:1"
    [reminder] = outbox.of_type("report_step_overdue")
    assert (reminder["step"], reminder["to_ids"], reminder["to_roles"]) == (
        "head_approval", ["H1"], ["department_head"])
    step(work_as(store, "H1", outbox), local(2026, 3, 25, 11))
    step(work_as(store, "O1", outbox), local(2026, 3, 26, 9))
    done = step(work_as(store, "G1", outbox), local(2026, 3, 27, 9))
    assert done["approved"] is True and done["status"] == "on_time"
    moves = outbox.of_type("monthly_report_advanced")
    assert [(m["step"], m["awaiting"]) for m in moves] == [
        ("submission", "head_approval"), ("head_approval", "office_review"),
        ("office_review", "gm_approval"), ("gm_approval", None)]
    # Each move names who acts next; the last, the clerk and head whose sheet it is.
    assert [m["to_ids"] for m in moves] == [["H1"], ["O1"], ["G1"], ["H1", "K1"]]
    assert not any(d["open"] for d in store.docs["duties"].values())
    assert remind(sweeper, local(2026, 4, 30)) == []
    # The head being late with the approval did not make the sheet late.
    assert outbox.of_type("violation_recorded") == []


def test_a_sheet_sent_back_and_submitted_after_the_date_is_late_once_000_s2_5_1(store, outbox):
    k1 = work_as(store, "K1", outbox)
    submit(k1, local(2026, 3, 24, 10))
    back = step(work_as(store, "H1", outbox), local(2026, 3, 25, 9), approve=False,
                note="E4's leave is missing")
    assert (back["awaiting"], back["status"]) == ("submission", "pending")
    assert outbox.of_type("monthly_report_advanced")[-1]["to_ids"] == ["H1", "K1"]
    sweeper = work_as(store, "svc:timer", outbox)
    # Past the 25th with no standing submission: overdue, R01 booked, clerk reminded
    # (February, never submitted, is overdue too).
    assert sweep_reports(sweeper, local(2026, 3, 26, 9)) == [
        "report:customer_service:2026-02", "report:customer_service:2026-03"]
    sent = remind(sweeper, local(2026, 3, 26, 9))
    assert "report:customer_service:2026-03:submission:2:reminder:1" in sent
    [to_clerk] = [r for r in outbox.of_type("report_step_overdue") if r["month"] == 3]
    assert to_clerk["to_ids"] == ["H1", "K1"] and to_clerk["round"] == 2
    [r01] = [v for v in outbox.of_type("violation_recorded")
             if v["detail"]["period"] == "2026-03"]
    again = submit(k1, local(2026, 3, 26, 10))
    assert (again["status"], again["round"]) == ("late", 2)
    assert [v["violation_id"] for v in outbox.of_type("violation_recorded")
            if v["detail"]["period"] == "2026-03"] == [r01["violation_id"]]    # once
    assert sweep_reports(sweeper, local(2026, 3, 27, 9)) == []
    assert store.docs["duties"]["report:customer_service:2026-03:submission:2"]["open"] is False
