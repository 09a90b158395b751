from pymongo import ASCENDING, IndexModel
from pymongo.errors import BulkWriteError, DuplicateKeyError
from zhidu.mongo import Store
from zhidu.times import utcnow

PERSON_FIELDS = ("name", "department", "unit", "team_leader_id", "manager_id",
                 "unit_head_id", "group_leader_id", "monthly_wage_yuan")


class PenaltiesStore(Store):
    INDEXES = {
        "entries": [
            IndexModel([("employee_id", ASCENDING), ("year", ASCENDING),
                        ("month", ASCENDING)]),
            IndexModel([("incident_id", ASCENDING)]),
            IndexModel([("year", ASCENDING), ("month", ASCENDING)]),
        ],
        "thresholds": [IndexModel([("employee_id", ASCENDING)])],
        "notices": [
            IndexModel([("employee_ids", ASCENDING), ("year", ASCENDING),
                        ("month", ASCENDING)]),
            IndexModel([("status", ASCENDING), ("seq", ASCENDING)]),
            IndexModel([("named", ASCENDING), ("seq", ASCENDING)]),
            IndexModel([("incident_id", ASCENDING)]),
        ],
    }

    # -- people (the directory's copy) ----------------------------------------
    def upsert_person(self, employee: dict, as_of) -> None:
        self.copy_newer("people", employee["employee_id"],
                        {k: employee.get(k) for k in PERSON_FIELDS}, as_of)

    def people(self, ids) -> dict[str, dict]:
        return {doc.pop("_id"): doc for doc in self.db.people.find({"_id": {"$in": list(ids)}})}

    def all_people(self) -> dict[str, dict]:
        return {doc.pop("_id"): doc for doc in self.db.people.find({})}

    # -- ledger (append-only) ---------------------------------------------------
    def insert_entries(self, entries: list[dict]) -> list[dict]:
        """Append entries; ids already present keep their first version.

        Returns the stored versions, so a re-run reports what was booked then.
        """
        if not entries:
            return []
        now = utcnow()
        docs = [{"_id": e["entry_id"], **e, "booked_at": now} for e in entries]
        try:
            self.db.entries.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            if any(err.get("code") != 11000 for err in exc.details.get("writeErrors", [])):
                raise
        stored = {d["_id"]: d for d in self.db.entries.find(
            {"_id": {"$in": [e["entry_id"] for e in entries]}})}
        return [_out(stored[e["entry_id"]]) for e in entries]

    def set_split(self, entry_id: str, deducted: int, capped: int) -> None:
        """Correct an entry's ceiling split (bookkeeping; the penalty is unchanged)."""
        self.db.entries.update_one({"_id": entry_id}, {"$set": {
            "deducted_yuan": deducted, "capped_yuan": capped}})

    def entry(self, entry_id: str) -> dict | None:
        doc = self.db.entries.find_one({"_id": entry_id})
        return _out(doc) if doc else None

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

    def entries_by_id(self, entry_ids: list[str]) -> list[dict]:
        found = {d["_id"]: _out(d) for d in self.db.entries.find({"_id": {"$in": entry_ids}})}
        return [found[i] for i in entry_ids if i in found]

    # -- penalty notices (奖罚通知单) awaiting the GM -------------------------------
    def insert_notice(self, notice: dict) -> dict:
        """Store a drafted notice; one already drafted for the incident wins."""
        try:
            self.db.notices.insert_one({"_id": notice["notice_id"], **notice})
        except DuplicateKeyError:
            pass
        return self.notice(notice["notice_id"])

    def notice(self, notice_id: str) -> dict | None:
        doc = self.db.notices.find_one({"_id": notice_id})
        return _out(doc) if doc else None

    def notices(self, *, status: str | None = None, employee_id: str | None = None,
                number: str | None = None, limit: int = 100) -> list[dict]:
        query = {}
        if status:
            query["status"] = status
        if employee_id:
            query["named"] = employee_id
        if number:
            query["number"] = number
        return [_out(d) for d in self.db.notices.find(query).sort("seq", ASCENDING)
                .limit(limit)]

    def person_month_notices(self, employee_id: str, year: int, month: int) -> list[dict]:
        """Notices naming ``employee_id`` as responsible in a month, in drafting order."""
        return [_out(d) for d in self.db.notices.find(
            {"employee_ids": employee_id, "year": year, "month": month}).sort("seq", ASCENDING)]

    def update_notice(self, notice_id: str, fields: dict, *, status: str,
                      revision: int | None = None) -> bool:
        """Compare-and-set on status (and revision): two decisions, or a
        decision and a redraft, cannot both win."""
        query = {"_id": notice_id, "status": status}
        if revision is not None:
            query["revision"] = revision
        return self.db.notices.update_one(query, {"$set": fields}).modified_count == 1

    def withdraw_notices(self, incident_id: str) -> None:
        """Its source withdrew the incident: a notice not yet signed lapses."""
        self.db.notices.update_many({"incident_id": incident_id, "status": "awaiting_approval"},
                                    {"$set": {"status": "withdrawn"}})

    def mark_notice_booked(self, notice_id: str) -> None:
        self.db.notices.update_one({"_id": notice_id, "booked_at": None},
                                   {"$set": {"booked_at": utcnow()}})

    # -- violations withdrawn at their source ------------------------------------
    def mark_withdrawn(self, incident_id: str, reason: str | None) -> None:
        self.db.withdrawn.update_one({"_id": incident_id}, {"$set": {"reason": reason}},
                                     upsert=True)

    def is_withdrawn(self, incident_id: str) -> bool:
        return self.db.withdrawn.find_one({"_id": incident_id}, {"_id": 1}) is not None

    # -- monthly publication ------------------------------------------------------
    def publication_announced(self, key: str) -> bool:
        return self.db.publications.find_one({"_id": key}, {"_id": 1}) is not None

    def mark_publication(self, key: str) -> None:
        self.db.publications.update_one({"_id": key}, {"$set": {"at": utcnow()}}, upsert=True)

    # -- thresholds ---------------------------------------------------------------
    def raised_keys(self, employee_id: str) -> list[tuple]:
        return [tuple(d["key"]) for d in self.db.thresholds.find(
            {"employee_id": employee_id}, {"key": 1})]

    def record_threshold(self, threshold: dict) -> bool:
        """True when newly recorded; False when it had been raised before."""
        doc = {"_id": threshold["threshold_id"], **threshold,
               "key": list(threshold["key"])}
        doc.pop("entries", None)
        try:
            self.db.thresholds.insert_one(doc)
            return True
        except DuplicateKeyError:
            return False


def _out(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "_id"}
