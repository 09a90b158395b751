"""Policy files: shipped defaults load, bad ones are refused naming the key."""
import copy
import re

import pytest
import yaml
from attendance.policy import (
    RULES_DIR,
    attendance_policy_from_dict,
    load_attendance_policy,
    load_meeting_policy,
    meeting_policy_from_dict,
)


def raw(name):
    with open(RULES_DIR / name, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_shipped_attendance_policy_has_the_seed_numbers():
    policy = load_attendance_policy()
    points = {r.code: r.points for r in policy.catalogue.rules.values()}
    assert points["A01"] == 3 and points["A02"] == 3 and points["A03"] == 2
    assert points["R01"] == 5
    assert policy.clocking.late_early_limit_minutes == 30
    assert policy.clocking.grace_minutes == 0
    assert policy.reports.due_day_for("customer_service") == 25
    assert policy.reports.due_day_for("warehouse") == 30
    assert policy.seniority.max_parts(10) == 2 and policy.seniority.max_parts(15) == 3
    assert {"seniority", "sick", "personal"} <= set(policy.leave_types)
    # 000 §2 五.1; 002 §4 4.7-4.8; 002 §2 二.2; 000 §2 四.3(3)
    assert [s.step for s in policy.reports.chain] == ["head_approval", "office_review",
                                                      "gm_approval"]
    assert policy.handover.arrive_early_minutes == 10
    assert policy.duty_log.reviews["spot_check"].min_percent == 20
    assert policy.outings.approver_for("dept_manager") == "gm"
    assert policy.outings.approver_for("staff") == "supervisor"


def test_shipped_meeting_policy_and_catalogue_shape():
    policy = load_meeting_policy()
    assert dict(policy.max_minutes) == {"regular": 60, "annual_assembly": 90}
    listed = {r["code"]: r for r in policy.catalogue.as_list()}
    assert {c: listed[c]["points"] for c in ("M01", "M02", "M03", "M04", "M05", "M06")} == \
        {"M01": 2, "M02": 5, "M03": 5, "M04": 10, "M05": 2, "M06": 5}
    assert listed["M01"]["domain"] == "meeting" and listed["M01"]["title_zh"]


@pytest.mark.parametrize("mutate, named", [
    (lambda d: d["clocking"].update(grace_minutes=-1), "clocking.grace_minutes"),
    (lambda d: d["clocking"].update(grace=5), "clocking.grace"),
    (lambda d: d["reports"]["monthly"]["departments"].update(customer_service=32),
     "reports.monthly.departments.customer_service"),
    (lambda d: d["leave"]["types"]["sick"].update(convert_to="holiday"),
     "leave.types.sick.convert_to"),
    (lambda d: d["leave"]["types"]["personal"]["approvals"].reverse(),
     "leave.types.personal.approvals"),
    (lambda d: d.update(catalogue=[r for r in d["catalogue"] if r["code"] != "A01"]),
     "catalogue"),
    (lambda d: d["catalogue"][0].update(points="three"), "catalogue[0].points"),
    (lambda d: d["absence"].update(window="weekly"), "absence.window"),
    (lambda d: d["reports"]["monthly"]["chain"][0].update(holders=["department_clerk"]),
     "reports.monthly.chain[0].holders"),
    (lambda d: d["reports"]["monthly"]["chain"][1].update(step="head_approval"),
     "reports.monthly.chain[1].step"),
    (lambda d: d["duty_log"]["reviews"]["spot_check"].update(min_percent=0),
     "duty_log.reviews.spot_check.min_percent"),
    (lambda d: d["duty_log"]["reviews"].pop("monthly"), "duty_log.reviews.monthly"),
    (lambda d: d["duty_log"]["posts"]["front_desk"].pop("department"),
     "duty_log.posts.front_desk.department"),
    (lambda d: d["outings"].update(max_hours=25), "outings.max_hours"),
    (lambda d: d.pop("outings"), "outings"),
    (lambda d: d["reminders"].update(at_most=0), "reminders.at_most"),
    (lambda d: d["handover"].update(arrive_early_minutes="ten"),
     "handover.arrive_early_minutes"),
])
def test_bad_attendance_policy_names_the_key(mutate, named):
    data = copy.deepcopy(raw("attendance.yaml"))
    mutate(data)
    with pytest.raises(ValueError, match=re.escape(f"attendance.yaml: {named}:")):
        attendance_policy_from_dict(data)


def test_bad_meeting_policy_names_the_key():
    data = copy.deepcopy(raw("meetings.yaml"))
    data["meetings"]["kinds"]["regular"]["max_minutes"] = 0
    with pytest.raises(ValueError, match=r"meetings.kinds.regular.max_minutes"):
        meeting_policy_from_dict(data)


def test_policy_loads_from_a_path_the_caller_gives(tmp_path):
    data = raw("attendance.yaml")
    data["reports"]["monthly"]["departments"]["warehouse"] = 20
    path = tmp_path / "company.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert load_attendance_policy(path).reports.due_day_for("warehouse") == 20
    path.write_text("- not a mapping\n", encoding="utf-8")
    with pytest.raises(ValueError, match="company.yaml"):
        load_attendance_policy(path)


def test_the_minutes_deadline_and_holders_are_data_000_s3_8():
    policy = meeting_policy_from_dict(copy.deepcopy(raw("meetings.yaml")))
    assert (policy.minutes_due_days, policy.minutes_holders) == (1, ("gm_office",))
    for mutate, named in ((lambda d: d["meetings"]["minutes"].update(due_days=-1),
                           "meetings.minutes.due_days"),
                          (lambda d: d["meetings"]["minutes"].update(holders=[]),
                           "meetings.minutes.holders"),
                          (lambda d: d["meetings"]["minutes"].update(due_day=1),
                           "meetings.minutes.due_day"),
                          (lambda d: d["meetings"].pop("minutes"), "meetings.minutes")):
        data = copy.deepcopy(raw("meetings.yaml"))
        mutate(data)
        with pytest.raises(ValueError, match=re.escape(f"meetings.yaml: {named}:")):
            meeting_policy_from_dict(data)
