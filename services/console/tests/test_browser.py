"""The console end to end: Debian's Chromium against the whole suite, each service its own process.

The suite runs as ``make run`` runs it (``python -m zhidu.serve <name>`` per
service) on a vhost and databases of its own. People are enrolled through the
directory; the cases a scenario starts from are made over RPC by the people
who would make them; then the browser does what the person does. The
screenshots the scenarios take (desktop and phone widths) are written to
docs/console/, which the README shows.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from console.testing import PASSWORD, Suite, acting, seed_people
from zhidu.calendar import load_calendar
from zhidu.testing import wait_for
from zhidu.times import local_tz

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
SHOTS = ROOT / "docs" / "console"
DRIVER = Path(__file__).with_name("browser.py")
CHROMIUM = os.environ.get("ZHIDU_CHROMIUM", "/usr/bin/chromium")

CLERK, MANAGER = {"id": "E101", "role": "staff"}, {"id": "E100", "role": "dept_manager"}
GM_OFFICE = {"id": "E003", "role": "gm_office"}
INTAKE = {"channel": "phone", "kind": "external", "category": "service",
          "complainant": {"name": "王女士", "phone": "13812345678",
                          "email": "wang@example.com"},
          "description": "业主来电反映上门维修问题", "target_department": "service"}

if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (make browser installs it)",
                allow_module_level=True)


def _local(moment: datetime) -> str:
    return moment.astimezone(local_tz()).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture(scope="module")
def suite(request, vhost_pipeline, mongo_uri, zhidu_key_dir):
    from urllib.parse import urlparse

    uri = urlparse(request.config.getoption("RABBIT_AMQP_URI"))
    with vhost_pipeline.get() as vhost:
        config = {"AMQP_URI": f"{uri.scheme}://{uri.netloc}/{vhost}", "MONGO_URI": mongo_uri,
                  "ZHIDU_DB_PREFIX": f"t{uuid.uuid4().hex[:10]}_",
                  "ZHIDU_RETRY_DELAYS": "0.2,0.4", "ZHIDU_OUTBOX_INTERVAL": "0.5",
                  "ZHIDU_SWEEP_INTERVAL": "3600", "ZHIDU_KEY_DIR": zhidu_key_dir,
                  "ZHIDU_IDENTITY_CACHE_SECONDS": "0"}
        running = Suite(config).start()
        try:
            seed_people(running.config)
            yield running
        finally:
            running.stop()


@pytest.fixture(scope="module")
def cases(suite):
    """What the scenarios start from, made by the people who would make it."""
    rpc = acting(suite.config)
    now = datetime.now(local_tz())

    def walk(number, *steps, actor=CLERK):
        for name, extra in steps:
            getattr(rpc.complaints, name)({"number": number, "at": _local(datetime.now(
                local_tz())), "actor": actor, **extra})

    try:
        remedy = rpc.complaints.file({**INTAKE, "subject": "热水器维修费用争议",
                                      "received_at": _local(now - timedelta(hours=1)),
                                      "actor": CLERK})["number"]
        walk(remedy, ("decide_validity", {"valid": True, "reason": "情况属实"}),
             ("assign", {"department": "service", "owner_id": "E202"}),
             ("agree_plan", {"plan": "上门检修并与业主协商费用"}),
             ("submit_report", {"root_cause": "配件老化，未按期更换"}),
             ("propose_remedy", {"remedy": "赔偿维修费用", "amount_yuan": 5000}))
        liable = rpc.complaints.file({**INTAKE, "subject": "维修人员与业主争吵",
                                      "target_employee_id": "E201",
                                      "received_at": _local(now - timedelta(hours=2)),
                                      "actor": CLERK})["number"]
        walk(liable, ("decide_validity", {"valid": True, "reason": "情况属实"}),
             ("assign", {"department": "service", "owner_id": "E202"}),
             ("agree_plan", {"plan": "向业主道歉"}))
        walk(liable, ("determine_liability", {"department": "service", "employee_ids": ["E201"],
                                              "fine_yuan": 300, "attitude": "attitude"}),
             actor=GM_OFFICE)
        for days in (3, 5):   # older cases, past their deadlines, for the board
            old = rpc.complaints.file({**INTAKE, "subject": f"电梯报修{days}天无人处理",
                                       "received_at": _local(now - timedelta(days=days)),
                                       "actor": CLERK})["number"]
            walk(old, ("decide_validity", {"valid": True, "reason": "情况属实"}),
                 ("assign", {"department": "engineering", "owner_id": "E202"}))
        gm = rpc.as_person("E001")
        # Drafted for E201's manager to instruct on first (001 §1 第九条(六)); the
        # notice scenario has him do it on his "my work" page.
        wait_for(lambda: [n for n in gm.penalties.list_notices(
            {"status": "awaiting_approval"})["notices"] if n["number"] == liable], 30, 0.3,
                 message="the penalty notice drafted from the liability")
        return {"remedy": remedy, "liable": liable}
    finally:
        rpc.close()


def browse(suite, scenario: str, **args) -> dict:
    args = {"base": suite.console_url, "password": PASSWORD, "shots": str(SHOTS), **args}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env["ZHIDU_CHROMIUM"] = CHROMIUM
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(DRIVER), scenario, json.dumps(args)],
                          capture_output=True, text=True, timeout=180, env=env,
                          cwd=tempfile.gettempdir())
    if done.returncode != 0:
        pytest.fail(f"{scenario} failed in the browser after "
                    f"{time.monotonic() - started:.0f}s:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_customer_service_clerk_files_a_complaint(suite):
    found = browse(suite, "file_complaint", clerk="E101")
    rpc = acting(suite.config)
    try:
        case = rpc.as_person("E005").complaints.get({"number": found["number"]})
    finally:
        rpc.close()
    assert case["status"] == "received" and case["channel"] == "phone"
    assert case["complainant"]["phone"] == "13812345678"    # it_admin reads it in full
    assert [h["actor"]["id"] for h in case["history"]] == ["E101"]


def test_a_staff_user_sees_the_complainants_phone_masked_001_s2(suite, cases):
    seen = browse(suite, "masked_phone", staff="E101", number=cases["remedy"])
    assert seen["phone"] == "138****5678"


def test_a_manager_is_refused_a_5000_yuan_remedy_and_the_deputy_gm_approves_003_s4_3_6_1(
        suite, cases):
    seen = browse(suite, "remedy", manager="E100", deputy="E002", number=cases["remedy"])
    assert "副总经理" in seen["refusal"]
    rpc = acting(suite.config)
    try:
        case = rpc.as_person("E002").complaints.get({"number": cases["remedy"]})
    finally:
        rpc.close()
    assert case["status"] == "remedy_approved"
    assert case["remedies"][-1]["approved_by"] == "E002"


def test_three_days_personal_leave_waits_for_the_gm_000_s2_4_3_2(suite):
    cal = load_calendar()
    start = cal.next_working_day(datetime.now(local_tz()).date() + timedelta(days=3),
                                 include_self=True)
    end = cal.next_working_day(cal.next_working_day(start))
    seen = browse(suite, "leave", employee="E202", supervisor="E200",
                  start=start.isoformat(), end=end.isoformat())
    rpc = acting(suite.config)
    try:
        leave = rpc.as_person("E202").attendance.get_leave({"leave_id": seen["leave_id"]})
    finally:
        rpc.close()
    assert leave["status"] == "pending" and leave["next_approver_role"] == "gm"
    assert [a["actor_id"] for a in leave["approvals"]] == ["E200"]


def test_the_gm_approves_a_penalty_notice_and_the_employee_sees_it_001_s1_art12(
        suite, cases):
    seen = browse(suite, "notice", supervisor="E200", gm="E001", employee="E201",
                  number=cases["liable"], fine=300)
    assert "¥" in seen["deducted"]
    rpc = acting(suite.config)
    try:
        account = rpc.as_person("E201").penalties.get_account(
            {"employee_id": "E201", "year": datetime.now(local_tz()).year})
    finally:
        rpc.close()
    fines = [e for e in account["entries"] if e["incident_id"] == cases["liable"]
             and e["amount_yuan"] == 300]
    assert fines and fines[0]["approved_by"]["id"] == "E001"
    assert "001 §1 第九條(六)" in seen["supervisor_rule"]
