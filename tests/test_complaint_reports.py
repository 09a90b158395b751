"""The monthly 客诉案件统计表 (001 §1 (九)) on its schedule, across real services.

Two complaints replicas and notifications run as nameko services on the real
RabbitMQ and MongoDB-wire server. Both replicas sweep at the same moment on
1 March, after February: the month's table is produced and stored once,
downloads over REST as an XLSX that openpyxl reads back, and the GM office
finds it in its inbox with the link.
"""
from __future__ import annotations

import io

import eventlet
import pytest
import requests
from complaints.service import ComplaintsService
from notifications.service import NotificationsService
from openpyxl import load_workbook
from zhidu.testing import service_db, wait_for

pytestmark = pytest.mark.integration

DESK = {"id": "cs-01", "role": "staff"}
GM_OFFICE = {"id": "gmo-01", "role": "gm_office"}
INTAKE = {
    "channel": "phone", "category": "service",
    "complainant": {"name": "王女士", "phone": "13812345678", "region": "domestic"},
    "subject": "维修人员态度差", "description": "电话里被挂断两次", "actor": DESK,
}
SWEEP_AT = "2026-03-01T02:30:00+08:00"


@pytest.fixture
def suite(start_service, rpc, people):
    people.add(DESK["id"], "staff", department="customer_service", name="钱前台")
    people.add(GM_OFFICE["id"], "gm_office", department="gm_office", name="孙主任")
    people.add("emp-9", "staff", department="service", name="赵师傅")
    replicas = [start_service(ComplaintsService), start_service(ComplaintsService)]
    notifications = start_service(NotificationsService)
    # Events published before its queues are bound would reach nobody.
    wait_for(lambda: requests.get(f"{notifications.web_url}/health", timeout=5)
             .json()["status"] == "ok", timeout=30, message="notifications consuming")
    return replicas


def rejected(rpc, kind: str, received_at: str) -> str:
    """A complaint filed and found not to hold: concluded (结案) at once."""
    number = rpc.complaints.file({**INTAKE, "kind": kind, "received_at": received_at})["number"]
    rpc.complaints.decide_validity({"number": number, "valid": False, "reason": "不成立",
                                    "at": received_at.replace("T10", "T11"), "actor": DESK})
    return number


def test_001_s1_9_the_monthly_table_is_produced_once_downloaded_and_sent(
        suite, rpc, auth_headers, zhidu_config):
    rejected(rpc, "external", "2026-02-10T10:00")
    rejected(rpc, "external", "2026-02-11T10:00")
    rejected(rpc, "internal", "2026-02-12T10:00")

    # Both replicas sweep at once, as their timers would.
    operator = auth_headers()
    calls = [eventlet.spawn(requests.post, f"{replica.web_url}/api/v1/complaints/sweep",
                            json={"now": SWEEP_AT}, headers=operator, timeout=60)
             for replica in suite]
    replies = [call.wait() for call in calls]
    assert [r.status_code for r in replies] == [200, 200], [r.text for r in replies]
    produced = [rid for r in replies for rid in r.json()["reports"]]
    assert produced.count("monthly-2026-02") == 1
    # Once more, later the same day: nothing new.
    again = rpc.complaints.sweep({"now": "2026-03-01T09:00:00+08:00"})
    assert again["reports"] == []
    db = service_db(zhidu_config, "complaints")
    assert db.reports.count_documents({"_id": "monthly-2026-02"}) == 1
    assert db.report_periods.count_documents({"_id": "monthly:2026-02"}) == 1

    # The GM office is told, with the link.
    [item] = wait_for(lambda: [i for i in rpc.notifications.inbox(
        {"recipient_id": GM_OFFICE["id"]}) if i["event_type"] == "complaints.report_produced"
        and "2026年2月" in i["title"]], timeout=20, message="the GM office's inbox item")
    assert item["title"] == "客诉案件统计表（2026年2月）已生成"
    assert "外部客诉 2 件，内部投诉 1 件，合计 3 件" in item["body"]
    assert "/api/v1/complaints/reports/monthly-2026-02.xlsx" in item["body"]

    # The file itself, over REST, read back as a spreadsheet program would.
    url = f"{suite[0].web_url}/api/v1/complaints/reports/monthly-2026-02"
    download = requests.get(f"{url}.xlsx", headers=auth_headers(GM_OFFICE["id"]), timeout=10)
    assert download.status_code == 200, download.text
    assert download.headers["Content-Type"].endswith("spreadsheetml.sheet")
    assert 'filename="complaints-monthly-2026-02.xlsx"' in \
        download.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(download.content))
    summary = book["汇总"]
    assert summary["A1"].value == "客诉案件统计表" and summary["A2"].value == "2026年2月"
    assert [c.value for c in summary[3]] == ["项目", "外部客诉", "内部投诉", "合计"]
    assert [c.value for c in summary[4]] == ["结案件数", 2, 1, 3]
    text = requests.get(f"{url}.csv", headers=auth_headers(GM_OFFICE["id"]), timeout=10)
    assert text.headers["Content-Type"].startswith("text/csv")
    assert text.content.decode("utf-8-sig").splitlines()[:2] == [
        "汇总", "项目,外部客诉,内部投诉,合计"]

    # The same rights and refusals as the operation's.
    assert requests.get(f"{url}.xlsx", timeout=10).status_code == 401
    assert requests.get(f"{url}.xlsx", headers=auth_headers("emp-9"),
                        timeout=10).status_code == 403
    missing = requests.get(f"{suite[0].web_url}/api/v1/complaints/reports/monthly-2031-01.xlsx",
                           headers=auth_headers(GM_OFFICE["id"]), timeout=10)
    assert missing.status_code == 404
