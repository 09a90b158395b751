"""MongoDB access: one database per service, indexes declared by the store.

Each service's ``store.py`` subclasses :class:`Store`, lists its indexes in
``INDEXES`` and keeps every query next to the index that serves it. The
:class:`Mongo` dependency provider opens one client per container, creates the
indexes at start-up and hands the same store to every worker.
"""
from __future__ import annotations

import logging

import pymongo
from nameko.extensions import DependencyProvider
from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from .config import database_name, setting
from .times import UTC
from .uow import bound, in_unit, run_unit

log = logging.getLogger(__name__)


class Store:
    """Base of every service's store: the collections the library itself needs."""

    INDEXES: dict[str, list[IndexModel]] = {}
    _LIBRARY_INDEXES = {
        # Handler de-duplication: _id is "<handler>:<event id>".
        "processed_events": [IndexModel([("at", ASCENDING)])],
        # request_id idempotency: _id is "<operation>:<caller>:<request id>".
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

    # -- copies of other services' records --------------------------------------
    def copy_newer(self, collection: str, key: str, fields: dict, as_of,
                   stamp: str = "copied_at") -> bool:
        """Keep a copy of another service's record, unless a newer one is here.

        Events can arrive out of order (a retried one overtakes the next), so
        the copy remembers the time of the event it came from (``stamp``) and
        an older event never writes over a newer one. Returns whether it was
        applied. Read, then write: inside a unit of work a racing copy is a
        write conflict, and the re-run compares against the winner.
        """
        current = self.db[collection].find_one({"_id": key}, {stamp: 1})
        if current is not None and current.get(stamp) is not None \
                and _aware(current[stamp]) > _aware(as_of):
            return False
        self.db[collection].update_one({"_id": key}, {"$set": {**fields, stamp: as_of}},
                                       upsert=True)
        return True

    # -- the directory copy identities are resolved against -------------------------
    def person(self, employee_id: str) -> dict | None:
        return self.db.people.find_one({"_id": employee_id})

    def remember_person(self, employee_id: str, fields: dict, as_of) -> bool:
        fields = {k: v for k, v in fields.items() if k != "_id"}
        return self.copy_newer("people", employee_id, fields, as_of, stamp="as_of")

    def departments(self) -> set[str]:
        """The departments the directory copy knows (metric labels are bounded to
        them); read apart from the unit of work that asks, which a label is no
        part of."""
        return {d for d in self._db.people.distinct("department") if isinstance(d, str)}

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
                # Two first-ever upserts raced. Inside a unit the duplicate has
                # aborted the transaction: let the unit re-run. Outside one,
                # the loser retries as an update.
                if attempt == 2 or in_unit():
                    raise
        raise AssertionError("unreachable")


def _aware(moment):
    """Stored times come back aware (the client is tz_aware); given ones may be naive UTC."""
    return moment.replace(tzinfo=UTC) if getattr(moment, "tzinfo", 1) is None else moment


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
