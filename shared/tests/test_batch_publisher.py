"""A batch of events sent together and confirmed together, on the real broker."""
import pytest
from amqp.exceptions import NotFound
from kombu import Connection, Exchange, Queue
from zhidu.events import BatchPublisher

pytestmark = pytest.mark.integration


def _drain(uri: str, queue: Queue, expected: int, timeout: float = 10.0) -> list[dict]:
    got = []
    with Connection(uri) as conn:
        with conn.SimpleQueue(queue) as simple:
            while len(got) < expected:
                message = simple.get(timeout=timeout)
                got.append((message.payload, message.properties.get("delivery_mode")))
                message.ack()
    return got


def test_a_batch_arrives_whole_in_order_and_persistent(rabbit_config):
    uri = rabbit_config["AMQP_URI"]
    exchange = Exchange("batch.events", type="topic", durable=True)
    queue = Queue("batch.sink", exchange, routing_key="#", durable=True)
    with Connection(uri) as conn:
        queue(conn.default_channel).declare()
    publisher = BatchPublisher(uri)
    publisher.publish(exchange, [({"n": n}, "thing_happened") for n in range(300)])
    # The same pooled channel, still in confirm mode, takes the next batch.
    publisher.publish(exchange, [({"n": n}, "thing_happened") for n in range(300, 310)])
    got = _drain(uri, queue, 310)
    assert [body["n"] for body, _ in got] == list(range(310))
    assert {mode for _, mode in got} == {2}


def test_a_batch_the_broker_cannot_take_raises_and_the_next_goes_through(rabbit_config):
    uri = rabbit_config["AMQP_URI"]
    publisher = BatchPublisher(uri)
    missing = Exchange("batch.nowhere", type="topic", durable=True, no_declare=True)
    with pytest.raises(NotFound):
        publisher.publish(missing, [({"n": 1}, "x")])
    exchange = Exchange("batch.after", type="topic", durable=True)
    queue = Queue("batch.after.sink", exchange, routing_key="#", durable=True)
    with Connection(uri) as conn:
        queue(conn.default_channel).declare()
    for _ in range(3):  # whichever pooled producer comes next works
        publisher.publish(exchange, [({"n": 2}, "x")])
    assert [body["n"] for body, _ in _drain(uri, queue, 3)] == [2, 2, 2]
