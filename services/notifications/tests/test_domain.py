"""The pure parts: routing, templates, signatures, back-off, fan-out, settling."""
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from notifications import fanout, routing, templates
from notifications.channels import Outcome
from notifications.dispatch import Courier
from notifications.plugin import CONSUMES
from notifications.retry import PolicyError, build_policy, load_policy
from notifications.routing import RoutingError, build_routes, load_routes, parse
from notifications.service import NotificationsService
from notifications.signing import sign, verify
from notifications.templates import TemplateError, build_locale, load_catalogue
from notifications.testing import MemoryDirectory
from zhidu.envelope import make_envelope

UTC = timezone.utc
SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)


PEOPLE = {
    "E1": {"name": "王丽", "manager_id": "M1", "team_leader_id": "T1", "department": "cs",
           "role": "staff", "email": "li@example.com", "phone": "13800000001"},
    "M1": {"name": "赵敏", "department": "cs", "role": "dept_manager", "email": "m1@example.com"},
    "M2": {"name": "钱军", "department": "qa", "role": "dept_manager"},
    "H1": {"name": "孙红", "department": "hr", "role": "hr"},
    "D1": {"name": "周副总", "role": "deputy_gm"},
}
DIRECTORY = MemoryDirectory(PEOPLE, groups={"hr": ["H9"], "centre_leaders": ["C1", "C2"],
                                          "gm": ["G1"]}, cases={"2611-0001": "E1"},
                          notices={"N-1": ["E1", "M1"]})


@pytest.fixture(scope="module")
def table():
    return load_routes()


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


# -- routing ----------------------------------------------------------------------
def test_shipped_routes_load_and_every_template_exists_in_every_locale(table, catalogue):
    catalogue.require(table.templates())
    assert set(catalogue.locales) == {"zh-CN", "en"}
    for event_type in ("penalties.penalty_issued", "penalties.penalty_reversed",
                       "penalties.threshold_reached", "complaints.major_reported",
                       "complaints.reminder_issued", "complaints.escalated",
                       "complaints.sla_warning", "complaints.sla_breached",
                       "attendance.violation_recorded", "attendance.absence_recorded",
                       "attendance.dismissal_review_required", "attendance.leave_decided",
                       "attendance.leave_converted", "dormitory.violation_recorded"):
        assert table.route(event_type) is not None, event_type


def test_handlers_plugin_and_routes_agree(table):
    handlers = {f"{ep.source_service}.{ep.event_type}"
                for ep in _entrypoints(NotificationsService)}
    assert handlers == set(CONSUMES)
    assert set(table.routes) <= handlers


def _entrypoints(cls):
    from nameko.events import EventHandler
    from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

    for attr in vars(cls).values():
        for ep in getattr(attr, ENTRYPOINT_EXTENSIONS_ATTR, ()):
            if isinstance(ep, EventHandler):
                yield ep


def test_penalty_goes_to_the_entrys_employee_only(table):
    data = {"entry_id": "P1", "employee_id": "M1", "share": "dept_manager"}
    assert table.recipients("penalties.penalty_issued", data, DIRECTORY) == ["M1"]


def test_threshold_reaches_person_manager_and_hr_from_directory_and_config(table):
    data = {"employee_id": "E1", "kind": "admonishment", "year": 2026}
    assert table.recipients("penalties.threshold_reached", data, DIRECTORY) == \
        ["E1", "M1", "H1", "H9"]
    assert table.recipients("attendance.dismissal_review_required", data, DIRECTORY) == \
        ["E1", "M1", "H1", "H9"]


def test_major_complaint_goes_to_department_manager_and_centre_leaders(table):
    data = {"number": "2611-0001", "department": "cs"}
    assert table.recipients("complaints.major_reported", data, DIRECTORY) == ["M1", "C1", "C2"]
    assert table.route("complaints.major_reported").urgent_channels == ("sms", "chat")


def test_a_major_complaint_reaches_the_top_000_s1_3_3_6_001_s5_1_6_003_s4_3_4_7(table):
    # As complaints publishes it with its default policy: the manager of the
    # department complained about and of whoever took it, the deputy GM and
    # the GM (directory role or configured group), the centre leaders.
    data = {"number": "2611-0001", "department": "qa", "received_by": "E1",
            "notify_roles": ["dept_manager", "deputy_gm", "gm"]}
    resolution = table.resolve("complaints.major_reported", data, DIRECTORY)
    assert resolution.recipients == ["M2", "M1", "D1", "G1", "C1", "C2"]
    assert resolution.unrouted is False
    # Nobody complained about by name, no centre leaders configured: still the top.
    plain = MemoryDirectory(PEOPLE, groups={"gm": ["G1"]})
    assert table.recipients("complaints.major_reported",
                            {**data, "department": None}, plain) == ["M1", "D1", "G1"]


def test_a_route_that_finds_nobody_goes_to_the_fallback_and_says_so(table):
    # The default settings and a directory with neither GM nor deputy GM nor
    # the manager: the GM office and it_admin, by directory role or group.
    data = {"number": "2611-0001", "department": None, "received_by": "X9",
            "notify_roles": ["dept_manager", "deputy_gm", "gm"]}
    nobody = MemoryDirectory({"O1": {"role": "gm_office"}, "A1": {"role": "it_admin"}},
                           groups={"it_admin": ["A9"]})
    resolution = table.resolve("complaints.major_reported", data, nobody)
    assert resolution.recipients == ["O1", "A1", "A9"] and resolution.unrouted is True
    # Every route that names people has it, the sla events too.
    late = table.resolve("complaints.sla_warning", {"number": "unknown"}, nobody)
    assert late.recipients == ["O1", "A1", "A9"] and late.unrouted is True
    # Even the fallback may find nobody: still unrouted, so it is counted.
    empty = table.resolve("complaints.major_reported", data, MemoryDirectory({}))
    assert empty.recipients == [] and empty.unrouted is True
    # A route that names nobody on purpose reaches webhooks only, and is not unrouted.
    quiet = table.resolve("attendance.violation_recorded", {"employee_id": "E1"}, nobody)
    assert quiet.recipients == [] and quiet.unrouted is False


def test_a_route_may_name_its_own_fallback_or_none():
    raw = {"groups": {"desk": "ZHIDU_DESK_IDS"}, "fallback": ["role:gm_office"], "routes": {
        "a.own": {"template": "t", "recipients": ["data.x"], "fallback": ["desk"]},
        "a.none": {"template": "t", "recipients": ["data.x"], "fallback": []},
        "a.default": {"template": "t", "recipients": ["data.x"]},
        "a.texts": {"recipients": ["phone(data.tel)"], "sms_template": "s"}}}
    table = build_routes(raw)
    directory = MemoryDirectory({"O1": {"role": "gm_office"}}, groups={"desk": ["K1"]})
    assert table.resolve("a.own", {}, directory).recipients == ["K1"]
    assert table.resolve("a.none", {}, directory) == routing.Resolution([], unrouted=True)
    assert table.resolve("a.default", {}, directory).recipients == ["O1"]
    assert table.resolve("a.default", {"x": "E5"}, directory) == routing.Resolution(["E5"])
    # A customer's text is no person's notice: no number, nothing to fall back on.
    assert table.resolve("a.texts", {}, directory) == routing.Resolution([])


@pytest.mark.parametrize("raw, complaint", [
    ({"fallback": ["data.x"], "routes": {"a.b": {"template": "t", "recipients": ["data.x"]}}},
     "names standing people"),
    ({"fallback": ["manager_of(data.x)"],
      "routes": {"a.b": {"template": "t", "recipients": ["data.x"]}}}, "names standing people"),
    ({"fallback": "role:gm", "routes": {"a.b": {"template": "t", "recipients": ["data.x"]}}},
     "must be a list"),
    ({"routes": {"a.b": {"template": "t", "recipients": ["data.x"], "fallback": ["nobody"]}}},
     "neither"),
    ({"routes": {"a.b": {"recipients": ["phone(data.x)"], "sms_template": "s",
                         "fallback": ["role:gm"]}}}, "a fallback needs a route that names"),
])
def test_bad_fallbacks_are_refused(raw, complaint):
    with pytest.raises(RoutingError, match=complaint):
        build_routes(raw)


def test_only_the_services_own_table_sets_the_default_fallback(table):
    contributed = build_routes({"fallback": ["role:gm"], "routes": {
        "repairs.x": {"template": "t", "recipients": ["data.x"]}}})
    with pytest.raises(RoutingError, match="default fallback"):
        table.merged(contributed, "canteen")
    merged = table.merged(build_routes({"routes": {
        "repairs.x": {"template": "t", "recipients": ["data.x"]}}}), "canteen")
    assert merged.fallback == table.fallback == (("role", "gm_office"), ("role", "it_admin"))


@pytest.mark.parametrize("to_role, expected", [
    ("owner", ["E1"]),
    ("dept_manager", ["M1", "E1"]),
    ("deputy_gm", ["D1", "E1"]),
    ("gm", ["G1", "E1"]),
])
def test_escalation_resolves_the_role_escalated_to(table, to_role, expected):
    data = {"number": "2611-0001", "owner_id": "E1", "department": "cs", "level": 1,
            "to_role": to_role}
    assert table.recipients("complaints.escalated", data, DIRECTORY) == expected


def test_sla_events_without_owner_fall_back_to_the_remembered_case(table):
    assert table.recipients("complaints.sla_breached", {"number": "2611-0001"},
                            DIRECTORY) == ["E1"]
    assert table.recipients("complaints.sla_warning", {"number": "unknown"}, DIRECTORY) == []


def test_nested_paths_lists_and_missing_data(table):
    nested = build_routes({"routes": {"a.b": {
        "template": "t", "recipients": ["data.employee_id", "data.detail.dept_manager_id"]}}})
    data = {"employee_id": "C9", "detail": {"dept_manager_id": "M1"}}
    assert nested.recipients("a.b", data, DIRECTORY) == ["C9", "M1"]
    assert nested.recipients("a.b", {}, DIRECTORY) == []
    assert table.recipients("no.such_event", data, DIRECTORY) == []


def test_violations_reach_people_through_the_penalty_notice_only(table):
    # One incident, one notice: the ledger's penalty notice names the rule.
    data = {"employee_id": "C9", "detail": {"dept_manager_id": "M1"}}
    assert table.recipients("attendance.violation_recorded", data, DIRECTORY) == []
    assert table.recipients("dormitory.violation_recorded", data, DIRECTORY) == []
    expr = parse("manager_of(data.ids)")
    assert routing.evaluate(expr, {"ids": ["E1", "E1", None]}, DIRECTORY) == ["M1"]
    assert routing.evaluate(parse("team_leader_of(data.x)"), {"x": "E1"}, DIRECTORY) == ["T1"]


def test_a_notice_awaiting_approval_goes_to_every_gm_001_s1_12_2(table):
    data = {"notice_id": "N-1", "employee_ids": ["E1", "M1"], "approver_role": "gm"}
    # The GM by configuration, and every holder of the directory role gm.
    assert table.recipients("penalties.notice_awaiting_approval", data, DIRECTORY) == ["G1"]
    with_gm = MemoryDirectory({**PEOPLE, "G0": {"name": "陈总", "role": "gm"}},
                            groups={"gm": ["G1"]})
    assert table.recipients("penalties.notice_awaiting_approval", data, with_gm) == \
        ["G0", "G1"]
    assert table.route("penalties.notice_awaiting_approval").urgent_channels == ()


def test_a_decision_goes_to_the_people_the_notice_named_001_s1_12_2(table):
    decided = "penalties.notice_decided"
    data = {"notice_id": "N-1", "approved": True, "decided_by": "G1"}
    assert table.recipients(decided, data, DIRECTORY) == ["E1", "M1"]
    assert table.recipients(decided, {"notice_id": "N-404"}, DIRECTORY) == []
    # Should the event ever name the people itself, they are told too.
    assert table.recipients(decided, {"notice_id": "N-1", "employee_ids": ["E2", "E1"]},
                            DIRECTORY) == ["E2", "E1", "M1"]


@pytest.mark.parametrize("text, complaint", [
    ("boss_of(data.x)", "unknown function"),
    ("manager_of(data.x, data.y)", "takes 1 argument"),
    ("role_holders(data.x)", "takes 2 argument"),
    ("manager_of(data.x", r"missing '\)'"),
    ("manager_of()", r"unexpected '\)'"),
    ("everyone", "neither"),
    ("data.x )", r"unexpected '\)'"),
    ("data.x!", "cannot read"),
    ("", "non-empty"),
])
def test_bad_expressions_are_refused(text, complaint):
    with pytest.raises(RoutingError, match=complaint):
        parse(text, groups={"centre_leaders"})


@pytest.mark.parametrize("raw, complaint", [
    ({"routes": {"Penalties": {"template": "t", "recipients": ["data.x"]}}}, "source.event"),
    ({"routes": {"a.b": {"template": "t", "recipients": "data.x"}}}, "must be a list"),
    ({"routes": {"a.b": {"recipients": ["data.x"]}}}, "template is required"),
    ({"routes": {"a.b": {"template": "t", "recipients": ["data.x"], "cc": 1}}}, "unknown keys"),
    ({"routes": {"a.b": {"template": "t", "recipients": ["data.x"],
                         "urgent_channels": ["fax"]}}}, "urgent_channels"),
    ({"routes": {"a.b": {"template": "t", "recipients": ["leaders"]}}}, "neither"),
    ({"groups": {"leaders": 3}, "routes": {}}, "groups"),
    ({"routes": {}}, "no routes"),
    ({"rutes": {}}, "unknown keys"),
    ([], "expected a mapping"),
])
def test_bad_routing_tables_are_refused(raw, complaint):
    with pytest.raises(RoutingError, match=complaint):
        build_routes(raw)


# -- templates ------------------------------------------------------------------------
PENALTY = make_envelope("penalties", "penalty_issued", {
    "entry_id": "P1", "employee_id": "E1", "share": "team_leader", "points": 3,
    "amount_yuan": 30, "domain": "conduct", "code": "C07", "incident_id": "I1"}, at=T0)
NAMES = {pid: p["name"] for pid, p in PEOPLE.items()}


def test_penalty_notice_shows_code_points_yuan_and_share_in_chinese(catalogue):
    values = templates.context(PENALTY, "E1", NAMES, SHANGHAI)
    notice = catalogue.render("penalty_notice", values)
    assert notice.locale == "zh-CN"
    assert notice.title == "奖罚通知单：C07"
    for text in ("王丽：", "C07", "3 分", "30 元", "班组长连带", "行为规范", "P1"):
        assert text in notice.body


def test_english_template_and_unknown_locale_falls_back(catalogue):
    values = templates.context(PENALTY, "E1", NAMES, SHANGHAI)
    notice = catalogue.render("penalty_notice", values, "en")
    assert notice.title == "Penalty notice: C07"
    assert "3 points, 30 yuan; share: team leader's share" in notice.body
    assert catalogue.render("penalty_notice", values, "fr").locale == "zh-CN"


def test_missing_keys_and_odd_values_render_placeholders_not_errors(catalogue):
    bare = make_envelope("penalties", "penalty_issued", {"employee_id": "X1"}, at=T0)
    notice = catalogue.render("penalty_notice", templates.context(bare, "X1", {}, SHANGHAI))
    assert notice.title == "奖罚通知单：—"
    assert "X1：" in notice.body  # an unknown person is named by id
    loc = build_locale({"locale": "xx", "templates": {"t": {
        "title": "{points:d} / {a.b} / {c[0]}", "body": "{share_label}"}}})
    cat = templates.Catalogue({"xx": loc}, default="xx")
    assert cat.render("t", {"points": "three"}).title == "three / — / —"
    assert cat.render("t", {}).title == "— / — / —"
    assert cat.render("t", {"points": "a\nBcc: x@evil"}).title == "a Bcc: x@evil / — / —"


def test_context_names_people_labels_lists_and_local_times(catalogue):
    env = make_envelope("complaints", "delay_investigation_opened", {
        "number": "2611-0001", "owner_id": "E1", "clocks": ["plan", "report"],
        "due": "2026-11-23T04:00:00+00:00"}, at=T0)
    values = templates.context(env, "M1", NAMES, SHANGHAI)
    assert values["owner_name"] == "王丽" and values["recipient_name"] == "赵敏"
    assert values["due_local"] == "2026-11-23 12:00"
    assert values["time_local"] == "2026-11-23 12:00"
    body = catalogue.render("delay_investigation", values).body
    assert "plan、report" in body
    escalated = dict(values, to_role="deputy_gm", clock="resolve")
    assert "升级至副总经理" in catalogue.render("complaint_escalated", escalated).title


NOTICE = make_envelope("penalties", "notice_awaiting_approval", {
    "notice_id": "N-1", "number": None, "domain": "conduct", "incident_id": "I1",
    "employee_ids": ["E1", "M1"], "amount_yuan_total": 150, "points_total": 6.5,
    "approver_role": "gm", "revision": 1}, at=T0)


def test_a_notice_awaiting_approval_names_the_people_totals_and_approver(catalogue):
    values = templates.context(NOTICE, "G1", NAMES, SHANGHAI)
    assert values["employee_names"] == ["王丽", "赵敏"]
    zh = catalogue.render("notice_awaiting_approval", values)
    assert zh.title == "待批奖罚通知单：王丽、赵敏（行为规范）"
    for text in ("事件 I1", "合计 6.5 分、150 元", "呈总经理批准", "批准前不扣发"):
        assert text in zh.body, text
    en = catalogue.render("notice_awaiting_approval", values, "en")
    assert "names 王丽, 赵敏: 6.5 points and 150 yuan in all, for approval by the GM" in en.body


def test_a_decision_shows_the_remembered_notice_and_who_decided(catalogue):
    decided = make_envelope("penalties", "notice_decided", {
        "notice_id": "N-1", "approved": False, "decided_by": "D1", "note": None}, at=T0)
    known = {"domain": "complaint", "incident_id": "2611-0002", "employee_ids": ["E1"],
             "points_total": 6.0, "amount_yuan_total": 150, "decider_id": "D1"}
    values = templates.context(decided, "E1", NAMES, SHANGHAI, known)
    zh = catalogue.render("notice_decided", values)
    assert zh.title == "奖罚通知单未批准：王丽"
    assert "经 周副总 审批：未批准。审批意见：—" in zh.body  # a null note is a gap
    assert "合计 6 分、150 元" in zh.body
    approved = templates.context(dict(decided, data={**decided["data"], "approved": True}),
                                 "E1", NAMES, SHANGHAI, known)
    assert catalogue.render("notice_decided", approved, "en").title == \
        "Penalty notice approved: 王丽"
    # What the event says wins over what was remembered.
    newer = templates.context(dict(decided, data={**decided["data"], "employee_ids": ["M1"]}),
                              "E1", NAMES, SHANGHAI, known)
    assert newer["employee_names"] == ["赵敏"]
    # Nothing remembered: the placeholders show, the notice still goes out.
    assert catalogue.render("notice_decided", templates.context(
        decided, "E1", NAMES, SHANGHAI)).title == "奖罚通知单未批准：—"


@pytest.mark.parametrize("raw, complaint", [
    ({"locale": "xx", "templates": {"t": {"title": "{", "body": ""}}}, "t.title"),
    ({"locale": "xx", "templates": {"t": {"title": "{0}", "body": ""}}}, "named"),
    ({"locale": "xx", "templates": {"t": {"title": "x"}}}, "title and a body"),
    ({"locale": "xx", "templates": {}}, "templates are required"),
    ({"templates": {"t": {"title": "", "body": ""}}}, "locale is required"),
    ({"locale": "xx", "extra": 1, "templates": {"t": {"title": "", "body": ""}}},
     "unknown keys"),
])
def test_bad_template_files_are_refused(raw, complaint):
    with pytest.raises(TemplateError, match=complaint):
        build_locale(raw)


def test_a_route_naming_a_missing_template_is_refused(catalogue):
    with pytest.raises(TemplateError, match="en: nope"):
        catalogue.require({"nope"})


# -- signatures ---------------------------------------------------------------------------
def test_signature_is_hex_hmac_sha256_of_the_timestamp_and_the_raw_body():
    body = b"The quick brown fox jumps over the lazy dog"
    # HMAC-SHA256("key", "1700000000." + body), as any HMAC library computes it.
    expected = ("t=1700000000,"
                "v1=2f658d6aef4f246e91cd741bbcded7479e9605f9d41c9e248122a117e0e1765b")
    assert sign("key", body, timestamp=1700000000) == expected
    assert verify("key", body, expected, now=1700000000)
    assert not verify("key", body + b" ", expected, now=1700000000)
    assert not verify("other", body, expected, now=1700000000)
    assert not verify("key", body, None)
    # The timestamp is signed: moving it breaks the signature.
    assert not verify("key", body, expected.replace("t=1700000000", "t=1700000100"),
                      now=1700000100)


def test_a_receiver_refuses_a_signature_older_or_newer_than_its_tolerance():
    body = b"{}"
    header = sign("key", body, timestamp=1700000000)
    assert verify("key", body, header, now=1700000000 + 300)
    assert not verify("key", body, header, now=1700000000 + 301)
    assert not verify("key", body, header, now=1700000000 - 301)
    assert verify("key", body, header, now=1700000000 + 3600, tolerance=3600)
    # Without a timestamp, or with no v1, nothing is accepted.
    assert not verify("key", body, header.split(",", 1)[1], now=1700000000)
    assert not verify("key", body, header.split(",", 1)[0], now=1700000000)


def test_during_a_rotation_both_secrets_sign_the_same_timestamp_new_first():
    body = b"The quick brown fox jumps over the lazy dog"
    header = sign(["key", "old-key"], body, timestamp=1700000000)
    assert header == (
        "t=1700000000,"
        "v1=2f658d6aef4f246e91cd741bbcded7479e9605f9d41c9e248122a117e0e1765b,"
        "v1=020640d7714c33e5b24f4b9298331bf184faa5cd79468f59456123e695ab5ed4")
    # A receiver that knows either accepts it; one that knows neither does not.
    assert verify("key", body, header, now=1700000000)
    assert verify("old-key", body, header, now=1700000000)
    assert not verify("third", body, header, now=1700000000)
    with pytest.raises(ValueError):
        sign([], body)


# -- back-off -----------------------------------------------------------------------------
def test_shipped_back_off_schedule_then_give_up():
    policy = load_policy()
    assert policy.retry_after_seconds == (10, 60, 300, 1800)
    assert policy.max_attempts == 5
    steps = [policy.next_attempt_at(n, T0) for n in range(1, 6)]
    assert steps[:4] == [T0 + timedelta(seconds=s) for s in (10, 60, 300, 1800)]
    assert steps[4] is None
    with pytest.raises(ValueError):
        policy.next_attempt_at(0, T0)


@pytest.mark.parametrize("raw, complaint", [
    ({"retry_after_seconds": [10, -1]}, "positive numbers"),
    ({"retry_after_seconds": "10,60"}, "positive numbers"),
    ({"retry_after_seconds": [10], "backoff": 2}, "unknown keys"),
    ({"retry_after_seconds": [10], "timeouts": {"smtp": 3}}, "timeouts"),
    ({"retry_after_seconds": [10], "default_channels": ["fax"]}, "default_channels"),
    ({"retry_after_seconds": [10], "lease_seconds": 5}, "twice the longest"),
    ({"retry_after_seconds": [10], "sweep": {"batch": 0}}, "positive"),
    ({"retry_after_seconds": [10], "webhooks": {"per_target": 0}}, "positive"),
    ({"retry_after_seconds": [10], "webhooks": {"timeout": 3}}, "attempt_seconds"),
    ({"retry_after_seconds": [10], "lease_seconds": 20,
      "webhooks": {"attempt_seconds": 15}}, "twice the longest"),
])
def test_bad_policies_are_refused(raw, complaint):
    with pytest.raises(PolicyError, match=complaint):
        build_policy(raw)


# -- fan-out ------------------------------------------------------------------------------
def _fan_out(envelope, recipients, table, catalogue, *, preferences=None, subscriptions=(),
             channels=fanout.Channels(email=True)):
    return fanout.fan_out(
        envelope, table.route(envelope["type"]), recipients, people=PEOPLE,
        preferences=preferences or {}, subscriptions=list(subscriptions), catalogue=catalogue,
        policy=load_policy(), channels=channels, default_locale="zh-CN", tz=SHANGHAI, now=T0)


def test_fan_out_writes_an_inbox_item_each_and_mail_where_there_is_an_address(
        table, catalogue):
    out = _fan_out(PENALTY, ["E1", "M2"], table, catalogue)
    assert [i["recipient_id"] for i in out.inbox] == ["E1", "M2"]
    # M2 has no e-mail address: inbox only.
    assert [(d["channel"], d["target"]) for d in out.deliveries] == [("email", "li@example.com")]
    assert out.deliveries[0]["state"] == "pending" and out.deliveries[0]["next_attempt_at"] == T0
    again = _fan_out(PENALTY, ["E1", "M2"], table, catalogue)
    assert [i["_id"] for i in again.inbox] == [i["_id"] for i in out.inbox]
    assert [d["_id"] for d in again.deliveries] == [d["_id"] for d in out.deliveries]


def test_fan_out_honours_preferences_urgent_channels_and_configuration(table, catalogue):
    prefs = {"E1": {"channels": ["inbox"], "locale": "en"}}
    out = _fan_out(PENALTY, ["E1"], table, catalogue, preferences=prefs)
    assert out.deliveries == [] and out.inbox[0]["locale"] == "en"
    major = make_envelope("complaints", "major_reported", {"number": "N1"}, at=T0)
    everything = fanout.Channels(email=True, sms=True, chat=True)
    out = _fan_out(major, ["E1", "M1"], table, catalogue, preferences=prefs,
                   channels=everything)
    assert [(d["recipient_id"], d["channel"]) for d in out.deliveries] == [
        ("E1", "sms"), ("E1", "chat"), ("M1", "email"), ("M1", "chat")]
    out = _fan_out(major, ["E1"], table, catalogue, channels=fanout.Channels())
    assert out.deliveries == [] and len(out.inbox) == 1


def test_fan_out_posts_the_envelope_to_each_subscriber(table, catalogue):
    subs = [{"_id": "S1", "url": "http://hook.example/a"}]
    out = _fan_out(PENALTY, [], table, catalogue, subscriptions=subs)
    [hook] = out.deliveries
    assert hook["channel"] == "webhook" and hook["subscription_id"] == "S1"
    import json

    assert json.loads(hook["message"]["body"]) == PENALTY


def test_what_is_remembered_fills_templates_but_never_the_webhook_body(table, catalogue):
    decided = make_envelope("penalties", "notice_decided", {
        "notice_id": "N-1", "approved": True, "decided_by": "D1"}, at=T0)
    known = {"incident_id": "2611-0002", "employee_ids": ["E1", "M1"], "decider_id": "D1"}
    assert {"E1", "M1", "D1"} <= set(fanout.person_ids_in(decided, ["E1"], known))
    out = fanout.fan_out(
        decided, table.route(decided["type"]), ["E1"], people=PEOPLE, preferences={},
        subscriptions=[{"_id": "S1", "url": "http://hook.example/a"}], catalogue=catalogue,
        policy=load_policy(), channels=fanout.Channels(), default_locale="zh-CN", tz=SHANGHAI,
        now=T0, known=known)
    assert out.inbox[0]["title"] == "奖罚通知单已批准：王丽、赵敏"
    [hook] = out.deliveries
    assert hook["message"]["body"] == fanout.webhook_body(decided)


# -- settling an attempt --------------------------------------------------------------------
class FakeStore:
    def __init__(self):
        self.recorded = []

    def record_attempt(self, claimed, attempt, state, next_at, now):
        self.recorded.append((attempt, state, next_at))
        return True


@pytest.mark.parametrize("made_before, outcome, state, wait", [
    (0, Outcome(True, status=200), "delivered", None),
    (0, Outcome(False, status=500, error="HTTP 500"), "pending", 10),
    (3, Outcome(False, status=500, error="HTTP 500"), "pending", 1800),
    (4, Outcome(False, status=500, error="HTTP 500"), "failed", None),
    (0, Outcome(False, error="gone", final=True), "failed", None),
])
def test_settle_follows_the_schedule(made_before, outcome, state, wait):
    store, seen = FakeStore(), []
    courier = Courier(store, None, load_policy(), lambda c, s: seen.append((c, s)))
    claimed = {"_id": "D1", "channel": "webhook", "lease": "x",
               "attempts": [{"ok": False}] * made_before}
    assert courier.settle(claimed, outcome, T0) == state
    [(attempt, recorded_state, next_at)] = store.recorded
    assert recorded_state == state and attempt["at"] == T0 and attempt["ok"] is outcome.ok
    assert next_at == (T0 + timedelta(seconds=wait) if wait else None)
    assert seen == [("webhook", state)]


def test_the_monthly_publication_goes_to_the_unit_head(table):
    recipients = table.recipients("penalties.publication_issued",
                                  {"unit_head_id": "U9", "unit": "north"}, DIRECTORY)
    assert recipients[0] == "U9"
