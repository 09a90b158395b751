"""What the monthly sheet answers for besides its date: an irregular record
(000 §2 六.1, R02) and a misreported leave (六.4, R04)."""
import copy
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import yaml
from attendance.policy import RULES_DIR, attendance_policy_from_dict, load_attendance_policy
from attendance.reports import (
    decide_step,
    irregular_record,
    irregular_return,
    misreported_leave,
    months_of,
    submit,
)
from zhidu.calendar import load_calendar

SH = ZoneInfo("Asia/Shanghai")
POLICY = load_attendance_policy()
CALENDAR = load_calendar()
CLERK = {"id": "K1", "role": "attendance_clerk"}
HEAD = {"id": "H1", "role": "dept_manager"}
OFFICE = {"id": "O1", "role": "gm_office"}
GM = {"id": "G1", "role": "gm"}


def local(*args):
    return datetime(*args, tzinfo=SH)


def sheet(at=None, department="finance", month=3):
    return submit(None, department=department, year=2026, month=month,
                  at=at or local(2026, month, 27, 10), actor=CLERK, clerk_id="K1",
                  head_id="H1", by_head=False, policy=POLICY, calendar=CALENDAR, tz=SH)


def step(report, actor, standing, at, approve=True, note=None):
    return decide_step(report, approve=approve, at=at, actor=actor,
                       standing=frozenset(standing), note=note, policy=POLICY,
                       calendar=CALENDAR)


def approved_by_head(report=None):
    return step(report or sheet(), HEAD, {"department_head", "dept_manager"},
                local(2026, 3, 27, 11))


# -- 六.1-2: irregular records -----------------------------------------------------------
def test_a_sheet_the_office_sends_back_is_an_irregular_record_booked_on_clerk_and_head_000_s2_6_1():
    back = step(approved_by_head(), OFFICE, {"gm_office"}, local(2026, 3, 28, 9),
                approve=False, note="E4's overtime is entered as leave")
    assert irregular_return(back, POLICY)
    recorded, (v,) = irregular_record(back, earlier=0, policy=POLICY)
    assert (v["code"], v["points"], v["employee_id"], v["role"]) == ("R02", 2, "K1",
                                                                     "attendance_clerk")
    # The head is charged the full points too, from the same violation (as R01).
    assert v["detail"]["dept_manager_id"] == "H1"
    assert v["detail"]["charge"] == ["attendance_clerk", "dept_manager"]
    assert v["key"] == "report:finance:2026-03:R02:1" and v["at"] == local(2026, 3, 28, 9)
    assert v["detail"]["returned_by"] == "office_review"
    assert recorded["irregular"] == [{
        "round": 1, "step": "office_review", "by": OFFICE, "at": local(2026, 3, 28, 9),
        "note": "E4's overtime is entered as leave", "number": 1,
        "violation_id": v["key"], "awaits_judgement": False}]


def test_the_gm_sending_it_back_counts_the_head_sending_it_back_does_not_000_s2_6_1():
    at_gm = step(approved_by_head(), OFFICE, {"gm_office"}, local(2026, 3, 28, 9))
    assert irregular_return(step(at_gm, GM, {"gm"}, local(2026, 3, 29, 9), approve=False),
                            POLICY)
    by_head = step(sheet(), HEAD, {"department_head", "dept_manager"},
                   local(2026, 3, 27, 11), approve=False)
    assert not irregular_return(by_head, POLICY)
    assert not irregular_return(approved_by_head(), POLICY)


def test_a_repeat_in_the_year_books_nothing_and_awaits_the_judgement_of_deception_000_s2_6_2():
    back = step(approved_by_head(), OFFICE, {"gm_office"}, local(2026, 3, 28, 9),
                approve=False)
    recorded, violations = irregular_record(back, earlier=1, policy=POLICY)
    assert violations == []
    assert recorded["irregular"][-1]["awaits_judgement"] is True
    assert recorded["irregular"][-1]["violation_id"] is None


def test_how_many_irregular_records_are_booked_and_by_whose_return_is_data_000_s2_6_1():
    data = yaml.safe_load((RULES_DIR / "attendance.yaml").read_text(encoding="utf-8"))
    twice = copy.deepcopy(data)
    twice["reports"]["monthly"]["irregular"].update(booked_per_year=2, returned_by=["gm_approval"])
    policy = attendance_policy_from_dict(twice)
    back = step(approved_by_head(), OFFICE, {"gm_office"}, local(2026, 3, 28, 9),
                approve=False)
    assert not irregular_return(back, policy)
    assert irregular_record(back, earlier=1, policy=policy)[1][0]["code"] == "R02"
    for change, key in (
            ({"returned_by": ["audit"]}, "reports.monthly.irregular.returned_by"),
            ({"rule": "R09"}, "reports.monthly.irregular.rule"),
            ({"booked_per_year": -1}, "reports.monthly.irregular.booked_per_year"),
            ({"when": "always"}, "reports.monthly.irregular.when")):
        broken = copy.deepcopy(data)
        broken["reports"]["monthly"]["irregular"].update(change)
        with pytest.raises(ValueError, match=key.replace(".", r"\.")):
            attendance_policy_from_dict(broken)
    off = copy.deepcopy(data)
    off["reports"]["monthly"]["irregular"]["returned_by"] = []
    assert not irregular_return(back, attendance_policy_from_dict(off))


# -- 六.4: a leave misreported ------------------------------------------------------------
SICK = {"leave_id": "L7", "employee_id": "E4", "type": "sick", "start": "2026-03-30",
        "end": "2026-04-02"}
PERSONAL = dict(SICK, leave_id="L7:converted", type="personal")


def stored_sheet(month, submitted_at):
    return dict(sheet(submitted_at or local(2026, month, 27, 10), month=month),
                submitted_at=submitted_at)


def test_a_sick_leave_converted_after_the_sheet_was_submitted_books_r04_on_the_clerk_000_s2_6_4():
    converted_at = local(2026, 4, 10, 9)
    march = stored_sheet(3, local(2026, 3, 27, 10))
    (v,) = misreported_leave(SICK, PERSONAL, [march], converted_at, POLICY)
    assert (v["code"], v["points"], v["employee_id"], v["role"]) == ("R04", 2, "K1",
                                                                     "attendance_clerk")
    # The clerk's alone: no head is named.
    assert "dept_manager_id" not in v["detail"]
    assert v["key"] == "report:finance:2026-03:R04:L7"
    assert (v["detail"]["reported_as"], v["detail"]["now"]) == ("sick", "personal")
    assert v["detail"]["leave_employee_id"] == "E4" and v["at"] == converted_at


def test_only_a_sheet_standing_submitted_before_the_conversion_misreported_it_000_s2_6_4():
    converted_at = local(2026, 4, 10, 9)
    april_later = stored_sheet(4, local(2026, 4, 11, 9))
    sent_back = stored_sheet(4, None)
    march = stored_sheet(3, local(2026, 3, 27, 10))
    assert misreported_leave(SICK, PERSONAL, [april_later, sent_back], converted_at,
                             POLICY) == []
    both = misreported_leave(SICK, PERSONAL, [march, stored_sheet(4, local(2026, 4, 9))],
                             converted_at, POLICY)
    assert [v["key"] for v in both] == ["report:finance:2026-03:R04:L7",
                                        "report:finance:2026-04:R04:L7"]


def test_the_months_a_leave_touches():
    assert months_of("2026-03-30", "2026-04-02") == [(2026, 3), (2026, 4)]
    assert months_of("2026-12-31", "2027-01-01") == [(2026, 12), (2027, 1)]
    assert months_of("2026-05-04", "2026-05-04") == [(2026, 5)]
