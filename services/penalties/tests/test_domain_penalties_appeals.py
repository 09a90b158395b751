"""Appeals: only the penalised person appeals, and the decision is final."""
import pytest
from penalties.accounts import account
from penalties.appeals import decide_appeal, file_appeal, reversal_of
from penalties.booking import book
from penalties.catalog import BUILTIN_DIR, load_catalogs
from penalties.ledger import reversal_id
from penalties.policy import load_policy
from zhidu.domain import DomainConflict, DomainPermission, DomainValidation

CATS = load_catalogs([BUILTIN_DIR])
POLICY = load_policy()
GM = {"id": "boss", "role": "gm"}
LINE = {"team_leader_id": "tl", "manager_id": "mgr", "unit_head_id": "head"}


def conduct():
    return book({"domain": "conduct", "codes": ["B05"], "employee_id": "e1",
                 "incident_id": "w-1", "at": "2026-11-10T10:00:00",
                 "reporting_line": LINE}, CATS)


def pending(entry):
    return {**entry, "appeal": file_appeal(entry, actor={"id": entry["employee_id"],
                                                         "role": "staff"},
                                           reason="I was on leave", at="2026-11-11T09:00")}


def test_only_the_penalised_person_appeals_once():
    entry = conduct()[0]
    with pytest.raises(DomainPermission):
        file_appeal(entry, actor={"id": "tl", "role": "dept_manager"}, reason="x",
                    at="2026-11-11T09:00")
    with pytest.raises(DomainValidation) as err:
        file_appeal(entry, actor={"id": "e1"}, reason=" ", at="2026-11-11T09:00")
    assert set(err.value.errors) == {"actor", "reason"}
    appeal = pending(entry)["appeal"]
    assert appeal["status"] == "pending" and appeal["filed_by"]["id"] == "e1"
    assert appeal["filed_at"].isoformat() == "2026-11-11T01:00:00+00:00"
    with pytest.raises(DomainConflict):
        pending(pending(entry))


def test_the_gms_decision_is_final_002_s4_5_1_2():
    # Who decides (gm, never the appellant) is the permissions file's, checked
    # against the proven caller: see test_permissions.py.
    entry = pending(conduct()[0])
    appeal, reversals = decide_appeal(entry, upheld=False, actor=GM, at="2026-11-12T09:00")
    assert appeal["status"] == "rejected" and reversals == []
    decided = {**entry, "appeal": appeal}
    with pytest.raises(DomainConflict, match="final"):
        decide_appeal(decided, upheld=True, actor=GM, at="2026-11-13T09:00")
    with pytest.raises(DomainConflict, match="final"):
        pending(decided)
    with pytest.raises(DomainConflict, match="no pending appeal"):
        decide_appeal(conduct()[0], upheld=True, actor=GM, at="2026-11-13T09:00")


def test_upheld_appeal_appends_reversals_that_net_out():
    entries = conduct()
    individual = pending(entries[0])
    appeal, reversals = decide_appeal(individual, upheld=True, actor=GM,
                                      at="2026-12-02T09:00", related=entries)
    assert appeal["status"] == "upheld" and appeal["decided_by"] == GM
    assert len(reversals) == 4   # the person's entry and the three leaders' shares
    first = reversals[0]
    assert first["entry_id"] == reversal_id(entries[0]["entry_id"])
    assert first["reverses"] == entries[0]["entry_id"]
    assert (first["points"], first["amount_yuan"]) == (-3, -30)
    assert (first["year"], first["month"]) == (2026, 11)  # nets out in its own month
    assert first["decided_at"].isoformat() == "2026-12-02T01:00:00+00:00"
    ledger = entries + reversals
    acct = account("e1", ledger, CATS, POLICY, year=2026, month=11)
    assert (acct["points_total"], acct["amount_yuan_total"], acct["penalty_count"]) == (
        0, 0, 0)
    assert len(acct["entries"]) == 2   # append-only: both still listed
    tl = account("tl", ledger, CATS, POLICY, year=2026)
    assert tl["points_total"] == 0 and tl["penalty_count"] == 0
    # deciding again (a redelivered command) yields identical reversal ids
    _, again = decide_appeal(individual, upheld=True, actor=GM, at="2026-12-02T09:00",
                             related=entries)
    assert [r["entry_id"] for r in again] == [r["entry_id"] for r in reversals]


def test_a_leaders_upheld_appeal_reverses_only_his_share():
    entries = conduct()
    tl_entry = pending(entries[1])
    _, reversals = decide_appeal(tl_entry, upheld=True, actor=GM, at="2026-11-12T09:00",
                                 related=entries)
    assert [r["reverses"] for r in reversals] == [entries[1]["entry_id"]]


def test_rewards_and_reversals_cannot_be_appealed():
    reward = book({"domain": "confidentiality", "codes": ["P11"], "employee_id": "e1",
                   "incident_id": "tip-1", "at": "2026-11-10T10:00:00",
                   "amount_yuan": 300}, CATS)[0]
    with pytest.raises(DomainConflict):
        pending(reward)
    rev = reversal_of(conduct()[0], at="2026-11-12T09:00")
    with pytest.raises(DomainConflict):
        pending(rev)
    with pytest.raises(DomainConflict):
        reversal_of(rev, at="2026-11-12T09:00")
