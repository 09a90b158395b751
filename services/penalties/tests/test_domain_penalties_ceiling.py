"""The monthly legal ceiling: excess recorded as capped, never dropped."""
import pytest
from penalties.appeals import reversal_of
from penalties.booking import book
from penalties.catalog import BUILTIN_DIR, load_catalogs
from penalties.ceiling import apply_ceiling, deducted_in_month, monthly_ceiling, split_deduction
from penalties.policy import load_policy
from zhidu.domain import DomainValidation

CATS = load_catalogs([BUILTIN_DIR])
POLICY = load_policy()


def leak(n, yuan, employee="e1", code="P01"):
    return book({"domain": "confidentiality", "codes": [code], "employee_id": employee,
                 "incident_id": f"leak-{n}", "amount_yuan": yuan,
                 "at": "2026-11-10T10:00:00"}, CATS)


def test_ceiling_is_twenty_percent_of_the_wage():
    assert monthly_ceiling(5000, POLICY) == 1000
    assert monthly_ceiling(4999, POLICY) == 999
    assert monthly_ceiling(None, POLICY) is None
    with pytest.raises(DomainValidation):
        monthly_ceiling(-1, POLICY)


def test_split_deduction():
    kw = {"monthly_wage_yuan": 5000, "policy": POLICY}
    assert split_deduction(200, deducted_this_month_yuan=900, **kw) == (100, 100)
    assert split_deduction(200, deducted_this_month_yuan=0, **kw) == (200, 0)
    assert split_deduction(200, deducted_this_month_yuan=1200, **kw) == (0, 200)
    assert split_deduction(2000, monthly_wage_yuan=None, deducted_this_month_yuan=5000,
                           policy=POLICY) == (2000, 0)


def test_apply_ceiling_runs_through_a_batch_and_keeps_the_excess():
    entries = leak(1, 700) + leak(2, 600)
    capped = apply_ceiling(entries, wages={"e1": 5000}, deducted={"e1": 0},
                           policy=POLICY)
    assert [(e["amount_yuan"], e["deducted_yuan"], e["capped_yuan"]) for e in capped] == [
        (700, 700, 0), (600, 300, 300)]
    assert entries[1]["deducted_yuan"] == 600  # inputs untouched
    unknown = apply_ceiling(entries, wages={}, deducted={}, policy=POLICY)
    assert [e["capped_yuan"] for e in unknown] == [0, 0]


def test_rewards_are_not_capped():
    reward = leak(3, 900, code="P11")
    out = apply_ceiling(reward, wages={"e1": 1000}, deducted={"e1": 5000}, policy=POLICY)
    assert (out[0]["amount_yuan"], out[0]["deducted_yuan"], out[0]["capped_yuan"]) == (
        900, 0, 0)


def test_deducted_in_month_nets_reversals():
    entries = apply_ceiling(leak(1, 700) + leak(2, 600), wages={"e1": 5000},
                            deducted={"e1": 0}, policy=POLICY)
    assert deducted_in_month(entries, "e1", 2026, 11) == 1000
    rev = reversal_of(entries[0], at="2026-11-20T10:00:00")
    assert (rev["deducted_yuan"], rev["capped_yuan"]) == (-700, 0)
    assert deducted_in_month(entries + [rev], "e1", 2026, 11) == 300
    assert deducted_in_month(entries, "e1", 2026, 12) == 0


def test_one_month_at_a_time():
    later = book({"domain": "confidentiality", "codes": ["P01"], "employee_id": "e1",
                  "incident_id": "x", "at": "2026-12-10T10:00:00"}, CATS)
    with pytest.raises(ValueError):
        apply_ceiling(leak(1, 700) + later, wages={}, deducted={}, policy=POLICY)
