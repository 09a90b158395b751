"""The permissions file (rules/permissions.yaml) against proven callers, no broker.

The service tests prove the same rules over real tokens; these show each
rule's reasoning quickly and name what a refusal quotes.
"""
from types import SimpleNamespace

import pytest
from penalties.service import PenaltiesService
from zhidu.errors import PermissionDenied
from zhidu.guard import load_permissions, operations_of
from zhidu.identity import Principal

PERMISSIONS = load_permissions(PenaltiesService, "penalties")
W1 = {"employee_id": "W1", "team_leader_id": "TL", "manager_id": "DM", "unit_head_id": "UH"}


def person(pid, *roles):
    return Principal(pid, tuple(roles) or ("staff",))


class Service:
    """What the rules ask of the service: the directory copy and the subjects."""

    def __init__(self, people=None, entry=None, notice=None, caller=None):
        people = people or {"W1": W1}
        self.identity = SimpleNamespace(person=people.get, principal=caller)
        self.store = SimpleNamespace(entry=lambda _id: entry, notice=lambda _id: notice)

    subject_entry_holder = PenaltiesService.subject_entry_holder
    subject_appellant = PenaltiesService.subject_appellant
    subject_notice_party = PenaltiesService.subject_notice_party
    relation_notice_approver = PenaltiesService.relation_notice_approver


def check(operation, caller, payload, service=None):
    service = service or Service(caller=caller)
    service.identity.principal = caller
    PERMISSIONS.check(operation, caller, payload, service=service)


def refused(operation, caller, payload, service=None) -> str:
    with pytest.raises(PermissionDenied) as err:
        check(operation, caller, payload, service)
    return str(err.value)


def test_every_operation_has_an_entry():
    assert operations_of(PenaltiesService) <= set(PERMISSIONS.rules)


def test_only_the_gm_decides_an_appeal_never_the_appellant_002_s4_5_1_2():
    entry = {"entry_id": "e", "employee_id": "W1",
             "appeal": {"status": "pending", "filed_by": {"id": "W1", "role": "gm"}}}
    service = Service(entry=entry)
    payload = {"entry_id": "e", "upheld": True}
    assert "002 §4 5.1.2" in refused("decide_appeal", person("D", "deputy_gm"), payload,
                                     service)
    check("decide_appeal", person("GM", "gm"), payload, service)
    message = refused("decide_appeal", person("W1", "gm"), payload, service)
    assert "separation of duties" in message and "appellant is W1" in message


def test_hr_books_up_to_its_limit_the_gm_above_002_s4_4_1_2_b():
    hr, gm = person("HR", "hr"), person("GM", "gm")
    check("record_penalty", hr, {"employee_id": "W1", "amount_yuan": 1000})
    message = refused("record_penalty", hr, {"employee_id": "W1", "amount_yuan": 1001})
    assert "limit of 1000" in message and "gm" in message and "4.1.2 b" in message
    check("record_penalty", gm, {"employee_id": "W1", "amount_yuan": 2000})
    assert "holds staff" in refused("record_penalty", person("S"), {"employee_id": "W1"})


def test_nobody_books_an_entry_for_themself_rules_s8():
    for operation, caller in (("record_penalty", person("HR", "hr")),
                              ("record_penalty", person("GM", "gm")),
                              ("award_service_star", person("GO", "gm_office"))):
        message = refused(operation, caller, {"employee_id": caller.id})
        assert "separation of duties" in message, operation


def test_a_ledger_is_read_by_the_person_their_managers_and_hr_rules_s8():
    payload = {"employee_id": "W1", "year": 2026}
    for reader in (person("W1"), person("TL"), person("DM"), person("UH"),
                   person("HR", "hr"), person("GM", "gm"), person("DG", "deputy_gm")):
        check("get_account", reader, payload)
    assert "self / line_manager" in refused("get_account", person("W2"), payload)
    # A service account is nobody's self or manager: it needs a role and a scope.
    robot = Principal("svc:payroll", ("staff",), frozenset({"penalties:get_account"}),
                      service_account=True)
    refused("get_account", robot, payload)
    # Payroll is given the read scope the rule lists (README: service accounts).
    payroll = Principal("svc:payroll", (), frozenset({"penalties:read"}),
                        service_account=True)
    check("get_account", payroll, payload)
    check("get_unit_account", payroll, {"unit": "north", "year": 2026})
    refused("record_penalty", payroll, {"employee_id": "W1"})


def test_only_the_penalised_person_appeals_002_s4_5_1_2():
    entry = {"entry_id": "e", "employee_id": "W1", "appeal": {"status": "none"}}
    check("appeal", person("W1"), {"entry_id": "e"}, Service(entry=entry))
    refused("appeal", person("TL", "gm"), {"entry_id": "e"}, Service(entry=entry))
    # An unknown entry is the caller's own business: they hear NotFound, not a refusal.
    check("appeal", person("W2"), {"entry_id": "nope"}, Service(entry=None))


def test_nobody_signs_a_notice_that_charges_them_001_s1_12_2():
    notice = {"notice_id": "n", "employee_ids": ["W1"],
              "entries": [{"employee_id": "W1"}, {"employee_id": "TL"}]}
    service = Service(notice=notice)
    payload = {"notice_id": "n", "approve": True}
    check("decide_notice", person("GM", "gm"), payload, service)
    for named in ("W1", "TL"):  # the person complained about, the supervisor charged
        message = refused("decide_notice", person(named, "gm"), payload, service)
        assert "separation of duties" in message and "第十二条(二)" in message
    assert "roles gm" in refused("decide_notice", person("HR", "hr"), payload, service)


def test_the_supervisor_the_notice_asks_may_decide_it_nobody_else_001_s1_9_6():
    notice = {"notice_id": "n", "employee_ids": ["W1"], "entries": [{"employee_id": "W1"}],
              "steps": [{"step": "supervisor", "approver_id": "TL", "employee_ids": ["W1"],
                         "status": "pending"},
                        {"step": "gm", "approver_role": "gm", "status": "pending"}]}
    service = Service(notice=notice)
    payload = {"notice_id": "n", "approve": True}
    check("decide_notice", person("TL"), payload, service)
    check("decide_notice", person("GM", "gm"), payload, service)
    # Another line manager of W1, whom the notice does not ask, is refused; the
    # refusal names both rules.
    message = refused("decide_notice", person("DM", "dept_manager"), payload, service)
    assert "notice_approver" in message and "第九条(六)" in message and "第十二条(二)" in message
    # A notice that asks no supervisor (drafted before the steps) is the GM's.
    refused("decide_notice", person("TL"), payload, Service(notice={
        "notice_id": "n", "employee_ids": ["W1"], "entries": [{"employee_id": "W1"}],
        "approver_role": "gm"}))


def test_notices_are_listed_for_the_management_not_for_staff_001_s1_12_2():
    for role in ("gm", "deputy_gm", "hr", "gm_office"):
        check("list_notices", person("X", role), {})
    refused("list_notices", person("W1"), {})
    # A supervisor lists the notices awaiting their own approval, nobody else's.
    check("list_notices", person("TL"), {"approver_id": "TL"})
    refused("list_notices", person("TL"), {"approver_id": "DM"})


def test_publication_and_catalogues_are_open_to_every_employee_000_s4_note_1():
    check("publication", person("W1"), {"year": 2026, "month": 11})
    check("catalogs", person("W1"), {})


def test_sweep_is_for_it_admin_or_an_operations_account_rules_s8():
    check("sweep", person("IT", "it_admin"), {})
    check("sweep", Principal("svc:cron", (), frozenset({"ops"}), service_account=True), {})
    refused("sweep", person("HR", "hr"), {})


def test_a_units_account_is_read_by_hr_the_gms_and_the_gm_office_000_s4_note_3():
    payload = {"unit": "north", "year": 2026}
    for role in ("hr", "gm", "deputy_gm", "gm_office"):
        check("get_unit_account", person("X", role), payload)
    message = refused("get_unit_account", person("UH", "dept_manager"), payload)
    assert "附加说明.3" in message
