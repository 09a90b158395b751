"""Numbering (001 §1 第八条) and major detection (001 §5)."""
from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from complaints.intake import counter_key, format_number, major_reasons, number_for, parse_number
from zhidu.domain import DomainValidation

STAFF = {"id": "cs-01", "role": "staff"}


def test_number_format_and_widening():
    assert format_number(2026, 9, 1, 4) == "2609-0001"
    assert format_number(2026, 10, 9999, 4) == "2610-9999"
    assert format_number(2026, 10, 10000, 4) == "2610-10000"
    assert format_number(2031, 1, 42, 4) == "3101-0042"
    with pytest.raises(ValueError):
        format_number(2026, 13, 1, 4)
    with pytest.raises(ValueError):
        format_number(2026, 1, 0, 4)


def test_counter_key_uses_the_local_month(t, policy):
    shanghai = ZoneInfo("Asia/Shanghai")
    # 16:30 UTC on 30 Sep is 00:30 on 1 Oct in Shanghai
    moment = t("2026-10-01 00:30")
    assert counter_key(moment, shanghai) == "2610"
    assert counter_key(moment, ZoneInfo("UTC")) == "2609"
    assert number_for(moment, 7, policy, shanghai) == "2610-0007"


def test_parse_number():
    assert parse_number("2609-0001") == (26, 9, 1)
    assert parse_number("2610-10000") == (26, 10, 10000)
    for bad in ("2613-0001", "26090001", "2609-0000", "", None):
        with pytest.raises(DomainValidation):
            parse_number(bad)


@pytest.mark.parametrize("fields, reasons", [
    ({}, []),
    ({"major": False}, []),
    ({"major": True}, ["flagged"]),
    ({"major_reason": "elevator_entrapment"}, ["elevator_entrapment"]),
    ({"households_affected": 2}, []),
    ({"households_affected": 3}, ["collective_complaint"]),
    ({"major": False, "households_affected": 12}, ["collective_complaint"]),
    ({"major_reason": "fire", "households_affected": 5}, ["fire", "collective_complaint"]),
    ({"major_reason": "collective_complaint", "households_affected": 5},
     ["collective_complaint"]),
])
def test_major_detection(policy, fields, reasons):
    assert major_reasons(fields, policy) == reasons


def test_major_detection_refuses_unknown_reasons(policy):
    with pytest.raises(DomainValidation) as error:
        major_reasons({"major_reason": "rain", "households_affected": -1}, policy)
    assert set(error.value.errors) == {"major_reason", "households_affected"}


def test_filing_a_major_complaint_reports_it(rules, intake):
    out = rules.file(intake(major_reason="power_outage"), number="2609-0003", actor=STAFF)
    assert out.case["major"] is True
    report = out.events[-1]
    assert report["type"] == "major_reported"
    assert report["data"]["reasons"] == ["power_outage"]
    assert report["data"]["notify_roles"] == ["dept_manager", "deputy_gm", "gm"]


def test_a_major_report_masks_contacts_written_into_its_subject(rules, intake):
    """The event reaches inboxes and webhooks beyond those who may read contacts."""
    out = rules.file(intake(major_reason="power_outage", subject="停电 请回电13900001111"),
                     number="2609-0004", actor=STAFF)
    [report] = [e for e in out.events if e["type"] == "major_reported"]
    assert "13900001111" not in report["data"]["subject"]
    assert report["data"]["subject"].startswith("停电 请回电139")
    assert out.case["subject"] == "停电 请回电13900001111"


def test_filing_validates_every_field_at_once(rules, intake):
    bad = intake(channel="fax", category="price", major_reason="rain")
    bad["complainant"] = {"name": "x", "region": "moon"}
    with pytest.raises(DomainValidation) as error:
        rules.file(bad, number="2609-0001", actor=STAFF)
    assert set(error.value.errors) == {"channel", "category", "complainant.region",
                                       "major_reason"}
    with pytest.raises(DomainValidation):
        rules.file(intake(), number="09-1", actor=STAFF)


def test_filing_keeps_the_intake_and_defaults_the_region(rules, intake):
    data = intake(order={"order_no": "SO-1", "note": "客户加工中未确定"}, request_id="r-1")
    data["complainant"] = {"name": "李先生", "phone": "13900001111"}
    case = rules.file(data, number="2609-0009", actor=STAFF).case
    assert case["order"] == {"order_no": "SO-1", "note": "客户加工中未确定"}
    assert "request_id" not in case
    assert case["region"] == "domestic" and case["received_by"] == "cs-01"
    assert case["history"][0]["from"] is None and case["history"][0]["to"] == "received"


def test_major_report_carries_what_notifications_route_on(rules, intake):
    out = rules.file(intake(major_reason="flooding", target_department="engineering"),
                     number="2609-0001", actor={"id": "cs-01", "role": "staff"})
    [report] = [e for e in out.events if e["type"] == "major_reported"]
    assert report["data"] == {
        "number": "2609-0001", "reasons": ["flooding"], "department": "engineering",
        "subject": "维修人员态度差", "channel": "phone",
        "received_at": "2026-09-18T07:00:00+00:00",
        "notify_roles": ["dept_manager", "deputy_gm", "gm"], "received_by": "cs-01"}
