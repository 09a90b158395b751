"""What the service gives away: contacts in the customer's words, and metric labels."""
import re

import pytest
import requests

pytestmark = pytest.mark.integration

INFO_OFFICER = {"id": "sec-1", "role": "info_officer"}
WORDS = {
    "subject": "请回电13812345678",
    "description": "座机 0755-8765 4321，邮箱 wang.li@example.com；订单 C202611-0001",
    "demand": "打 +86 139 1234 5678 找我",
}
MASKED = {
    "subject": "请回电138****5678",
    "description": "座机 075*****4321，邮箱 w***@example.com；订单 C202611-0001",
    "demand": "打 +86 139****5678 找我",
}


def test_contacts_in_the_customers_words_are_masked_for_roles_without_the_right(desk):
    # No contact fields: whatever is revealed is in the free text.
    number = desk.file("2026-11-13T10:00", complainant={"name": "李先生"}, **WORDS)["number"]
    shown = desk.get(number)                                          # customer-service staff
    assert {key: shown[key] for key in WORDS} == MASKED
    [listed] = desk.api.search({"status": "received"})
    assert listed["subject"] == MASKED["subject"]
    reply = desk.walk(number, desk.TO_RESOLVED[0])                     # a command's reply
    assert reply["subject"] == MASKED["subject"]
    assert desk.api.audit_log({"actor": INFO_OFFICER}) == []           # nothing shown in full

    full = desk.get(number, actor=INFO_OFFICER)
    assert {key: full[key] for key in WORDS} == WORDS
    [row] = desk.api.search({"department": None, "actor": INFO_OFFICER})
    assert row["subject"] == WORDS["subject"]
    log = desk.api.audit_log({"number": number, "actor": INFO_OFFICER})
    assert [(e["operation"], e["actor"]) for e in log] == [("search", INFO_OFFICER),
                                                          ("get", INFO_OFFICER)]


def department_series(service) -> set[str]:
    text = requests.get(f"{service.web_url}/metrics", timeout=10).text
    return {line.rsplit(" ", 1)[0] for line in text.splitlines()
            if line.startswith("zhidu_") and 'department="' in line}


def test_made_up_departments_add_no_series(desk, complaints_service, people):
    people.add("emp-7", "staff", department="service")               # the directory knows it

    def handled_by(department):
        number = desk.file("2026-11-13T10:00")["number"]
        desk.walk(number, desk.TO_RESOLVED[0],
                  ("assign", "2026-11-13T10:20", {"department": department,
                                                  "owner_id": "emp-7"}),
                  desk.TO_RESOLVED[2])                                 # plan agreed: clocks met

    handled_by("service")
    handled_by("售后部-typo-0")
    before = department_series(complaints_service)
    for i in range(1, 6):
        handled_by(f"售后部-typo-{i}")
    after = department_series(complaints_service)
    assert after == before
    labels = {m.group(1) for s in after for m in [re.search(r'department="([^"]*)"', s)]}
    assert labels == {"service", "other", "unassigned"}
    text = requests.get(f"{complaints_service.web_url}/metrics", timeout=10).text
    assert ('zhidu_complaints_clocks_closed_total{clock="plan",department="other",'
            'outcome="on_time"} 6.0') in text
