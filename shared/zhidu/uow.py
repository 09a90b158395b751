"""One unit of work: a call's writes and the events it emits commit together, or not at all.

Every operation and every event handler runs its body inside one MongoDB
transaction (``ClientSession.with_transaction``, which retries transient
errors and an unknown commit result). The store a worker holds is bound to the
transaction's session for the duration, so store code keeps writing
``self.db.cases.update_one(...)`` and the session is added underneath; the
outbox entries of the events the body emitted are written in the same
transaction. A body that raises leaves nothing behind, and a body retried
after a write conflict starts again from a clean slate (its emitted events
included).

Work that must not be one transaction (a sweep over thousands of cases) opts
out at the operation and opens one unit per item with :func:`run_unit`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

from greenlet import getcurrent
from pymongo.errors import BulkWriteError, DuplicateKeyError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

# Methods of a pymongo Collection that take a ``session`` keyword.
_SESSION_METHODS = frozenset({
    "aggregate", "bulk_write", "count_documents", "delete_many", "delete_one",
    "distinct", "estimated_document_count", "find", "find_one", "find_one_and_delete",
    "find_one_and_replace", "find_one_and_update", "insert_many", "insert_one",
    "replace_one", "update_many", "update_one", "create_index", "create_indexes",
    "list_indexes", "drop",
})


class SessionCollection:
    """A collection whose every call runs in one session (and its transaction)."""

    __slots__ = ("_collection", "_session")

    def __init__(self, collection, session):
        self._collection = collection
        self._session = session

    def __getattr__(self, name: str):
        attr = getattr(self._collection, name)
        if name in _SESSION_METHODS:
            session = self._session

            def bound(*args, **kwargs):
                kwargs.setdefault("session", session)
                return attr(*args, **kwargs)
            return bound
        return attr

    def __getitem__(self, name: str):
        return SessionCollection(self._collection[name], self._session)


class SessionDatabase:
    """A database handle that hands out session-bound collections."""

    __slots__ = ("_db", "_session")

    def __init__(self, db, session):
        self._db = db
        self._session = session

    def __getattr__(self, name: str):
        if name.startswith("_") or name in ("client", "name", "command", "codec_options",
                                            "list_collection_names"):
            return getattr(self._db, name)
        return SessionCollection(self._db[name], self._session)

    def __getitem__(self, name: str):
        return SessionCollection(self._db[name], self._session)

    @property
    def session(self):
        return self._session


# Majority reads and writes: what a transaction commits survives a primary's
# failover, and what it reads was committed (production runs a replica set).
TRANSACTION_OPTIONS = {"read_concern": ReadConcern("snapshot"),
                       "write_concern": WriteConcern("majority")}


class StaleWrite(Exception):
    """A compare-and-set write found the record changed since it was read.

    Raised inside a unit of work, it re-runs the unit (like a duplicate key),
    so the decision is made again on the fresh record: the one retry policy
    every service shares instead of a loop of its own.
    """


class _Current:
    """The session of the unit of work running on each green thread.

    A nameko worker runs on its own green thread, so every store a worker
    touches — the service's, and any built from it — joins that worker's unit
    without being handed the session.
    """

    def __init__(self):
        self.sessions: WeakKeyDictionary = WeakKeyDictionary()
        self.after: WeakKeyDictionary = WeakKeyDictionary()

    def get(self):
        return self.sessions.get(getcurrent())

    def set(self, session) -> None:
        self.sessions[getcurrent()] = session
        self.after[getcurrent()] = []

    def clear(self) -> None:
        self.sessions.pop(getcurrent(), None)

    def callbacks(self) -> list:
        return self.after.setdefault(getcurrent(), [])


CURRENT = _Current()


def bound(db):
    """``db`` as the current unit sees it: session-bound inside one, plain outside."""
    session = CURRENT.get()
    if session is None or session.client is not db.client:
        return db
    return SessionDatabase(db, session)


def in_unit() -> bool:
    return CURRENT.get() is not None


def on_commit(callback: Callable[[], None]) -> None:
    """Run ``callback`` once the running unit has committed (at once outside a unit).

    For what must not happen twice when a unit is re-run, or at all when it is
    rolled back: counting metrics, waking a sender.
    """
    if in_unit():
        CURRENT.callbacks().append(callback)
    else:
        callback()


def _duplicate(exc: BaseException) -> bool:
    if isinstance(exc, DuplicateKeyError):
        return True
    if isinstance(exc, BulkWriteError):
        errors = (exc.details or {}).get("writeErrors") or []
        return bool(errors) and all(e.get("code") == 11000 for e in errors)
    return False


def run_unit(client, body: Callable[[], Any], on_retry: Callable[[], None] | None = None,
             conflicts: int = 8):
    """Run ``body`` in one transaction on ``client``; a unit already running joins it.

    ``on_retry`` restores in-memory state (the events emitted so far) before the
    body runs again: the driver retries transient errors and an unknown commit,
    and a duplicate key — another unit committed the same key first — is
    retried here, so the body's next run sees the winner and acts on it; so
    is a :class:`StaleWrite`.
    """
    if in_unit():
        return body()
    attempts = 0

    def callback(session):
        nonlocal attempts
        if attempts and on_retry is not None:
            on_retry()
        attempts += 1
        CURRENT.set(session)
        try:
            return body()
        finally:
            CURRENT.clear()

    for left in range(conflicts, -1, -1):
        try:
            with client.start_session() as session:
                result = session.with_transaction(callback, **TRANSACTION_OPTIONS)
        except (DuplicateKeyError, BulkWriteError, StaleWrite) as exc:
            if not left or not (isinstance(exc, StaleWrite) or _duplicate(exc)):
                raise
            continue
        done = CURRENT.after.pop(getcurrent(), [])
        for committed in done:
            committed()
        return result
    raise AssertionError("unreachable")
