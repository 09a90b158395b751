"""Hostile input stops at the door: bounded times, numbers, bodies and errors."""
import time
from datetime import datetime, timedelta, timezone

import pytest
from marshmallow import fields
from zhidu.calendar import CalendarRangeError, load_calendar
from zhidu.envelope import make_envelope
from zhidu.errors import ValidationError
from zhidu.events import check_event_data
from zhidu.schemas import Day, Payload, Time, bounded_messages, load
from zhidu.service import EdgeRefusal, host_name, parse_json_body


class Sample(Payload):
    at = Time(required=True)
    due = Time(load_default=None)
    day = Day(load_default=None)
    count = fields.Integer(load_default=None)
    name = fields.String(load_default=None)


def _refused(payload, field):
    with pytest.raises(ValidationError) as caught:
        load(Sample, {"at": "2026-01-01T00:00:00+08:00", **payload})
    assert field in caught.value.messages, caught.value.messages
    return caught.value.messages[field]


def test_a_time_in_the_year_9999_or_year_1_is_refused_naming_the_field():
    _refused({"due": "9999-12-31T23:59:59-08:00"}, "due")
    _refused({"due": "0001-01-01T00:00:00+08:00"}, "due")
    _refused({"due": "1999-12-01T00:00:00+00:00"}, "due")
    _refused({"day": "9999-12-31"}, "day")


def test_an_at_in_the_future_is_refused_and_a_plan_a_year_ahead_is_not():
    later = datetime.now(timezone.utc) + timedelta(days=30)
    assert "future" in _refused({"at": later.isoformat()}, "at")[0]
    loaded = load(Sample, {"at": "2026-01-01T00:00:00+08:00", "due": later.isoformat()})
    assert loaded["due"] == later


def test_integers_over_64_bits_are_refused():
    _refused({"count": 2 ** 64}, "count")
    _refused({"count": -(2 ** 63) - 1}, "count")
    assert load(Sample, {"at": "2026-01-01T00:00:00", "count": 2 ** 63 - 1})["count"] \
        == 2 ** 63 - 1


def test_lone_surrogate_is_refused_over_rpc_too():
    _refused({"name": "王\ud800丽"}, "name")


def test_a_pause_in_the_year_9000_is_refused_fast():
    started = time.perf_counter()
    _refused({"at": "9000-01-01T00:00:00+08:00"}, "at")
    # Even past the door, the calendar refuses a span of centuries at once.
    calendar = load_calendar()
    with pytest.raises(CalendarRangeError):
        calendar.working_seconds(datetime(2026, 1, 1, tzinfo=timezone.utc),
                                 datetime(9000, 1, 1, tzinfo=timezone.utc))
    with pytest.raises(CalendarRangeError):
        calendar.add_working_days(datetime(2026, 1, 1, tzinfo=timezone.utc), 10 ** 9)
    assert time.perf_counter() - started < 1.0


def test_the_calendar_counts_the_whole_window_within_a_second():
    calendar = load_calendar()
    started = time.perf_counter()
    calendar.working_seconds(datetime(2000, 1, 1, tzinfo=timezone.utc),
                             datetime.now(timezone.utc) + timedelta(days=366))
    assert time.perf_counter() - started < 1.0


def test_json_nested_10000_levels_is_refused():
    with pytest.raises(EdgeRefusal) as caught:
        parse_json_body(b"[" * 10000 + b"]" * 10000, 32, 10000)
    assert caught.value.status == 400
    with pytest.raises(EdgeRefusal):
        parse_json_body(b'{"a":' * 40 + b"1" + b"}" * 40, 32, 10000)


def test_invalid_utf8_lone_surrogates_and_nan_are_refused():
    for raw in (b'{"name": "\xff"}', b'{"name": "\\ud800"}', b'{"\\udc00": 1}',
                b'{"n": NaN}', b'{"n": 1e400}'):
        with pytest.raises(EdgeRefusal):
            parse_json_body(raw, 32, 10000)


def test_280k_unknown_keys_get_a_small_error():
    with pytest.raises(EdgeRefusal):
        parse_json_body(("{" + ",".join(f'"k{i}": 1' for i in range(280000)) + "}")
                        .encode(), 32, 10000)
    # Past the key limit (over RPC, or a raised limit) the field map is cut.
    with pytest.raises(ValidationError) as caught:
        load(Sample, {"at": "2026-01-01T00:00:00", **{f"k{i}": 1 for i in range(50000)}})
    assert len(str(caught.value)) < 5000
    assert "_truncated" in caught.value.messages
    assert len(bounded_messages({"x" * 100000: ["y" * 100000]}).popitem()[0]) < 300


def test_host_names_lose_their_port():
    assert host_name("LOCALHOST:8101") == "localhost"
    assert host_name("[::1]:8101") == "[::1]"
    assert host_name("127.0.0.1") == "127.0.0.1"


def test_an_inspection_dated_9999_is_dead_lettered_not_retried():
    data = {"violation_id": "V1", "incident_id": "I1", "employee_id": "E1", "code": "D05",
            "points": 2, "at": "9999-01-01T00:00:00+00:00", "building": "A",
            "room_no": "101"}
    with pytest.raises(ValidationError) as caught:  # ValidationError: never retried
        check_event_data(make_envelope("dormitory", "violation_recorded", data))
    assert "at" in str(caught.value)
    with pytest.raises(ValidationError):
        check_event_data(make_envelope("dormitory", "violation_recorded",
                                       dict(data, at="2026-11-01T00:00:00+00:00",
                                            points=2 ** 70)))
    check_event_data(make_envelope("dormitory", "violation_recorded",
                                   dict(data, at="2026-11-01T00:00:00+00:00")))
    check_event_data(make_envelope("dormitory", "violation_recorded", data), "off")


def test_every_openapi_document_is_valid_openapi_3_1():
    from openapi_spec_validator import validate
    from zhidu.jsonschema import openapi_document
    from zhidu.plugins import discover

    for name, plugin in discover().items():
        cls = plugin.load_class()
        operations = {r.operation: getattr(cls, r.operation) for r in cls.routes}
        document = openapi_document(name, "1", cls.routes, operations)
        validate(document)
        for path in document["paths"].values():
            for op in path.values():
                body = op.get("requestBody")
                if body:
                    # Closed exactly where the payload refuses unknown keys.
                    schema = body["content"]["application/json"]["schema"]
                    refuses = operations[op["operationId"]].zhidu_schema().unknown == "raise"
                    assert (schema.get("additionalProperties") is False) == refuses, \
                        (name, op["operationId"])
