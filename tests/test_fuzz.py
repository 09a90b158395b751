"""The fuzzer: every operation of every service, with schemathesis, against
the service running as deployed (its own process, a real broker and database).

Each service is called with generated payloads, valid and invalid, as an
operator and, for some, as an ordinary person. Nothing may answer 5xx, every
status and content type must be one the service's OpenAPI document declares,
declared response bodies must match their schema, input the document rules
out must be refused, and the service must be healthy afterwards. The seed is
fixed, so a finding is reproduced by running the test again; ``make fuzz``
runs many more examples an operation (``ZHIDU_FUZZ_EXAMPLES``) and measures
a valid request's latency while the fuzzer runs.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("ZHIDU_FUZZ_SEED", "20261130"))
EXAMPLES = int(os.environ.get("ZHIDU_FUZZ_EXAMPLES", "5"))
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance", "negative_data_rejection")
# What counts as refusing input the document rules out: a 414 is the web
# server refusing a request line over 8 kB, before any handler sees it.
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = [400, 401, 403, 404, 405, 413, 414, 415, 422]
"""
ST = str(Path(sys.executable).with_name("st"))
FIGURES: list[dict] = []


def fuzz(base_url: str, token: str, examples: int = EXAMPLES, workers: int = 1,
         phases: str = "examples,coverage,fuzzing") -> dict:
    """Run schemathesis against one service; its figures and, on failure, its report."""
    with tempfile.TemporaryDirectory(prefix="zhidu-fuzz-") as out:
        report, config = Path(out) / "events.ndjson", Path(out) / "schemathesis.toml"
        config.write_text(CONFIG)
        started = time.monotonic()
        proc = subprocess.run(
            [ST, "--config-file", str(config), "run", f"{base_url}/openapi.json",
             "--url", base_url, "--checks", ",".join(CHECKS),
             "--max-examples", str(examples), "--seed", str(SEED),
             "--workers", str(workers), "--phases", phases, "--no-shrink",
             "--request-timeout", "10", "--suppress-health-check", "all",
             "--warnings", "off", "-H", f"Authorization: Bearer {token}",
             "--report", "ndjson", "--report-ndjson-path", str(report)],
            capture_output=True, text=True, timeout=900, env=dict(os.environ, NO_COLOR="1"))
        elapsed = time.monotonic() - started
        sent = _requests_in(report)
    return {"code": proc.returncode, "seconds": elapsed, "requests": sent,
            "output": proc.stdout[-20000:] + proc.stderr[-4000:]}


def _requests_in(report: Path) -> int:
    """Responses recorded in schemathesis' event stream (one per request sent)."""
    if not report.exists():
        return 0
    count = 0
    for line in report.read_text().splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        count += _count_responses(event)
    return count


def _count_responses(value) -> int:
    stack, count = [value], 0
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "response" in item and "request" in item:
                count += 1
                continue
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def _healthy(base_url: str) -> bool:
    reply = requests.get(f"{base_url}/health", timeout=5)
    return reply.status_code == 200 and reply.json()["status"] == "ok"


def _record(service: str, who: str, result: dict) -> None:
    FIGURES.append({"service": service, "as": who, "requests": result["requests"],
                    "seconds": round(result["seconds"], 1)})
    print(f"\nfuzz {service} as {who}: {result['requests']} requests in "
          f"{result['seconds']:.1f}s (seed {SEED}, {EXAMPLES} examples an operation)")


# Every service as the operator; the services whose rules turn on who the
# caller is (relations, self) also as an ordinary person.
CASES = [("directory", "operator"), ("complaints", "operator"), ("attendance", "operator"),
         ("dormitory", "operator"), ("penalties", "operator"), ("notifications", "operator"),
         ("repairs", "operator"), ("console", "operator"),
         ("complaints", "person"), ("attendance", "person"), ("repairs", "person")]


@pytest.mark.parametrize(("service", "who"), CASES, ids=[f"{s}-{w}" for s, w in CASES])
def test_the_fuzzer_finds_nothing(service, who, service_process, tokens, people):
    proc = service_process(service)
    base_url = f"http://127.0.0.1:{proc.port}"
    if who == "person":
        people.add("E1", "staff", department="customer_service", manager_id="M1")
        token = tokens.person("E1")
    else:
        token = tokens.operator()
    result = fuzz(base_url, token)
    _record(service, who, result)
    assert result["code"] == 0, result["output"]
    assert result["requests"] > 0
    assert _healthy(base_url)


def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[98]


def _probe(url: str, headers: dict, until: threading.Event | None, count: int) -> list[float]:
    samples = []
    session = requests.Session()
    while (until is None and len(samples) < count) or (until is not None and
                                                       not until.is_set()):
        started = time.perf_counter()
        reply = session.get(url, headers=headers, timeout=30)
        samples.append(time.perf_counter() - started)
        assert reply.status_code == 200, reply.text
        time.sleep(0.02)
    return samples


@pytest.mark.skipif(not os.environ.get("ZHIDU_FUZZ_LOAD"),
                    reason="measured by make fuzz (ZHIDU_FUZZ_LOAD=1)")
def test_a_valid_request_stays_fast_while_the_fuzzer_runs(service_process, tokens, rpc):
    """p99 of a valid read while the fuzzer hammers the same service, against idle."""
    proc = service_process("directory")
    base_url = f"http://127.0.0.1:{proc.port}"
    headers = tokens.header(tokens.operator())
    rpc.directory.upsert_employee({"employee_id": "E1", "name": "王丽", "gender": "F",
                                   "department": "customer_service", "unit": "centre"})
    url = f"{base_url}/api/v1/directory/employees/E1"
    idle = _probe(url, headers, None, 300)
    done = threading.Event()
    loaded: list[float] = []
    prober = threading.Thread(target=lambda: loaded.extend(_probe(url, headers, done, 0)))
    prober.start()
    try:
        result = fuzz(base_url, tokens.operator(), examples=max(EXAMPLES, 20))
    finally:
        done.set()
        prober.join()
    idle_p99, loaded_p99 = _p99(idle), _p99(loaded)
    print(f"\nvalid GET p99: idle {idle_p99 * 1000:.1f} ms, under fuzz "
          f"{loaded_p99 * 1000:.1f} ms ({len(loaded)} samples; fuzzer sent "
          f"{result['requests']} requests in {result['seconds']:.1f}s)")
    assert result["code"] == 0, result["output"]
    assert loaded_p99 < 10 * idle_p99
