"""Meeting notices and roster alerts reach people's inboxes, for real.

Directory, attendance and notifications run as their own nameko services with
their own databases, on a real RabbitMQ and MongoDB-wire server; people come
from the directory's events, as in production.
"""
import pytest
import requests
from attendance.service import AttendanceService
from attendance.testing import local, store_of
from directory.service import DirectoryService
from notifications.service import NotificationsService
from zhidu.testing import wait_for

pytestmark = pytest.mark.integration

STAFF = [  # id, name, department, role, manager
    ("A1", "王一", "cs", "staff", "M1"),
    ("A2", "李二", "cs", "staff", "M1"),
    ("A3", "张三", "cs", "staff", "M1"),
    ("C1", "赵主持", "management", "deputy_gm", None),
    ("M1", "周经理", "cs", "dept_manager", None),
    ("H1", "吴人事", "hr", "hr", None),
    ("O1", "孙办公", "office", "gm_office", None),
]


@pytest.fixture
def suite(start_service, rpc):
    start_service(DirectoryService)
    attendance = start_service(AttendanceService)
    notifications = start_service(NotificationsService)
    for container in (attendance, notifications):
        # Events published before the queues are bound would reach nobody.
        wait_for(lambda c=container: requests.get(f"{c.web_url}/health", timeout=5)
                 .json()["status"] == "ok", timeout=30, message=f"{container} consuming")
    for employee_id, name, department, role, manager in STAFF:
        rpc.directory.upsert_employee({
            "employee_id": employee_id, "name": name, "gender": "F", "department": department,
            "unit": "centre", "role": role, "manager_id": manager})
    ids = [s[0] for s in STAFF]
    wait_for(lambda: all(store_of(attendance).employee(i) for i in ids), timeout=15,
             message="attendance holds the directory")
    wait_for(lambda: len(store_of(notifications).people(ids)) == len(ids), timeout=15,
             message="notifications holds the directory")
    return rpc


def items(rpc, recipient, event_type, count=1):
    return wait_for(lambda: len(found := [
        i for i in rpc.notifications.inbox({"recipient_id": recipient})
        if i["event_type"] == event_type]) >= count and found, timeout=15,
        message=f"{count} {event_type} item(s) for {recipient}")


def test_a_scheduled_meeting_reaches_everyone_invited_and_a_change_those_concerned(suite):
    rpc = suite
    rpc.attendance.schedule_meeting({
        "meeting_id": "MT-9", "kind": "regular", "start": local(2026, 9, 29, 9),
        "planned_minutes": 60, "attendees": ["A1", "A2", "C1"], "chair_id": "C1",
        "title": "经营分析会", "location": "三楼会议室"})
    for person in ("A1", "A2", "C1"):
        [notice] = items(rpc, person, "attendance.meeting_scheduled")
        assert notice["title"] == "会议通知：经营分析会（2026-09-29 09:00）"
        assert "主持人 赵主持" in notice["body"]
        assert "请于 2026-09-29 08:50 前到场" in notice["body"]
    # The event's items are written in one unit: who was not invited has none.
    assert [i for i in rpc.notifications.inbox({"recipient_id": "M1"})
            if i["event_type"] == "attendance.meeting_scheduled"] == []

    rpc.attendance.change_meeting({"meeting_id": "MT-9", "at": local(2026, 9, 28, 9),
                                   "start": local(2026, 9, 29, 10),
                                   "attendees": ["A1", "A3", "C1"]})
    for person in ("A1", "A2", "A3", "C1"):       # A2 learns they are no longer invited
        [changed] = items(rpc, person, "attendance.meeting_changed")
        assert "时间 2026-09-29 10:00（原定 2026-09-29 09:00）" in changed["body"]
        assert "新增参会人员：张三；不再参会人员：李二" in changed["body"]

    # Leave is asked of the general office, naming who attends instead (000 §3 三.4).
    rpc.as_person("A1").attendance.request_meeting_leave({
        "meeting_id": "MT-9", "employee_id": "A1", "substitute_id": "A2",
        "reason": "家中急事", "at": local(2026, 9, 28, 10)})
    [asked] = items(rpc, "O1", "attendance.meeting_leave_requested")
    assert "王一（A1）申请不参加会议“经营分析会”" in asked["body"]
    assert "指定 李二（A2）代为参会" in asked["body"]


def test_an_overdue_holiday_roster_reaches_hr_and_the_department_002_s1_1_1_6(suite):
    rpc = suite
    rpc.attendance.define_shift({"code": "A", "start": "08:00", "end": "16:00"})
    # cs works the weekend before the holidays: it runs shift duty, so its
    # holiday roster is due a week ahead.
    rpc.attendance.set_roster({"entries": [
        {"employee_id": "A1", "date": "2026-09-13", "shift_code": "A"}],
        "published": True, "at": local(2026, 9, 1, 9)})
    swept = rpc.attendance.sweep({"now": local(2026, 9, 25, 9)})
    assert "National Day" in {g["holiday"] for g in swept["holiday_rosters_overdue"]}
    for person in ("H1", "M1"):
        found = items(rpc, person, "attendance.holiday_roster_overdue", 2)
        national = [i for i in found if i["title"] == "节假日排班表逾期：国庆节（cs）"]
        assert len(national) == 1, [i["title"] for i in found]
        assert "应于 2026-09-24 00:00 前排定并交行政人事部" in national[0]["body"]
    # A second sweep announces nothing twice.
    assert rpc.attendance.sweep({"now": local(2026, 9, 25, 10)})["holiday_rosters_overdue"] == []
