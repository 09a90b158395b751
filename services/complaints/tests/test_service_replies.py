"""Replies, the agreed next reply and the department's feedback over RPC and REST:
002 §2 四.4-5, 000 §1 三.三.3, 003 §4 3.4.2.2."""
import pytest
import requests
from nameko.exceptions import RemoteError

pytestmark = pytest.mark.integration

OWNER = {"id": "emp-7", "role": "staff"}


def clock(case, name):
    return [c for c in case["clocks"] if c["name"] == name][-1]


def test_a_rejection_is_explained_later_and_its_lateness_investigated(desk, event_tap):
    number = desk.file("2026-11-13T10:00")["number"]
    rejected = desk.walk(number, ("decide_validity", "2026-11-13T10:30",
                                  {"valid": False, "reason": "不属于本公司责任"}),
                         actor=desk.MANAGER)
    assert rejected["status"] == "rejected"
    assert rejected["deadlines"] == {"acknowledge": "2026-11-13T04:00:00+00:00"}
    with event_tap("complaints") as tap:
        desk.sweep("2026-11-13T12:00")
        [breach] = tap.wait("complaints.sla_breached")
        assert breach["data"]["clock"] == "acknowledge"
        told = desk.walk(number, ("acknowledge", "2026-11-13T13:00",
                                  {"reply": "已婉转说明：属业委会负责"}))
        [opened] = tap.wait("complaints.delay_investigation_opened")
    assert told["status"] == "rejected" and told["deadlines"] == {}
    assert opened["data"]["clocks"] == ["acknowledge"]
    case = desk.get(number)
    assert [r["reply"] for r in case["replies"]] == ["已婉转说明：属业委会负责"]
    with pytest.raises(RemoteError) as refused:
        desk.api.acknowledge({"number": number, "at": "2026-11-13T14:00", "actor": desk.STAFF,
                              "next_reply_at": "2026-11-14T10:00"})
    assert refused.value.exc_type == "ValidationError"


def test_the_agreed_next_reply_and_the_feedback_are_clocks_of_their_own(
        desk, event_tap, complaints_service, auth_headers):
    number = desk.file("2026-11-13T10:00")["number"]
    reply = desk.walk(number,
                      ("decide_validity", "2026-11-13T10:10", {"valid": True, "reason": "成立"}),
                      ("acknowledge", "2026-11-13T10:20",
                       {"next_reply_at": "2026-11-13T15:00", "reply": "下午三点前回复"}),
                      desk.TO_RESOLVED[1])
    assert reply["deadlines"]["next_reply"] == "2026-11-13T07:00:00+00:00"
    with event_tap("complaints") as tap:
        desk.sweep("2026-11-13T15:00")
        breached = {e["data"]["clock"] for e in tap.wait("complaints.sla_breached")}
    assert breached == {"next_reply"}
    # The plan is not the department's feedback to customer service.
    desk.walk(number, desk.TO_RESOLVED[2])
    assert clock(desk.get(number), "feedback")["state"] == "running"
    base = f"{complaints_service.web_url}/api/v1/complaints/complaints/{number}"
    given = requests.post(f"{base}/feedback", headers=auth_headers(OWNER["id"]), timeout=10,
                          json={"feedback": "已上门道歉", "at": "2026-11-13T11:30"})
    assert given.status_code == 200, given.text
    assert "feedback" not in given.json()["deadlines"]
    case = desk.get(number)
    assert clock(case, "feedback")["on_time"] is True
    assert case["department_feedback"][0]["by"] == OWNER["id"]
    # Someone neither at the desk nor owning the case has no feedback to give.
    stranger = requests.post(f"{base}/feedback", headers=auth_headers("qa-3", "staff"),
                             timeout=10, json={"feedback": "x", "at": "2026-11-13T11:40"})
    assert stranger.status_code == 403
