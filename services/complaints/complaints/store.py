"""The complaints database: cases (``_id`` = the number), the read audit, serials,
and the records other services' events opened cases for.

Every query here runs on an index declared beside it. Writes to a case are
compare-and-set on its ``version``, so two workers (or two replicas sweeping)
never both apply a decision taken on the same state. Every method joins the
unit of work running on the caller's green thread (``self.db`` is bound to its
transaction), so a case, its serial and its events commit together.
"""
from __future__ import annotations

from datetime import datetime, timezone

from pymongo import ASCENDING, DESCENDING, IndexModel, ReplaceOne, UpdateOne
from pymongo.errors import DuplicateKeyError
from zhidu.domain import DomainConflict
from zhidu.mongo import Store
from zhidu.times import as_utc, utcnow

from . import lifecycle, stats_pipeline

OPEN_STATUSES = sorted(lifecycle.STATUSES - lifecycle.FINAL)
# Every due moment is later than this. Concluded cases keep a null
# next_check_at, which sorts below every date: without a lower bound SecantusDB
# walks (and fetches) all of them on each sweep; MongoDB derives the same bound.
EARLIEST_DUE = datetime(1970, 1, 1, tzinfo=timezone.utc)


class ComplaintsStore(Store):
    INDEXES = {
        "cases": [
            # The sweep's due-time query: only cases falling due are read. Open
            # cases only: a concluded case has no due time, and leaving the
            # ever-growing history out keeps the index, and the work of writing
            # a swept case into it, the size of what is open.
            IndexModel([("next_check_at", ASCENDING)], name="due",
                       partialFilterExpression={"next_check_at": {"$gte": EARLIEST_DUE}}),
            # Search by status, and the open-clock gauges (status in the open ones).
            IndexModel([("status", ASCENDING), ("received_at", DESCENDING)], name="status"),
            IndexModel([("department", ASCENDING), ("received_at", DESCENDING)],
                       name="department"),
            IndexModel([("breached", ASCENDING), ("received_at", DESCENDING)],
                       name="breached"),
            # "Complaints I own": an owner's cases in one state, newest first.
            IndexModel([("owner_id", ASCENDING), ("status", ASCENDING),
                        ("received_at", DESCENDING)], name="owner"),
            IndexModel([("received_at", DESCENDING)], name="received"),
            # The monthly statistics select the cases concluded in the month.
            IndexModel([("concluded_at", ASCENDING)], name="concluded"),
        ],
        # Produced reports (reports.py): _id is the report id, one per kind,
        # period and department; their periods' marks: _id is "<kind>:<period>".
        "reports": [IndexModel([("kind", ASCENDING), ("produced_at", DESCENDING)],
                               name="kind")],
        "report_periods": [IndexModel([("kind", ASCENDING), ("produced_at", DESCENDING)],
                                      name="kind")],
        "audit": [
            IndexModel([("number", ASCENDING), ("at", DESCENDING)], name="number"),
            IndexModel([("at", DESCENDING)], name="at"),
        ],
    }

    def ensure_indexes(self) -> None:
        # The due index was once over every case; one of the same name but
        # another filter cannot be created beside it, so the old one goes first.
        due = self._db.cases.index_information().get("due")
        if due is not None and not due.get("partialFilterExpression"):
            self._db.cases.drop_index("due")
        super().ensure_indexes()

    # -- cases ------------------------------------------------------------------
    def next_serial(self, month_key: str) -> int:
        """The next serial of a ``YYMM`` month; atomic, so never handed out twice.

        Drawn inside the intake's unit of work: an intake that fails gives its
        serial back with everything else it wrote.
        """
        return self.next_sequence(f"complaint_serial:{month_key}")

    def insert(self, case: dict) -> None:
        try:
            self.db.cases.insert_one(_to_doc(case))
        except DuplicateKeyError:
            # The counter is behind the stored cases (loaded in bulk): running
            # the unit again would draw the same serial, so refuse instead.
            raise DomainConflict(f"complaint {case['number']} already exists") from None

    def insert_many(self, cases: list[dict]) -> None:
        """Bulk load (benchmarks, migrations); no events are emitted."""
        if cases:
            self.db.cases.insert_many([_to_doc(c) for c in cases], ordered=False)

    def get(self, number: str) -> dict | None:
        return _from_doc(self.db.cases.find_one({"_id": number}))

    def replace(self, case: dict, expected_version: int) -> bool:
        """Write ``case`` if the stored one is still at ``expected_version``."""
        result = self.db.cases.replace_one(
            {"_id": case["number"], "version": expected_version}, _to_doc(case))
        return result.matched_count == 1

    def set_next_check(self, number: str, version: int, next_check_at) -> bool:
        """Correct a stale due time without a new version (nothing was decided)."""
        result = self.db.cases.update_one({"_id": number, "version": version},
                                          {"$set": {"next_check_at": next_check_at}})
        return result.matched_count == 1

    # -- cases opened by another service's event (sources.py) --------------------------
    def opened_from(self, key: str) -> str | None:
        """The number of the case the record ``key`` opened, if it opened one."""
        doc = self.db.opened_from.find_one({"_id": key}, {"number": 1})
        return doc["number"] if doc else None

    def record_opened_from(self, key: str, number: str, event_id: str) -> None:
        # The key is the _id: a unit that opened a case for the same record
        # first makes this a duplicate key, and this unit runs again to find it.
        self.db.opened_from.insert_one({"_id": key, "number": number,
                                        "event_id": event_id, "at": utcnow()})

    def get_many(self, numbers: list[str]) -> list[dict]:
        """The cases ``numbers`` that exist, in one read."""
        return [_from_doc(doc) for doc in self.db.cases.find({"_id": {"$in": numbers}})]

    def write_swept(self, decided: list[tuple[dict, int]],
                    rescheduled: list[tuple[str, int, datetime]]) -> bool:
        """A sweep unit's writes in one round trip: ``decided`` cases with the
        version each was read at, and ``(number, version, next_check_at)`` due
        times corrected without a new version. False when any of them moved on
        since it was read; the caller's unit is then run again.
        """
        writes = [ReplaceOne({"_id": case["number"], "version": version}, _to_doc(case))
                  for case, version in decided]
        writes += [UpdateOne({"_id": number, "version": version},
                             {"$set": {"next_check_at": next_check_at}})
                   for number, version, next_check_at in rescheduled]
        if not writes:
            return True
        return self.db.cases.bulk_write(writes, ordered=False).matched_count == len(writes)

    def due_query(self, now: datetime) -> dict:
        # The lower bound is also what lets the partial index serve the query.
        return {"next_check_at": {"$gte": EARLIEST_DUE, "$lte": now}}

    def due(self, now: datetime, limit: int) -> list[dict]:
        """Cases with something falling due by ``now``, earliest first (index
        ``due``), in one round trip: without ``batch_size`` the server answers
        101 and the rest waits for a getMore."""
        cursor = (self.db.cases.find(self.due_query(now))
                  .sort("next_check_at", ASCENDING).limit(limit).batch_size(limit))
        return [_from_doc(doc) for doc in cursor]

    def explain_due(self, now: datetime, limit: int = 500) -> dict:
        return (self.db.cases.find(self.due_query(now))
                .sort("next_check_at", ASCENDING).limit(limit).explain())

    def search(self, *, status=None, department=None, owner_id=None, breached=None,
               since=None, until=None, limit=100) -> list[dict]:
        query: dict = {}
        if owner_id:
            query["owner_id"] = owner_id
        if status:
            query["status"] = status
        if department:
            query["department"] = department
        if breached is not None:
            query["breached"] = breached
        if since or until:
            query["received_at"] = {k: v for k, v in (("$gte", since), ("$lt", until)) if v}
        cursor = self.db.cases.find(query).sort("received_at", DESCENDING).limit(limit)
        return [_from_doc(doc) for doc in cursor]

    # -- aggregations -----------------------------------------------------------------
    def open_clocks(self) -> list[dict]:
        """Open clocks grouped by name and state, with the earliest due not yet breached."""
        return list(self.db.cases.aggregate(
            stats_pipeline.open_clocks({"status": {"$in": OPEN_STATUSES}})))

    def monthly(self, field: str, start: datetime, end: datetime,
                kind: str | None = None) -> dict:
        """The raw groups of the monthly table for cases with ``field`` in [start, end)
        (and of ``kind``, external or internal, when given)."""
        match = {field: {"$gte": start, "$lt": end}}
        if kind is not None:
            match["kind"] = kind
        pipeline = stats_pipeline.monthly(match)
        return next(iter(self.db.cases.aggregate(pipeline)), {})

    # -- produced reports (reports.py, reporting.py) ------------------------------------
    def report(self, report_id: str) -> dict | None:
        return _from_doc(self.db.reports.find_one({"_id": report_id}))

    def insert_report(self, doc: dict) -> None:
        # The id is the _id: a replica that stored the same report first makes
        # this a duplicate key, and the unit runs again to find it there.
        self.db.reports.insert_one({**doc, "_id": doc["report_id"]})

    def cases_between(self, field: str, start: datetime, end: datetime,
                      limit: int) -> list[dict]:
        """Cases with ``field`` (received_at or concluded_at) in [start, end), oldest
        first (index ``received`` or ``concluded``)."""
        cursor = self.db.cases.find({field: {"$gte": start, "$lt": end}}) \
            .sort(field, ASCENDING).limit(limit)
        return [_from_doc(doc) for doc in cursor]

    def report_period_done(self, marker: str) -> bool:
        return self.db.report_periods.find_one({"_id": marker}, {"_id": 1}) is not None

    def mark_report_period(self, marker: str, kind: str, period: str, produced_at,
                           report_ids: list[str]) -> None:
        """The kind's period is produced, every department's report with it; the
        first mark stands."""
        self.db.report_periods.update_one(
            {"_id": marker},
            {"$setOnInsert": {"kind": kind, "period": period, "produced_at": produced_at,
                              "reports": report_ids}}, upsert=True)

    def last_reports_produced(self, kinds) -> dict[str, float]:
        """Per kind, when its newest period was marked produced (Unix time; 0 for
        never). Read outside any unit of work, as a scrape is."""
        out = {}
        for kind in kinds:
            doc = next(iter(self._db.report_periods.find(
                {"kind": kind}, {"produced_at": 1}).sort("produced_at", DESCENDING)
                .limit(1)), None)
            out[kind] = as_utc(doc["produced_at"]).timestamp() \
                if doc and doc.get("produced_at") else 0.0
        return out

    # -- audit of full contact reads ------------------------------------------------
    def audit_reads(self, actor: dict, numbers: list[str], operation: str) -> None:
        if not numbers:
            return
        now = utcnow()
        self.db.audit.insert_many([
            {"at": now, "number": number, "operation": operation,
             "actor": {"id": actor.get("id"), "role": actor.get("role")},
             "revealed": ["phone", "email"]}
            for number in numbers])

    # -- exports of customer data (001 §2 3.4.1) ------------------------------------
    def create_export(self, export: dict) -> None:
        self.db.exports.insert_one({**export, "_id": export["export_id"]})

    def get_export(self, export_id: str) -> dict | None:
        doc = self.db.exports.find_one({"_id": export_id})
        if doc is not None:
            doc.pop("_id")
        return doc

    def update_export(self, export_id: str, expected_status: str, changes: dict) -> bool:
        """Move an export on only from the state the caller saw (no double approval)."""
        done = self.db.exports.update_one({"_id": export_id, "status": expected_status},
                                          {"$set": changes})
        return bool(done.modified_count)

    def received_between(self, since, until, limit: int) -> list[dict]:
        cursor = self.db.cases.find({"received_at": {"$gte": since, "$lt": until}}) \
            .sort("received_at", DESCENDING).limit(limit)
        return [_from_doc(doc) for doc in cursor]

    def audit_log(self, number: str | None = None, limit: int = 100) -> list[dict]:
        query = {"number": number} if number else {}
        cursor = self.db.audit.find(query, {"_id": 0}).sort("at", DESCENDING).limit(limit)
        return list(cursor)


def _to_doc(case: dict) -> dict:
    return {**case, "_id": case["number"]}


def _from_doc(doc: dict | None) -> dict | None:
    if doc is None:
        return None
    doc = dict(doc)
    doc.pop("_id", None)
    return doc

