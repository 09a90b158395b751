"""Who may do what to the ledger, over real tokens (rules §8)."""
import pytest
import requests
from nameko.exceptions import RemoteError

pytestmark = pytest.mark.integration

HR = {"id": "HR", "role": "hr"}
GM = {"id": "GM", "role": "gm"}


def denied(call, payload) -> str:
    with pytest.raises(RemoteError) as err:
        call(payload)
    assert err.value.exc_type == "PermissionDenied", err.value
    return err.value.value


def dormitory_penalty(rpc, who="W1", incident="x1"):
    [entry] = rpc.penalties.record_penalty({
        "employee_id": who, "domain": "dormitory", "code": "D16", "incident_id": incident,
        "at": "2026-11-03T21:00", "actor": HR})["entries"]
    return entry


def test_a_gm_claimed_in_the_payload_decides_no_appeal_002_s4_5_1_2(penalties, people):
    rpc = penalties
    entry = dormitory_penalty(rpc)
    rpc.penalties.appeal({"entry_id": entry["entry_id"], "reason": "I was on leave",
                          "actor": {"id": "W1", "role": "staff"}})
    people.add("E5", "staff")
    claimer = rpc.as_person("E5")  # E5's own token; the payload says gm
    message = denied(claimer.penalties.decide_appeal, {
        "entry_id": entry["entry_id"], "upheld": True, "actor": {"id": "E5", "role": "gm"}})
    assert "E5 holds staff" in message and "002 §4 5.1.2" in message
    # Naming a real GM in the payload proves nothing either.
    assert "caller is 'E5'" in denied(claimer.penalties.decide_appeal, {
        "entry_id": entry["entry_id"], "upheld": True, "actor": GM})
    assert rpc.penalties.get_account({"employee_id": "W1", "year": 2026})[
        "penalty_count"] == 1
    decided = rpc.as_person("GM", role="gm").penalties.decide_appeal({
        "entry_id": entry["entry_id"], "upheld": True})
    assert decided["entry"]["appeal"]["status"] == "upheld"
    assert decided["entry"]["appeal"]["decided_by"] == GM


def test_the_appellant_who_is_gm_cannot_decide_their_own_appeal_002_s4_5_1_2(penalties):
    rpc = penalties
    entry = dormitory_penalty(rpc, who="G9")
    appellant = rpc.as_person("G9", role="gm")
    appellant.penalties.appeal({"entry_id": entry["entry_id"], "reason": "not me"})
    message = denied(appellant.penalties.decide_appeal,
                     {"entry_id": entry["entry_id"], "upheld": True})
    assert "separation of duties" in message and "appellant is G9" in message
    decided = rpc.as_person("GM", role="gm").penalties.decide_appeal(
        {"entry_id": entry["entry_id"], "upheld": False})
    assert decided["entry"]["appeal"]["status"] == "rejected"


def test_hr_books_within_its_limit_and_the_gm_above_it_002_s4_4_1_2_b(penalties):
    rpc = penalties

    def leak(i, amount, actor, codes=("P01",)):
        return {"employee_id": "W1", "domain": "confidentiality", "codes": list(codes),
                "incident_id": f"leak-{i}", "at": "2026-11-20T10:00",
                "amount_yuan": amount, "actor": actor}

    [within] = rpc.penalties.record_penalty(leak(1, 1000, HR))["entries"]
    assert within["amount_yuan"] == 1000 and within["actor"] == HR
    message = denied(rpc.penalties.record_penalty, leak(2, 1500, HR))
    assert "limit of 1000" in message and "needs gm" in message and "4.1.2 b" in message
    # Two rules at 800 each book 1,600: the booking, not the field, is held to the limit.
    assert "1600 is above" in denied(rpc.penalties.record_penalty,
                                     leak(3, 800, HR, codes=("P01", "P02")))
    [above] = rpc.penalties.record_penalty(leak(2, 1500, GM))["entries"]
    assert above["amount_yuan"] == 1500 and above["actor"] == GM
    entries = rpc.penalties.get_account({"employee_id": "W1", "year": 2026})["entries"]
    assert sorted(e["incident_id"] for e in entries) == ["leak-1", "leak-2"]


def test_nobody_rewards_or_penalises_themself_rules_s8(penalties, people):
    rpc = penalties
    for actor in (HR, GM):
        message = denied(rpc.penalties.record_penalty, {
            "employee_id": actor["id"], "domain": "confidentiality", "code": "P11",
            "incident_id": f"tip-{actor['id']}", "at": "2026-11-20T10:00",
            "amount_yuan": 300, "actor": actor})
        assert "separation of duties" in message
    # W1's team leader works in HR: a conduct penalty on W1 would put the
    # team leader's 20 % on TL's own account.
    people.add("TL", "hr")
    conduct = {"employee_id": "W1", "domain": "conduct", "code": "B05",
               "incident_id": "work-1", "at": "2026-11-10T10:00"}
    message = denied(rpc.penalties.record_penalty,
                     {**conduct, "actor": {"id": "TL", "role": "hr"}})
    assert "team_leader share on TL's own account" in message
    assert rpc.penalties.get_account({"employee_id": "W1", "year": 2026})["entries"] == []
    shares = {e["share"]: e["employee_id"] for e in rpc.penalties.record_penalty(
        {**conduct, "actor": HR})["entries"]}
    assert shares["team_leader"] == "TL"
    star = denied(rpc.as_person("GO", role="gm_office").penalties.award_service_star,
                  {"employee_id": "GO", "year": 2026, "month": 10, "at": "2026-11-02T09:00"})
    assert "004 二.3" in star


def test_an_account_is_read_by_the_person_and_their_managers_only_rules_s8(
        penalties, penalties_service, auth_headers):
    rpc = penalties
    dormitory_penalty(rpc)
    query = {"employee_id": "W1", "year": 2026}
    for reader in ("W1", "DM", "TL"):  # the person, their manager, their team leader
        assert rpc.as_person(reader).penalties.get_account(query)["penalty_count"] == 1
    message = denied(rpc.as_person("W2", role="staff").penalties.get_account, query)
    assert "self / line_manager of employee_id" in message
    url = f"{penalties_service.web_url}/api/v1/penalties/accounts/W1/2026"
    anonymous = requests.get(url, timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    assert requests.get(url, headers=auth_headers("W1"), timeout=10).json()[
        "penalty_count"] == 1
    assert requests.get(url, headers=auth_headers("W2"), timeout=10).status_code == 403
    assert requests.get(url, headers=auth_headers("DM"), timeout=10).status_code == 200
