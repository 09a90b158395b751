"""How fast the console's busiest pages render with 10,000 complaints stored, and what they weigh.

The services and the console run as their own processes, as under ``make
run``. The stored cases are made the way the desk makes them — filed and
handled over RPC — and then copied in bulk inside the complaints database
(9,700 closed this month, 300 open in the states the board shows), because
filing 10,000 through the service would take this machine minutes and
measure intake, not the pages.

Figures, over repeated loads by a signed-in person:

- server time to the whole page (``my work`` for a desk manager and for the
  general manager; the SLA board on its first load and then repeated, its
  open cases and their clocks read in one search per open status, without
  contacts; its live part as it refreshes itself), p50 and p99;
- the month's statistics, which the board fetches after its first paint:
  once cold (the aggregation over the month's cases) and then as remembered;
- the first contentful paint Chromium reports for the same pages, when
  Debian's Chromium is installed (``make browser``);
- page weight: the HTML as sent (gzip) and the static files a first visit
  downloads.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import requests
from zhidu.times import local_tz

# The suite's own modules are imported where used: run standalone, this file
# must let eventlet patch the standard library before the drivers load.
PASSWORD = "zhidu-console-2026"

STORED = 10_000
OPEN = 300
REPEATS = 30
SERVICES = ("directory", "complaints", "attendance", "penalties", "notifications", "console")
DRIVER = Path(__file__).resolve().parents[1] / "services" / "console" / "tests" / "browser.py"
CLERK, GM_OFFICE = {"id": "E101", "role": "staff"}, {"id": "E003", "role": "gm_office"}
INTAKE = {"channel": "phone", "kind": "external", "category": "service",
          "complainant": {"name": "王女士", "phone": "13812345678"},
          "subject": "维修人员态度差", "description": "电话里被挂断两次",
          "target_department": "service", "actor": CLERK}


def _at(moment: datetime) -> str:
    return moment.astimezone(local_tz()).strftime("%Y-%m-%dT%H:%M")


def _templates(rpc) -> tuple[str, list[str]]:
    """One closed case and open ones in the board's states, made by the desk."""
    now = datetime.now(local_tz())

    def walk(number, steps, actor=CLERK):
        for name, extra in steps:
            getattr(rpc.complaints, name)({"number": number, "at": _at(datetime.now(local_tz())),
                                           "actor": actor, **extra})

    handled = [("decide_validity", {"valid": True, "reason": "情况属实"}),
               ("assign", {"department": "service", "owner_id": "E202"})]
    closing = [("agree_plan", {"plan": "上门道歉"}), ("submit_report", {"root_cause": "培训不足"}),
               ("resolve", {"resolution": "已道歉"}), ("follow_up", {"satisfied": True})]
    closed = rpc.complaints.file({**INTAKE, "received_at": _at(now - timedelta(hours=3))})
    walk(closed["number"], handled + closing)
    open_ = []
    for hours, steps in ((1, []), (2, handled), (30, handled), (80, handled[:1]),
                         (4, handled + [("pause", {"reason": "等待业主回复"})])):
        filed = rpc.complaints.file({**INTAKE, "received_at": _at(now - timedelta(hours=hours))})
        walk(filed["number"], steps)
        open_.append(filed["number"])
    return closed["number"], open_


def _store_cases(config: dict, closed: str, open_: list[str]) -> float:
    """Copies of the templates until STORED cases are stored; returns the seconds it took."""
    from zhidu.config import database_name
    from zhidu.mongo import connect

    db = connect(config["MONGO_URI"])[database_name(config, "complaints")]
    started = time.perf_counter()
    month = datetime.now(local_tz()).strftime("%y%m")
    template = db.cases.find_one({"_id": closed})
    have = db.cases.count_documents({})
    batch = []
    for n in range(STORED - OPEN - 1):
        number = f"{month}-9{n:05d}"
        batch.append(_copy(template, number))
        if len(batch) == 2000:
            db.cases.insert_many(batch)
            batch = []
    docs = [db.cases.find_one({"_id": number}) for number in open_]
    for n in range(OPEN - (have - 1)):
        source = docs[n % len(docs)]
        number = f"{month}-8{n:05d}"
        batch.append(_copy(source, number))
    if batch:
        db.cases.insert_many(batch)
    db.client.close()
    return time.perf_counter() - started


def _copy(case: dict, number: str) -> dict:
    # Not the template's unpublished events: a copy announces nothing.
    copy = {k: v for k, v in case.items() if k not in ("announce", "announce_due")}
    return {**copy, "_id": number, "number": number}


def _signed_in(base: str, employee_id: str) -> requests.Session:
    browser = requests.Session()
    form = browser.get(f"{base}/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    reply = browser.post(f"{base}/login", data={"csrf": csrf, "employee_id": employee_id,
                                                "password": PASSWORD}, allow_redirects=False)
    assert reply.status_code == 303, reply.text[:500]
    return browser


def _loads(browser: requests.Session, url: str, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        reply = browser.get(url, headers={"Accept-Encoding": "gzip"})
        assert reply.content is not None
        assert reply.status_code == 200, (url, reply.status_code)
        times.append((time.perf_counter() - started) * 1000)
    return times


def _pct(times: list[float]) -> dict:
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]
    return {"p50_ms": round(statistics.median(ordered), 1), "p99_ms": round(p99, 1),
            "n": len(ordered)}


def _weight(browser: requests.Session, base: str, path: str) -> dict:
    reply = browser.get(f"{base}{path}", headers={"Accept-Encoding": "gzip"}, stream=True)
    sent = len(reply.raw.read(decode_content=False))
    body = browser.get(f"{base}{path}", headers={"Accept-Encoding": "identity"}).content
    statics = re.findall(r'(?:src|href)="(/static/[^"]+)"', body.decode())
    static_bytes = 0
    for url in statics:
        item = browser.get(f"{base}{url}", headers={"Accept-Encoding": "gzip"}, stream=True)
        static_bytes += len(item.raw.read(decode_content=False))
    return {"html_bytes": len(body), "html_gzip_bytes": sent,
            "static_gzip_bytes_first_visit": static_bytes,
            "first_visit_bytes": sent + static_bytes}


def _first_paint(base: str, user: str, paths: list[str]) -> dict | None:
    chromium = os.environ.get("ZHIDU_CHROMIUM", "/usr/bin/chromium")
    if not (shutil.which(chromium) or Path(chromium).exists()):
        return None
    args = {"base": base, "user": user, "password": PASSWORD, "paths": paths, "repeats": 10}
    done = subprocess.run([sys.executable, str(DRIVER), "first_paint", json.dumps(args)],
                          capture_output=True, text=True, timeout=300,
                          cwd=tempfile.gettempdir())
    if done.returncode != 0:
        return {"error": done.stderr[-500:]}
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    return {path: _pct(times) for path, times in measured.items() if times}


def run(amqp_uri: str, mongo_uri: str) -> dict:
    from console.testing import PASSWORD as SEEDED
    from console.testing import Suite, acting, seed_people
    from zhidu.identity import KeyRing
    from zhidu.secretbox import ensure_key_file

    assert SEEDED == PASSWORD
    keys = tempfile.mkdtemp(prefix="zhidu-bench-keys-")
    KeyRing(keys).ensure()
    ensure_key_file(keys)
    config = {"AMQP_URI": amqp_uri, "MONGO_URI": mongo_uri,
              "ZHIDU_DB_PREFIX": f"bench{uuid.uuid4().hex[:6]}_", "ZHIDU_KEY_DIR": keys,
              "ZHIDU_OUTBOX_INTERVAL": "1.0", "ZHIDU_SWEEP_INTERVAL": "3600",
              "ZHIDU_TOKEN_TTL": "3600"}
    suite = Suite(config, SERVICES)
    try:
        suite.start()
        seed_people(suite.config)
        rpc = acting(suite.config)
        try:
            closed, open_ = _templates(rpc)
        finally:
            rpc.close()
        load_seconds = _store_cases(suite.config, closed, open_)
        base = suite.console_url
        manager, gm = _signed_in(base, "E100"), _signed_in(base, "E001")
        board_cold = _loads(manager, f"{base}/board", 1)
        results = {
            "cases_stored": STORED, "cases_open": OPEN,
            "copy_seconds": round(load_seconds, 1),
            "my_work_desk_manager": _pct(_loads(manager, f"{base}/work", REPEATS)),
            "my_work_gm": _pct(_loads(gm, f"{base}/work", REPEATS)),
            "sla_board_cold_ms": round(board_cold[0], 1),
            "sla_board_warm": _pct(_loads(manager, f"{base}/board", REPEATS)),
            "sla_board_live_refresh": _pct(_loads(manager, f"{base}/board/live", REPEATS)),
            "month_stats_cold_ms": round(_loads(manager, f"{base}/board/stats",
                                                1)[0], 1),
            "month_stats_warm": _pct(_loads(manager, f"{base}/board/stats", REPEATS)),
            "weight_my_work": _weight(manager, base, "/work"),
            "weight_sla_board": _weight(manager, base, "/board"),
        }
        paint = _first_paint(base, "E100", ["/work", "/board"])
        if paint is not None:
            results["first_contentful_paint"] = paint
        return results
    finally:
        suite.stop()
        shutil.rmtree(keys, ignore_errors=True)


if __name__ == "__main__":
    import eventlet

    eventlet.monkey_patch()
    from zhidu.config import setting
    from zhidu.testing import mongo_server

    from bench.__main__ import bench_vhost

    with bench_vhost(setting(None, "AMQP_URI")) as vhost, mongo_server() as mongo:
        print(json.dumps(run(vhost, mongo), indent=2, ensure_ascii=False))
