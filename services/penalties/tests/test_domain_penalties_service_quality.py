"""Penalties following a complaint liability, and the service-star reward."""
import dataclasses

import pytest
import yaml
from penalties.catalog import BUILTIN_DIR, load_catalogs
from penalties.policy import load_policy
from penalties.service_quality import (
    complaint_entries,
    prior_complaints,
    service_star_entries,
    star_streak,
)
from zhidu.domain import DomainValidation

CATS = load_catalogs([BUILTIN_DIR])
POLICY = load_policy()
LINE = {"supervisor_id": "sup", "group_leader_id": "grp", "team_leader_id": "tl"}


def liability(**over):
    doc = {"number": "2611-0001", "employee_id": "e1", "fine_yuan": 500,
           "at": "2026-11-10T10:00:00+08:00", "reporting_line": LINE}
    doc.update(over)
    return doc


def summary(entries):
    return [(e["code"], e["employee_id"], e["points"], e["amount_yuan"])
            for e in entries]


def test_first_complaint_fine_and_five_points():
    entries = complaint_entries(liability(), CATS, POLICY, prior_complaints=0)
    assert summary(entries) == [("C01", "e1", 0, 500), ("Q01", "e1", 5, 50)]
    assert entries[0]["domain"] == "complaint"
    assert entries[1]["domain"] == "service_quality"
    assert all(e["incident_id"] == "2611-0001" for e in entries)


def test_second_complaint_brings_in_the_supervisor():
    entries = complaint_entries(liability(number="2611-0002"), CATS, POLICY,
                                prior_complaints=1)
    assert summary(entries)[1:] == [("Q01", "e1", 10, 100), ("Q02", "sup", 3, 30)]
    assert entries[2]["share"] == "supervisor" and entries[2]["offender_id"] == "e1"


def test_third_complaint_brings_in_the_group_leader_and_doubles_the_supervisor_004_s2_2():
    entries = complaint_entries(liability(number="2611-0003"), CATS, POLICY,
                                prior_complaints=2)
    # 第二次以后对直接责任主管…扣3分/次,之后按连续次数乘3分: the supervisor's 2nd
    # joint charge is 2 × 3; 第三次投诉对主管集团领导…扣3分/次: the group leader's 1st.
    assert summary(entries)[1:] == [("Q01", "e1", 15, 150), ("Q02", "sup", 6, 60),
                                    ("Q03", "grp", 3, 30)]


def test_attitude_and_abuse_come_on_top_by_default():
    att = complaint_entries(liability(attitude="attitude"), CATS, POLICY,
                            prior_complaints=0)
    assert [e["code"] for e in att] == ["C01", "Q01", "Q04"]
    abuse = complaint_entries(liability(attitude="abuse"), CATS, POLICY,
                              prior_complaints=0)
    assert summary(abuse)[-1] == ("Q05", "e1", 10, 100)


def test_attitude_replace_mode():
    sq = dataclasses.replace(POLICY.service_quality, attitude_mode="replace")
    policy = dataclasses.replace(POLICY, service_quality=sq)
    entries = complaint_entries(liability(attitude="abuse"), CATS, policy,
                                prior_complaints=0)
    assert [e["code"] for e in entries] == ["C01", "Q05"]


def test_fine_is_validated_and_defaults_to_the_minimum():
    with pytest.raises(DomainValidation) as err:
        complaint_entries(liability(fine_yuan=150), CATS, POLICY, prior_complaints=0)
    assert "fine_yuan" in err.value.errors
    entries = complaint_entries(liability(fine_yuan=None), CATS, POLICY,
                                prior_complaints=0)
    assert entries[0]["amount_yuan"] == 200
    assert any("range minimum 200" in n for n in entries[0]["notes"])
    with pytest.raises(DomainValidation) as err:
        complaint_entries(liability(attitude="rude"), CATS, POLICY, prior_complaints=0)
    assert "attitude" in err.value.errors


def test_missing_supervisor_is_noted_not_fatal():
    entries = complaint_entries(liability(reporting_line={}), CATS, POLICY,
                                prior_complaints=2)
    assert [e["code"] for e in entries] == ["C01", "Q01"]
    notes = entries[0]["notes"]  # the person's first entry carries them
    assert any("supervisor share of Q02" in n for n in notes)
    assert any("group_leader share of Q03" in n for n in notes)


def test_one_supervisor_of_two_liable_employees_gets_two_entries():
    a = complaint_entries(liability(employee_id="a"), CATS, POLICY, prior_complaints=1)
    b = complaint_entries(liability(employee_id="b"), CATS, POLICY, prior_complaints=1)
    sup_ids = {e["entry_id"] for e in a + b if e["code"] == "Q02"}
    assert len(sup_ids) == 2


def test_leaders_joint_points_grow_with_each_further_complaint_004_s2_2():
    """之后按连续次数乘3分 … 依次类推: like the person's n × 5, the k-th joint
    charge costs k × 3, k counted from the complaint each leader joins at."""
    def month(n):
        entries = complaint_entries(liability(number=f"2611-{n:04d}"), CATS, POLICY,
                                    prior_complaints=n - 1)
        return {e["code"]: (e["employee_id"], e["points"], e["basis"].get("nth"))
                for e in entries if e["code"] != "C01"}

    assert month(1) == {"Q01": ("e1", 5, 1)}
    assert month(2) == {"Q01": ("e1", 10, 2), "Q02": ("sup", 3, 1)}
    assert month(3) == {"Q01": ("e1", 15, 3), "Q02": ("sup", 6, 2), "Q03": ("grp", 3, 1)}
    assert month(4) == {"Q01": ("e1", 20, 4), "Q02": ("sup", 9, 3), "Q03": ("grp", 6, 2)}
    assert month(5) == {"Q01": ("e1", 25, 5), "Q02": ("sup", 12, 4), "Q03": ("grp", 9, 3)}


def test_a_flat_three_points_is_a_catalogue_override_away(tmp_path):
    """rules.md reads 004 二.2 as 3 points per complaint: a deployment that
    wants it replaces the catalogue, the code does not change."""
    doc = yaml.safe_load((BUILTIN_DIR / "service_quality.yaml").read_text(encoding="utf-8"))
    doc["replaces"] = True
    for rule in doc["rules"]:
        if rule["code"] in ("Q02", "Q03"):
            rule["progressive"] = False
    site = tmp_path / "service_quality.yaml"
    site.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    flat = load_catalogs([BUILTIN_DIR, site])
    entries = complaint_entries(liability(), flat, POLICY, prior_complaints=3)
    assert {e["code"]: e["points"] for e in entries if e["share"] != "individual"} == {
        "Q02": 3, "Q03": 3}


def test_prior_complaints_counts_the_month_and_survives_redelivery():
    first = complaint_entries(liability(), CATS, POLICY, prior_complaints=0)
    second = complaint_entries(liability(number="2611-0002"), CATS, POLICY,
                               prior_complaints=1)
    stored = first + second
    assert prior_complaints(stored, "e1", "2611-0009", 2026, 11, POLICY) == 2
    assert prior_complaints(stored, "e1", "2611-0002", 2026, 11, POLICY) == 1
    assert prior_complaints(stored, "e1", "2611-0001", 2026, 11, POLICY) == 0
    assert prior_complaints(stored, "e1", "2612-0001", 2026, 12, POLICY) == 0
    assert prior_complaints(stored, "e2", "2611-0009", 2026, 11, POLICY) == 0


def test_service_star_pays_n_times_500_for_n_months_running():
    def star(year, month, previous):
        return service_star_entries("e1", year=year, month=month,
                                    at=f"{year}-{month:02d}-28T09:00:00",
                                    previous=previous, catalogs=CATS, policy=POLICY)

    sep = star(2026, 9, [])
    octo = star(2026, 10, sep)
    nov = star(2026, 11, sep + octo)
    assert [e[0]["amount_yuan"] for e in (sep, octo, nov)] == [500, 1000, 1500]
    assert nov[0]["kind"] == "reward" and nov[0]["deducted_yuan"] == 0
    assert star_streak(sep + nov, "e1", 2027, 1, POLICY) == 1   # December broke it
    late = service_star_entries("e1", year=2026, month=11, at="2026-12-01T09:00:00",
                                previous=[], catalogs=CATS, policy=POLICY)
    assert (late[0]["year"], late[0]["month"]) == (2026, 11)
