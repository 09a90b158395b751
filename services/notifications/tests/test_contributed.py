"""Routes other distributions contribute (zhidu.notification_routes): found through
entry points, checked like the service's own at start-up, and fanned out — a
customer's number texted, never shown whole in the delivery log."""
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from notifications import contributed, fanout, routing
from notifications.plugin import CONTRIBUTED, OWN_CONSUMES
from notifications.retry import load_policy
from notifications.routing import RoutingError, build_routes, load_routes, parse
from notifications.rulebook import load_rules
from notifications.templates import TemplateError, context, load_catalogue
from notifications.testing import MemoryDirectory
from zhidu.envelope import make_envelope

UTC = timezone.utc
SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 13, 2, 0, tzinfo=UTC)
ROUTING_EVENTS = {"repairs.dispatched", "repairs.appointment_set", "repairs.completed",
                  "repairs.called_back", "repairs.sla_breached", "repairs.escalated",
                  "repairs.escalated_to_complaint"}


PEOPLE = {
    "eng-07": {"name": "周工", "department": "engineering", "role": "staff",
               "phone": "13700000007"},
    "eng-mgr": {"name": "吴主任", "department": "engineering", "role": "dept_manager"},
    "fd-01": {"name": "钱前台", "department": "customer_service", "role": "customer_service"},
    "cs-mgr": {"name": "孙经理", "department": "customer_service", "role": "dept_manager"},
    "D1": {"name": "周副总", "role": "deputy_gm"},
}
DIRECTORY = MemoryDirectory(PEOPLE)


class EntryPoint:
    def __init__(self, name, target):
        self.name, self.value, self.target = name, f"tests:{name}", target

    def load(self):
        if isinstance(self.target, Exception):
            raise self.target
        return self.target


@pytest.fixture(scope="module")
def rules():
    return load_rules({"ZHIDU_SMS_WEBHOOK_URL": "http://sms.test/send",
                       "ZHIDU_REPAIRS_DESK_IDS": "fd-02"})


# -- the installed contribution -------------------------------------------------------
def test_repairs_routes_arrive_through_the_entry_point_with_a_handler_each(rules):
    assert ROUTING_EVENTS <= set(CONTRIBUTED)
    assert not set(CONTRIBUTED) & set(OWN_CONSUMES)
    assert ROUTING_EVENTS <= set(rules.routes.routes)
    # The contribution's own group: its setting's ids join the directory's holders.
    assert rules.groups["customer_service"] == ["fd-02"]
    # Every template its routes name exists in both locales (load_rules required it).
    assert {"repair_dispatched", "repair_appointment_sms"} <= set(
        rules.catalogue.locales["en"].templates)


def test_the_engineer_hears_of_a_dispatch_and_the_desk_and_supervisor_of_a_breach(rules):
    table, directory = rules.routes, MemoryDirectory(PEOPLE, {"customer_service": ["fd-02"]})
    dispatched = {"number": "R2611-0001", "engineer_id": "eng-07", "reassigned_from": None}
    assert table.recipients("repairs.dispatched", dispatched, directory) == ["eng-07"]
    assert table.route("repairs.dispatched").urgent_channels == ("sms",)
    breach = {"number": "R2611-0001", "clock": "arrival", "owner_id": "eng-07",
              "department": "engineering"}
    assert table.recipients("repairs.sla_breached", breach, directory) == \
        ["eng-07", "fd-01", "fd-02", "eng-mgr"]
    escalated = {**breach, "level": 2, "to_role": "deputy_gm"}
    assert table.recipients("repairs.escalated", escalated, directory) == \
        ["D1", "eng-07", "fd-01", "fd-02", "eng-mgr"]
    to_complaint = {"number": "R2611-0001", "complaint": {"target_department": "engineering"}}
    assert table.recipients("repairs.escalated_to_complaint", to_complaint, directory) == \
        ["fd-01", "fd-02", "eng-mgr"]


def _appointment(phone="139 0000-1111"):
    return make_envelope("repairs", "appointment_set", {
        "number": "R2611-0001", "round": 1, "kind": "paid", "urgency": "urgent",
        "trades": ["plumbing"], "location": "厨房", "engineer_id": "eng-07",
        "appointment_at": "2026-11-13T06:00:00+00:00", "moved": False,
        "at": "2026-11-13T02:00:00+00:00", "customer_name": "李先生",
        "customer_phone": phone}, at=T0)


def _fan_out(rules, envelope, channels, recipients=None):
    route = rules.routes.route(envelope["type"])
    recipients = recipients if recipients is not None else rules.routes.recipients(
        envelope["type"], envelope["data"], DIRECTORY)
    return fanout.fan_out(
        envelope, route, recipients, people=PEOPLE, preferences={},
        subscriptions=[], catalogue=rules.catalogue, policy=load_policy(), channels=channels,
        default_locale="zh-CN", tz=SHANGHAI, now=T0)


def test_the_customer_is_texted_the_sms_template_and_the_engineer_gets_an_inbox_item(rules):
    envelope = _appointment()
    recipients = rules.routes.recipients(envelope["type"], envelope["data"], DIRECTORY)
    assert recipients == ["eng-07", "tel:13900001111"]
    out = _fan_out(rules, envelope, fanout.Channels(sms=True))
    [item] = out.inbox
    assert item["recipient_id"] == "eng-07"
    assert item["title"] == "报修 R2611-0001 预约上门：2026-11-13 14:00"
    # The engineer's own channels are their choice (by default no SMS for this event).
    [customer_sms] = out.deliveries
    assert customer_sms["recipient_id"] is None and customer_sms["external"] is True
    assert customer_sms["target"] == "13900001111"
    text = customer_sms["message"]["subject"] + customer_sms["message"]["body"]
    assert text.startswith("【物业报修】李先生您好，您的报修 R2611-0001 已预约于 2026-11-13 14:00")
    assert "周工" in text and "维修人员" in text
    # The delivery log shows who was texted, not the number.
    assert fanout.shown_target(customer_sms) == "139****1111"
    # A text has a delivery of its own (stored beside webhooks), keyed by the event.
    parcels = fanout.pack(out, lease="L", lease_seconds=30, now=T0)
    assert [d["_id"] for d in parcels.webhooks] == [customer_sms["_id"]]
    assert parcels.items[0]["deliveries"] == []
    assert _fan_out(rules, envelope, fanout.Channels(sms=True)).deliveries[0]["_id"] == \
        customer_sms["_id"]
    # A person's own SMS shows the address as it is.
    dispatched = make_envelope("repairs", "dispatched", {"number": "R1", "engineer_id":
                                                         "eng-07"}, at=T0)
    [engineer_sms] = _fan_out(rules, dispatched, fanout.Channels(sms=True)).deliveries
    assert fanout.shown_target(engineer_sms) == "13700000007"


def test_no_gateway_no_text_and_no_number_no_text(rules):
    out = _fan_out(rules, _appointment(), fanout.Channels())
    assert [i["recipient_id"] for i in out.inbox] == ["eng-07"] and out.deliveries == []
    for phone in (None, "", "call me", "12"):
        envelope = _appointment(phone)
        assert rules.routes.recipients(envelope["type"], envelope["data"], DIRECTORY) == \
            ["eng-07"]


def test_a_route_that_only_texts_needs_no_inbox_template(rules):
    completed = make_envelope("repairs", "completed", {
        "number": "R2611-0001", "amount_yuan": 50, "payer": "customer",
        "at": "2026-11-13T03:00:00+00:00", "customer_name": "李先生",
        "customer_phone": "13900001111", "engineer_id": "eng-07"}, at=T0)
    assert rules.routes.route("repairs.completed").template is None
    out = _fan_out(rules, completed, fanout.Channels(sms=True, email=True))
    assert out.inbox == []
    [text] = out.deliveries
    assert "费用 50 元（客户承担）" in text["message"]["body"]
    assert "2026-11-13 11:00 完工" in text["message"]["body"]


def test_a_contributions_labels_word_its_own_templates_only(rules):
    catalogue = rules.catalogue
    dispatched = make_envelope("repairs", "dispatched", {
        "number": "R1", "kind": "paid", "urgency": "urgent", "trade": "plumbing",
        "engineer_id": "eng-07", "location": "厨房"}, at=T0)
    body = catalogue.render("repair_dispatched", context(
        dispatched, "eng-07", {"eng-07": "周工"}, SHANGHAI)).body
    assert "特约服务，紧急" in body and "工种：水" in body
    assert catalogue.render("repair_dispatched", context(
        dispatched, "eng-07", {}, SHANGHAI), "en").title == "Repair R1 dispatched to eng-07"
    threshold = make_envelope("penalties", "threshold_reached",
                              {"employee_id": "E1", "kind": "admonishment", "year": 2026})
    assert catalogue.render("threshold_notice", context(
        threshold, "E1", {}, SHANGHAI)).title == "奖惩提示：诫勉谈话"
    # The escalation ladder's words are the repairs ones there, the company's elsewhere.
    escalated = make_envelope("repairs", "escalated", {
        "number": "R1", "clock": "arrival", "to_role": "dept_manager", "level": 1})
    assert catalogue.render("repair_escalated", context(
        escalated, "x", {}, SHANGHAI)).title == "催办单（升级至工程部主任）：报修 R1"
    complaint = make_envelope("complaints", "escalated", {"number": "2611-1",
                                                          "to_role": "dept_manager"})
    assert "部门经理" in catalogue.render("complaint_escalated", context(
        complaint, "x", {}, SHANGHAI)).title


# -- the phone expression --------------------------------------------------------------
def test_phone_numbers_are_normalised_and_masked():
    assert routing.phone_digits("+86 139-0000 (1111)") == "+8613900001111"
    assert routing.phone_digits("13900001111") == "13900001111"
    assert routing.phone_digits("not a number") is None
    assert routing.mask_phone("13900001111") == "139****1111"
    assert routing.mask_phone("+8613900001111") == "+86*******1111"
    assert routing.mask_phone("123456") == "1***56"
    expr = parse("phone(data.customer.phone)")
    assert routing.evaluate(expr, {"customer": {"phone": ["139 0000 1111", "13900001111"]}},
                            DIRECTORY) == ["tel:13900001111"]


@pytest.mark.parametrize("spec, complaint", [
    ({"template": "t", "recipients": ["phone(data.p)"]}, "needs an sms_template"),
    ({"template": "t", "sms_template": "s", "recipients": ["data.x"]}, "without a phone"),
    ({"sms_template": "s", "recipients": ["phone(data.p)", "data.x"]}, "template is required"),
    ({"template": "t", "sms_template": "s", "recipients": ["manager_of(phone(data.p))"]},
     "not an argument"),
    ({"template": "t", "recipients": ["phone(data.p, data.q)"]}, "takes 1 argument"),
])
def test_bad_texting_routes_are_refused(spec, complaint):
    with pytest.raises(RoutingError, match=complaint):
        build_routes({"routes": {"a.b": spec}})


# -- contributions checked at start-up ---------------------------------------------------
GOOD_ROUTES = {"routes": {"repairs.dispatched": {
    "template": "x_dispatched", "recipients": ["data.engineer_id"]}}}


def _templates(ids=("x_dispatched",), locales=("zh-CN", "en"), labels=None):
    return {locale: {"locale": locale, **({"labels": labels} if labels else {}),
                     "templates": {tid: {"title": f"{tid} {{number}}", "body": "b"}
                                   for tid in ids}} for locale in locales}


def contribution(tmp_path: Path, routes=None, templates=None, name="x") -> Path:
    directory = tmp_path / name
    (directory / "templates").mkdir(parents=True)
    (directory / "routes.yaml").write_text(
        routes if isinstance(routes, str) else yaml.safe_dump(routes or GOOD_ROUTES),
        encoding="utf-8")
    for locale, raw in (templates or _templates()).items():
        (directory / "templates" / f"{locale}.yaml").write_text(
            yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return directory


def _load(*eps):
    return contributed.load(load_routes(), load_catalogue(), handled=OWN_CONSUMES,
                            entry_points_of=lambda group: list(eps))


def test_a_good_contribution_is_merged(tmp_path):
    routes, catalogue = _load(EntryPoint("x", contribution(tmp_path)))
    assert routes.route("repairs.dispatched").template == "x_dispatched"
    assert routes.route("penalties.penalty_issued") is not None
    catalogue.require(routes.templates())
    # A callable entry point is asked for its directory.
    directory = contribution(tmp_path, name="y")
    routes, _ = _load(EntryPoint("y", lambda: str(directory)))
    assert "repairs.dispatched" in routes.routes


@pytest.mark.parametrize("routes, complaint", [
    ({"routes": {"penalties.penalty_issued": {"template": "x_dispatched",
                                              "recipients": ["data.employee_id"]}}},
     "handled by notifications itself"),
    ({"routes": {"directory.employee_upserted": {"template": "x_dispatched",
                                                 "recipients": []}}},
     "handled by notifications itself"),
    ({"routes": {"repairs.dispatchd": {"template": "x_dispatched", "recipients": []}}},
     "publishes no event 'dispatchd'"),
    ({"routes": {"plumbing.dispatched": {"template": "x_dispatched", "recipients": []}}},
     "no service 'plumbing'"),
    ({"routes": {"repairs.dispatched": {"template": "x_dispatched",
                                        "recipients": ["data.enginer_id"]}}},
     "no field 'enginer_id'"),
    ({"routes": {"repairs.dispatched": {"template": "x_dispatched",
                                        "recipients": ["boss_of(data.engineer_id)"]}}},
     "unknown function"),
    ({"groups": {"hr": "ZHIDU_OTHER_HR"},
      "routes": {"repairs.dispatched": {"template": "x_dispatched", "recipients": ["hr"]}}},
     "declared with other settings"),
    ("routes: [", "while parsing"),
    ("- a list", "expected a mapping"),
])
def test_bad_contributed_routes_are_refused(tmp_path, routes, complaint):
    with pytest.raises(RoutingError, match=complaint):
        _load(EntryPoint("x", contribution(tmp_path, routes)))


def test_a_built_in_group_may_be_used_by_a_contribution(tmp_path):
    routes, _ = _load(EntryPoint("x", contribution(tmp_path, {"routes": {
        "repairs.dispatched": {"template": "x_dispatched",
                               "recipients": ["data.engineer_id", "centre_leaders"]}}})))
    assert routes.groups["centre_leaders"] == "ZHIDU_CENTRE_LEADERS"


@pytest.mark.parametrize("templates, complaint", [
    (_templates(ids=("penalty_notice", "x_dispatched")), "already in use: penalty_notice"),
    (_templates(locales=("zh-CN", "en", "fr")), r"locales \['fr'\]"),
    ({**_templates(), "en": {"locale": "en", "missing": "?", "templates": {
        "x_dispatched": {"title": "t", "body": "b"}}}}, "unknown keys"),
])
def test_bad_contributed_templates_are_refused(tmp_path, templates, complaint):
    with pytest.raises(TemplateError, match=complaint):
        _load(EntryPoint("x", contribution(tmp_path, templates=templates)))


def test_a_template_missing_from_a_locale_is_caught_by_the_catalogues_check(tmp_path):
    routes, catalogue = _load(EntryPoint("x", contribution(
        tmp_path, templates=_templates(locales=("zh-CN",)))))
    with pytest.raises(TemplateError, match="en: x_dispatched"):
        catalogue.require(routes.templates())


def test_two_contributions_routing_one_event_are_refused(tmp_path):
    with pytest.raises(RoutingError, match="already routed: repairs.dispatched"):
        _load(EntryPoint("a", contribution(tmp_path, name="a")),
              EntryPoint("b", contribution(tmp_path, name="b", templates=_templates(
                  ids=("y_dispatched",)), routes={"routes": {"repairs.dispatched": {
                      "template": "y_dispatched", "recipients": []}}})))


@pytest.mark.parametrize("target, complaint", [
    (ImportError("no module canteen"), "failed to load: no module canteen"),
    (42, "must resolve to a directory"),
    ("/nonexistent/routes", "must resolve to a directory"),
])
def test_an_entry_point_that_is_not_a_directory_is_refused(target, complaint):
    with pytest.raises(RoutingError, match=complaint):
        _load(EntryPoint("x", target))


def test_a_bad_contribution_stops_the_start_but_not_the_import(tmp_path, monkeypatch, caplog):
    bad = contribution(tmp_path, {"routes": {"repairs.dispatched": {
        "template": "x_dispatched", "recipients": ["data.nope"]}}})
    broken = contribution(tmp_path, "routes: [", name="broken")
    eps = [EntryPoint("x", bad), EntryPoint("broken", broken)]
    monkeypatch.setattr(contributed, "installed", lambda group: eps)
    # Reading the event types for the handlers never raises ...
    assert contributed.event_types() == ("repairs.dispatched",)
    assert "cannot be read" in caplog.text
    # ... the start-up does, with the reason.
    with pytest.raises(RoutingError, match="broken.*routes.yaml.*while parsing"):
        load_rules({})
    monkeypatch.setattr(contributed, "installed", lambda group: eps[:1])
    with pytest.raises(RoutingError, match="no field 'nope'"):
        load_rules({})
