"""Does pymongo block the eventlet hub? Evidence for the driver pin.

Greenthreads run slow MongoDB queries (unindexed scans) under monkey-patching
while a ticker greenthread asks to wake every 5 ms. A driver that cooperates
with the hub lets the ticker run while a query is in flight, so its worst
oversleep stays far below the duration of one query; a driver that blocks the
hub stalls the ticker for whole queries.
"""
import eventlet

eventlet.monkey_patch()

import time  # noqa: E402

import pymongo  # noqa: E402

TICK = 0.005


def measure(uri: str, workers: int = 4, seconds: float = 3.0, docs: int = 20000) -> dict:
    client = pymongo.MongoClient(uri, maxPoolSize=workers + 2)
    coll = client.zhidu_bench_hub.docs
    coll.drop()
    coll.insert_many([{"x": i} for i in range(docs)])
    started = time.monotonic()
    coll.count_documents({"x": {"$gte": 0}})
    query_ms = 1000 * (time.monotonic() - started)

    stop = time.monotonic() + seconds
    lags, done = [], [0]

    def work():
        while time.monotonic() < stop:
            coll.count_documents({"x": {"$gte": 0}})
            done[0] += 1

    def ticker():
        while time.monotonic() < stop:
            before = time.monotonic()
            eventlet.sleep(TICK)
            lags.append(time.monotonic() - before - TICK)

    pool = eventlet.GreenPool()
    pool.spawn(ticker)
    for _ in range(workers):
        pool.spawn(work)
    pool.waitall()
    coll.drop()
    client.close()
    lags.sort()
    return {
        "pymongo": pymongo.version,
        "one_query_ms": round(query_ms, 1),
        "queries": done[0],
        "ticker_p99_lag_ms": round(1000 * lags[int(0.99 * (len(lags) - 1))], 1),
        "ticker_max_lag_ms": round(1000 * max(lags), 1),
    }


if __name__ == "__main__":
    import sys

    print(measure(sys.argv[1] if len(sys.argv) > 1 else "mongodb://127.0.0.1:27999/"))
