"""The directory's application functions over a fake unit of work: no broker, no database."""
from datetime import UTC, datetime

import pytest
from directory import app
from zhidu.domain import DomainNotFound
from zhidu.fakes import FakeOutbox

LI = {"employee_id": "E1", "name": "王丽", "gender": "F", "department": "cs",
      "unit": "centre", "hired_on": None}


class FakeStore:
    """The directory store's methods the application functions use, in memory."""

    def __init__(self):
        self.employees: dict[str, dict] = {}

    def upsert(self, facts, actor):
        before = self.employees.get(facts["employee_id"])
        record = {**(before or {"departed_at": None}), **facts}
        changed = before is None or any(before.get(k) != v for k, v in facts.items())
        if changed:
            record["updated_by"] = actor
            record["revision"] = record.get("revision", 0) + 1
        self.employees[facts["employee_id"]] = record
        return dict(record), changed

    def get(self, employee_id):
        found = self.employees.get(employee_id)
        return dict(found) if found else None

    def mark_departed(self, employee_id, at, actor):
        if employee_id not in self.employees:
            return None
        self.employees[employee_id].update(departed_at=at, departed_by=actor)
        return self.get(employee_id)


def test_an_upsert_announces_only_what_changed_under_an_id_that_follows_content_and_revision():
    store, outbox = FakeStore(), FakeOutbox("directory")
    first = app.upsert_employee(store, outbox, dict(LI), {"id": "HR1"})
    app.upsert_employee(store, outbox, dict(LI), {"id": "HR1"})
    assert [e["data"]["employee_id"] for e in outbox.envelopes] == ["E1"]
    assert "updated_by" not in first and "departed_at" not in first
    assert "revision" not in first
    app.upsert_employee(store, outbox, dict(LI, unit="north"), {"id": "HR1"})
    again = FakeOutbox("directory")
    replay = FakeStore()
    app.upsert_employee(replay, again, dict(LI), {"id": "HR2"})
    app.upsert_employee(replay, again, dict(LI, unit="north"), {"id": "HR2"})
    # The same change at the same point of the record's history: the same id,
    # so a retried call's announcement is dropped downstream as a repeat.
    assert outbox.envelopes[-1]["id"] == again.envelopes[-1]["id"]


def test_a_change_undone_later_is_announced_again():
    """A → B → A: the third announcement is new, or every copy would stay at B."""
    store, outbox = FakeStore(), FakeOutbox("directory")
    for unit in ("centre", "north", "centre"):
        app.upsert_employee(store, outbox, dict(LI, unit=unit), {"id": "HR1"})
    ids = [e["id"] for e in outbox.envelopes if e["type"] == "directory.employee_upserted"]
    assert len(ids) == 3 and len(set(ids)) == 3


def test_a_departure_is_announced_and_an_unknown_person_is_not_found():
    store, outbox = FakeStore(), FakeOutbox("directory")
    app.upsert_employee(store, outbox, dict(LI), {"id": "HR1"})
    at = datetime(2026, 11, 20, 2, tzinfo=UTC)
    app.depart(store, outbox, "E1", at, {"id": "HR1"})
    assert outbox.of_type("employee_departed") == [
        {"employee_id": "E1", "at": "2026-11-20T02:00:00+00:00"}]
    with pytest.raises(DomainNotFound):
        app.depart(store, outbox, "E9", at, {"id": "HR1"})



def test_phone_email_and_wage_leave_only_in_their_restricted_events():
    store, outbox = FakeStore(), FakeOutbox("directory")
    private = {"phone": "13800000001", "email": "li@example.com", "monthly_wage_yuan": 6000}

    def upsert(**changes):
        record = {**LI, **private, **changes}
        app.upsert_employee(store, outbox, record, {"id": "HR1"})
        return outbox.envelopes[-1]["type"].split(".")[1]

    shown = app.upsert_employee(store, outbox, {**LI, **private}, {"id": "HR1"})
    assert {k: shown[k] for k in private} == private            # HR's reply is the record
    [public] = outbox.of_type("employee_upserted")
    assert not set(private) & set(public) and public["name"] == "王丽"
    assert outbox.of_type("employee_contact_changed") == [
        {"employee_id": "E1", "email": "li@example.com", "phone": "13800000001"}]
    assert outbox.of_type("employee_wage_changed") == [
        {"employee_id": "E1", "monthly_wage_yuan": 6000}]
    # each change is announced in its own part, and only that part
    private["phone"] = "13900000009"
    assert upsert() == "employee_contact_changed" and len(outbox.envelopes) == 4
    private["monthly_wage_yuan"] = 6500
    assert upsert() == "employee_wage_changed" and len(outbox.envelopes) == 5
    assert upsert(unit="north") == "employee_upserted" and len(outbox.envelopes) == 6
    # a newcomer with no contacts and no wage has nothing restricted to announce
    app.upsert_employee(store, outbox, dict(LI, employee_id="E2"), {"id": "HR1"})
    assert len(outbox.envelopes) == 7
    assert outbox.envelopes[-1]["type"] == "directory.employee_upserted"
