"""MongoDB access: one database per service, indexes declared by the store.

Each service's ``store.py`` subclasses :class:`Store`, lists its indexes in
``INDEXES`` and keeps every query next to the index that serves it. The
:class:`Mongo` dependency provider opens one client per container, creates the
indexes at start-up and hands the same store to every worker.
"""
from __future__ import annotations

import logging
import time

import pymongo
from nameko.extensions import DependencyProvider
from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError, PyMongoError

from .config import database_name, setting
from .errors import Conflict
from .times import UTC, utcnow
from .uow import bound, run_unit

log = logging.getLogger(__name__)

# How long a second caller with the same request_id waits for the first.
REQUEST_WAIT_SECONDS = 10.0


class Store:
    """Base of every service's store: the collections the library itself needs."""

    INDEXES: dict[str, list[IndexModel]] = {}
    _LIBRARY_INDEXES = {
        # Handler de-duplication: _id is "<handler>:<event id>".
        "processed_events": [IndexModel([("at", ASCENDING)])],
        # request_id idempotency: _id is "<operation>:<request id>".
        "requests": [IndexModel([("at", ASCENDING)])],
        "outbox": [IndexModel([("created_at", ASCENDING)])],
    }

    def __init__(self, db):
        self._db = db

    @property
    def db(self):
        """The database, bound to the running unit of work's transaction if there is one."""
        return bound(self._db)

    @db.setter
    def db(self, value):
        self._db = value

    def unit(self, body, on_retry=None):
        """Run ``body`` as one unit of work (one transaction) on this store's client."""
        return run_unit(self._db.client, body, on_retry)

    def ensure_indexes(self) -> None:
        for spec in (self._LIBRARY_INDEXES, self.INDEXES):
            for collection, models in spec.items():
                if models:
                    self.db[collection].create_indexes(models)

    def ping(self) -> bool:
        self.db.command("ping")
        return True

    # -- event de-duplication ------------------------------------------------
    def claim_event(self, handler: str, event_id: str, lease_seconds: float) -> str:
        """Claim an event for one handler run: ``new``, ``done`` or ``busy``.

        Duplicates arriving together must not both run, yet a claim left by a
        process that died must not block the event for ever: a running claim
        older than the lease may be taken over.
        """
        key = f"{handler}:{event_id}"
        now = utcnow()
        try:
            self.db.processed_events.insert_one({"_id": key, "state": "running", "at": now})
            return "new"
        except DuplicateKeyError:
            pass
        doc = self.db.processed_events.find_one({"_id": key})
        if doc is None:
            return self.claim_event(handler, event_id, lease_seconds)
        if doc["state"] == "done":
            return "done"
        if (now - doc["at"]).total_seconds() < lease_seconds:
            return "busy"
        taken = self.db.processed_events.update_one(
            {"_id": key, "state": "running", "at": doc["at"]}, {"$set": {"at": now}})
        return "new" if taken.modified_count else "busy"

    def finish_event(self, handler: str, event_id: str) -> None:
        self.db.processed_events.update_one({"_id": f"{handler}:{event_id}"},
                                            {"$set": {"state": "done", "at": utcnow()}})

    def release_event(self, handler: str, event_id: str) -> None:
        self.db.processed_events.delete_one({"_id": f"{handler}:{event_id}",
                                             "state": "running"})

    # -- request_id idempotency ----------------------------------------------
    def claim_request(self, operation: str, request_id: str, lease_seconds: float = 30.0):
        """Reserve a request id; returns the stored result if it already ran.

        Returns ``(True, None)`` when the caller must run the operation, or
        ``(False, result)`` when it ran before. A reservation left by a process
        that died is taken over once it is older than ``lease_seconds``, so a
        client's retry after a crash is served rather than refused for ever.
        """
        key = f"{operation}:{request_id}"
        try:
            self.db.requests.insert_one({"_id": key, "state": "running", "at": utcnow()})
            return True, None
        except DuplicateKeyError:
            pass
        deadline = time.monotonic() + REQUEST_WAIT_SECONDS
        while True:
            doc = self.db.requests.find_one({"_id": key})
            if doc is None:  # the first attempt failed and released it
                return self.claim_request(operation, request_id, lease_seconds)
            if doc["state"] == "done":
                return False, doc["result"]
            if (utcnow() - doc["at"]).total_seconds() > lease_seconds:
                taken = self.db.requests.update_one(
                    {"_id": key, "state": "running", "at": doc["at"]},
                    {"$set": {"at": utcnow()}})
                if taken.modified_count:
                    return True, None
            if time.monotonic() > deadline:
                raise Conflict(f"request {request_id} is still being processed")
            time.sleep(0.05)

    def complete_request(self, operation: str, request_id: str, result) -> None:
        self.db.requests.update_one({"_id": f"{operation}:{request_id}"},
                                    {"$set": {"state": "done", "result": result}})

    def release_request(self, operation: str, request_id: str) -> None:
        self.db.requests.delete_one({"_id": f"{operation}:{request_id}", "state": "running"})

    # -- copies of other services' records --------------------------------------
    def copy_newer(self, collection: str, key: str, fields: dict, as_of,
                   stamp: str = "copied_at") -> bool:
        """Keep a copy of another service's record, unless a newer one is here.

        Events can arrive out of order (a retried one overtakes the next), so
        the copy remembers the time of the event it came from (``stamp``) and
        an older event never writes over a newer one. Returns whether it was
        applied.
        """
        try:
            self.db[collection].update_one(
                {"_id": key, "$or": [{stamp: {"$lte": as_of}}, {stamp: None}]},
                {"$set": {**fields, stamp: as_of}}, upsert=True)
            return True
        except DuplicateKeyError:  # the filter missed a newer copy; the upsert collided
            return False

    # -- the directory copy identities are resolved against -------------------------
    def person(self, employee_id: str) -> dict | None:
        return self.db.people.find_one({"_id": employee_id})

    def remember_person(self, employee_id: str, fields: dict, as_of) -> bool:
        fields = {k: v for k, v in fields.items() if k != "_id"}
        return self.copy_newer("people", employee_id, fields, as_of, stamp="as_of")

    # -- counters --------------------------------------------------------------
    def next_sequence(self, name: str) -> int:
        """Atomic counter; unique under concurrent callers."""
        for attempt in range(3):
            try:
                doc = self.db.counters.find_one_and_update(
                    {"_id": name}, {"$inc": {"value": 1}}, upsert=True,
                    return_document=pymongo.ReturnDocument.AFTER)
                return doc["value"]
            except DuplicateKeyError:
                # Two first-ever upserts raced; the loser retries as an update.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def connect(uri: str, **kwargs) -> pymongo.MongoClient:
    return pymongo.MongoClient(uri, tz_aware=True, tzinfo=UTC,
                               serverSelectionTimeoutMS=kwargs.pop("timeout_ms", 5000),
                               **kwargs)


class Mongo(DependencyProvider):
    """Injects the service's store (``store_class`` bound to its database)."""

    def __init__(self, store_class: type[Store] = Store):
        self.store_class = store_class
        self.client = None
        self.store = None

    def setup(self):
        config = self.container.config
        self.client = connect(setting(config, "MONGO_URI"))
        db = self.client[database_name(config, self.container.service_name)]
        self.store = self.store_class(db)

    def start(self):
        self.store.ensure_indexes()

    def stop(self):
        if self.client is not None:
            self.client.close()

    kill = stop

    def get_dependency(self, worker_ctx):
        return self.store

    def check(self) -> str:
        try:
            self.store.ping()
            return "ok"
        except PyMongoError as exc:
            return f"error: {type(exc).__name__}"
