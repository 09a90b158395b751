"""What authentication costs the suite's two hot paths, on and off, side by side.

The inspection → penalty → inbox chain at a steady 10 chains/s, and a shift-change
burst of clock-ins, each run twice on fresh databases: once with the services as
deployed (``python -m zhidu.serve``: every call's token verified, every permission
checked) and once with the same services started through ``bench.serve_open``,
which takes the token's claims unverified and lets every permission check pass.
Every other step — the broker, the database, the handlers, the events — is the
same, so the difference in p50 and p99 is what the door costs a call under load.
The per-call figure measured in-process (``bench.auth``) is reported beside them.

Each variant runs twice, in the order on, off, off, on, and its figures are the
mean of its two runs: whatever the first run on a fresh broker and database pays
(and the machine's own drift) falls on both sides alike instead of on one.

The chain's steady load and the burst are shorter than their own benches'
(``bench.chain``, ``bench.attendance_burst``): long enough for a p99, short enough
to run four times in one ``make bench``.
"""
from __future__ import annotations

import eventlet

eventlet.monkey_patch()

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHAIN_SERVICES = ("directory", "dormitory", "penalties", "notifications")
MODES = {"auth": "zhidu.serve", "open": "bench.serve_open"}
ORDER = ("auth", "open", "open", "auth")


class _Service:
    """One service in its own process, started by ``python -m <module> <service>``."""

    def __init__(self, service: str, config: dict, module: str, log):
        from zhidu.testing import as_service, free_port

        self.service, self.port = service, free_port()
        env = dict(os.environ, **{k: str(v) for k, v in as_service(config, service).items()},
                   WEB_SERVER_ADDRESS=f"127.0.0.1:{self.port}", ZHIDU_LOG_LEVEL="WARNING",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                            os.environ.get("PYTHONPATH")])))
        self.proc = subprocess.Popen([sys.executable, "-m", module, service], env=env,
                                     cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_healthy(self, timeout: float = 90) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.service} exited with {self.proc.returncode}")
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/health",
                                timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.service} did not become healthy")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _started(services, config: dict, module: str, log) -> list[_Service]:
    started = []
    try:
        for name in services:
            started.append(_Service(name, config, module, log))
        for service in started:
            service.wait_healthy()
    except BaseException:
        for service in started:
            service.stop()
        raise
    return started


def chain_steady(amqp_uri: str, mongo_uri: str, module: str, rate: float, seconds: float,
                 log) -> dict:
    from bench import chain

    config = {"AMQP_URI": amqp_uri, "MONGO_URI": mongo_uri,
              "ZHIDU_DB_PREFIX": f"authcost{uuid.uuid4().hex[:6]}_",
              "ZHIDU_OUTBOX_INTERVAL": "1.0", "ZHIDU_SWEEP_INTERVAL": "3600"}
    services = _started(CHAIN_SERVICES, config, module, log)
    try:
        residents = chain._setup(config)
        return chain._load(config, residents, rate, seconds, first=0)
    finally:
        for service in services:
            service.stop()


def clock_in_burst(amqp_uri: str, mongo_uri: str, module: str, clock_ins: int,
                   rate: float, clients: int, log) -> dict:
    import pymongo

    from bench import attendance_burst as burst

    prefix = f"authcost{uuid.uuid4().hex[:6]}_"
    config = {"AMQP_URI": amqp_uri, "MONGO_URI": mongo_uri, "ZHIDU_DB_PREFIX": prefix,
              # The timer must not close days or sweep in the middle of the burst.
              "ZHIDU_ATTENDANCE_SWEEP_INTERVAL": "3600"}
    ids = [f"B{i:05d}" for i in range(clock_ins)]
    window_s = 600.0                       # the ten minutes around the shift start
    [service] = _started(("attendance",), config, module, log)
    try:
        burst._prepare(amqp_uri, ids)
        figures = burst._burst(amqp_uri, ids, window_s, speedup=rate * window_s / clock_ins,
                               clients=clients)
    finally:
        service.stop()
        client = pymongo.MongoClient(mongo_uri)
        client.drop_database(f"{prefix}zhidu_attendance")
        client.close()
    latencies = figures["latencies"] or [float("nan")]
    return {"clock_ins_ok": len(figures["latencies"]), "errors": len(figures["errors"]),
            "first_errors": figures["errors"][:2],
            "achieved_per_s": round(len(figures["latencies"]) / figures["elapsed_s"], 1),
            "p50_ms": round(1000 * burst._percentile(latencies, 0.50), 1),
            "p99_ms": round(1000 * burst._percentile(latencies, 0.99), 1),
            "max_start_lag_ms": round(1000 * max(figures["lags"] or [0.0]), 1)}


def _own_keys() -> None:
    """A signing key of the bench's own unless one is set (never the installation's)."""
    from zhidu.identity import KeyRing
    from zhidu.secretbox import ensure_key_file

    if not os.environ.get("ZHIDU_KEY_DIR"):
        os.environ["ZHIDU_KEY_DIR"] = tempfile.mkdtemp(prefix="zhidu-bench-keys-")
    KeyRing(os.environ["ZHIDU_KEY_DIR"]).ensure()
    ensure_key_file(os.environ["ZHIDU_KEY_DIR"])


def _side_by_side(prefix: str, runs: dict) -> dict:
    """Mean p50 and p99 per variant, their difference, and each run's figures."""
    out = {}
    for key in ("p50_ms", "p99_ms"):
        on, off = ([run[key] for run in runs[mode]] for mode in ("auth", "open"))
        mean_on, mean_off = sum(on) / len(on), sum(off) / len(off)
        out[f"{prefix}_{key}_auth_on"] = round(mean_on, 1)
        out[f"{prefix}_{key}_auth_off"] = round(mean_off, 1)
        out[f"{prefix}_{key}_difference"] = round(mean_on - mean_off, 1)
        out[f"{prefix}_{key}_runs_on_off"] = [on, off]
    return out


def run(amqp_uri: str, mongo_uri: str, chain_rate: float = 10.0, chain_s: float = 15.0,
        clock_ins: int = 2000, clock_rate: float = 83.0, clients: int = 16) -> dict:
    """The chain and the burst with authentication on and off; returns the figures."""
    from bench import auth

    _own_keys()
    chains = {mode: [] for mode in MODES}
    bursts = {mode: [] for mode in MODES}
    with tempfile.NamedTemporaryFile("w+", prefix="auth-cost-bench-", suffix=".log",
                                     delete=False) as log:
        for mode in ORDER:
            chains[mode].append(chain_steady(amqp_uri, mongo_uri, MODES[mode], chain_rate,
                                             chain_s, log))
        for mode in ORDER:
            bursts[mode].append(clock_in_burst(amqp_uri, mongo_uri, MODES[mode], clock_ins,
                                               clock_rate, clients, log))
    door = auth.run()
    both = ("auth", "open")
    return {
        "chain_offered_per_s": chains["auth"][0]["offered_per_s"],
        "chain_chains_on_off": [sum(r["chains"] for r in chains[m]) for m in both],
        **_side_by_side("chain", chains),
        "burst_clock_ins": clock_ins,
        "burst_offered_per_s": clock_rate,
        "burst_achieved_per_s_on_off": [[r["achieved_per_s"] for r in bursts[m]]
                                        for m in both],
        "burst_errors_on_off": [sum(r["errors"] for r in bursts[m]) for m in both],
        "burst_max_start_lag_ms_on_off": [max(r["max_start_lag_ms"] for r in bursts[m])
                                          for m in both],
        **_side_by_side("burst", bursts),
        # The same door measured in-process, per call (bench.auth).
        "door_p50_ms_first_sight": door["door_p50_ms_first_sight"],
        "door_p50_ms_cached": door["door_p50_ms_cached"],
        "door_target_p50_ms": door["target_p50_ms"],
        "service_log": log.name,
    }


def main() -> int:
    import json

    from zhidu.config import setting
    from zhidu.testing import mongo_server

    with mongo_server() as mongo_uri:
        figures = run(setting(None, "AMQP_URI"), mongo_uri)
    print(json.dumps(figures, indent=2))
    return 0 if not any(figures["burst_errors_on_off"]) else 1


if __name__ == "__main__":
    sys.exit(main())
