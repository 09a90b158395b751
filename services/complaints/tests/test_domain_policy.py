"""Policy loading: the shipped file is valid; every bad key is named."""
from __future__ import annotations

import pytest
from complaints.policy import load_policy, policy_from_dict


def test_shipped_policy(policy):
    assert policy.warning_fraction == 0.8
    assert set(policy.clocks) == {"acknowledge", "next_reply", "plan", "report",
                                  "investigate", "feedback", "resolve", "followup"}
    assert policy.ladder == ("owner", "dept_manager", "deputy_gm", "gm")
    assert policy.max_escalation_level == 3
    assert [(limit.up_to_yuan, limit.role) for limit in policy.authority_limits] == [
        (1000, "dept_manager"), (10000, "deputy_gm"), (None, "gm")]
    assert policy.households_threshold == 3
    assert policy.full_read_roles == ("it_admin", "info_officer")


def test_budget_choice(policy):
    resolve = policy.clocks["resolve"]
    pick = resolve.budget_for
    assert (pick({"major": True, "category": "quality"}).unit,
            pick({"major": True, "category": "quality"}).amount) == ("working_days", 1)
    assert pick({"major": False, "category": "quality", "region": "foreign"}).amount == 20
    assert pick({"major": False, "category": "quality", "region": "domestic"}).amount == 15
    assert pick({"major": False, "category": "other"}) is None


def set_in(data, dotted, value):
    *path, last = dotted.split(".")
    for key in path:
        data = data[int(key)] if isinstance(data, list) else data[key]
    if value is KeyError:
        del data[last]
    elif isinstance(data, list):
        data[int(last)] = value
    else:
        data[last] = value


@pytest.mark.parametrize("dotted, value, message", [
    ("warning_fraction", 1.2, "warning_fraction: must be below 1"),
    ("warning_fraction", "80%", "warning_fraction: expected a number"),
    ("surprise", 1, "surprise: unknown key"),
    ("escalation.step_working_days", KeyError, "escalation.step_working_days: missing"),
    ("escalation.ladder", [], "escalation.ladder: must not be empty"),
    ("clocks.plan.starts_on", ["asigned"], "clocks.plan.starts_on: unknown ['asigned']"),
    ("clocks.plan.working_hours_of", "team", "clocks.plan.working_hours_of: must be one of"),
    ("clocks.resolve.budgets.1", {"working_days": 3, "days": 3},
     "clocks.resolve.budgets[1]: expected exactly one of"),
    ("clocks.resolve.budgets.1", {"when": {"colour": "red"}, "days": 3},
     "clocks.resolve.budgets[1].when.colour: unknown condition"),
    ("clocks.report.budgets.0", {"working_days": 0}, "clocks.report.budgets[0].working_days: "
     "must be positive"),
    ("clocks.report.budgets.0", {"working_days": 3, "weeks": 1},
     "clocks.report.budgets[0].weeks: unknown key"),
    ("remedy_authority.limits.2", {"role": "gm", "up_to_yuan": 99999},
     "remedy_authority.limits[2].up_to_yuan: the last limit has no ceiling"),
    ("remedy_authority.limits.1", {"role": "deputy_gm", "up_to_yuan": 500},
     "remedy_authority.limits[1].up_to_yuan: limits must increase"),
    ("remedy_authority.limits.1", {"role": "staff", "up_to_yuan": 5000},
     "remedy_authority.limits[1].role: a larger amount needs a role"),
    ("remedy_authority.limits.0", {"role": "ceo", "up_to_yuan": 1000},
     "remedy_authority.limits[0].role: must be one of"),
    ("major.households_reason", "crowd", "major.households_reason: must be one of"),
    ("major.households_threshold", 2.5, "major.households_threshold: expected an integer"),
    ("intake.default_region", "mars", "intake.default_region: must be one of"),
    ("lifecycle.resolve_requires_report", "yes", "lifecycle.resolve_requires_report"),
    ("liability.fine_yuan.min", 2000, "liability.fine_yuan.min: must not exceed max"),
    ("confidentiality.phone.mask_char", "**", "confidentiality.phone.mask_char"),
])
def test_bad_keys_are_named(raw_policy, dotted, value, message):
    set_in(raw_policy, dotted, value)
    with pytest.raises(ValueError) as error:
        policy_from_dict(raw_policy)
    assert message in str(error.value)


def test_load_policy_from_a_path(tmp_path, raw_policy):
    broken = tmp_path / "sla.yaml"
    broken.write_text("warning_fraction: [0.8\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_policy(broken)
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="warning_fraction: missing"):
        load_policy(empty)
