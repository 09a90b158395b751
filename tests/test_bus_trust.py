"""The bus trusts no stranger: an event counts only from its source's broker user.

Every service runs as it is deployed, with a broker user of its own and the
permissions of deploy/rabbitmq/ (the harness makes them in the test's vhost).
"""
import re
import uuid

import pytest
import requests
from amqp.exceptions import AccessRefused, PreconditionFailed
from directory.service import DirectoryService
from kombu import Connection, Exchange, Queue
from nameko.amqp.publish import Publisher
from penalties.service import PenaltiesService
from zhidu.broker import Needs, bindable_events, permissions, topic_permissions
from zhidu.envelope import make_envelope
from zhidu.plugins import discover
from zhidu.testing import BrokerUsers, publish_event, service_db, wait_for

pytestmark = pytest.mark.integration

WORKER = {"employee_id": "W1", "name": "张伟", "gender": "M", "department": "property",
          "unit": "north", "monthly_wage_yuan": 3000, "team_leader_id": "TL",
          "manager_id": "DM", "unit_head_id": "UH"}


def absence(violation_id: str) -> dict:
    return {"violation_id": violation_id, "incident_id": f"W1:{violation_id}",
            "employee_id": "W1", "code": "A04", "points": 10,
            "at": "2026-11-16T08:30:00+08:00", "domain": "attendance", "detail": {}}


@pytest.fixture
def penalties(start_service, rpc, zhidu_config):
    start_service(DirectoryService)
    container = start_service(PenaltiesService)
    rpc.directory.upsert_employee(WORKER)
    people = service_db(zhidu_config, "penalties").people
    wait_for(lambda: (p := people.find_one({"_id": "W1"})) and p.get("manager_id")
             and p.get("monthly_wage_yuan"), message="W1 copied into penalties")
    return container


def booked(zhidu_config) -> list[str]:
    entries = service_db(zhidu_config, "penalties").entries.find({}, {"incident_id": 1})
    return sorted(e["incident_id"] for e in entries)


def refused_total(container) -> float:
    text = requests.get(f"{container.web_url}/metrics", timeout=5).text
    return sum(float(value) for value in re.findall(
        r'^zhidu_events_refused_total\{[^}]*service="penalties"[^}]*\} (\S+)$', text, re.M))


def test_a_forged_attendance_violation_books_nothing(penalties, zhidu_config, rpc,
                                                     broker_users):
    uri = zhidu_config["AMQP_URI"]
    forged = make_envelope("attendance", "violation_recorded", absence("A-forged"))
    # The broker stops another service writing attendance's exchange, and
    # anyone claiming attendance's user for their own message.
    with pytest.raises(AccessRefused):
        publish_event(uri, forged, sender="dormitory")
    with pytest.raises(PreconditionFailed):
        Publisher(uri, user_id=broker_users.user("attendance")).publish(
            forged, exchange=Exchange("attendance.events", type="topic"),
            routing_key="violation_recorded")

    # What can still reach penalties is refused unhandled, with the reason: the
    # event sent by dormitory on its own exchange, and by a user with every
    # right on the broker but no identity of a service.
    publish_event(uri, forged, sender="dormitory", exchange="dormitory")
    publish_event(uri, forged, sender=None)
    letters = wait_for(lambda: len(found := rpc.penalties.dead_letters({})) == 2 and found,
                       message="two refused events")
    errors = sorted(letter["error"] for letter in letters)
    assert all(error.startswith("UntrustedSender: ") for error in errors), errors
    assert "dormitory published an event claiming to be 'attendance.violation_recorded'" \
        in errors[0]
    assert f"not by attendance's user {broker_users.user('attendance')!r}" in errors[1]
    assert {letter["attempts"] for letter in letters} == {1}  # never retried

    # The real one, published as attendance's user and carrying its user_id,
    # is booked; the penalty it causes carries penalties' user.
    with Connection(uri) as conn:
        listener = Queue(f"listener-{uuid.uuid4().hex[:6]}", auto_delete=True,
                         exchange=Exchange("penalties.events", type="topic", durable=True),
                         routing_key="penalty_issued")(conn.default_channel)
        listener.declare()
        publish_event(uri, make_envelope("attendance", "violation_recorded",
                                         absence("A-real")))
        wait_for(lambda: booked(zhidu_config) == ["A-real"], message="the real one booked")
        issued = wait_for(lambda: listener.get(no_ack=True), message="penalty_issued")
    assert issued.properties["user_id"] == broker_users.user("penalties")
    assert refused_total(penalties) == 2

    # Replayed by the service itself, the refused events are refused again.
    assert len(rpc.penalties.replay_dead_letters({})["replayed"]) == 2
    wait_for(lambda: refused_total(penalties) == 4, message="refused once more")
    assert len(rpc.penalties.dead_letters({})) == 2
    assert booked(zhidu_config) == ["A-real"]


def _refused(uri: str, act) -> bool:
    with Connection(uri) as conn:
        channel = conn.channel()
        try:
            act(channel)
        except AccessRefused:
            return True
        finally:
            try:
                channel.close()
            except Exception:  # closed by the refusal
                pass
    return False


def test_a_service_user_writes_its_own_exchanges_and_binds_what_it_may(zhidu_config,
                                                                       broker_users):
    uri = broker_users.uri(zhidu_config["AMQP_URI"], "dormitory")

    def declare_and_bind(queue, exchange, key):
        def act(channel):
            channel.queue_declare(queue, durable=True)
            channel.queue_bind(queue, exchange, key)
        return act

    own = "evt-directory-employee_upserted--dormitory.on_probe"
    assert not _refused(uri, declare_and_bind(own, "directory.events", "employee_upserted"))
    # No queue of another service, no listening to every call and its token.
    assert _refused(uri, lambda ch: ch.queue_declare("rpc-penalties", durable=True))
    assert _refused(uri, declare_and_bind("rpc-dormitory", "nameko-rpc", "#"))
    assert _refused(uri, declare_and_bind(own, "directory.events", "#"))
    for event, only in bindable_events(discover()).get("directory", {}).items():
        if only is not None and "dormitory" not in only:
            assert _refused(uri, declare_and_bind(own, "directory.events", event)), event

    # Publishing: its own events and RPC replies, nothing else.
    assert _publishes(uri, "dormitory.events", "violation_recorded")
    assert _publishes(uri, "nameko-rpc", str(uuid.uuid4()))
    assert not _publishes(uri, "nameko-rpc", "penalties.record_penalty")
    assert not _publishes(uri, "penalties.events", "penalty_issued")
    assert not _publishes(uri, "", own)  # the default exchange reaches any queue


def _publishes(uri: str, exchange: str, key: str) -> bool:
    try:
        Publisher(uri).publish({}, exchange=Exchange(exchange, type="topic" if exchange
                                                      else "direct"), routing_key=key)
        return True
    except AccessRefused:
        return False


def test_the_harness_removes_the_users_it_made(request, zhidu_config):
    amqp = request.config.getoption("RABBIT_AMQP_URI")
    users = BrokerUsers(amqp, request.config.getoption("RABBIT_API_URI"))
    users.uri(zhidu_config["AMQP_URI"], "directory")
    made = {users.user(name) for name in discover()}
    assert made <= users.api().users()
    users.close()
    assert not made & users.api().users()


def test_permission_patterns_name_the_service_own_things_only():
    mine = permissions(Needs("repairs"))
    configure = re.compile(mine["configure"])
    for name in ("rpc-repairs", "repairs.events", "zhidu.repairs.redelivery",
                 "zhidu.repairs.dead_letters", "nameko-rpc",
                 "evt-directory-employee_upserted--repairs.remember_person",
                 "evt-directory-employee_upserted--repairs.remember_person.delay.200ms"):
        assert configure.match(name), name
    for name in ("rpc-complaints", "complaints.events", "amq.default", "zhidu.complaints.x",
                 "evt-repairs-order_opened--complaints.on_repairs_order_opened",
                 "xrpc-repairs", "rpc-repairsx", "rpc.reply-repairs-" + str(uuid.uuid4())):
        assert not configure.match(name), name
    assert re.compile(mine["read"]).match("penalties.events")
    assert not re.compile(mine["write"]).match("penalties.events")
    [rpc] = topic_permissions(Needs("repairs"))
    assert re.match(rpc["write"], str(uuid.uuid4()))
    assert not re.match(rpc["write"], "penalties.get_account")
    [rpc] = topic_permissions(Needs("console", calls=True))
    assert re.match(rpc["write"], "penalties.get_account")
