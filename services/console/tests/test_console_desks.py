"""The console's desks over HTTP, against the services they act on (in-process containers).

Each test enrols the company of ``console.testing.CAST`` through the directory,
signs people in with their passwords and posts the forms as a browser would;
what the services then hold is read back over RPC.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
import requests
from attendance.service import AttendanceService
from complaints.service import ComplaintsService
from console.service import ConsoleService
from console.testing import PASSWORD, seed_people
from directory.service import DirectoryService
from dormitory.service import DormitoryService
from penalties.service import PenaltiesService
from zhidu.envelope import make_envelope
from zhidu.testing import publish_event, wait_for
from zhidu.times import local_tz

pytestmark = pytest.mark.integration

CLERK = {"id": "E101", "role": "staff"}
INTAKE = {"channel": "phone", "kind": "external", "category": "service",
          "complainant": {"name": "王女士", "phone": "13812345678"},
          "subject": "维修人员态度差", "description": "电话里被挂断两次",
          "target_department": "service", "actor": CLERK}


def csrf_of(text: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', text).group(1)


class Browser:
    """One signed-in person: pages fetched and forms posted with the session's CSRF token."""

    def __init__(self, base: str, employee_id: str):
        self.base, self.session = base, requests.Session()
        form = self.session.get(f"{base}/login")
        reply = self.session.post(f"{base}/login", data={
            "csrf": csrf_of(form.text), "employee_id": employee_id, "password": PASSWORD},
            allow_redirects=False)
        assert reply.status_code == 303, reply.text[:300]
        self.csrf = csrf_of(self.session.get(f"{base}/work").text)

    def get(self, path: str, htmx: bool = False) -> requests.Response:
        headers = {"HX-Request": "true"} if htmx else {}
        return self.session.get(f"{self.base}{path}", headers=headers)

    def post(self, path: str, **form) -> requests.Response:
        """The form, then the page it leads to (with the flash the step left)."""
        reply = self.session.post(f"{self.base}{path}", data={"csrf": self.csrf, **form},
                                  allow_redirects=False)
        assert reply.status_code == 303, (path, reply.status_code, reply.text[:500])
        return self.get(reply.headers["Location"])


@pytest.fixture
def company(start_service, zhidu_config, rpc):
    """``company(*services)``: the directory, the services and the console, everyone enrolled."""
    def start(*services):
        start_service(DirectoryService)
        for service in services:
            start_service(service)
        console = start_service(ConsoleService)
        seed_people(zhidu_config)
        return console.web_url
    return start


def local_minute(moment: datetime) -> str:
    return moment.astimezone(local_tz()).strftime("%Y-%m-%dT%H:%M")


def section(html: str, heading: str) -> str:
    """The text of "my work"'s section under ``heading`` ("" when it is not shown)."""
    start = html.find(heading)
    if start < 0:
        return ""
    end = html.find('<section class="duty"', start)
    return html[start:end if end > 0 else len(html)]


# -- the dormitory desk (000 §5) ----------------------------------------------------------
def test_the_dormitory_desk_lists_the_occupants_records_an_inspection_and_moves_beds_000_s5(
        company, rpc):
    base = company(DormitoryService)
    admin = rpc.as_person("E302")
    admin.dormitory.add_room({"building": "A", "room_no": "101", "capacity": 4, "gender": "M"})
    at = local_minute(datetime.now(local_tz()) - timedelta(minutes=2))

    clerk = Browser(base, "E302")                                   # 冯娟, dorm_admin
    desk = clerk.get("/dormitory")
    assert desk.status_code == 200 and "床位安排" in desk.text and "000 §5 三.2–3" in desk.text
    for employee in ("E201", "E203"):
        done = clerk.post("/dormitory/beds/assign", employee_id=employee, building="A",
                          room_no="101", bed_no="", at=at)
        assert f"已为 {employee} 安排 A 101 室" in done.text
    refused = clerk.post("/dormitory/beds/assign", employee_id="E202", building="A",
                         room_no="101", bed_no="", at=at)           # 黄静: a woman, a men's room
    assert "房间A/101只安排男员工，E202不能入住。" in refused.text

    inspector = Browser(base, "E301")                               # 郑涛, inspector
    sheet = inspector.get("/dormitory/room?building=A&room_no=101", htmx=True)
    assert sheet.status_code == 200 and "<html" not in sheet.text   # the fragment alone
    # The room's occupants are on the sheet already, a box per finding and person.
    assert "刘洋（E201）" in sheet.text and "马超（E203）" in sheet.text
    assert 'name="who_D03" value="E201"' in sheet.text
    assert sheet.text.count('name="code"') == 17                     # D01–D17
    whole = inspector.get("/dormitory?building=A&room_no=101")
    assert "刘洋（E201）" in whole.text and "床位安排" not in whole.text   # beds are the admin's
    done = inspector.post("/dormitory/inspections", building="A", room_no="101", at=at,
                          code="D03", who_D03="E201", note_D03="留宿外来人员",
                          request_id=f"insp-A-101-{at}")
    assert "检查记录已保存，共 1 条违规扣分" in done.text
    [violation] = rpc.as_person("E301").dormitory.list_violations({"employee_id": "E201"})
    assert violation["code"] == "D03" and violation["points"] == 5

    released = clerk.post("/dormitory/beds/release", employee_id="E203", reason="moved_out",
                          at=at)
    assert "已为 E203 办理退床" in released.text
    room = admin.dormitory.get_room({"building": "A", "room_no": "101"})
    assert [o["employee_id"] for o in room["occupants"]] == ["E201"]


# -- the attendance desk (002 §1, 000 §2 五) ----------------------------------------------
def test_the_attendance_desk_publishes_a_roster_closes_a_day_and_submits_the_report(
        company, rpc):
    base = company(AttendanceService)
    rpc.as_person("E203").attendance.define_shift({"code": "D", "start": "08:30",
                                                   "end": "17:30"})
    today = datetime.now(local_tz()).date()
    day = (today + timedelta(days=7)).isoformat()

    clerk = Browser(base, "E203")                                   # 马超, attendance_clerk
    desk = clerk.get("/attendance")
    assert desk.status_code == 200 and "D 08:30–17:30" in desk.text
    assert "002 §1 1.1.4–1.1.5" in desk.text and "000 §2 五.1–2" in desk.text
    assert "月报：未上报 · 截止" in desk.text
    bad = clerk.post("/attendance/roster", entries=f"E201, {day}, D\nnonsense", published="1")
    assert "排班内容有误（第 2 行）" in bad.text
    done = clerk.post("/attendance/roster", entries=f"E201, {day}, D\nE202，{day}，D",
                      published="1")
    assert "排班已保存，共 2 条。" in done.text
    roster = rpc.as_person("E201").attendance.get_roster({
        "employee_id": "E201", "date_from": day, "date_to": day})
    assert [(e["date"], e["shift_code"]) for e in roster] == [(day, "D")]

    yesterday = (today - timedelta(days=1)).isoformat()
    closed = clerk.post("/attendance/close-day", date=yesterday)
    assert f"{yesterday} 已结算考勤" in closed.text

    last_month = today.replace(day=1) - timedelta(days=1)
    submitted = clerk.post("/attendance/report", department="service",
                           year=str(last_month.year), month=str(last_month.month))
    month = f"{last_month.year}-{last_month.month:02d}"
    assert f"{month} 考勤月报表已上报。" in submitted.text
    status = rpc.as_person("E203").attendance.report_status({
        "department": "service", "year": last_month.year, "month": last_month.month})
    assert status["submitted_at"] and status["status"] != "not_submitted"
    assert re.search(f"{month} 月报：(已按时上报|逾期上报)", clerk.get("/attendance").text)


# -- my work: the supervisor instructs on a sanction, then the GM signs (001 §1 第九条(六)) ----
def test_a_sanction_waits_on_the_supervisors_work_first_then_on_the_gms_001_s1_9_6(
        company, rpc, zhidu_config):
    base = company(PenaltiesService)
    publish_event(zhidu_config["AMQP_URI"], make_envelope(
        "complaints", "liability_determined", {
            "number": "2611-0042", "party": "company", "department": "service",
            "employee_ids": ["E201"], "fine_yuan": 300, "attitude": None,
            "at": datetime.now(local_tz()).isoformat()},
        actor={"id": "E003", "role": "gm_office"}))
    gm_rpc = rpc.as_person("E001")
    notice = wait_for(lambda: next(iter(gm_rpc.penalties.list_notices(
        {"number": "2611-0042"})["notices"]), None), 20, 0.3, message="the notice drafted")
    assert notice["step"] == "supervisor" and notice["awaiting_ids"] == ["E200"]

    gm = Browser(base, "E001")
    waiting = section(gm.get("/work").text, "待批准的奖罚通知单")
    assert waiting and "2611-0042" not in waiting                  # not the GM's turn yet
    early = gm.post(f"/notices/{notice['notice_id']}/decision", approve="1",
                    revision=str(notice["revision"]), next="/work")
    assert "个人惩处须先呈被处罚人员的直接主管批示（待E200），之后再呈总经理批准。" in early.text

    assert section(Browser(base, "E202").get("/work").text, "待您批示的个人惩处") == ""
    supervisor = Browser(base, "E200")                              # 陈刚, E201's manager
    mine = section(supervisor.get("/work").text, "待您批示的个人惩处")
    assert "2611-0042" in mine and "001 §1 第九條(六)" in mine and "個人懲處種類呈主管批示" in mine
    assert "请您批示：<strong>刘洋</strong>" in mine and "批示同意" in mine
    done = supervisor.post(f"/notices/{notice['notice_id']}/decision", approve="1",
                           revision=str(notice["revision"]), next="/work")
    assert "已批示同意，奖罚通知单转呈总经理批准。" in done.text
    assert "2611-0042" not in section(done.text, "待您批示的个人惩处")

    signing = section(gm.get("/work").text, "待批准的奖罚通知单")
    assert "2611-0042" in signing and "001 §1 第十二條(二)" in signing
    signed = gm.post(f"/notices/{notice['notice_id']}/decision", approve="1",
                     revision=str(notice["revision"]), next="/work")
    assert "奖罚通知单已批准" in signed.text
    [decided] = gm_rpc.penalties.list_notices({"number": "2611-0042"})["notices"]
    assert decided["status"] == "approved"
    assert [s["decided_by"]["id"] for s in decided["steps"]] == ["E200", "E001"]


# -- my work and the SLA board on the complaints service --------------------------------------
def test_my_complaints_are_found_by_owner_and_the_board_reads_no_contacts_in_full_001_s2(
        company, rpc):
    base = company(ComplaintsService)
    now = datetime.now(local_tz())

    def filed(owner=None, hours=1):
        number = rpc.complaints.file({**INTAKE, "received_at": local_minute(
            now - timedelta(hours=hours))})["number"]
        if owner:
            for name, extra in (("decide_validity", {"valid": True, "reason": "情况属实"}),
                                ("assign", {"department": "service", "owner_id": owner})):
                getattr(rpc.complaints, name)({"number": number, "actor": CLERK, **extra,
                                               "at": local_minute(datetime.now(local_tz()))})
        return number

    hers, his, unassigned = filed("E202", 2), filed("E201", 3), filed()

    owner = Browser(base, "E202")                                   # 黄静, service staff
    mine = section(owner.get("/work").text, "我负责的客诉")
    assert hers in mine and his not in mine and unassigned not in mine
    # The board is for managers, IT and the desk: a typed address is refused in her words.
    refused = owner.get("/board")
    assert refused.status_code == 403 and "无权办理" in refused.text
    assert "SLA看板供" in refused.text and "客户服务部人员查看" in refused.text
    live = owner.get("/board/live", htmx=True)
    assert live.status_code == 403 and "<html" not in live.text and 'role="alert"' in live.text
    assert owner.get("/board/stats", htmx=True).status_code == 403
    assert 'href="/board"' not in owner.get("/work").text
    # Her department's feedback to the desk (003 §4 3.4.2.2) is a step she is offered.
    case = owner.get(f"/complaints/{hers}").text
    assert "向客户服务部反馈处理信息" in case and "003 §4 3.4.2.2" in case
    fed_back = owner.post(f"/complaints/{hers}/give_feedback", feedback="已联系业主，约定明日上门")
    assert "已办理：向客户服务部反馈处理信息。" in fed_back.text
    assert "责任部门已反馈处理信息" in fed_back.text and "交由服务部 · 黄静" in fed_back.text
    assert "department feedback" not in fed_back.text

    it = Browser(base, "E005")                                      # 吴磊, it_admin: full read
    board = it.get("/board")
    assert board.status_code == 200 and hers in board.text and "13812345678" not in board.text
    assert it.get("/board/live", htmx=True).status_code == 200
    assert it.get("/work").status_code == 200
    # Nothing was shown in full, so nothing was audited.
    assert rpc.as_person("E005").complaints.audit_log({}) == []
    # Opening the case is a full read, and is audited.
    assert "13812345678" in it.get(f"/complaints/{hers}").text
    assert [e["operation"] for e in rpc.as_person("E005").complaints.audit_log({})] == ["get"]

    manager = Browser(base, "E100")                                 # 李强, the desk's manager
    stats = manager.get("/board/stats?basis=received", htmx=True)
    assert stats.status_code == 200
    # The breakdowns are tables anyone can read, not only screen readers.
    assert 'class="sr-only"' not in stats.text and stats.text.count('class="breakdown"') == 4
    assert re.search(r'<th scope="row">未分配</th><td class="num">1</td>', stats.text)
    assert re.search(r'<th scope="row">服务部</th><td class="num">2</td>', stats.text)
