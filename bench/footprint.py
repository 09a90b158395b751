"""Memory and start-up: what each service costs a node, and how long the suite takes to come up.

Every installed service is launched at once as its own process, the way
``zhidu run`` (``make run``) launches them, on a broker and database that are
already up; the clock runs from the first launch until every ``GET /health``
answers 200. A cold start of the embedded database is timed on its own, as
``make run`` starts it first when ``MONGO_URI`` is unset.

Resident memory (``VmRSS`` from ``/proc/<pid>/status``) is read per service at
rest — healthy, timers and relays running, nothing asked of it for a while —
and then sampled every half second through a steady load of the dormitory
chain (inspection → penalty → inbox); the peak is reported.
The target is under 120 MB per service at rest.

    python -m bench.footprint     # AMQP_URI, and MONGO_URI or a temporary SecantusDB
"""
import eventlet

eventlet.monkey_patch()

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import requests  # noqa: E402

TARGET_MB_AT_REST = 120
SETTLE_S = 10.0          # after start-up: indexes built, first timer rounds done
STEADY_RATE = 10.0       # inspections a second, below the chain's ceiling
STEADY_S = 20.0
SAMPLE_EVERY_S = 0.5


def rss_mb(pid: int) -> float:
    """Resident set size of one process, in MB (VmRSS is in kB)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    raise LookupError(f"no VmRSS for pid {pid}")


def _healthy(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def start_all(config: dict, names, timeout: float = 180.0):
    """Launch every service at once; seconds until each (and all) answered healthy."""
    from zhidu.testing import ServiceProcess

    procs = {name: ServiceProcess(name, config) for name in names}
    started = time.monotonic()
    for proc in procs.values():
        proc.proc = subprocess.Popen([sys.executable, "-m", "zhidu.serve", proc.service],
                                     env=proc.env)
    ready: dict[str, float] = {}
    try:
        while len(ready) < len(procs):
            for name, proc in procs.items():
                if name in ready:
                    continue
                if proc.proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.proc.returncode}")
                if _healthy(proc.port):
                    ready[name] = round(time.monotonic() - started, 2)
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"not healthy after {timeout:.0f}s: "
                                   f"{sorted(set(procs) - set(ready))}")
            eventlet.sleep(0.1)
    except BaseException:
        stop_all(procs)
        raise
    return procs, ready, round(time.monotonic() - started, 2)


def stop_all(procs: dict) -> None:
    """SIGTERM to all at once: each finishes its running work, side by side."""
    stopping = [eventlet.spawn(proc.stop) for proc in procs.values()]
    for thread in stopping:
        thread.wait()


def cold_database_start() -> float:
    """Seconds from launching an empty embedded database to it answering."""
    from zhidu.launcher import answers
    from zhidu.testing import free_port

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="zhidu-bench-db-") as data:
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "secantus", "--host", "127.0.0.1", "--port", str(port),
             "--storage-path", data, "--log-level", "WARNING"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while not answers("127.0.0.1", port, 0.2):
                if proc.poll() is not None or time.monotonic() - started > 60:
                    raise RuntimeError("the embedded database did not start")
                time.sleep(0.05)
            return round(time.monotonic() - started, 2)
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class Sampler:
    """The largest RSS seen per process while it runs."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids
        self.peak = {name: 0.0 for name in pids}
        self._running = True
        self._thread = eventlet.spawn(self._run)

    def _run(self) -> None:
        while self._running:
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], rss_mb(pid))
            eventlet.sleep(SAMPLE_EVERY_S)

    def stop(self) -> dict[str, float]:
        self._running = False
        self._thread.wait()
        return self.peak


ROOMS, BEDS = 10, 4


def _rpc(config: dict):
    """An operator's service account: it sets the scene and inspects, with a real token."""
    from nameko.standalone.rpc import ClusterRpcProxy
    from zhidu.identity import issue_token

    token = issue_token(config, "svc:bench-footprint", roles=["hr", "dorm_admin", "inspector"],
                        scopes=["*"])
    return ClusterRpcProxy(config, timeout=60,
                           context_data={"authorization": f"Bearer {token}"})


def _scene(rpc) -> list[tuple[str, str]]:
    """Residents in rooms of four; (resident, room) pairs."""
    from nameko.exceptions import RemoteError
    from zhidu.testing import wait_for

    def assigned(resident: str, room: str) -> bool:
        try:
            rpc.dormitory.assign_bed({"employee_id": resident, "building": "A",
                                      "room_no": room, "at": "2026-01-05T09:00:00+08:00"})
            return True
        except RemoteError as exc:
            if exc.exc_type == "NotFound":  # the directory's event is on its way
                return False
            raise
    beds = []
    for n in range(ROOMS * BEDS):
        rpc.directory.upsert_employee({"employee_id": f"F{n:03d}", "name": f"住户{n}",
                                       "gender": "M", "department": "property",
                                       "unit": "north"})
    for room in range(ROOMS):
        rpc.dormitory.add_room({"building": "A", "room_no": f"{200 + room}",
                                "capacity": BEDS, "gender": "M"})
    for n in range(ROOMS * BEDS):
        resident, room = f"F{n:03d}", f"{200 + n // BEDS}"
        wait_for(lambda r=resident, o=room: assigned(r, o), timeout=60,
                 message=f"{resident} in a bed")
        beds.append((resident, room))
    return beds


def _steady(config: dict, rpc, beds, rate: float, seconds: float) -> dict:
    """Inspections at a fixed pace, each one violation; until every one reached an inbox."""
    from datetime import datetime, timedelta

    from zhidu.testing import service_db, wait_for
    from zhidu.times import UTC

    inbox = service_db(config, "notifications").inbox
    total = int(rate * seconds)
    base = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    started = time.monotonic()
    replies = []
    for n in range(total):
        delay = started + n / rate - time.monotonic()
        if delay > 0:
            eventlet.sleep(delay)
        resident, room = beds[n % len(beds)]
        replies.append(rpc.dormitory.record_inspection.call_async({
            "building": "A", "room_no": room, "inspector_id": "INS",
            "at": (base + timedelta(minutes=n)).isoformat(),
            "findings": [{"code": "D16", "employee_ids": [resident]}]}))
    offered = time.monotonic() - started
    for reply in replies:
        reply.result()  # a refused or failed inspection stops the bench here
    wait_for(lambda: inbox.count_documents({}) >= total, timeout=300, interval=0.5,
             message="every inspection told")
    return {"inspections": total, "offered_per_s": round(total / offered, 1),
            "seconds_to_last_inbox_item": round(time.monotonic() - started, 1)}


def run(amqp_uri: str, mongo_uri: str, steady_rate: float = STEADY_RATE,
        steady_s: float = STEADY_S) -> dict:
    from zhidu.identity import KeyRing
    from zhidu.plugins import discover
    from zhidu.secretbox import ensure_key_file

    if not os.environ.get("ZHIDU_KEY_DIR"):
        os.environ["ZHIDU_KEY_DIR"] = tempfile.mkdtemp(prefix="zhidu-bench-keys-")
    KeyRing(os.environ["ZHIDU_KEY_DIR"]).ensure()
    ensure_key_file(os.environ["ZHIDU_KEY_DIR"])
    # The services' own defaults for timers and relays, as deployed.
    config = {"AMQP_URI": amqp_uri, "MONGO_URI": mongo_uri,
              "ZHIDU_DB_PREFIX": f"bench{uuid.uuid4().hex[:6]}_"}
    names = list(discover())
    figures: dict = {"embedded_db_cold_start_s": cold_database_start()}
    procs, ready, all_healthy = start_all(config, names)
    try:
        figures["services"] = len(names)
        figures["startup_all_healthy_s"] = all_healthy
        figures["startup_slowest"] = f"{max(ready, key=ready.get)} {max(ready.values())} s"
        pids = {name: proc.proc.pid for name, proc in procs.items()}
        eventlet.sleep(SETTLE_S)
        at_rest = {name: rss_mb(pid) for name, pid in pids.items()}
        with _rpc(config) as rpc:
            beds = _scene(rpc)
            sampler = Sampler(pids)
            try:
                steady = _steady(config, rpc, beds, steady_rate, steady_s)
            finally:
                peak = sampler.stop()
        after = {name: rss_mb(pid) for name, pid in pids.items()}
    finally:
        stop_all(procs)
    for name in names:
        figures[f"{name}_rest_mb"] = at_rest[name]
        figures[f"{name}_load_peak_mb"] = peak[name]
        figures[f"{name}_after_load_mb"] = after[name]
    figures["largest_at_rest_mb"] = max(at_rest.values())
    figures["all_under_target_at_rest"] = all(v < TARGET_MB_AT_REST for v in at_rest.values())
    figures["steady_load"] = steady
    return figures


def main() -> int:
    from zhidu.config import setting
    from zhidu.testing import mongo_server

    with mongo_server() as mongo_uri:
        figures = run(setting(None, "AMQP_URI"), mongo_uri)
    for key, value in figures.items():
        print(f"  {key:32} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
