"""The raw ceilings a chain is measured against, on the same broker and database."""
from __future__ import annotations

import time
import uuid

from kombu import Connection, Exchange, Queue


def broker_ceiling(amqp_uri: str, messages: int = 20000, confirms: bool = False) -> dict:
    """Plain kombu: publish ``messages`` persistent messages, then consume them all."""
    name = f"bench-raw-{uuid.uuid4().hex[:8]}"
    exchange = Exchange(name, type="direct", durable=False, auto_delete=True)
    queue = Queue(name, exchange=exchange, routing_key=name, durable=False,
                  auto_delete=False)
    body = {"id": str(uuid.uuid4()), "type": "bench.raw", "data": {"n": 0}}
    transport = {"confirm_publish": True} if confirms else {}
    with Connection(amqp_uri, transport_options=transport) as conn:
        producer = conn.Producer(serializer="json")
        queue(conn.default_channel).declare()
        started = time.perf_counter()
        for _ in range(messages):
            producer.publish(body, exchange=exchange, routing_key=name, delivery_mode=2)
        published = time.perf_counter() - started

        received = [0]

        def on_message(_body, message):
            received[0] += 1
            message.ack()

        started = time.perf_counter()
        with conn.Consumer(queue, callbacks=[on_message], prefetch_count=500):
            while received[0] < messages:
                conn.drain_events(timeout=10)
        consumed = time.perf_counter() - started
        queue(conn.default_channel).delete()
    return {"messages": messages, "publish_per_s": round(messages / published),
            "consume_per_s": round(messages / consumed),
            "round_trip_per_s": round(messages / (published + consumed))}


def database_ceiling(mongo_uri: str, inserts: int = 2000, batch: int = 10000) -> dict:
    """Single inserts, single reads by id and ``insert_many`` on the database the chain uses.

    A read by id and a transaction's commit cost the embedded database about
    what an insert does (one request each), so the chain's ceiling is set by
    its reads as well as its writes.
    """
    import pymongo

    client = pymongo.MongoClient(mongo_uri)
    coll = client.zhidu_bench_raw.docs
    coll.drop()
    started = time.perf_counter()
    for i in range(inserts):
        coll.insert_one({"i": i, "pad": "x" * 200})
    single = inserts / (time.perf_counter() - started)
    ids = [doc["_id"] for doc in coll.find({}, {"_id": 1})]
    started = time.perf_counter()
    for doc_id in ids:
        coll.find_one({"_id": doc_id})
    reads = len(ids) / (time.perf_counter() - started)
    started = time.perf_counter()
    coll.insert_many([{"i": i, "pad": "x" * 200} for i in range(batch)])
    many = batch / (time.perf_counter() - started)
    client.drop_database("zhidu_bench_raw")
    client.close()
    return {"insert_one_per_s": round(single), "find_one_per_s": round(reads),
            "insert_many_docs_per_s": round(many)}
