"""The permissions file: validated at start-up, one place that says who may call what."""
from __future__ import annotations

import pytest
from zhidu.errors import PermissionDenied
from zhidu.guard import load_permissions, operations_of
from zhidu.identity import Principal
from zhidu.permissions import Permissions, PermissionsError
from zhidu.plugins import discover

OPS = {"file", "decide", "read", "record", "sweep"}
RULES = {"operations": {
    "file": {"anyone": True},
    "decide": {"roles": ["gm"], "subject": "requester", "not_self": True,
               "source": "002 §4 5.1.2"},
    "read": {"relations": ["self", "line_manager"], "roles": ["hr"], "subject": "employee_id"},
    "record": {"roles": ["hr", "gm"], "limits": {"field": "amount_yuan", "roles": {"hr": 1000}},
               "relations": ["self"], "subject": "employee_id", "scopes": ["payroll"]},
    "sweep": {"roles": ["it_admin"], "scopes": ["ops"]},
}}
PEOPLE = {"E1": {"manager_id": "M1"}, "M1": {}}


class Service:
    class identity:  # noqa: N801 (stands in for the guard a worker gets)
        person = staticmethod(PEOPLE.get)


def person(pid, *roles):
    return Principal(pid, tuple(roles) or ("staff",))


def service_account(*scopes, roles=()):
    return Principal("svc:x", tuple(roles), frozenset(scopes), service_account=True)


@pytest.fixture
def perms():
    return Permissions.from_dict(RULES, "demo", OPS)


def denied(perms, op, who, payload=None) -> str:
    with pytest.raises(PermissionDenied) as err:
        perms.check(op, who, payload or {}, service=Service)
    return str(err.value)


def test_every_operation_needs_an_entry_and_unknown_keys_are_refused():
    with pytest.raises(PermissionsError, match="no entry for sweep"):
        Permissions.from_dict({"operations": {k: v for k, v in RULES["operations"].items()
                                              if k != "sweep"}}, "demo", OPS)
    with pytest.raises(PermissionsError, match="unknown keys"):
        Permissions.from_dict({"operations": {**RULES["operations"],
                                              "file": {"anyone": True, "rols": ["x"]}}},
                              "demo", OPS)
    with pytest.raises(PermissionsError, match="allows nobody"):
        Permissions.from_dict({"operations": {**RULES["operations"], "file": {}}},
                              "demo", OPS)
    with pytest.raises(PermissionsError, match="need a 'subject'"):
        Permissions.from_dict({"operations": {**RULES["operations"],
                                              "read": {"relations": ["self"]}}}, "demo", OPS)


def test_roles_relations_and_separation_of_duties(perms):
    perms.check("file", person("E9"), {})
    assert "roles gm" in denied(perms, "decide", person("E9"), {"requester": "E1"})
    perms.check("decide", person("G1", "gm"), {"requester": "E1"})
    refusal = denied(perms, "decide", person("G1", "gm"), {"requester": "G1"})
    assert "separation of duties" in refusal and "002 §4 5.1.2" in refusal
    perms.check("read", person("E1"), {"employee_id": "E1"})          # self
    perms.check("read", person("M1"), {"employee_id": "E1"}, service=Service)  # line manager
    perms.check("read", person("H1", "hr"), {"employee_id": "E1"})
    assert "E7 holds staff" in denied(perms, "read", person("E7"), {"employee_id": "E1"})


def test_amount_limits_send_larger_amounts_up(perms):
    perms.check("record", person("H1", "hr"), {"amount_yuan": 1000})
    refusal = denied(perms, "record", person("H1", "hr"), {"amount_yuan": 1001})
    assert "limit of 1000" in refusal and "needs gm" in refusal
    perms.check("record", person("G1", "gm"), {"amount_yuan": 50_000})


def test_a_caller_let_in_without_one_of_the_rules_roles_has_no_amount_authority(perms):
    # In by a listed scope, with no role at all: refused, naming the rule, not a crash.
    refusal = denied(perms, "record", service_account("payroll"), {"amount_yuan": 10})
    assert "needs the authority of gm or hr" in refusal and "holds no role" in refusal
    perms.check("record", service_account("payroll"), {})          # no amount: no limit
    # In by a relation, holding a role the limits do not name.
    assert "holds staff" in denied(perms, "record", person("E1"),
                                   {"employee_id": "E1", "amount_yuan": 10})
    # A reward is as much money as a fine.
    assert "limit of 1000" in denied(perms, "record", person("H1", "hr"),
                                     {"amount_yuan": -5000})
    with pytest.raises(PermissionsError, match="does not list"):
        Permissions.from_dict({"operations": {**RULES["operations"], "record": {
            "roles": ["gm"], "limits": {"field": "amount_yuan", "roles": {"hr": 1}}}}},
            "demo", OPS)


def test_service_accounts_act_only_within_their_scopes(perms):
    perms.check("sweep", service_account("ops"), {})
    perms.check("sweep", service_account("demo:sweep", roles=["it_admin"]), {})
    assert "scopes none" in denied(perms, "sweep", service_account(roles=["it_admin"]))
    # A service account is nobody's self or manager.
    denied(perms, "read", service_account("demo:read"), {"employee_id": "svc:x"})


def test_precheck_refuses_before_validation_only_where_no_relation_could_allow(perms):
    with pytest.raises(PermissionDenied):
        perms.precheck("decide", person("E9"))
    perms.precheck("read", person("E9"))   # a relation may still grant it


def test_every_installed_service_ships_a_valid_permissions_file():
    """Deny by default: every operation of every service says who may call it."""
    for name, plugin in discover().items():
        cls = plugin.load_class()
        permissions = load_permissions(cls, name)
        assert set(permissions.rules) == operations_of(cls), name
        assert all(rule.describe() for rule in permissions.rules.values())


# -- a real container: the file is checked before anything listens ---------------------
def _service_with(permissions_path):
    from zhidu.operations import operation
    from zhidu.service import ZhiduService

    class Kiosk(ZhiduService):
        name = "kiosk"
        permissions_file = permissions_path

        @operation()
        def ring(self, payload):
            return {"rung": True}

        @operation()
        def silence(self, payload):
            return {"silenced": True}

    return Kiosk


@pytest.mark.integration
def test_a_service_whose_permissions_file_lacks_an_operation_does_not_start(
        tmp_path, container_factory, zhidu_config):
    path = tmp_path / "permissions.yaml"
    path.write_text("operations:\n  ring:\n    anyone: true\n", encoding="utf-8")
    container = container_factory(_service_with(path), dict(zhidu_config))
    with pytest.raises(PermissionsError, match="no entry for silence"):
        container.start()
    # The same service with an entry for every operation starts.
    path.write_text("operations:\n  ring:\n    anyone: true\n"
                    "  silence:\n    roles: [it_admin]\n", encoding="utf-8")
    container_factory(_service_with(path), dict(zhidu_config)).start()


@pytest.mark.integration
def test_a_token_leeway_above_five_minutes_does_not_start(tmp_path, container_factory,
                                                          zhidu_config):
    path = tmp_path / "permissions.yaml"
    path.write_text("operations:\n  ring:\n    anyone: true\n"
                    "  silence:\n    anyone: true\n", encoding="utf-8")
    container = container_factory(_service_with(path),
                                  dict(zhidu_config, ZHIDU_TOKEN_LEEWAY="600"))
    with pytest.raises(ValueError, match="ZHIDU_TOKEN_LEEWAY='600'.*0 to 300 seconds"):
        container.start()
