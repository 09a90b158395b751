"""The first chain, for real: a resident smokes; the ledger and the inbox know.

Directory, dormitory, penalties and notifications each run as their own nameko
service with their own database, on a real RabbitMQ and MongoDB-wire server.
"""
import pytest
from directory.service import DirectoryService
from dormitory.service import DormitoryService
from nameko.exceptions import RemoteError
from notifications.service import NotificationsService
from penalties.service import PenaltiesService
from zhidu.testing import wait_for

from .smtp import SmtpServer

pytestmark = pytest.mark.integration

ACTOR = {"id": "ADM", "role": "dorm_admin"}


@pytest.fixture
def suite(start_service, rpc):
    with SmtpServer() as smtp:
        start_service(DirectoryService)
        start_service(DormitoryService)
        start_service(PenaltiesService)
        start_service(NotificationsService, ZHIDU_SMTP_HOST="127.0.0.1",
                      ZHIDU_SMTP_PORT=str(smtp.port), ZHIDU_SMTP_FROM="zhidu@example.com")
        for employee_id, name, email, manager in [
                ("R1", "陈明", "chen@example.com", "M1"),
                ("R2", "赵强", "zhao@example.com", "M1"),
                ("M1", "刘经理", "liu@example.com", None)]:
            rpc.directory.upsert_employee({
                "employee_id": employee_id, "name": name, "gender": "M",
                "department": "property", "unit": "north", "email": email,
                "manager_id": manager})
        rpc.dormitory.add_room({"building": "A", "room_no": "101", "capacity": 4,
                                "gender": "M", "actor": ACTOR})
        for resident in ("R1", "R2"):
            wait_for(lambda r=resident: _assigned(rpc, r), timeout=15,
                     message=f"{resident} in a bed")
        yield rpc, smtp


def _assigned(rpc, resident):
    try:
        rpc.dormitory.assign_bed({"employee_id": resident, "building": "A",
                                  "room_no": "101", "at": "2026-11-01T09:00",
                                  "actor": ACTOR})
        return True
    except RemoteError as exc:
        if exc.exc_type == "NotFound":  # the directory's event has not arrived yet
            return False
        raise


def inspect(rpc, at, findings):
    return rpc.dormitory.record_inspection({
        "building": "A", "room_no": "101", "inspector_id": "INS", "at": at,
        "findings": findings, "actor": {"id": "INS", "role": "inspector"}})


def test_smoking_books_three_points_and_notifies_the_resident(suite, event_tap):
    rpc, smtp = suite
    with event_tap("dormitory", "penalties") as tap:
        reply = inspect(rpc, "2026-11-12T21:00", [{"code": "D16", "employee_ids": ["R1"]}])
        [violation] = reply["violations"]
        assert (violation["employee_id"], violation["code"], violation["points"]) == \
            ("R1", "D16", 3)

        [recorded] = tap.wait("dormitory.violation_recorded")
        [issued] = tap.wait("penalties.penalty_issued")
    assert issued["data"]["points"] == 3 and issued["data"]["amount_yuan"] == 30
    # The penalty names the violation as its cause and keeps the chain's id.
    assert issued["causation_id"] == recorded["id"]
    assert issued["correlation_id"] == recorded["correlation_id"]
    # Both carry the inspector who caused them: the proven caller, not a claim.
    assert recorded["actor"] == issued["actor"] == {"id": "INS", "role": "inspector"}

    account = rpc.penalties.get_account({"employee_id": "R1", "year": 2026, "month": 11})
    assert (account["points_total"], account["amount_yuan_total"]) == (3, 30)

    notices = wait_for(lambda: rpc.notifications.inbox({"recipient_id": "R1"}),
                        message="penalty notice in R1's inbox")
    [notice] = notices  # the penalty notice; the violation sends none of its own
    assert notice["event_id"] == issued["id"]
    assert notice["event_type"] == "penalties.penalty_issued"
    assert "D16" in notice["body"] or "吸烟" in notice["body"]

    [mail] = wait_for(lambda: [m for m in smtp.messages() if "chen@example.com" in m["To"]],
                      message="penalty notice e-mailed to R1")
    assert "30" in mail.get_body(preferencelist=("plain", "html")).get_content()
    assert rpc.notifications.inbox({"recipient_id": "R2"}) == []


def test_two_violations_in_one_inspection_are_both_booked(suite):
    rpc, _ = suite
    inspect(rpc, "2026-11-13T21:00", [{"code": "D16", "employee_ids": ["R1"]},
                                      {"code": "D14", "employee_ids": ["R1"]}])
    account = wait_for(
        lambda: (a := rpc.penalties.get_account(
            {"employee_id": "R1", "year": 2026, "month": 11}))["penalty_count"] == 2 and a,
        message="both violations booked")
    assert sorted(e["code"] for e in account["entries"]) == ["D14", "D16"]
    assert account["points_total"] == 6 and account["amount_yuan_total"] == 60
    notices = wait_for(lambda: len(n := rpc.notifications.inbox({"recipient_id": "R1"})) == 2
                       and n, message="two penalty notices")
    assert {n["event_type"] for n in notices} == {"penalties.penalty_issued"}


def test_an_unnamed_finding_books_every_occupant(suite):
    rpc, _ = suite
    inspect(rpc, "2026-11-14T21:00", [{"code": "D09"}])
    for resident in ("R1", "R2"):
        account = wait_for(
            lambda r=resident: (a := rpc.penalties.get_account(
                {"employee_id": r, "year": 2026, "month": 11}))["penalty_count"] == 1 and a,
            message=f"{resident} booked")
        assert account["entries"][0]["code"] == "D09"
