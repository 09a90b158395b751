"""Who is on call, and what Alertmanager's webhook leaves in their inbox.

The rota function is pure; the receiver runs over an in-memory store. No
broker, no database.
"""
import copy
from datetime import datetime, timedelta

import pytest
from notifications import app, rota
from notifications.alerts import OnCallRulesError, alerts_in, build_oncall_rules
from notifications.rulebook import load_rules
from zhidu.envelope import make_envelope
from zhidu.times import UTC

SHANGHAI = timedelta(hours=8)


def local(text: str) -> datetime:
    """A Beijing wall time as the UTC instant the copy stores."""
    return (datetime.fromisoformat(text) - SHANGHAI).replace(tzinfo=UTC)


def entry(employee_id, day, start, end, *, department="customer_service", on_call=True):
    """A duty entry as attendance announces it: ``end`` on the next day when before ``start``."""
    begins = local(f"{day}T{start}")
    ends = local(f"{day}T{end}")
    if ends <= begins:
        ends += timedelta(days=1)
    return {"employee_id": employee_id, "date": day, "department": department,
            "shift_code": f"{start}-{end}", "on_call": on_call,
            "start": begins.isoformat(), "end": ends.isoformat()}


def who(entries, at, department="customer_service", **kw):
    kw.setdefault("last_resort", "oncall-desk")
    return rota.on_call([d for e in entries for d in rota.duty_entries({"entries": [e]})],
                        department, local(at), **kw)


# -- the pure function --------------------------------------------------------------------
def test_a_night_shift_covers_its_hours_on_both_sides_of_midnight_002_s1_2_1():
    night = [entry("N1", "2026-03-01", "22:00", "06:00"),
             entry("D1", "2026-03-02", "06:00", "14:00")]
    assert who(night, "2026-03-01T23:30") == rota.OnCall(("N1",), rota.ROTA)
    assert who(night, "2026-03-02T05:59") == rota.OnCall(("N1",), rota.ROTA)
    # The end is the next shift's start: the handover instant is the day shift's.
    assert who(night, "2026-03-02T06:00").people == ("D1",)
    assert who(night, "2026-03-01T21:59", managers=["M1"]) == rota.OnCall(("M1",), rota.MANAGER)


def test_a_holiday_24_hour_duty_and_another_department_s_roster_002_s1_1_6():
    holiday = [entry("H1", "2026-10-01", "08:00", "08:00"),           # 24 小时值班
               entry("X1", "2026-10-01", "00:00", "23:59", department="hr")]
    assert who(holiday, "2026-10-01T08:00").people == ("H1",)
    assert who(holiday, "2026-10-02T03:00").people == ("H1",)
    assert who(holiday, "2026-10-02T08:00", managers=["M1"]).source == rota.MANAGER
    assert who(holiday, "2026-10-01T12:00", department="hr").people == ("X1",)


def test_a_roster_change_approved_mid_shift_takes_the_next_shift_not_the_running_one_002_s1_1_5():
    """While N1 works the night, the supervisor moves the morning on-call shift from
    D1 to D2: the copy keeps the newest announcement per employee and date."""
    copy_ = {}

    def announce(*entries, as_of):
        for doc in rota.duty_entries({"entries": list(entries)}):
            if doc["_id"] not in copy_ or copy_[doc["_id"]]["as_of"] <= as_of:
                copy_[doc["_id"]] = {**doc, "as_of": as_of}

    announce(entry("N1", "2026-03-01", "22:00", "06:00"),
             entry("D1", "2026-03-02", "06:00", "14:00"), as_of=local("2026-02-20T10:00"))
    approved = local("2026-03-02T01:00")
    announce(entry("D1", "2026-03-02", "06:00", "14:00", on_call=False),
             entry("D2", "2026-03-02", "06:00", "14:00"), as_of=approved)
    # A late redelivery of the first roster does not undo the change.
    announce(entry("D1", "2026-03-02", "06:00", "14:00"), as_of=local("2026-02-20T10:00"))
    entries = list(copy_.values())
    assert rota.on_call(entries, "customer_service", local("2026-03-02T01:30"),
                        last_resort="x").people == ("N1",)
    assert rota.on_call(entries, "customer_service", local("2026-03-02T07:00"),
                        last_resort="x").people == ("D2",)


def test_nobody_rostered_falls_to_the_manager_then_the_group_then_the_shared_inbox():
    assert who([], "2026-03-02T03:00", managers=["M1"], fallback=["F1"]).people == ("M1",)
    assert who([], "2026-03-02T03:00", fallback=["F1", "F1"]) == \
        rota.OnCall(("F1",), rota.FALLBACK)
    assert who([], "2026-03-02T03:00") == rota.OnCall(("oncall-desk",), rota.LAST_RESORT)


def test_overlapping_on_call_shifts_tell_both_earliest_first():
    both = [entry("B", "2026-03-02", "09:00", "17:00"), entry("A", "2026-03-02", "08:00", "16:00")]
    assert who(both, "2026-03-02T10:00").people == ("A", "B")


# -- the receiver ---------------------------------------------------------------------------
class Store:
    """The store methods the duty handler and the receiver use, in memory."""

    def __init__(self, people):
        self.people_ = copy.deepcopy(people)
        self.duty: dict[str, dict] = {}
        self.told: set[str] = set()
        self.items: dict[str, dict] = {}

    def remember_duty(self, entries, as_of):
        fresh = 0
        for doc in entries:
            old = self.duty.get(doc["_id"])
            if old is None or old["as_of"] <= as_of:
                self.duty[doc["_id"]] = {**doc, "as_of": as_of}
                fresh += 1
        return fresh

    def duty_around(self, department, at):
        return [d for d in self.duty.values() if d["department"] == department and d["on_call"]]

    def alert_told(self, key, now):
        seen = key in self.told
        self.told.add(key)
        return seen

    def people(self, ids):
        return {i: {"_id": i, **self.people_[i]} for i in dict.fromkeys(ids) if i in self.people_}

    def with_role(self, role, department=None):
        return sorted(i for i, p in self.people_.items() if p.get("role") == role and (
            department is None or p.get("department") == department)
            and not p.get("departed_at"))

    def preferences(self, ids):
        return {}

    def add_notices(self, items, webhooks):
        new = [i for i in items if i["_id"] not in self.items]
        self.items.update({i["_id"]: i for i in new})
        return new, []

    def inbox(self, recipient_id):
        return [i for i in self.items.values() if i["recipient_id"] == recipient_id]


PEOPLE = {"X": {"name": "值班员小李", "phone": "13800000009", "department": "customer_service",
                "role": "staff"},
          "M": {"name": "经理老王", "department": "customer_service", "role": "dept_manager"},
          "H": {"name": "人事", "department": "hr", "role": "hr"}}
NOW = local("2026-03-02T03:00")


@pytest.fixture
def rules():
    return load_rules({"ZHIDU_SMS_WEBHOOK_URL": "http://sms.test/send",
                       "ZHIDU_ONCALL_FALLBACK_IDS": "F9"})


@pytest.fixture
def store():
    store = Store(PEOPLE)
    app.duty_rostered(store, make_envelope("attendance", "duty_rostered", {
        "entries": [entry("X", "2026-03-01", "22:00", "06:00")]}, at=local("2026-02-20T09:00")))
    return store


def webhook(status="firing", receiver="sla-desk", fingerprint="abc123", **labels):
    labels = {"alertname": "ZhiduSlaBreached", "severity": "warning", "service": "complaints",
              "category": "business", "clock": "acknowledge", **labels}
    return {"version": "4", "receiver": receiver, "status": status, "groupKey": "{}:{}",
            "alerts": [{"status": status, "labels": labels,
                        "annotations": {"summary": "Complaint SLA breached",
                                        "runbook_url": "docs/runbooks/sla-breached.md"},
                        "startsAt": "2026-03-01T19:00:00Z",
                        "endsAt": "2026-03-01T19:30:00Z" if status == "resolved"
                        else "0001-01-01T00:00:00Z",
                        "fingerprint": fingerprint}]}


def test_a_firing_alert_pages_the_person_on_call_in_chinese_inbox_and_sms(store, rules):
    answer, notified = app.receive_alerts(store, rules, webhook(receiver="oncall-page",
                                                               severity="critical"), now=NOW)
    assert answer == {"told": [{"alertname": "ZhiduSlaBreached", "status": "firing",
                                "fingerprint": "abc123", "department": "customer_service",
                                "recipients": ["X"], "chosen_by": "rota"}], "repeats": 0}
    [item] = store.inbox("X")
    assert item["title"] == "【值班告警·紧急】Complaint SLA breached"
    assert "值班员小李" in item["body"] and "docs/runbooks/sla-breached.md" in item["body"]
    assert item["event_type"] == "alertmanager.firing"
    # A page wakes someone: SMS on top of the person's own (default) choice.
    assert [d["channel"] for d in item["deliveries"]] == ["sms"]
    assert notified.items == [item] and notified.outbound()


def test_the_same_alert_and_status_again_tells_nobody_but_its_resolution_does(store, rules):
    app.receive_alerts(store, rules, webhook(), now=NOW)
    answer, notified = app.receive_alerts(store, rules, webhook(), now=NOW + timedelta(hours=2))
    assert answer == {"told": [], "repeats": 1} and notified.items == []
    answer, _ = app.receive_alerts(store, rules, webhook("resolved"), now=NOW)
    titles = {i["title"] for i in store.inbox("X")}
    assert titles == {"【已恢复】Complaint SLA breached", "【值班告警·警告】Complaint SLA breached"}
    assert "已于 2026-03-02 03:30 恢复" in next(i["body"] for i in store.inbox("X")
                                              if i["event_type"] == "alertmanager.resolved")


def test_english_for_a_person_who_chose_it(store, rules):
    store.preferences = lambda ids: {"X": {"locale": "en"}} if "X" in ids else {}
    app.receive_alerts(store, rules, webhook(), now=NOW)
    assert store.inbox("X")[0]["title"] == "[On call · warning] Complaint SLA breached"


def test_a_desk_s_department_the_service_s_owner_and_the_fallback_chain(store, rules):
    answer, _ = app.receive_alerts(store, rules, webhook(receiver="hr-desk", service="attendance",
                                                         alertname="ZhiduLeaveApprovalsWaiting"),
                                   now=NOW)
    assert answer["told"][0]["department"] == "hr"
    # hr has no duty and no manager: the fallback group.
    assert (answer["told"][0]["recipients"], answer["told"][0]["chosen_by"]) == (["F9"], "fallback")
    # The same alert outside the duty hours goes to customer service's manager.
    backlog = webhook(receiver="oncall", alertname="ZhiduOutboxBacklog", fingerprint="def456")
    answer, _ = app.receive_alerts(store, rules, backlog, now=NOW + timedelta(hours=6))
    assert (answer["told"][0]["recipients"], answer["told"][0]["chosen_by"]) == (["M"], "manager")


def test_alerts_in_reads_departments_from_labels_then_services_then_the_default(rules):
    oncall = rules.oncall
    assert [a.department for a in alerts_in(webhook(receiver="oncall", department="sales"),
                                            oncall)] == ["sales"]
    plain = webhook(receiver="nobody-knows")
    plain["alerts"][0]["labels"].pop("service")
    assert [a.department for a in alerts_in(plain, oncall)] == ["customer_service"]
    assert alerts_in(webhook(), oncall)[0].key != alerts_in(webhook("resolved"), oncall)[0].key


def test_a_malformed_oncall_file_stops_the_service():
    with pytest.raises(OnCallRulesError):
        build_oncall_rules({"receivers": {"oncall": {}}, "default_receiver": "page"})


def test_a_roster_change_approved_mid_shift_replaces_the_person_on_call_now(rules):
    """N1 falls ill during the night: at 01:00 the supervisor's approved change
    takes N1 off call and puts N2 on the same running shift. The next alert
    pages N2 alone; N1, off call, is not woken again — not even by a late
    redelivery of the roster published a week before."""
    store = Store({"N1": {"name": "夜班甲", "department": "customer_service", "role": "staff"},
                   "N2": {"name": "夜班乙", "department": "customer_service", "role": "staff"}})
    published, approved = local("2026-02-22T09:00"), local("2026-03-02T01:00")

    def announce(*entries, at):
        app.duty_rostered(store, make_envelope("attendance", "duty_rostered",
                                               {"entries": list(entries)}, at=at))

    announce(entry("N1", "2026-03-01", "22:00", "06:00"), at=published)

    def paged(fingerprint, at):
        answer, _ = app.receive_alerts(store, rules, webhook(
            receiver="oncall-page", severity="critical", fingerprint=fingerprint), now=at)
        [told] = answer["told"]
        return told["recipients"], told["chosen_by"]

    assert paged("before", local("2026-03-02T00:30")) == (["N1"], "rota")
    announce(entry("N1", "2026-03-01", "22:00", "06:00", on_call=False),
             entry("N2", "2026-03-01", "22:00", "06:00"), at=approved)
    assert paged("after", local("2026-03-02T01:30")) == (["N2"], "rota")
    announce(entry("N1", "2026-03-01", "22:00", "06:00"), at=published)
    assert paged("redelivered", local("2026-03-02T02:00")) == (["N2"], "rota")
    # The running shift still ends at 06:00: then the day's roster (none here) decides.
    assert paged("morning", local("2026-03-02T06:00"))[1] != "rota"
