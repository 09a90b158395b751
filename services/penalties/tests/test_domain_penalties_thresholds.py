"""Threshold events: due once per period, from live entries only."""
from penalties.appeals import reversal_of
from penalties.booking import book
from penalties.catalog import BUILTIN_DIR, load_catalogs
from penalties.policy import load_policy
from penalties.service_quality import complaint_entries
from penalties.thresholds import due_thresholds, threshold_id

CATS = load_catalogs([BUILTIN_DIR])
POLICY = load_policy()


def conduct(n, code="B08", at="2026-03-02T10:00:00", **over):
    return book({"domain": "conduct", "codes": [code], "employee_id": "e1",
                 "incident_id": f"w-{n}", "at": at, **over}, CATS)


def meeting(n, code="M01", at="2026-04-01T09:00:00"):
    return book({"domain": "meeting", "codes": [code], "employee_id": "e1",
                 "incident_id": f"m-{n}", "at": at}, CATS)


def complaint(n, day, month=11, employee="e1"):
    return complaint_entries({"number": f"26{month:02d}-{n:04d}", "employee_id": employee,
                              "at": f"2026-{month:02d}-{day:02d}T10:00:00",
                              "reporting_line": {"supervisor_id": "sup"}},
                             CATS, POLICY, prior_complaints=0)


def kinds(events):
    return [e["key"] for e in events]


def test_admonishment_at_30_conduct_points_once_per_year():
    entries = conduct(1) + conduct(2, at="2026-05-02T10:00:00")  # 12 + 12 points
    assert due_thresholds("e1", entries, CATS, POLICY) == []
    entries += conduct(3, code="B07", at="2026-06-02T10:00:00")  # + 6 = 30
    due = due_thresholds("e1", entries, CATS, POLICY)
    assert kinds(due) == [("admonishment", 2026)]
    event = due[0]
    assert event["threshold_id"] == "e1:admonishment:2026"
    assert event["year"] == 2026 and event["month"] is None
    assert event["reason"]["points"] == 30
    assert event["at"].isoformat() == "2026-06-02T02:00:00+00:00"
    assert due_thresholds("e1", entries, CATS, POLICY, raised=[event["key"]]) == []


def test_admonishment_on_two_subjective_failures():
    entries = (conduct(1, code="B10") + conduct(2, code="B10", at="2026-08-01T10:00:00"))
    # 2 × 12 points is below 30, but two subjective failures suffice
    due = due_thresholds("e1", entries, CATS, POLICY)
    assert kinds(due) == [("admonishment", 2026)]
    assert due[0]["reason"]["subjective_failures"] == 2


def test_leadership_shares_count_toward_the_leaders_own_points():
    line = {"team_leader_id": "tl"}
    entries = []
    for n in range(8):      # 8 × 20 % of 20 points = 32 points on the team leader
        entries += conduct(n, reporting_line=line)
    assert kinds(due_thresholds("tl", entries, CATS, POLICY)) == [("admonishment", 2026)]


def test_admonished_two_years_running_means_transfer_review():
    entries = conduct(1, code="B10") + conduct(2, code="B10")
    due = due_thresholds("e1", entries, CATS, POLICY, raised=[("admonishment", 2025)])
    assert kinds(due) == [("admonishment", 2026), ("transfer_review", 2026)]
    assert due[1]["reason"]["cause"] == "admonished_years_running"
    assert kinds(due_thresholds("e1", entries, CATS, POLICY)) == [("admonishment", 2026)]


def test_meeting_award_eligibility_lost_after_3_penalties_or_15_points():
    three = meeting(1) + meeting(2) + meeting(3)
    assert due_thresholds("e1", three, CATS, POLICY) == []
    four = three + meeting(4, at="2026-06-01T09:00:00")
    due = due_thresholds("e1", four, CATS, POLICY)
    assert kinds(due) == [("award_ineligible", 2026)]
    assert due[0]["at"].isoformat() == "2026-06-01T01:00:00+00:00"
    heavy = meeting(1, "M04") + meeting(2, "M03") + meeting(3, "M05")  # 17 points
    assert kinds(due_thresholds("e1", heavy, CATS, POLICY)) == [("award_ineligible", 2026)]
    fifteen = meeting(1, "M04") + meeting(2, "M03")
    assert due_thresholds("e1", fifteen, CATS, POLICY) == []


def test_worst_of_month_at_the_second_complaint_with_its_fine():
    entries = complaint(1, 3)
    assert due_thresholds("e1", entries, CATS, POLICY) == []
    entries += complaint(2, 20)
    due = due_thresholds("e1", entries, CATS, POLICY)
    assert kinds(due) == [("worst_of_month", 2026, 11)]
    fine = due[0]["entries"]
    assert [(e["code"], e["amount_yuan"], e["employee_id"]) for e in fine] == [
        ("Q06", 500, "e1")]
    assert (fine[0]["year"], fine[0]["month"]) == (2026, 11)
    again = due_thresholds("e1", entries + fine, CATS, POLICY)
    assert again[0]["entries"][0]["entry_id"] == fine[0]["entry_id"]
    assert due_thresholds("e1", entries + fine, CATS, POLICY,
                          raised=[["worst_of_month", 2026, 11]]) == []
    # the supervisor's Q02 share is not a complaint against the supervisor
    assert due_thresholds("sup", entries, CATS, POLICY) == []


def test_third_worst_month_means_dismissal_review():
    entries = complaint(1, 3) + complaint(2, 4)
    raised = [("worst_of_month", 2026, 2), ("worst_of_month", 2026, 7)]
    due = due_thresholds("e1", entries, CATS, POLICY, raised=raised)
    assert kinds(due) == [("worst_of_month", 2026, 11), ("dismissal_review", 2026, 11)]
    assert due[1]["reason"] == {"worst_months": 3}
    assert threshold_id("e1", due[1]["key"]) == "e1:dismissal_review:2026-11"
    only_one_before = due_thresholds("e1", entries, CATS, POLICY, raised=raised[:1])
    assert kinds(only_one_before) == [("worst_of_month", 2026, 11)]


def test_same_accident_three_times_in_a_month_means_transfer_review():
    entries = complaint(1, 3) + complaint(2, 4) + complaint(3, 5)
    due = due_thresholds("e1", entries, CATS, POLICY, raised=[("worst_of_month", 2026, 11)])
    assert kinds(due) == [("transfer_review", 2026, 11)]
    assert due[0]["reason"]["cause"] == "same_accident"
    # dormitory breaches are not "accidents" of the service rules
    dorm = []
    for n in range(3):
        dorm += book({"domain": "dormitory", "codes": ["D16"], "employee_id": "e1",
                      "incident_id": f"i-{n}", "at": "2026-11-05T10:00:00"}, CATS)
    assert due_thresholds("e1", dorm, CATS, POLICY) == []


def test_reversed_entries_do_not_count():
    first, second = complaint(1, 3), complaint(2, 4)
    q01 = next(e for e in second if e["code"] == "Q01")
    entries = first + second + [reversal_of(q01, at="2026-11-30T10:00:00")]
    assert due_thresholds("e1", entries, CATS, POLICY) == []
