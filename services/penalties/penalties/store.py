"""The ledger's collections, their indexes and every query the service makes.

Each method runs inside the caller's unit of work (one transaction). None of
them catches a duplicate key to carry on: a key taken by a unit that
committed first aborts this one, and the library runs it again on the
winner's state. Where two units must not both act on what they read, both
write one shared document (the person-month's ceiling record, the notices
counter, a violation's record), so the later one conflicts and runs again.
"""
from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, IndexModel, ReturnDocument, UpdateOne
from zhidu.mongo import Store
from zhidu.times import as_utc, utcnow

# The counter notices are numbered by; whatever changes a complaint's ordinal
# in its month writes it too (see ``hold_complaint_ordinals``).
NOTICES = "notices"


class PenaltiesStore(Store):
    INDEXES = {
        "entries": [
            IndexModel([("employee_id", ASCENDING), ("year", ASCENDING),
                        ("month", ASCENDING)]),
            IndexModel([("incident_id", ASCENDING)]),
            IndexModel([("year", ASCENDING), ("month", ASCENDING)]),
            IndexModel([("unit", ASCENDING), ("year", ASCENDING), ("month", ASCENDING)]),
        ],
        "thresholds": [IndexModel([("employee_id", ASCENDING)])],
        "unit_thresholds": [IndexModel([("unit", ASCENDING), ("year", ASCENDING)]),
                            IndexModel([("year", ASCENDING)])],
        "notices": [
            IndexModel([("employee_ids", ASCENDING), ("year", ASCENDING),
                        ("month", ASCENDING)]),
            IndexModel([("status", ASCENDING), ("seq", ASCENDING)]),
            IndexModel([("named", ASCENDING), ("seq", ASCENDING)]),
            IndexModel([("incident_id", ASCENDING)]),
            IndexModel([("awaiting_ids", ASCENDING), ("seq", ASCENDING)]),
        ],
    }

    # -- people (the directory's copy, kept by the library's remember_person) -----
    def people(self, ids) -> dict[str, dict]:
        return {doc.pop("_id"): doc for doc in self.db.people.find({"_id": {"$in": list(ids)}})}

    # -- ledger (append-only) ---------------------------------------------------
    def insert_entries(self, entries: list[dict]) -> tuple[list[dict], list[dict]]:
        """Append entries; an id already in the ledger keeps its first version.

        Returns ``(stored, added)``: every entry as the ledger now holds it,
        and the ones this call appended. Only ids found already present are
        read back.
        """
        if not entries:
            return [], []
        now = utcnow()
        docs = [as_stored({**e, "booked_at": now}) for e in entries]
        result = self.db.entries.bulk_write(
            [UpdateOne({"_id": d["entry_id"]}, {"$setOnInsert": d}, upsert=True)
             for d in docs], ordered=True)
        fresh = set(result.upserted_ids)
        added = [d for i, d in enumerate(docs) if i in fresh]
        if len(added) == len(docs):
            return docs, added
        kept = {e["entry_id"]: e for e in self.entries_by_id(
            [d["entry_id"] for i, d in enumerate(docs) if i not in fresh])}
        return [d if i in fresh else kept[d["entry_id"]] for i, d in enumerate(docs)], added

    def entry(self, entry_id: str) -> dict | None:
        doc = self.db.entries.find_one({"_id": entry_id})
        return _out(doc) if doc else None

    def entries_by_id(self, entry_ids: list[str]) -> list[dict]:
        found = {d["_id"]: _out(d) for d in self.db.entries.find({"_id": {"$in": entry_ids}})}
        return [found[i] for i in entry_ids if i in found]

    def person_entries(self, employee_id: str, year: int, month: int | None = None) -> list:
        query = {"employee_id": employee_id, "year": year}
        if month is not None:
            query["month"] = month
        return [_out(d) for d in self.db.entries.find(query)]

    def month_entries(self, year: int, month: int) -> list[dict]:
        return [_out(d) for d in self.db.entries.find({"year": year, "month": month})]

    def incident_entries(self, incident_id: str) -> list[dict]:
        return [_out(d) for d in self.db.entries.find({"incident_id": incident_id})]

    def set_appeal(self, entry_id: str, appeal: dict, expected_status: str) -> bool:
        """Compare-and-set: the only change ever made to a stored entry."""
        status_filter = ({"$in": [None, "none"]} if expected_status == "none"
                         else expected_status)
        result = self.db.entries.update_one(
            {"_id": entry_id, "appeal.status": status_filter}, {"$set": {"appeal": appeal}})
        return result.modified_count == 1

    # -- the monthly legal ceiling ---------------------------------------------------
    def months_entries(self, months) -> list[dict]:
        """What each ``(employee_id, year, month)`` has deducted, entry by entry
        (reversals included), in one query."""
        clauses = [{"employee_id": who, "year": year, "month": month}
                   for who, year, month in months]
        query = clauses[0] if len(clauses) == 1 else {"$or": clauses}
        return [_out(d) for d in self.db.entries.find(
            query, {"employee_id": 1, "year": 1, "month": 1, "deducted_yuan": 1})]

    def hold_months(self, months) -> None:
        """Write each person-month's ceiling record, in one round trip.

        Two bookings against one month each read its deductions without the
        other's; both also write this record, so the later one conflicts and
        is run again on the month as the first left it.
        """
        self.db.ceiling_months.bulk_write(
            [UpdateOne({"_id": f"{who}:{year}-{month:02d}"}, {"$inc": {"bookings": 1}},
                       upsert=True) for who, year, month in months], ordered=True)

    # -- penalty notices (奖罚通知单) awaiting supervisors and the GM ----------------
    def insert_notice(self, notice: dict) -> dict:
        """Store a drafted notice (the caller found none for its incident)."""
        doc = as_stored(notice)
        self.db.notices.insert_one({"_id": doc["notice_id"], **doc})
        return doc

    def notice(self, notice_id: str) -> dict | None:
        doc = self.db.notices.find_one({"_id": notice_id})
        return _out(doc) if doc else None

    def notices(self, *, status: str | None = None, employee_id: str | None = None,
                number: str | None = None, approver_id: str | None = None,
                limit: int = 100) -> list[dict]:
        """``approver_id``: the notices awaiting that supervisor's approval."""
        query = {}
        if status:
            query["status"] = status
        if employee_id:
            query["named"] = employee_id
        if number:
            query["number"] = number
        if approver_id:
            query["awaiting_ids"] = approver_id
        return [_out(d) for d in self.db.notices.find(query).sort("seq", ASCENDING)
                .limit(limit)]

    def person_month_notices(self, employee_id: str, year: int, month: int) -> list[dict]:
        """Notices naming ``employee_id`` as responsible in a month, in drafting order."""
        return [_out(d) for d in self.db.notices.find(
            {"employee_ids": employee_id, "year": year, "month": month}).sort("seq", ASCENDING)]

    def update_notice(self, notice_id: str, fields: dict, *, status: str,
                      revision: int | None = None, awaiting: list | None = None) -> bool:
        """Compare-and-set on status (and revision, and the supervisors still
        awaited): two decisions, two supervisors' approvals, or a decision
        and a redraft, cannot both win."""
        query = {"_id": notice_id, "status": status}
        if revision is not None:
            query["revision"] = revision
        if awaiting:
            query["awaiting_ids"] = list(awaiting)
        return self.db.notices.update_one(query, {"$set": fields}).modified_count == 1

    def withdraw_notices(self, incident_id: str) -> None:
        """Its source withdrew the incident: a notice not yet signed lapses."""
        self.db.notices.update_many({"incident_id": incident_id, "status": "awaiting_approval"},
                                    {"$set": {"status": "withdrawn", "step": None,
                                              "awaiting_ids": []}})

    def hold_complaint_ordinals(self) -> None:
        """Write the notices counter, which every drafting unit writes too.

        Whatever changes which complaints stand in a month (a rejection, an
        upheld appeal, a booking without a notice) and a notice being drafted
        then cannot both commit on the month they read.
        """
        self.db.counters.update_one({"_id": NOTICES}, {"$inc": {"holds": 1}}, upsert=True)

    # -- violations their source may withdraw ----------------------------------------
    def mark_withdrawn(self, incident_id: str, reason: str | None) -> None:
        self.db.withdrawn.update_one({"_id": incident_id},
                                     {"$set": {"withdrawn": True, "reason": reason}},
                                     upsert=True)

    def claim_violation(self, incident_id: str) -> bool:
        """Record that a violation is being booked; True if it was withdrawn first.

        The booking and the withdrawal both write this record, so neither can
        commit without seeing the other: a withdrawal overtaking its violation
        stops the booking, and one arriving after it reverses what was booked.
        Records from before bookings wrote here are withdrawals.
        """
        before = self.db.withdrawn.find_one_and_update(
            {"_id": incident_id}, {"$setOnInsert": {"withdrawn": False, "booked_at": utcnow()}},
            upsert=True, return_document=ReturnDocument.BEFORE)
        return before is not None and before.get("withdrawn", True)

    # -- monthly publication ------------------------------------------------------
    def publication_announced(self, key: str) -> bool:
        return self.db.publications.find_one({"_id": key}, {"_id": 1}) is not None

    def mark_publication(self, key: str) -> None:
        self.db.publications.update_one({"_id": key}, {"$set": {"at": utcnow()}}, upsert=True)

    def last_publication_timestamp(self) -> float:
        """When the newest month's publication was marked done (a month key, not a
        unit's), as Unix time; 0 when none was."""
        doc = next(iter(self.db.publications.find(
            {"_id": {"$regex": r"^\d{4}-\d{2}$"}}, {"at": 1}).sort("at", -1).limit(1)), None)
        return as_utc(doc["at"]).timestamp() if doc and doc.get("at") else 0.0

    # -- thresholds ---------------------------------------------------------------
    def raised_keys(self, employee_id: str) -> list[tuple]:
        return [tuple(d["key"]) for d in self.db.thresholds.find(
            {"employee_id": employee_id}, {"key": 1})]

    def touch_year(self, employee_id: str, year: int) -> None:
        self.db.threshold_years.update_one({"_id": f"{employee_id}:{year}"},
                                           {"$inc": {"checks": 1}}, upsert=True)

    def record_thresholds(self, thresholds: list[dict]) -> None:
        """Record raised thresholds; one raised meanwhile by another unit
        collides, and this unit runs again and finds it raised."""
        self._record(self.db.thresholds, thresholds)

    # -- what an organisational unit (单位) bears ------------------------------------
    def unit_entries(self, unit: str, year: int, month: int | None = None, *,
                     domains=None, codes=None) -> list[dict]:
        """The entries booked on the unit's people; ``domains``/``codes``: only
        those of these domains or with these codes."""
        query: dict = {"unit": unit, "year": year}
        if month is not None:
            query["month"] = month
        which = ([{"domain": {"$in": list(domains)}}] if domains else []) + \
            ([{"code": {"$in": list(codes)}}] if codes else [])
        if which:
            query["$or"] = which
        return [_out(d) for d in self.db.entries.find(query)]

    def touch_unit_year(self, unit: str, year: int) -> None:
        self.db.unit_years.update_one({"_id": f"{unit}:{year}"}, {"$inc": {"checks": 1}},
                                      upsert=True)

    def unit_raised_keys(self, unit: str, year: int) -> list[tuple]:
        return [tuple(d["key"]) for d in self.db.unit_thresholds.find(
            {"unit": unit, "year": year}, {"key": 1})]

    def unit_thresholds(self, year: int, unit: str | None = None) -> list[dict]:
        """Consequences raised in ``year``, of one unit or of all."""
        query: dict = {"year": year}
        if unit is not None:
            query["unit"] = unit
        return [_out(d) for d in self.db.unit_thresholds.find(query)]

    def record_unit_thresholds(self, raised: list[dict]) -> None:
        self._record(self.db.unit_thresholds, raised)

    @staticmethod
    def _record(collection, raised: list[dict]) -> None:
        docs = [{"_id": t["threshold_id"], **{k: v for k, v in t.items() if k != "entries"},
                 "key": list(t["key"])} for t in raised]
        if docs:
            collection.insert_many(docs)


def as_stored(value):
    """``value`` as the database will hand it back: times to the millisecond.

    What a call returns without reading its own write back must match what
    every later read shows.
    """
    if isinstance(value, dict):
        return {k: as_stored(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_stored(v) for v in value]
    if isinstance(value, datetime):
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    return value


def _out(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "_id"}
