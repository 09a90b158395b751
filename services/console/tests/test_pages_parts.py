"""The console's parts that need no broker: words, refusals, the forms, the clocks."""
import re
from pathlib import Path

from console import clocks, formats, i18n, intake, steps
from console.acting import Refusal
from console.charts import bars
from console.duties import load_duties, may_approve_remedy, remedy_role
from console.oidc import challenge
from console.pages.clerk import parse_roster
from console.refusals import tell
from console.web import Person, safe_next
from werkzeug.datastructures import MultiDict
from zhidu.times import parse_time

PACKAGE = Path(i18n.__file__).parent
ZH, EN = i18n.Translator("zh-CN"), i18n.Translator("en")


# -- words ---------------------------------------------------------------------------
def test_both_locales_have_the_same_keys():
    assert set(i18n.catalogue("zh-CN")) == set(i18n.catalogue("en"))


def test_every_key_the_templates_and_pages_use_exists():
    used = set()
    for path in [*PACKAGE.glob("templates/*.html"), *PACKAGE.glob("pages/*.py"),
                 PACKAGE / "web.py", PACKAGE / "refusals.py"]:
        used |= set(re.findall(r"\bt\([\"']([a-z_]+\.[a-z_.]+)[\"']\s*[,)]",
                               path.read_text()))
    missing = sorted(k for k in used if k not in i18n.catalogue("zh-CN"))
    assert missing == []


def test_a_missing_key_falls_back_to_chinese_then_to_the_key():
    assert EN("nav.work") == "My work" and ZH("nav.work") == "我的待办"
    assert EN("no.such.key") == "no.such.key"
    assert ZH.label("role", "gm") == "总经理" and ZH.label("role", "astronaut") == "astronaut"
    assert ZH("leave.days", days=3) == "共3天" and ZH("leave.days") == "共{days}天"


def test_locales_are_picked_zh_cn_first():
    assert i18n.pick(None) == "zh-CN" and i18n.pick("en-GB") == "en"
    assert i18n.pick("zh-TW") == "zh-CN" and i18n.pick("EN") == "en"


# -- refusals in the person's words ---------------------------------------------------------
def test_a_permissions_refusal_names_the_roles_and_the_rule():
    told = tell(Refusal("PermissionDenied",
                        "approve_remedy is for roles dept_manager, deputy_gm, gm; cs-02 holds "
                        "staff (permissions: approve_remedy; 003 §4 3.6.1: remedy authority)"),
                ZH)
    assert told.title == "无权办理"
    assert told.reason == "「审批补偿方案」须由部门经理、副总经理、总经理办理；您当前的角色是员工。"
    assert told.source == "003 §4 3.6.1: remedy authority"


def test_the_remedy_ladder_refusal_names_the_amount_and_who_may_003_s4_3_6_1():
    told = tell(Refusal("PermissionDenied",
                        "a remedy of 5000 yuan needs deputy_gm or above; dept_manager may not "
                        "approve it"), ZH)
    assert told.reason == "5000元的补偿须由副总经理或更高职级审批，部门经理无权批准（核决权限）。"
    assert told.source == "003 §4 3.6.1"
    assert "deputy general manager" in tell(Refusal("PermissionDenied", told.original), EN).reason


def test_separation_of_duties_and_limits_are_told_too():
    own = tell(Refusal("PermissionDenied",
                       "decide_leave: separation of duties — nobody decides their own matter "
                       "(leave_employee is E1) (permissions: decide_leave; rules §8)"), ZH)
    assert "不能由本人办理自己的事项" in own.reason and own.source == "rules §8"
    limit = tell(Refusal("PermissionDenied",
                         "record_penalty: amount_yuan 1500 is above the hr limit of 1000; it "
                         "needs gm (permissions: record_penalty; 002 §4 4.1.2 b)"), ZH)
    assert limit.reason == "金额1500元超出人事行政部的权限（上限1000元），须由总经理办理。"


def test_validation_and_conflicts_are_told_field_by_field():
    told = tell(Refusal("ValidationError", "", {"phone": ["not a phone number"],
                                                 "name": ["Missing data for required field."]}),
                ZH)
    assert told.fields["name"] == ["必填"]
    assert told.fields["phone"][0].startswith("电话号码格式不对")
    conflict = tell(Refusal("Conflict", "cannot go from received to resolved; allowed: accepted"),
                    ZH)
    assert conflict.reason == "投诉目前为「已受理」，不能直接转为「已处理待回访」。"
    assert tell(Refusal("Unavailable", "", service="penalties"), ZH).reason == \
        "奖惩服务暂时没有响应，请稍后再试。"


def test_common_field_messages_are_told_in_the_persons_language():
    told = tell(Refusal("ValidationError", "", {
        "reason": ["Longer than maximum length 200."],
        "code": ["Length must be between 1 and 8."],
        "limit": ["Must be greater than or equal to 1 and less than or equal to 1000."],
        "capacity": ["Must be less than or equal to 64."],
        "at": ["Must not be in the future (it records when something happened)."],
        "received_at": ["Must not be before 2020-01-01T00:00:00+00:00."],
        "date": ["Must not be after 2027-12-31."],
        "kind": ["Must be one of: external, internal."],
        "next_reply_at": ["is before the complaint's last step (2026-11-13T02:10:00+00:00)"],
        "department": ["Shorter than minimum length 1."]}), ZH)
    assert told.fields == {
        "reason": ["长度不能超过200"], "code": ["长度须在1到8之间"],
        "limit": ["须在1到1000之间"], "capacity": ["不能大于64"],
        "at": ["不能是将来的时间（这里记录的是已经发生的事）"],
        "received_at": ["不能早于2020-01-01 08:00"], "date": ["不能晚于2027-12-31"],
        "kind": ["须为以下之一：external, internal"],
        "next_reply_at": ["不能早于本投诉上一步的时间（2026-11-13 10:10）"],
        "department": ["长度不能少于1"]}
    english = tell(Refusal("ValidationError", "", {"reason": ["Longer than maximum length 200."]}),
                   EN)
    assert english.fields == {"reason": ["Must be at most 200 long"]}
    # Anything unknown stays as the service wrote it.
    assert tell(Refusal("ValidationError", "", {"x": ["a new rule"]}), ZH).fields == {
        "x": ["a new rule"]}


def test_the_notice_steps_and_the_feedback_conflicts_are_told_001_s1_9_6():
    source = "001 §1 第九条(六): 个人惩处种类呈主管批示; 第十二条(二): 奖罚通知单呈总经理批准"
    first = tell(Refusal("Conflict", f"notice N1 awaits the approval of E200 first: the sanctions "
                                     f"go to each person's supervisor before the general manager "
                                     f"({source})"), ZH)
    assert first.reason == "个人惩处须先呈被处罚人员的直接主管批示（待E200），之后再呈总经理批准。"
    assert first.source == source
    again = tell(Refusal("Conflict", f"notice N1: E200 has approved already; it now awaits the "
                                     f"general manager ({source})"), ZH)
    assert again.reason == "您已批示同意，该通知单现待总经理办理。"
    final = tell(Refusal("Conflict", "notice N1 is already approved; the decision is final"), ZH)
    assert final.reason == "该奖罚通知单已批准，决定不能更改。"
    redrafted = tell(Refusal("Conflict", "notice N1 was redrafted (revision 2); read it again "
                                         "before deciding"), EN)
    assert "revision 2" in redrafted.reason and redrafted.source == ""
    not_yours = tell(Refusal("PermissionDenied", f"notice N1 is not E300's to approve: it awaits "
                                                 f"E200, E201 ({source})"), ZH)
    assert not_yours.reason == "该奖罚通知单不在您的批示范围内，目前待E200、E201办理。"
    assert not_yours.source == source
    feedback = tell(Refusal("Conflict", "feedback comes from the department handling the "
                                        "complaint, not while it is resolved"), ZH)
    assert feedback.reason == ("部门反馈须在投诉交由责任部门处理期间提交；"
                               "投诉目前为「已处理待回访」。")


def test_bed_refusals_are_told_000_s5_3_2():
    assert tell(Refusal("Conflict", "room A/101 is for M residents; employee E202 is F"),
                ZH).reason == "房间A/101只安排男员工，E202不能入住。"
    assert tell(Refusal("Conflict", "room A/101 is full (4 beds)"), ZH).reason == \
        "房间A/101已住满（4个床位）。"
    assert tell(Refusal("Conflict", "the employee already has a bed (bed 2 in A/101); release "
                                    "it first"), EN).reason == \
        "The employee already has a bed (bed 2 in A/101); release it first."


def test_history_notes_read_in_the_persons_language():
    names = {"E202": "黄静"}
    assert formats.history_note("acknowledged", ZH) == "已回复客户"
    assert formats.history_note("department feedback", EN) == "The department reported back"
    assert formats.history_note("service/E202", ZH, names) == "交由服务部 · 黄静"
    assert formats.history_note("reassigned to engineering/E9", EN) == \
        "Reassigned to Engineering · E9"
    assert formats.history_note("5000 yuan", ZH) == "¥5,000"
    assert formats.history_note("liability: company service", ZH) == "职责归属：本公司 服务部"
    assert formats.history_note("phone", ZH) == "电话"
    assert formats.history_note("情况属实", ZH) == "情况属实"
    assert formats.history_note(None, ZH) == ""


# -- the complaint form (rules §2 intake) -----------------------------------------------------
FORM = {"channel": "phone", "kind": "external", "category": "service",
        "complainant_name": "王女士", "complainant_phone": "13812345678",
        "subject": "维修人员态度差", "description": "电话里被挂断两次",
        "received_at": "2026-11-13T10:00", "request_id": "r-1"}


def test_a_complete_form_becomes_the_file_payload():
    payload, errors = intake.read(MultiDict({**FORM, "complainant_region": "foreign",
                                             "target_department": "service"}))
    assert errors == {}
    assert payload["complainant"] == {"name": "王女士", "phone": "13812345678",
                                      "region": "foreign"}
    assert payload["received_at"] == "2026-11-13T02:00:00+00:00"   # 10:00 in Shanghai
    assert payload["request_id"] == "r-1" and "order" not in payload


def test_each_field_is_checked_as_typed():
    _, errors = intake.read(MultiDict({**FORM, "complainant_phone": "138-abc",
                                       "complainant_email": "wang@", "channel": "fax",
                                       "occurred_at": "2026-11-14T10:00", "subject": ""}))
    assert errors == {"complainant_phone": ["invalid.phone"],
                      "complainant_email": ["invalid.email"], "channel": ["invalid.choice"],
                      "occurred_at": ["invalid.after_received"], "subject": ["invalid.required"]}


def test_a_quality_complaint_needs_its_order_001_s1_article_9():
    _, errors = intake.read(MultiDict({**FORM, "category": "quality"}))
    assert errors == {"order_no": ["invalid.order_for_quality"]}
    payload, errors = intake.read(MultiDict({
        **FORM, "category": "quality", "order_no": "PO-1", "quantity": "10",
        "defect_quantity": "3", "delivery_date": "2026-11-01", "quantity_undetermined": "1"}))
    assert errors == {}
    assert payload["order"] == {"order_no": "PO-1", "quantity": 10, "defect_quantity": 3,
                                "delivery_date": "2026-11-01", "note": "客户加工中未确定"}
    _, errors = intake.read(MultiDict({**FORM, "category": "quality", "order_no": "PO-1",
                                       "quantity": "2", "defect_quantity": "3"}))
    assert errors == {"defect_quantity": ["invalid.defects_over_quantity"]}


def test_a_major_complaint_needs_its_reason_or_three_households_001_s5():
    _, errors = intake.read(MultiDict({**FORM, "major": "1"}))
    assert errors == {"major_reason": ["invalid.major_reason"]}
    payload, errors = intake.read(MultiDict({**FORM, "major": "1", "households_affected": "3"}))
    assert errors == {} and intake.major_by_households(payload)
    payload, errors = intake.read(MultiDict({**FORM, "major_reason": "elevator_entrapment"}))
    assert errors == {} and payload["major_reason"] == "elevator_entrapment"


def test_the_services_nested_field_errors_land_on_the_form_fields():
    assert intake.form_errors({"complainant": {"phone": ["not a phone number"]},
                               "order": {"order_no": ["x"]}, "subject": ["y"]}) == {
        "complainant_phone": ["not a phone number"], "order_no": ["x"], "subject": ["y"]}


# -- which steps a person is offered -------------------------------------------------------
def _person(role, department="service", pid="P1"):
    return Person(pid, pid, (role,), department)


def test_steps_follow_the_status_and_the_role():
    case = {"status": "received", "kind": "external", "owner_id": None}
    desk = [s.name for s in steps.offered(case, _person("staff", "customer_service"))]
    assert desk == ["decide_validity", "acknowledge", "pause"]
    assert steps.offered(case, _person("staff")) == []
    planned = {"status": "planned", "kind": "external", "owner_id": "P1"}
    owner = [s.name for s in steps.offered(planned, _person("staff"))]
    assert owner == ["acknowledge", "give_feedback", "submit_report", "pause"]
    gm_office = [s.name for s in steps.offered(planned, _person("gm_office", "gm_office",
                                                                   "G1"))]
    assert gm_office == ["assign", "determine_liability"]
    internal = {**planned, "kind": "internal"}
    assert "determine_liability" not in [s.name for s in steps.offered(
        internal, _person("gm_office", "gm_office", "G1"))]


def test_the_department_feedback_is_offered_as_the_complaints_permissions_say_003_s4_3_4_2_2():
    # give_feedback: relations case_owner, desk; roles dept_manager, deputy_gm, gm.
    def offered_to(person, status="assigned"):
        case = {"status": status, "kind": "external", "owner_id": "P1"}
        return "give_feedback" in [s.name for s in steps.offered(case, person)]

    assert offered_to(_person("staff", pid="P1"))                        # the owner
    assert offered_to(_person("staff", "customer_service", "C1"))       # the desk
    assert offered_to(_person("dept_manager", pid="M1"))
    assert not offered_to(_person("staff", pid="P2"))
    assert not offered_to(_person("gm_office", "gm_office", "G1"))
    # While the department handles the case (complaints' lifecycle REASSIGNABLE).
    for status in ("planned", "investigated", "remedy_proposed", "remedy_approved"):
        assert offered_to(_person("staff", pid="P1"), status)
    for status in ("received", "accepted", "resolved", "closed", "paused"):
        assert not offered_to(_person("dept_manager", pid="M1"), status)
    data, errors = steps.payload(steps.BY_NAME["give_feedback"], MultiDict({}), "2611-0001", "t")
    assert errors == {"feedback": ["invalid.required"]}
    data, errors = steps.payload(steps.BY_NAME["give_feedback"],
                                 MultiDict({"feedback": "已上门检修"}), "2611-0001", "t")
    assert errors == {} and data["feedback"] == "已上门检修"


def test_every_step_and_its_fields_have_words_in_both_locales():
    for translator in (ZH, EN):
        for step in steps.STEPS:
            assert translator.has(f"operation.{step.name}"), step.name
            assert all(translator.has(f"field.{f}") for f in step.fields), step.name
    assert ZH.label("operation", "give_feedback") == "向客户服务部反馈处理信息"
    assert EN.label("operation", "give_feedback") == "Report back to customer service"


def test_nobody_is_offered_the_approval_of_their_own_remedy():
    case = {"status": "remedy_proposed", "remedies": [{"amount_yuan": 5000,
                                                        "proposed_by": "P1"}]}
    assert "approve_remedy" not in [s.name for s in steps.offered(case, _person("gm", pid="P1"))]
    assert "approve_remedy" in [s.name for s in steps.offered(
        case, _person("dept_manager", pid="M1"))]


def test_step_payloads_are_read_from_their_forms():
    data, errors = steps.payload(steps.BY_NAME["propose_remedy"],
                                 MultiDict({"remedy": "补偿", "amount_yuan": "5000"}),
                                 "2611-0001", "2026-11-13T10:00:00+08:00")
    assert errors == {} and data["amount_yuan"] == 5000
    data, errors = steps.payload(steps.BY_NAME["determine_liability"],
                                 MultiDict({"department": "service",
                                            "employee_ids": "E1，E2", "fine_yuan": "x"}),
                                 "2611-0001", "t")
    assert errors == {"fine_yuan": ["invalid.whole_number"]}
    assert data["employee_ids"] == ["E1", "E2"]


def test_my_queue_of_remedies_follows_the_amount_003_s4_3_6_1():
    assert remedy_role(1000) == "dept_manager" and remedy_role(1001) == "deputy_gm"
    assert remedy_role(10001) == "gm"
    assert may_approve_remedy(("deputy_gm",), 5000)
    assert not may_approve_remedy(("dept_manager",), 5000)
    assert not may_approve_remedy(("it_admin",), 10)
    # Up to 1,000 yuan it is customer service's manager, not any manager's.
    assert may_approve_remedy(("dept_manager",), 800, "customer_service")
    assert not may_approve_remedy(("dept_manager",), 800, "engineering")
    assert may_approve_remedy(("deputy_gm",), 800, "gm_office")


# -- clocks on the working calendar ------------------------------------------------------------
def test_a_working_time_clock_counts_only_working_hours_and_names_the_holidays():
    now = parse_time("2026-09-30T15:20:00+08:00")     # the afternoon before National Day
    clock = {"name": "resolve", "unit": "working", "state": "running",
             "due": "2026-10-08T09:30:00+08:00", "warn_at": "2026-10-08T08:30:00+08:00"}
    shown = clocks.countdown(clock, now)
    # 15:20–16:20 on 30 Sep, then nothing until 08:30 on 8 Oct, the first day back.
    assert shown.remaining_seconds == 2 * 3600
    assert shown.ticking and shown.flag == "running"
    assert ("2026-10-01", "National Day") in shown.holidays
    night = clocks.countdown(clock, parse_time("2026-09-30T20:00:00+08:00"))
    assert not night.ticking and night.remaining_seconds == 3600


def test_clock_flags_read_warned_breached_paused_and_met():
    now = parse_time("2026-11-13T12:00:00+08:00")
    base = {"name": "acknowledge", "unit": "calendar", "state": "running"}
    assert clocks.countdown({**base, "due": "2026-11-13T11:00:00+08:00"}, now).flag == "breached"
    warned = clocks.countdown({**base, "due": "2026-11-13T12:20:00+08:00",
                               "warn_at": "2026-11-13T11:56:00+08:00"}, now)
    assert warned.flag == "warned" and warned.remaining_seconds == 1200
    assert clocks.countdown({**base, "state": "paused", "due": None}, now).flag == "paused"
    assert clocks.countdown({**base, "state": "met", "due": None}, now).flag == "met"


def test_durations_read_in_each_language():
    assert formats.duration(2 * 86400 + 3 * 3600 + 120, "zh-CN") == "2天3小时"
    assert formats.duration(5400, "en") == "1 h 30 min"
    assert formats.duration(20, "zh-CN") == "不到1分钟"
    assert formats.yuan(5000) == "¥5,000" and formats.points(2.5) == "2.5"
    assert formats.when("2026-11-13T02:00:00+00:00") == "2026-11-13 10:00"


# -- the rest ---------------------------------------------------------------------------------
def test_the_duties_file_quotes_every_rule_with_its_section():
    duties = load_duties()
    for name in ("leave", "notice", "remedy", "complaint", "appeal", "validity", "followup",
                 "sanction", "feedback"):
        assert duties["rules"][name]["section"] and duties["rules"][name]["text"]
    assert duties["rules"]["sanction"]["section"] == "001 §1 第九條(六)"
    assert "個人懲處種類呈主管批示后" in duties["rules"]["sanction"]["text"]


def test_pkce_challenge_is_the_s256_of_the_verifier_rfc7636():
    # The example of RFC 7636 appendix B.
    assert challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == \
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_only_paths_on_this_site_are_followed_after_sign_in():
    assert safe_next("/complaints/2611-0001?x=1") == "/complaints/2611-0001?x=1"
    for bad in ("https://evil.example/", "//evil.example", "/\\evil", "", None, "work"):
        assert safe_next(bad) == "/work"


def test_a_roster_is_pasted_line_by_line():
    entries, bad = parse_roster("E1, 2026-12-01, D\nE2，2026-12-01，N\n\nE3 2026-13-01 D\nnonsense")
    assert entries == [{"employee_id": "E1", "date": "2026-12-01", "shift_code": "D"},
                       {"employee_id": "E2", "date": "2026-12-01", "shift_code": "N"}]
    assert bad == [4, 5]


def test_bar_charts_scale_to_the_largest_value():
    chart = bars([("客户服务部", 4), ("服务部", 2)])
    assert [b.width for b in chart.bars] == [250.0, 125.0]
    assert bars([]).empty


def test_every_template_parses():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(PACKAGE / "templates")))
    for path in PACKAGE.glob("templates/*.html"):
        env.parse(path.read_text())
