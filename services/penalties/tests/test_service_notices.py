"""Penalty notices over the broker: the sanctioned person's supervisor approves first
(001 §1 第九条(六) 个人惩处种类呈主管批示), and no money moves before the GM signs
(第十二条(二))."""
import pytest
import requests
from nameko.exceptions import RemoteError
from penalties import schemas
from zhidu.envelope import make_envelope
from zhidu.schemas import load
from zhidu.testing import publish_event, wait_for

pytestmark = pytest.mark.integration

GM_OFFICE = {"id": "GMO", "role": "gm_office"}


def liability(number, employee_ids, *, fine=500, at="2026-11-13T12:00:00+08:00"):
    # The GM office determined liability and drafts the notice (rules §8).
    return make_envelope("complaints", "liability_determined", {
        "number": number, "party": "employee", "department": "property",
        "employee_ids": employee_ids, "fine_yuan": fine, "attitude": None, "at": at},
        actor=GM_OFFICE)


def refused(call, payload):
    with pytest.raises(RemoteError) as err:
        call(payload)
    return err.value


@pytest.fixture
def gm(penalties):
    return penalties.as_person("GM", role="gm")


@pytest.fixture
def tl(penalties):
    """W1's team leader: the supervisor who approves W1's sanctions first."""
    return penalties.as_person("TL", role="staff")


def drafted(gm, number, revision=1):
    def find():
        found = gm.penalties.list_notices({"number": number})["notices"]
        return found and found[0]["revision"] >= revision and found[0]
    return wait_for(find, timeout=15, message=f"the notice for {number}")


def account(rpc, who, month=11):
    return rpc.penalties.get_account({"employee_id": who, "year": 2026, "month": month})


def test_a_complaint_fine_is_booked_only_after_the_gm_approves_the_notice_001_s1_12_2(
        penalties, gm, tl, zhidu_config, event_tap):
    rpc = penalties
    event = liability("2611-0001", ["W1"])
    with event_tap("penalties") as tap:
        for _ in range(2):  # redelivered: still one notice
            publish_event(zhidu_config["AMQP_URI"], event)
        [announced] = tap.wait("penalties.notice_awaiting_approval")
        notice = drafted(gm, "2611-0001")
        # 001 §1 第九条(六): first to W1's supervisor, the team leader.
        assert announced["data"] == {
            "notice_id": notice["notice_id"], "number": "2611-0001", "domain": "complaint",
            "incident_id": "2611-0001", "employee_ids": ["W1"], "amount_yuan_total": 550,
            "points_total": 5, "approver_role": "supervisor", "revision": 1,
            "at": "2026-11-13T04:00:00+00:00", "step": "supervisor", "approver_ids": ["TL"]}
        assert load(schemas.NoticeAwaitingApproval, announced["data"])
        assert notice["status"] == "awaiting_approval"
        assert notice["drafted_by"] == GM_OFFICE
        assert sorted((e["code"], e["points"], e["amount_yuan"]) for e in notice["entries"]) \
            == [("C01", 0, 500), ("Q01", 5, 50)]
        # Nothing in the ledger, nothing announced to payroll, before the GM signs.
        assert account(rpc, "W1")["entries"] == []
        assert tap.of_type("penalties.penalty_issued") == []
        assert len(gm.penalties.list_notices({"status": "awaiting_approval"})["notices"]) == 1

        # The supervisor approves W1's sanctions; the notice then awaits the GM.
        early = refused(gm.penalties.decide_notice, {"notice_id": notice["notice_id"],
                                                     "approve": True})
        assert early.exc_type == "Conflict" and "第九条(六)" in early.value
        [mine] = tl.penalties.list_notices({"approver_id": "TL"})["notices"]
        assert mine["notice_id"] == notice["notice_id"]
        first = tl.penalties.decide_notice({"notice_id": notice["notice_id"],
                                            "approve": True, "note": "属实"})
        assert first["entries"] == [] and first["notice"]["step"] == "gm"
        assert first["notice"]["steps"][0]["decided_by"] == {"id": "TL", "role": "staff"}
        turn = tap.wait("penalties.notice_awaiting_approval", 2)[-1]["data"]
        assert (turn["step"], turn["approver_role"]) == ("gm", "gm")
        assert load(schemas.NoticeAwaitingApproval, turn)
        assert tl.penalties.list_notices({"approver_id": "TL"})["notices"] == []
        assert account(rpc, "W1")["entries"] == []

        decided = gm.penalties.decide_notice({"notice_id": notice["notice_id"],
                                              "approve": True, "note": "同意"})
        booked = decided["entries"]
        assert [e["entry_id"] for e in booked] == [e["entry_id"] for e in notice["entries"]]
        assert all(e["notice_id"] == notice["notice_id"]
                   and e["approved_by"] == {"id": "GM", "role": "gm"} for e in booked)
        assert decided["notice"]["status"] == "approved"
        assert decided["notice"]["decided_by"] == {"id": "GM", "role": "gm"}
        [signed] = tap.wait("penalties.notice_decided")
        assert {k: signed["data"][k] for k in ("notice_id", "approved", "decided_by")} == {
            "notice_id": notice["notice_id"], "approved": True, "decided_by": "GM"}
        assert load(schemas.NoticeDecided, signed["data"])
        tap.wait("penalties.penalty_issued", 2)

        # The GM's retry after a time-out books nothing twice.
        again = gm.penalties.decide_notice({"notice_id": notice["notice_id"],
                                            "approve": True, "note": "同意"})
        assert [e["entry_id"] for e in again["entries"]] == [e["entry_id"] for e in booked]
        issued = {e["id"] for e in tap.of_type("penalties.penalty_issued")}
        assert len(issued) == 2
        assert len({e["id"] for e in tap.of_type("penalties.notice_decided")}) == 1
    month = account(rpc, "W1")
    assert sorted(e["entry_id"] for e in month["entries"]) == sorted(
        e["entry_id"] for e in notice["entries"])
    assert (month["amount_yuan_total"], month["points_total"]) == (550, 5)
    assert refused(gm.penalties.decide_notice, {"notice_id": notice["notice_id"],
                                                "approve": False}).exc_type == "Conflict"


def test_a_rejected_notice_books_nothing_001_s1_12_2(penalties, gm, tl, zhidu_config,
                                                     event_tap):
    rpc = penalties
    with event_tap("penalties") as tap:
        publish_event(zhidu_config["AMQP_URI"], liability("2612-0001", ["W1"],
                                                          at="2026-12-01T10:00:00+08:00"))
        notice = drafted(gm, "2612-0001")
        tl.penalties.decide_notice({"notice_id": notice["notice_id"], "approve": True})
        decided = gm.penalties.decide_notice({"notice_id": notice["notice_id"],
                                              "approve": False, "note": "证据不足"})
        assert decided["entries"] == [] and decided["notice"]["status"] == "rejected"
        [event] = tap.wait("penalties.notice_decided")
        assert event["data"]["approved"] is False and event["data"]["note"] == "证据不足"
        assert refused(gm.penalties.decide_notice, {
            "notice_id": notice["notice_id"], "approve": True}).exc_type == "Conflict"
        assert tap.of_type("penalties.penalty_issued") == []
    assert account(rpc, "W1", 12)["entries"] == []


def test_nobody_signs_a_notice_that_charges_them_001_s1_12_2(
        penalties, gm, people, zhidu_config, penalties_service, auth_headers):
    rpc = penalties
    people.add("TL", "gm")  # W1's team leader, who is also a general manager
    for number in ("2611-0001", "2611-0002"):
        publish_event(zhidu_config["AMQP_URI"], liability(number, ["W1"]))
        drafted(gm, number)
    first, second = gm.penalties.list_notices({})["notices"]
    # The second complaint in the month charges the supervisor as well (004 二.2).
    assert {e["employee_id"] for e in second["entries"]} == {"W1", "TL"}
    error = refused(rpc.as_person("TL").penalties.decide_notice,
                    {"notice_id": second["notice_id"], "approve": False})
    assert error.exc_type == "PermissionDenied"
    assert "separation of duties" in error.value and "第十二条(二)" in error.value
    # A general manager complained about does not sign his own notice either.
    people.add("G7", "gm")
    publish_event(zhidu_config["AMQP_URI"], liability("2611-0003", ["G7"]))
    own = drafted(gm, "2611-0003")
    error = refused(rpc.as_person("G7").penalties.decide_notice,
                    {"notice_id": own["notice_id"], "approve": False})
    assert error.exc_type == "PermissionDenied" and "notice_party is G7" in error.value
    # HR drafts and files notices, but does not sign them.
    assert refused(rpc.penalties.decide_notice, {"notice_id": first["notice_id"],
                                                 "approve": True}).exc_type \
        == "PermissionDenied"
    assert refused(rpc.as_person("W1").penalties.list_notices, {}).exc_type \
        == "PermissionDenied"

    # The same over REST.
    base = f"{penalties_service.web_url}/api/v1/penalties/notices"
    assert requests.get(base, timeout=10).status_code == 401
    assert requests.get(base, headers=auth_headers("W1"), timeout=10).status_code == 403
    listed = requests.get(base, params={"status": "awaiting_approval"},
                          headers=auth_headers("GM", role="gm"), timeout=10).json()
    assert [n["notice_id"] for n in listed["notices"]] == [
        first["notice_id"], second["notice_id"], own["notice_id"]]
    url = f"{base}/{second['notice_id']}/decision"
    assert requests.post(url, json={"approve": True}, headers=auth_headers("TL"),
                         timeout=10).status_code == 403
    reply = requests.post(url, json={"approve": True, "revision": 1},
                          headers=auth_headers("GM", role="gm"), timeout=10)
    assert reply.status_code == 200 and reply.json()["notice"]["status"] == "approved"
    assert account(rpc, "TL")["points_total"] == 3


def test_the_supervisor_approves_before_the_gm_signs_and_may_refuse_001_s1_9_6(
        penalties, penalties_service, gm, tl, people, zhidu_config, event_tap, auth_headers):
    rpc = penalties
    people.add("W2", "staff", team_leader_id="TL2", manager_id="DM")
    people.add("TL2", "staff", manager_id="DM")
    with event_tap("penalties") as tap:
        publish_event(zhidu_config["AMQP_URI"], liability("2611-0005", ["W1", "W2"]))
        notice = drafted(gm, "2611-0005")
        # One step per supervisor, side by side, then the GM.
        assert [(s["step"], s.get("approver_id"), s.get("employee_ids"))
                for s in notice["steps"]] == [("supervisor", "TL", ["W1"]),
                                              ("supervisor", "TL2", ["W2"]), ("gm", None, None)]
        [asked] = tap.wait("penalties.notice_awaiting_approval")
        assert asked["data"]["approver_ids"] == ["TL", "TL2"]
        # Neither another line manager nor a person charged decides.
        for caller in ("DM", "W1"):
            error = refused(rpc.as_person(caller).penalties.decide_notice,
                            {"notice_id": notice["notice_id"], "approve": True})
            assert error.exc_type == "PermissionDenied" and "第九条(六)" in error.value
        assert refused(rpc.as_person("DM").penalties.list_notices,
                       {"approver_id": "TL"}).exc_type == "PermissionDenied"
        # Over REST, as the console would: TL lists what awaits him and approves.
        base = f"{penalties_service.web_url}/api/v1/penalties/notices"
        listed = requests.get(base, params={"approver_id": "TL"},
                              headers=auth_headers("TL"), timeout=10).json()
        assert [n["notice_id"] for n in listed["notices"]] == [notice["notice_id"]]
        reply = requests.post(f"{base}/{notice['notice_id']}/decision",
                              json={"approve": True, "revision": 1},
                              headers=auth_headers("TL"), timeout=10)
        assert reply.status_code == 200, reply.text
        assert reply.json()["notice"]["awaiting_ids"] == ["TL2"]
        assert refused(gm.penalties.decide_notice, {"notice_id": notice["notice_id"],
                                                    "approve": True}).exc_type == "Conflict"
        # W2's supervisor refuses: final, nothing is booked, the GM is not asked.
        decided = rpc.as_person("TL2").penalties.decide_notice(
            {"notice_id": notice["notice_id"], "approve": False, "note": "非本人责任"})
        assert decided["notice"]["status"] == "rejected" and decided["entries"] == []
        [event] = tap.wait("penalties.notice_decided")
        assert {k: event["data"][k] for k in ("approved", "decided_by", "step", "note")} == {
            "approved": False, "decided_by": "TL2", "step": "supervisor", "note": "非本人责任"}
        assert load(schemas.NoticeDecided, event["data"])
        assert len(tap.of_type("penalties.notice_awaiting_approval")) == 1
        assert refused(gm.penalties.decide_notice, {"notice_id": notice["notice_id"],
                                                    "approve": True}).exc_type == "Conflict"
        assert tap.of_type("penalties.penalty_issued") == []
    assert account(rpc, "W1")["entries"] == [] and account(rpc, "W2")["entries"] == []


def test_the_nth_complaint_counts_notices_awaiting_and_a_rejection_recounts_004_s2_2(
        penalties, gm, tl, zhidu_config, event_tap):
    rpc = penalties
    with event_tap("penalties") as tap:
        for number in ("2611-0001", "2611-0002"):
            publish_event(zhidu_config["AMQP_URI"], liability(number, ["W1"]))
            drafted(gm, number)
        first, second = gm.penalties.list_notices({})["notices"]
        points = {(e["employee_id"], e["code"]): e["points"] for e in second["entries"]}
        assert points == {("W1", "C01"): 0, ("W1", "Q01"): 10, ("TL", "Q02"): 3}
        # The second charges TL too, so TL approves neither W1's part nor his own;
        # nobody above TL is known, and the GM alone signs it.
        assert [s["step"] for s in second["steps"]] == ["gm"]

        tl.penalties.decide_notice({"notice_id": first["notice_id"], "approve": True})
        gm.penalties.decide_notice({"notice_id": first["notice_id"], "approve": False})
        redrafted = drafted(gm, "2611-0002", revision=2)
        points = {(e["employee_id"], e["code"]): e["points"] for e in redrafted["entries"]}
        assert points == {("W1", "C01"): 0, ("W1", "Q01"): 5}
        assert redrafted["named"] == ["W1"] and redrafted["points_total"] == 5
        announced = [e["data"] for e in tap.wait("penalties.notice_awaiting_approval", 3)
                     if e["data"]["notice_id"] == second["notice_id"]]
        assert sorted(d["revision"] for d in announced) == [1, 2]
    # The GM read revision 1: what he would sign has changed since.
    stale = refused(gm.penalties.decide_notice, {"notice_id": second["notice_id"],
                                                 "approve": True, "revision": 1})
    assert stale.exc_type == "Conflict" and "redrafted" in stale.value
    # Redrafted without TL's share, it asks TL first again.
    assert [s.get("approver_id") for s in redrafted["steps"]] == ["TL", None]
    tl.penalties.decide_notice({"notice_id": second["notice_id"], "approve": True,
                                "revision": 2})
    gm.penalties.decide_notice({"notice_id": second["notice_id"], "approve": True,
                                "revision": 2})
    month = account(rpc, "W1")
    assert (month["points_total"], month["amount_yuan_total"]) == (5, 550)
    assert account(rpc, "TL")["entries"] == []


def test_dormitory_violations_are_booked_at_once_without_a_notice(penalties, gm,
                                                                  zhidu_config):
    rpc = penalties
    publish_event(zhidu_config["AMQP_URI"], make_envelope("dormitory", "violation_recorded", {
        "violation_id": "V1", "incident_id": "INSP-1", "employee_id": "W1", "code": "D16",
        "points": 3, "at": "2026-11-12T20:00:00+08:00", "building": "A", "room_no": "101"}))
    wait_for(lambda: account(rpc, "W1")["penalty_count"] == 1, message="booked at once")
    assert gm.penalties.list_notices({})["notices"] == []


def test_a_deployment_may_hold_attendance_violations_for_a_notice_too(
        start_service, rpc, zhidu_config, tmp_path):
    from penalties.service import PenaltiesService

    site = tmp_path / "site.yaml"
    site.write_text("notices: {domains: [complaint, attendance]}\n", encoding="utf-8")
    start_service(PenaltiesService, ZHIDU_PENALTY_POLICY=str(site))
    gm = rpc.as_person("GM", role="gm")

    def absence(violation_id, day):
        return {"violation_id": violation_id, "incident_id": f"W1:2026-11-{day}",
                "employee_id": "W1", "code": "A04", "points": 10, "domain": "attendance",
                "at": f"2026-11-{day}T08:30:00+08:00", "detail": {}}

    for violation_id, day in (("A-1", 16), ("A-2", 17)):
        publish_event(zhidu_config["AMQP_URI"],
                      make_envelope("attendance", "violation_recorded",
                                    absence(violation_id, day)))
    waiting = wait_for(lambda: len(n := gm.penalties.list_notices({})["notices"]) == 2 and n,
                       timeout=15, message="two attendance notices")
    assert sorted((n["domain"], n["incident_id"], n["number"]) for n in waiting) == [
        ("attendance", "A-1", None), ("attendance", "A-2", None)]
    assert account(rpc, "W1")["entries"] == []
    publish_event(zhidu_config["AMQP_URI"], make_envelope(
        "attendance", "violation_withdrawn", dict(absence("A-2", 17), reason="leave approved")))
    [lapsed] = wait_for(lambda: gm.penalties.list_notices({"status": "withdrawn"})["notices"],
                        timeout=15, message="the withdrawn violation's notice lapsed")
    assert lapsed["incident_id"] == "A-2"
    assert refused(gm.penalties.decide_notice, {"notice_id": lapsed["notice_id"],
                                                "approve": True}).exc_type == "Conflict"
    [standing] = gm.penalties.list_notices({"status": "awaiting_approval"})["notices"]
    gm.penalties.decide_notice({"notice_id": standing["notice_id"], "approve": True})
    month = account(rpc, "W1")
    assert [(e["incident_id"], e["points"]) for e in month["entries"]] == [("A-1", 10)]
