"""The whole suite as deployed, with a cast of people, for the console's tests and bench.

:class:`Suite` starts every service and the console as their own processes
(``python -m zhidu.serve <name>``, as ``make run`` does) against one broker
vhost and one database server, and :func:`seed_people` gives a company its
people, their reporting lines and their passwords through the directory,
then writes the same records into every service's copy so a test need not
wait for the events to arrive.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass

import requests
from zhidu.testing import ActingRpc, People, ServiceProcess, Tokens

PASSWORD = "zhidu-console-2026"
SERVICES = ("directory", "complaints", "attendance", "dormitory", "penalties",
            "notifications", "console")


@dataclass(frozen=True)
class Member:
    employee_id: str
    name: str
    gender: str
    department: str
    role: str = "staff"
    manager_id: str | None = None
    team_leader_id: str | None = None
    monthly_wage_yuan: int | None = None


# A small company: the complaint desk, the service department it hands cases
# to, the leadership, and the clerks who keep attendance and dormitories.
CAST = (
    Member("E001", "赵建国", "M", "management", "gm"),
    Member("E002", "张伟", "M", "management", "deputy_gm", manager_id="E001"),
    Member("E003", "孙敏", "F", "gm_office", "gm_office", manager_id="E001"),
    Member("E004", "周芳", "F", "hr", "hr", manager_id="E001"),
    Member("E005", "吴磊", "M", "it", "it_admin", manager_id="E001"),
    Member("E100", "李强", "M", "customer_service", "dept_manager", manager_id="E002"),
    Member("E101", "王丽", "F", "customer_service", "staff", manager_id="E100"),
    Member("E200", "陈刚", "M", "service", "dept_manager", manager_id="E002"),
    Member("E201", "刘洋", "M", "service", "staff", manager_id="E200",
           monthly_wage_yuan=6000),
    Member("E202", "黄静", "F", "service", "staff", manager_id="E200",
           monthly_wage_yuan=5500),
    Member("E203", "马超", "M", "service", "attendance_clerk", manager_id="E200"),
    Member("E301", "郑涛", "M", "security", "inspector", manager_id="E002"),
    Member("E302", "冯娟", "F", "hr", "dorm_admin", manager_id="E004"),
)
BY_ID = {m.employee_id: m for m in CAST}


def suite_config(base: dict) -> dict:
    """The console's settings on top of a test's config."""
    return {**base, "ZHIDU_CONSOLE_BOARD_REFRESH_SECONDS": "5",
            "ZHIDU_CONSOLE_RPC_TIMEOUT": "20"}


class _Process(ServiceProcess):
    """A service process started now and awaited later, so several start side by side."""

    def spawn(self) -> _Process:
        self.proc = subprocess.Popen([sys.executable, "-m", "zhidu.serve", self.service],
                                     env=self.env)
        return self

    def wait_healthy(self, timeout: float = 90.0) -> _Process:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.service} exited with {self.proc.returncode}")
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/health",
                                timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.service} not healthy after {timeout}s")


class Suite:
    """Every service and the console, each in its own process."""

    def __init__(self, config: dict, services=SERVICES):
        self.config = suite_config(config)
        self.names = tuple(services)
        self.procs: dict[str, _Process] = {}

    def start(self) -> Suite:
        # Spawned together and awaited together: each process spends most of
        # its start-up importing, which two cores do side by side.
        try:
            for name in self.names:
                proc = _Process(name, self.config)
                proc.env["ZHIDU_LOG_LEVEL"] = os.environ.get("ZHIDU_TEST_LOG_LEVEL", "WARNING")
                self.procs[name] = proc.spawn()
            for proc in self.procs.values():
                proc.wait_healthy()
        except BaseException:
            # One that does not come up takes the others down with it: nothing is
            # left running against a vhost that is about to be deleted.
            self.kill()
            raise
        return self

    def kill(self) -> None:
        for proc in self.procs.values():
            proc.kill()

    def restart(self, name: str) -> None:
        self.procs[name].stop()
        self.procs[name].spawn().wait_healthy()

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.procs['console'].port}"

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.proc is not None and proc.proc.poll() is None:
                proc.proc.terminate()
        for proc in self.procs.values():
            proc.stop()


def acting(config: dict) -> ActingRpc:
    return ActingRpc(config, Tokens(config), People(config))


def seed_people(config: dict, cast=CAST, password: str = PASSWORD) -> None:
    """Each member through the directory (with a password), and in every service's copy."""
    rpc = acting(config)
    people = People(config)
    try:
        for member in cast:
            record = {k: v for k, v in member.__dict__.items() if v is not None}
            rpc.directory.upsert_employee({**record, "unit": "airport_services"})
            rpc.directory.set_password({"employee_id": member.employee_id,
                                        "password": password})
            people.add(member.employee_id, member.role, name=member.name,
                       gender=member.gender, department=member.department,
                       unit="airport_services", manager_id=member.manager_id,
                       team_leader_id=member.team_leader_id,
                       monthly_wage_yuan=member.monthly_wage_yuan)
    finally:
        rpc.close()
