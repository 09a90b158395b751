"""Nothing left running: the processes the monitoring tests (and every other
test that starts a service in its own process) leave behind when a test
fails, times out or is killed."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from zhidu.processes import die_with_parent
from zhidu.testing import ServiceProcess, wait_for

HANG = "import time; time.sleep(120)"


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie is dead but still listed until its parent reaps it.
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return stat.read().split(") ", 1)[1].startswith("Z")


@pytest.fixture
def pids_gone_afterwards():
    """Pids that must be dead once every other fixture of the test is torn down
    (requested first, so torn down last)."""
    pids: list[int] = []
    yield pids
    alive = [pid for pid in pids if not gone(pid)]
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"left running: {alive}"


def test_stop_escalates_to_sigkill_when_sigterm_is_ignored():
    process = ServiceProcess("directory", {"AMQP_URI": "amqp://127.0.0.1:1/",
                                           "ZHIDU_BROKER_USERS": "off"})
    process.proc = subprocess.Popen(
        [sys.executable, "-c", "import signal, sys, time; "
         "signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
         "time.sleep(120)"], stdout=subprocess.PIPE, text=True)
    try:
        assert process.proc.stdout.readline() == "ready\n"
        began = time.monotonic()
        process.stop(timeout=0.5)
        assert process.proc.returncode == -signal.SIGKILL
        assert time.monotonic() - began < 5
    finally:
        process.kill()
        process.proc.stdout.close()


def test_a_child_started_to_die_with_its_parent_does_when_the_parent_is_killed():
    """As a test run killed with -9 (or by a CI time limit) runs no teardown."""
    parent = subprocess.Popen([sys.executable, "-c", f"""
import subprocess, sys, time
from zhidu.processes import die_with_parent
child = subprocess.Popen([sys.executable, "-c", {HANG!r}], preexec_fn=die_with_parent(9))
print(child.pid, flush=True)
time.sleep(120)
"""], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert not gone(child)
        parent.kill()
        parent.wait(10)
        wait_for(lambda: gone(child), 10, interval=0.1, message="the child killed with it")
    finally:
        parent.kill()
        parent.stdout.close()


def test_die_with_parent_asks_for_the_signal_given():
    preexec = die_with_parent(signal.SIGTERM)
    if preexec is None:
        pytest.skip("not Linux")
    asks = ("import ctypes, ctypes.util; signum = ctypes.c_int(); "
            "ctypes.CDLL(ctypes.util.find_library('c')).prctl(2, ctypes.byref(signum), 0, 0, 0); "
            "print(signum.value)")                          # PR_GET_PDEATHSIG
    child = subprocess.Popen([sys.executable, "-c", asks], preexec_fn=preexec,
                             stdout=subprocess.PIPE, text=True)
    out, _ = child.communicate(timeout=30)
    assert child.returncode == 0 and int(out) == signal.SIGTERM


@pytest.mark.integration
def test_a_service_that_is_not_healthy_in_time_is_killed_by_its_start(zhidu_config):
    process = ServiceProcess("directory", zhidu_config)
    with pytest.raises(AssertionError, match="directory healthy"):
        process.start(timeout=0.3)      # it imports for longer than that
    assert process.proc.returncode == -signal.SIGKILL
    assert gone(process.proc.pid)


@pytest.mark.integration
def test_the_fixture_kills_a_service_whose_start_was_cut_short(
        pids_gone_afterwards, service_process, monkeypatch):
    """A start interrupted before it could clean up after itself (say, between
    spawning and waiting): the fixture knew of the process all the same."""
    def spawn_then_fail(self, timeout=60.0):
        self.proc = subprocess.Popen([sys.executable, "-c", HANG])
        pids_gone_afterwards.append(self.proc.pid)
        raise RuntimeError("interrupted")

    monkeypatch.setattr(ServiceProcess, "start", spawn_then_fail)
    with pytest.raises(RuntimeError, match="interrupted"):
        service_process("directory")
    assert not gone(pids_gone_afterwards[0])      # until the test is torn down
