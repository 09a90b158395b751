"""Shift-change burst: N employees clock in within a ten-minute window.

The attendance service runs as its own process (``python -m zhidu.serve
attendance``) on a fresh ``bench_`` database. The bench defines a shift,
publishes a roster for N employees, then *offers* N ``clock`` RPCs on a fixed
schedule (open loop: call i is due at ``i * window / speedup / N`` seconds,
whatever happened to the calls before it), spread over several concurrent
clients. The clock-in times sent are the real ten-minute window of scenario
time, centred on the 08:30 shift start (so the later half arrive late); only
the wall-clock pacing is compressed by ``speedup``, and the figures say so:
``offered_per_s`` is the rate actually offered, ``real_world_per_s`` the rate
of the uncompressed burst.

Latency is measured per call from the moment it is sent; ``max_start_lag_ms``
shows whether the clients kept to the schedule (a large lag means the service
could not keep up and the offered rate was not really offered). Afterwards
the day is closed for all N employees twice, timing the evaluation and its
idempotent re-run (which must book nothing).

    python -m bench.attendance_burst [--speedup 20]   # a vhost and a database of its own
"""
import eventlet

eventlet.monkey_patch()

import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from datetime import datetime, timedelta  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A week back: clock-ins, roster changes and the day's close record what has
# happened, so none of them may lie in the future.
_DAY = datetime.now(SHANGHAI).date() - timedelta(days=7)
DAY = _DAY.isoformat()
SHIFT = {"code": "BURST", "start": "08:30", "end": "16:20"}
SHIFT_START = datetime(_DAY.year, _DAY.month, _DAY.day, 8, 30, tzinfo=SHANGHAI)
ROSTERED_AT = (SHIFT_START - timedelta(days=11)).replace(hour=9, minute=0).isoformat()
DAY_OVER = (SHIFT_START + timedelta(days=1)).replace(hour=0, minute=0).isoformat()
ROSTER_CHUNK = 1000
# The ten-minute window offered in one minute: 83 clock-ins a second for 5,000.
SPEEDUP = 10.0
# The roster office's and the clocking devices' service accounts (real tokens).
SCOPES = ["attendance:rosters", "attendance:clock", "ops"]


def _proxy(amqp_uri: str, timeout: float):
    from nameko.standalone.rpc import ClusterRpcProxy
    from zhidu.identity import issue_token

    token = issue_token(None, "svc:bench-attendance", scopes=SCOPES)
    return ClusterRpcProxy({"AMQP_URI": amqp_uri}, timeout=timeout,
                           context_data={"authorization": f"Bearer {token}"})


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the attendance service exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if json.load(reply).get("status") == "ok":
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the attendance service did not become healthy")


def _start_service(amqp_uri: str, mongo_uri: str, log) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    env = dict(os.environ, AMQP_URI=amqp_uri, MONGO_URI=mongo_uri, ZHIDU_DB_PREFIX="bench_",
               WEB_SERVER_ADDRESS=f"127.0.0.1:{port}", ZHIDU_LOG_LEVEL="WARNING",
               # The timer must not close days or sweep in the middle of the burst.
               ZHIDU_ATTENDANCE_SWEEP_INTERVAL="3600")
    proc = subprocess.Popen([sys.executable, "-m", "zhidu.serve", "attendance"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, f"http://127.0.0.1:{port}"


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _prepare(amqp_uri: str, employees: list[str]) -> None:
    with _proxy(amqp_uri, 120) as rpc:
        rpc.attendance.define_shift(SHIFT)
        for first in range(0, len(employees), ROSTER_CHUNK):
            rpc.attendance.set_roster({
                "entries": [{"employee_id": e, "date": DAY, "shift_code": SHIFT["code"]}
                            for e in employees[first:first + ROSTER_CHUNK]],
                "published": True, "at": ROSTERED_AT})


def _burst(amqp_uri: str, employees: list[str], window_s: float, speedup: float,
           clients: int) -> dict:
    n = len(employees)
    wall_window = window_s / speedup
    latencies, lags, errors = [], [], []
    started = time.monotonic() + 1.0          # every client connected before call 0

    def client(index: int) -> None:
        with _proxy(amqp_uri, 60) as rpc:
            for i in range(index, n, clients):
                due = started + i * wall_window / n
                eventlet.sleep(max(0.0, due - time.monotonic()))
                sent = time.monotonic()
                lags.append(sent - due)
                # Arrivals are centred on the shift start: the later half is late.
                at = SHIFT_START + timedelta(seconds=(i - n / 2) * window_s / n)
                try:
                    rpc.attendance.clock({"employee_id": employees[i], "kind": "in",
                                          "at": at.isoformat(), "source": "bench"})
                except Exception as exc:  # counted and reported, never hidden
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
                    continue
                latencies.append(time.monotonic() - sent)

    pool = eventlet.GreenPool(clients)
    for index in range(clients):
        pool.spawn(client, index)
    pool.waitall()
    finished = time.monotonic()
    return {"latencies": latencies, "lags": lags, "errors": errors,
            "elapsed_s": finished - started}


def _close_twice(amqp_uri: str) -> dict:
    """close_day over the whole roster, then again (the idempotent re-run)."""
    timings, booked = [], []
    with _proxy(amqp_uri, 300) as rpc:
        for _ in range(2):
            started = time.monotonic()
            # Judge the day as of its end: the shifts are over by then.
            result = rpc.attendance.close_day({"date": DAY, "at": DAY_OVER})
            timings.append(time.monotonic() - started)
            booked.append(result["violations_booked"])
    return {"close_day_s": round(timings[0], 1), "close_day_again_s": round(timings[1], 1),
            "violations_booked": booked}


def _stored_clocks(mongo_uri: str) -> int:
    import pymongo

    client = pymongo.MongoClient(mongo_uri)
    try:
        return client["bench_zhidu_attendance"].clocks.count_documents({})
    finally:
        client.close()


def _ops(mongo_uri: str) -> dict:
    import pymongo

    client = pymongo.MongoClient(mongo_uri)
    try:
        return dict(client.admin.command("serverStatus")["opcounters"])
    finally:
        client.close()


def run(amqp_uri: str, mongo_uri: str, employees: int = 5000, window_s: float = 600,
        speedup: float = SPEEDUP, clients: int = 16) -> dict:
    """Run the burst; returns the figures (also printed by ``__main__``)."""
    import pymongo

    client = pymongo.MongoClient(mongo_uri)
    client.drop_database("bench_zhidu_attendance")
    client.close()
    ids = [f"B{i:05d}" for i in range(employees)]
    with tempfile.NamedTemporaryFile("w+", prefix="attendance-bench-", suffix=".log",
                                     delete=False) as log:
        proc, base = _start_service(amqp_uri, mongo_uri, log)
        try:
            _wait_healthy(f"{base}/health", proc)
            prepared = time.monotonic()
            _prepare(amqp_uri, ids)
            roster_s = time.monotonic() - prepared
            before = _ops(mongo_uri)
            burst = _burst(amqp_uri, ids, window_s, speedup, clients)
            after = _ops(mongo_uri)
            closing = _close_twice(amqp_uri)
        finally:
            _stop(proc)
    lat = burst["latencies"] or [float("nan")]
    done = len(burst["latencies"])
    return {
        "bench": "attendance shift-change burst",
        "employees": employees,
        "window_s": window_s,
        "speedup": speedup,
        "clients": clients,
        "offered_per_s": round(employees / (window_s / speedup), 1),
        "real_world_per_s": round(employees / window_s, 2),
        "roster_publish_s": round(roster_s, 1),
        "clock_ins_ok": done,
        "clock_ins_stored": _stored_clocks(mongo_uri),
        "errors": len(burst["errors"]),
        "first_errors": burst["errors"][:3],
        "achieved_per_s": round(done / burst["elapsed_s"], 1),
        "p50_ms": round(1000 * _percentile(lat, 0.50), 1),
        "p99_ms": round(1000 * _percentile(lat, 0.99), 1),
        "max_ms": round(1000 * max(lat), 1),
        "max_start_lag_ms": round(1000 * max(burst["lags"] or [0.0]), 1),
        # Everything the service asked of the database during the burst, per
        # clock-in: writes (insert, update, delete) and the rest (queries and
        # commands, a transaction's commit among them).
        "db_writes_per_clock": round(sum(after[k] - before[k] for k in
                                         ("insert", "update", "delete")) / employees, 2),
        "db_reads_and_commands_per_clock": round(sum(after[k] - before[k] for k in
                                                     ("query", "getmore", "command"))
                                                 / employees, 2),
        # Arrivals after 08:30 are late (A01): about half the first close books.
        **closing,
        "service_log": log.name,
    }


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=5000)
    parser.add_argument("--window", type=float, default=600.0, help="seconds of scenario time")
    parser.add_argument("--speedup", type=float, default=SPEEDUP,
                        help="20 offers twice the rate (166/s for 5,000)")
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args(argv)
    from bench.__main__ import on_its_own

    with on_its_own() as (amqp_uri, mongo_uri):
        result = run(amqp_uri, mongo_uri, args.employees, args.window, args.speedup,
                     args.clients)
    print(json.dumps(result, indent=2))
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
