"""The directory's permissions file (rules/permissions.yaml) against proven callers, no broker.

The records hold everyone's role, wage and reporting line: these show that the
people who change records may change anyone's but their own.
"""
import pytest
from directory.service import DirectoryService
from zhidu.errors import PermissionDenied
from zhidu.guard import load_permissions
from zhidu.identity import Principal

PERMISSIONS = load_permissions(DirectoryService, "directory")
PEOPLE = {"E1": {"employee_id": "E1", "role": "staff", "manager_id": "M1"},
          "H1": {"employee_id": "H1", "role": "hr"}}


class Service:
    class identity:  # noqa: N801 (the directory copy a worker's guard reads)
        person = staticmethod(PEOPLE.get)


def person(pid, *roles):
    return Principal(pid, tuple(roles) or ("staff",))


def check(operation, caller, payload):
    PERMISSIONS.check(operation, caller, payload, service=Service)


def refused(operation, caller, payload) -> str:
    with pytest.raises(PermissionDenied) as err:
        check(operation, caller, payload)
    return str(err.value)


@pytest.mark.parametrize("role", ["hr", "it_admin"])
def test_nobody_changes_their_own_role_wage_or_reporting_line_rules_s8(role):
    me = person("H1", role)
    for change in ({"role": "gm"}, {"monthly_wage_yuan": 60_000}, {"manager_id": None}):
        message = refused("upsert_employee", me, {"employee_id": "H1", **change})
        assert "separation of duties" in message and "rules §8" in message
    assert "separation of duties" in refused("employee_departed", me,
                                             {"employee_id": "H1", "at": "2026-11-20"})
    # Another person's record is theirs to change, and a colleague changes theirs.
    check("upsert_employee", me, {"employee_id": "E1", "role": "dept_manager"})
    check("employee_departed", me, {"employee_id": "E1"})
    check("upsert_employee", person("H2", role), {"employee_id": "H1", "role": "gm"})
    # An operator's service account is nobody's record.
    check("upsert_employee", Principal("svc:setup", ("hr",), frozenset({"*"}),
                                       service_account=True), {"employee_id": "H1"})


def test_someone_elses_password_is_set_only_by_hr_or_it_admin_rules_s8():
    payload = {"employee_id": "E1", "password": "a long passphrase"}
    for role in ("hr", "it_admin"):
        check("set_password", person("A1", role), payload)
        # Their own goes through change_password, which asks for the current one.
        assert "separation of duties" in refused(
            "set_password", person("A1", role), {**payload, "employee_id": "A1"})
    # Not the person's manager, not the GM, not the person, not a scoped account
    # without an administrator's role.
    for caller in (person("M1", "dept_manager"), person("G1", "gm"), person("E1"),
                   Principal("svc:sync", (), frozenset({"directory:set_password"}),
                             service_account=True)):
        assert "set_password is for roles hr, it_admin" in refused("set_password", caller,
                                                                   payload)
    check("change_password", person("E1"), {"employee_id": "E1"})
    refused("change_password", person("H1", "hr"), {"employee_id": "E1"})
