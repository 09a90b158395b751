"""The regular meetings scheduled by the sweep, and the GM office meeting's
agenda, over an in-memory store (000 §3 四, 四.7). No broker, no database.

Every event is checked against the schema attendance publishes for it.
"""
from __future__ import annotations

import copy

import pytest
from attendance.app import standing
from attendance.app.duties import remind
from attendance.app.work import Caller, Work
from attendance.metrics import Counts
from attendance.policy import load_rules
from zhidu.contracts import EventContracts
from zhidu.domain import DomainConflict
from zhidu.fakes import FakeOutbox

from .test_app_meetings import FakeStore, local

RULES = load_rules()
CONTRACTS = EventContracts.for_service("attendance")
PEOPLE = (("G", "gm", "management"), ("D", "deputy_gm", "management"),
          ("H1", "dept_manager", "cs"), ("H2", "dept_manager", "finance"),
          ("O", "gm_office", "office"), ("O2", "gm_office", "office"),
          ("E1", "staff", "cs"), ("E2", "staff", "finance"))


class DirectoryStore(FakeStore):
    """The fake meeting store with a directory copy of its own, and agendas."""

    def __init__(self):
        super().__init__()
        self.people = {e: {"employee_id": e, "role": r, "department": d, "departed_at": None}
                       for e, r, d in PEOPLE}

    def _active(self):
        return {e: p for e, p in self.people.items() if p["departed_at"] is None}

    def employee(self, employee_id):
        return copy.deepcopy(self.people.get(employee_id))

    def role_holders(self, role):
        return sorted(e for e, p in self._active().items() if p["role"] == role)

    def department_role_holders(self, department, role):
        return sorted(e for e, p in self._active().items()
                      if p["role"] == role and p["department"] == department)

    def departed(self, employee_ids):
        return {e: self.people[e]["departed_at"] for e in employee_ids
                if e in self.people and self.people[e]["departed_at"] is not None}

    def active_employees(self):
        return sorted(self._active())

    def active_members(self, departments):
        return sorted(e for e, p in self._active().items() if p["department"] in departments)

    def department_heads(self):
        heads = {}
        for e, p in sorted(self._active().items()):
            if p["role"] == "dept_manager":
                heads.setdefault(p["department"], []).append(e)
        return heads

    def exists(self, collection, key):
        return key in self.docs[collection]

    def insert_once(self, collection, key, doc):
        return self._insert_once(collection, key, doc)

    def agenda(self, key):
        return self._get("agendas", key, "key")

    def save_agenda(self, agenda, read):
        self._save_revised("agendas", agenda["key"], agenda, read, "key")

    def close_agenda_duties(self, agenda_key, at):
        closed = 0
        for duty in self.docs["duties"].values():
            if duty["open"] and duty["kind"] == "agenda_item" and duty["agenda"] == agenda_key:
                duty.update(open=False, done_at=at, remind_at=None)
                closed += 1
        return closed


def work_as(store, outbox, caller_id) -> Work:
    person = store.people.get(caller_id)
    roles = (person["role"],) if person else ("ops",)
    return Work(store, outbox, RULES, Counts(), Caller(caller_id, roles, store.employee))


def actor(work):
    return {"id": work.caller.id, "role": work.caller.roles[0]}


@pytest.fixture
def store():
    return DirectoryStore()


@pytest.fixture
def outbox():
    box = FakeOutbox("attendance")
    yield box
    for envelope in box.envelopes:
        CONTRACTS.check(envelope)


def sweep(store, outbox, now):
    return standing.sweep(work_as(store, outbox, "svc:timer"), now)


# -- the standing schedule (四.1-4) ------------------------------------------------------------
def test_two_sweeps_schedule_the_weekly_review_once_000_s3_4_1(store, outbox):
    swept = sweep(store, outbox, local(2026, 3, 4, 12))
    assert swept["scheduled"] == ["weekly_review-2026-03-10"]
    assert sweep(store, outbox, local(2026, 3, 4, 12, 5))["scheduled"] == []
    [notice] = outbox.of_type("meeting_scheduled")
    # 讲评会: 每周二上午9:00, 总经理、副总、各所属公司经理; recorded by the general office.
    assert (notice["title"], notice["start"], notice["planned_minutes"]) == \
        ("讲评会", "2026-03-10T01:00:00+00:00", 60)
    assert (notice["attendees"], notice["chair_id"], notice["minute_taker_id"]) == \
        (["D", "G", "H1", "H2"], "G", "O")
    assert (notice["standing"], notice["occurrence"]) == ("weekly_review", "2026-03-10")
    assert "agenda" not in notice
    meeting = store.meeting("weekly_review-2026-03-10")
    assert meeting["standing"] == "weekly_review" and meeting["convened_by"] is None


def test_a_replica_that_lost_the_race_sends_no_second_notice(store, outbox):
    """The other replica records the occurrence between this one's read and its write."""
    sweep(store, outbox, local(2026, 3, 4, 12))

    class RacingStore(DirectoryStore):
        def meeting(self, meeting_id):
            return None       # read before the other replica committed

    racing = RacingStore()
    racing.docs, racing.people = store.docs, store.people
    assert sweep(racing, outbox, local(2026, 3, 4, 12))["scheduled"] == []
    assert len(outbox.of_type("meeting_scheduled")) == 1


def test_attendees_are_the_directory_as_it_stands_when_scheduled_000_s3_4(store, outbox):
    sweep(store, outbox, local(2026, 3, 4, 12))
    store.people["H3"] = {"employee_id": "H3", "role": "dept_manager", "department": "ops",
                          "departed_at": None}
    store.people["H2"]["departed_at"] = local(2026, 3, 5)
    sweep(store, outbox, local(2026, 3, 11, 12))
    first, second = outbox.of_type("meeting_scheduled")
    assert first["attendees"] == ["D", "G", "H1", "H2"]       # as scheduled, unchanged
    assert second["attendees"] == ["D", "G", "H1", "H3"]
    assert second["meeting_id"] == "weekly_review-2026-03-17"


def test_a_review_on_a_holiday_is_held_the_next_working_day_000_s3_4_1(store, outbox):
    swept = sweep(store, outbox, local(2026, 4, 29, 12))
    assert swept["scheduled"] == ["weekly_review-2026-05-05"]
    [notice] = outbox.of_type("meeting_scheduled")
    assert notice["start"] == "2026-05-06T01:00:00+00:00"      # Wednesday, after Labour Day


def test_nobody_to_chair_nothing_scheduled_until_someone_does(store, outbox):
    store.people["G"]["departed_at"] = local(2026, 3, 1)
    assert sweep(store, outbox, local(2026, 3, 4, 12))["scheduled"] == []
    store.people["G2"] = {"employee_id": "G2", "role": "gm", "department": "management",
                          "departed_at": None}
    assert sweep(store, outbox, local(2026, 3, 4, 13))["scheduled"] == \
        ["weekly_review-2026-03-10"]


def test_the_annual_assembly_invites_everyone_000_s3_4_4(store, outbox):
    assert "annual_assembly-2027-01-20" in sweep(store, outbox,
                                                  local(2027, 1, 6, 12))["scheduled"]
    assembly = store.meeting("annual_assembly-2027-01-20")
    assert assembly["attendees"] == sorted(store.people)
    assert (assembly["kind"], assembly["planned_minutes"]) == ("annual_assembly", 90)


def test_the_quarterly_analysis_adds_supervisors_and_the_record_keepers_000_s3_4_2(
        store, outbox):
    store.people["S"] = {"employee_id": "S", "role": "supervisor", "department": "cs",
                         "departed_at": None}
    assert "business_analysis-2026-04-15" in sweep(store, outbox,
                                                   local(2026, 4, 9, 12))["scheduled"]
    assert store.meeting("business_analysis-2026-04-15")["attendees"] == \
        ["D", "G", "H1", "H2", "O", "O2", "S"]


# -- the GM office meeting's agenda (四.7) ------------------------------------------------------
def submit(store, outbox, who, department, item, at, **extra):
    work = work_as(store, outbox, who)
    return standing.submit_agenda_item(work, dict({
        "department": department, "item": item, "at": at, "actor": actor(work)}, **extra))


def gm_office_notices(outbox):
    return [n for n in outbox.of_type("meeting_scheduled")
            if n["standing"] == "gm_office_meeting"]


def decide(store, outbox, approved, at, month=3):
    work = work_as(store, outbox, "G")
    return standing.decide_agenda(work, {"year": 2026, "month": month, "approved": approved,
                                         "at": at, "note": None, "actor": actor(work)})


def test_heads_who_sent_nothing_are_reminded_before_the_agenda_closes_000_s3_4_7(
        store, outbox):
    first = submit(store, outbox, "H1", "cs", "修订排班制度", local(2026, 3, 2, 9))
    assert (first["no"], first["month"], first["added"]) == (1, "2026-03", True)
    timer = work_as(store, outbox, "svc:timer")
    sweep(store, outbox, local(2026, 3, 5, 8, 59))
    assert remind(timer, local(2026, 3, 5, 8, 59)) == []          # not yet
    sweep(store, outbox, local(2026, 3, 5, 9, 30))
    sweep(store, outbox, local(2026, 3, 5, 9, 31))
    # Customer service sent its item: only finance's head is reminded, once.
    assert remind(timer, local(2026, 3, 5, 9, 30)) == [
        "agenda:gm_office_meeting:2026-03:finance:reminder:1"]
    assert remind(timer, local(2026, 3, 5, 9, 31)) == []
    [reminder] = outbox.of_type("meeting_agenda_reminder")
    assert (reminder["to_ids"], reminder["department"], reminder["month"]) == \
        (["H2"], "finance", "2026-03")
    assert (reminder["title"], reminder["closes_at"]) == ("总经理办公会",
                                                          "2026-03-05T16:00:00+00:00")
    # Finance sends one: its reminders stop.
    submit(store, outbox, "H2", "finance", "年度预算调整", local(2026, 3, 5, 12))
    assert store.duty("agenda:gm_office_meeting:2026-03:finance")["open"] is False


def test_the_agenda_closes_on_the_5th_and_the_gm_holds_the_meeting_with_it_000_s3_4_7(
        store, outbox):
    submit(store, outbox, "H1", "cs", "修订排班制度", local(2026, 3, 2, 9))
    again = submit(store, outbox, "H1", "cs", "修订排班制度", local(2026, 3, 2, 10))
    assert (again["no"], again["added"]) == (1, False)
    submit(store, outbox, "H2", "finance", "年度预算调整", local(2026, 3, 4, 9))
    submit(store, outbox, "O", "finance", "报销流程", local(2026, 3, 5, 23))
    with pytest.raises(DomainConflict, match="takes items until"):
        decide(store, outbox, [1, 2], local(2026, 3, 5, 20))
    # Past the 5th an item goes on April's agenda.
    late = submit(store, outbox, "H1", "cs", "迟到的议题", local(2026, 3, 6, 8))
    assert (late["month"], late["no"]) == ("2026-04", 1)
    with pytest.raises(DomainConflict, match="closed"):
        submit(store, outbox, "H1", "cs", "迟到的议题", local(2026, 3, 6, 8), year=2026,
               month=3)

    swept = sweep(store, outbox, local(2026, 3, 6, 0, 30))
    assert swept["agendas_closed"] == ["gm_office_meeting:2026-03"]
    assert swept["scheduled"] == ["weekly_review-2026-03-10"]   # not the GM's: unapproved
    assert sweep(store, outbox, local(2026, 3, 6, 0, 40))["agendas_closed"] == []
    closed = [e for e in outbox.of_type("meeting_agenda_closed") if e["month"] == "2026-03"]
    assert [(e["outcome"], len(e["items"])) for e in closed] == [("awaiting_approval", 3)]
    assert closed[0]["submitted_by_ids"] == ["H1", "H2", "O"]
    assert closed[0]["meeting_start"] == "2026-03-10T01:00:00+00:00"

    decided = decide(store, outbox, [1, 2], local(2026, 3, 6, 10))
    assert decided["meeting_id"] == "gm_office_meeting-2026-03-10"
    assert decide(store, outbox, [2, 1], local(2026, 3, 6, 11))["status"] == "decided"
    [told] = outbox.of_type("meeting_agenda_decided")
    assert told["held"] and told["agenda"] == ["1. cs: 修订排班制度", "2. finance: 年度预算调整"]
    [notice] = gm_office_notices(outbox)
    assert (notice["meeting_id"], notice["attendees"], notice["chair_id"]) == \
        ("gm_office_meeting-2026-03-10", ["D", "G"], "G")
    assert [a["item"] for a in notice["agenda"]] == ["修订排班制度", "年度预算调整"]
    assert sweep(store, outbox, local(2026, 3, 6, 12))["scheduled"] == []
    assert len(gm_office_notices(outbox)) == 1
    view = standing.get_agenda(work_as(store, outbox, "O"), {"year": 2026, "month": 3})
    assert [i["no"] for i in view["approved"]] == [1, 2]
    assert view["meeting_id"] == "gm_office_meeting-2026-03-10"


def test_no_agenda_no_gm_office_meeting_000_s3_4_7(store, outbox):
    submit(store, outbox, "H1", "cs", "唯一议题", local(2026, 3, 2, 9))
    swept = sweep(store, outbox, local(2026, 3, 6, 9))
    assert swept["agendas_closed"] == ["gm_office_meeting:2026-03"]
    [closed] = [e for e in outbox.of_type("meeting_agenda_closed") if e["month"] == "2026-03"]
    assert closed["outcome"] == "not_held"
    with pytest.raises(DomainConflict, match="not held"):
        decide(store, outbox, [1], local(2026, 3, 6, 10))
    assert not any(m.startswith("gm_office_meeting")
                   for m in sweep(store, outbox, local(2026, 3, 8, 9))["scheduled"])
    # The GM approving none does not hold it either.
    for who, department in (("H1", "cs"), ("H2", "finance")):
        submit(store, outbox, who, department, "四月议题", local(2026, 4, 1, 9))
    sweep(store, outbox, local(2026, 4, 6, 9))
    assert decide(store, outbox, [], local(2026, 4, 6, 10), month=4)["decision"]["held"] is False
    assert not any(m.startswith("gm_office_meeting")
                   for m in sweep(store, outbox, local(2026, 4, 8, 9))["scheduled"])
