"""The clock's copy of the roster: one read of a day serves every clock-in of it."""
import uuid

import pytest
from attendance import store as store_module
from attendance.store import AttendanceStore
from zhidu.mongo import connect

pytestmark = pytest.mark.integration

DAY = "2026-03-02"


@pytest.fixture
def replicas(mongo_uri):
    """Two replicas' stores on one database."""
    client = connect(mongo_uri)
    name = f"test_roster_copy_{uuid.uuid4().hex[:8]}"
    yield AttendanceStore(client[name]), AttendanceStore(client[name])
    client.drop_database(name)
    client.close()


def rostered(store, employee_id, shift_code, published=True):
    key = f"{employee_id}:{DAY}"
    entry = {"key": key, "employee_id": employee_id, "date": DAY, "shift_code": shift_code,
             "published": published}
    store.unit(lambda: store.save_roster([entry], store.roster_entries([key]), []))


def shift_of(store, employee_id):
    return [e["shift_code"] for e in store.roster_for_clock(employee_id, [DAY])]


def count_finds(store, monkeypatch):
    finds = []
    find = type(store._db.roster).find
    monkeypatch.setattr(type(store._db.roster), "find",
                        lambda self, *a, **k: finds.append(a) or find(self, *a, **k))
    return finds


def test_one_read_of_the_day_serves_every_clock_in(replicas, monkeypatch):
    one, _ = replicas
    for n in range(5):
        rostered(one, f"E{n}", "A")
    finds = count_finds(one, monkeypatch)
    assert [shift_of(one, f"E{n}") for n in range(5)] == [["A"]] * 5
    assert shift_of(one, "E9") == []
    assert len(finds) == 1


def test_a_replicas_own_roster_change_reaches_its_clocks_when_it_commits(replicas):
    one, _ = replicas
    rostered(one, "E1", "A")
    rostered(one, "E2", "A")
    assert shift_of(one, "E1") == ["A"]
    rostered(one, "E1", "B")
    rostered(one, "E2", "A", published=False)
    rostered(one, "E3", "C")
    assert (shift_of(one, "E1"), shift_of(one, "E2"), shift_of(one, "E3")) == (["B"], [], ["C"])


def test_another_replicas_change_arrives_with_its_event(replicas):
    one, other = replicas
    rostered(one, "E1", "A")
    rostered(one, "E2", "A")
    assert shift_of(other, "E1") == ["A"]
    rostered(one, "E1", "B")
    assert shift_of(other, "E1") == ["A"]              # not heard of yet
    other.forget_roster_days(["2026-03-01", DAY])      # its roster_changed, broadcast
    assert shift_of(other, "E1") == ["B"]
    rostered(one, "E2", "C")
    other.forget_roster_days(None)                     # an event naming no day
    assert shift_of(other, "E2") == ["C"]


def test_a_change_heard_while_the_day_is_read_leaves_no_stale_copy(replicas, monkeypatch):
    one, other = replicas
    rostered(one, "E1", "A")
    find, heard = type(other._db.roster).find, []

    def read_then_hear(self, *args, **kwargs):
        docs = list(find(self, *args, **kwargs))
        if not heard:
            heard.append(True)
            rostered(one, "E1", "B")
            other.forget_roster_days([DAY])
        return iter(docs)

    monkeypatch.setattr(type(other._db.roster), "find", read_then_hear)
    assert shift_of(other, "E1") == ["A"]              # what this read saw
    monkeypatch.setattr(type(other._db.roster), "find", find)
    assert shift_of(other, "E1") == ["B"]              # not kept: read again


def test_a_lost_event_still_arrives_when_the_copy_expires(replicas):
    one, other = replicas
    rostered(one, "E1", "A")
    assert shift_of(other, "E1") == ["A"]
    rostered(one, "E1", "B")
    assert shift_of(other, "E1") == ["A"]              # within ROSTER_COPY_SECONDS
    expires, entries = other.__dict__["_roster_copies"][DAY]
    other.__dict__["_roster_copies"][DAY] = (expires - store_module.ROSTER_COPY_SECONDS, entries)
    assert shift_of(other, "E1") == ["B"]
