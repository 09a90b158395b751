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


def test_an_upsert_announces_only_what_changed_under_an_id_that_follows_the_content():
    store, outbox = FakeStore(), FakeOutbox("directory")
    first = app.upsert_employee(store, outbox, dict(LI), {"id": "HR1"})
    app.upsert_employee(store, outbox, dict(LI), {"id": "HR1"})
    assert [e["data"]["employee_id"] for e in outbox.envelopes] == ["E1"]
    assert "updated_by" not in first and "departed_at" not in first
    app.upsert_employee(store, outbox, dict(LI, unit="north"), {"id": "HR1"})
    again = FakeOutbox("directory")
    app.upsert_employee(FakeStore(), again, dict(LI, unit="north"), {"id": "HR2"})
    # The same content announced by another call carries the same id.
    assert outbox.envelopes[-1]["id"] == again.envelopes[0]["id"]


def test_a_departure_is_announced_and_an_unknown_person_is_not_found():
    store, outbox = FakeStore(), FakeOutbox("directory")
    app.upsert_employee(store, outbox, dict(LI), {"id": "HR1"})
    at = datetime(2026, 11, 20, 2, tzinfo=UTC)
    app.depart(store, outbox, "E1", at, {"id": "HR1"})
    assert outbox.of_type("employee_departed") == [
        {"employee_id": "E1", "at": "2026-11-20T02:00:00+00:00"}]
    with pytest.raises(DomainNotFound):
        app.depart(store, outbox, "E9", at, {"id": "HR1"})
