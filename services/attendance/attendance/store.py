"""The attendance database: collections, their indexes, and every query.

Keys are deterministic wherever a record stands for a fact (a roster day, a
clock event, a violation, an absence), so replays and two replicas running the
same sweep meet on a unique ``_id`` instead of writing twice. Each query below
names the index that serves it; SecantusDB and MongoDB alike scan without one.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from pymongo import ASCENDING, DESCENDING, IndexModel, ReplaceOne, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError
from zhidu.mongo import Store

ACTIVE = {"withdrawn_at": None}


def _ix(*keys, **kwargs) -> IndexModel:
    return IndexModel([(k, DESCENDING if k.startswith("-") else ASCENDING)
                       if isinstance(k, str) else k for k in keys], **kwargs)


def _out(doc: dict | None, id_field: str | None = None) -> dict | None:
    if doc is None:
        return None
    out = dict(doc)
    ident = out.pop("_id")
    if id_field:
        out[id_field] = ident
    return out


def _new_indexes(exc: BulkWriteError, count: int) -> set[int]:
    """Indexes of an unordered insert_many that went in (the rest were duplicates)."""
    errors = exc.details.get("writeErrors") or []
    if any(err.get("code") != 11000 for err in errors):
        raise exc
    failed = {err["index"] for err in errors}
    return set(range(count)) - failed


ANY = object()  # no revision check: an administrator's correction


class AttendanceStore(Store):
    INDEXES = {
        # own copy of the directory
        "employees": [_ix("department", "role"), _ix("role", "department"), _ix("departed_at")],
        # roster: per day (close_day, holiday check), per person (leave length)
        "roster": [_ix("date", "employee_id"), _ix("employee_id", "date")],
        "roster_changes": [_ix("employee_id", "date")],
        # roster days the sweep has still to close
        "roster_days": [_ix("open", "_id")],
        # clock events: a day's window for everyone, one person's history
        "clocks": [_ix("at"), _ix("employee_id", "at")],
        "incidents": [_ix("date", "employee_id")],
        "evaluations": [_ix("date", "employee_id"), _ix("employee_id", "status", "date")],
        "violations": [_ix("employee_id", "domain", "at"), _ix("domain", "at"), _ix("at")],
        "absences": [_ix("employee_id", "date")],
        "leaves": [_ix("employee_id", "start"), _ix("status", "start", "end"),
                   _ix("status", "next_approver_role", "submitted_at"),
                   # An approver's queue across statuses.
                   _ix("next_approver_role", "_id"),
                   _ix("proof_open", "proof_due"), _ix("employee_id", "status", "end")],
        "reports": [_ix("department", "year", "month")],
        "meetings": [_ix("start")],
        "meeting_checkins": [_ix("meeting_id")],
    }

    # -- directory copy -----------------------------------------------------------
    def upsert_employee(self, employee: dict, as_of) -> None:
        self.copy_newer("employees", employee["employee_id"], {k: employee.get(k) for k in (
            "name", "department", "unit", "role", "manager_id", "team_leader_id",
            "unit_head_id", "group_leader_id", "hired_on")}, as_of)

    def mark_departed(self, employee_id: str, at: datetime) -> None:
        self.db.employees.update_one({"_id": employee_id}, {"$set": {"departed_at": at}},
                                     upsert=True)

    def employee(self, employee_id: str) -> dict | None:
        return _out(self.db.employees.find_one({"_id": employee_id}), "employee_id")

    def employees(self, ids) -> dict[str, dict]:
        docs = self.db.employees.find({"_id": {"$in": sorted(set(ids))}})
        return {d["_id"]: _out(d, "employee_id") for d in docs}

    def departed(self, employee_ids) -> dict[str, datetime]:
        """Departure times of those of ``employee_ids`` who left (by ``_id``)."""
        docs = self.db.employees.find({"_id": {"$in": list(employee_ids)},
                                       "departed_at": {"$ne": None}}, {"departed_at": 1})
        return {d["_id"]: d["departed_at"] for d in docs}

    def department_role_holders(self, department: str, role: str) -> list[str]:
        """Index ``department, role``."""
        docs = self.db.employees.find({"department": department, "role": role,
                                       "departed_at": None}, {"_id": 1}).sort("_id", 1)
        return [d["_id"] for d in docs]

    def department_members(self, department: str) -> list[str]:
        """Everyone ever filed under ``department``, departed too (index ``department, role``)."""
        docs = self.db.employees.find({"department": department}, {"_id": 1}).sort("_id", 1)
        return [d["_id"] for d in docs]

    def clerks_by_department(self) -> dict[str, str]:
        """The first attendance clerk of every department (index ``role, department``)."""
        docs = self.db.employees.find({"role": "attendance_clerk", "departed_at": None},
                                      {"department": 1}).sort("_id", 1)
        clerks: dict[str, str] = {}
        for d in docs:
            clerks.setdefault(d.get("department"), d["_id"])
        return clerks

    def departments_of(self, employee_ids) -> dict[str, str | None]:
        docs = self.db.employees.find({"_id": {"$in": sorted(set(employee_ids))}},
                                      {"department": 1})
        return {d["_id"]: d.get("department") for d in docs}

    # -- shifts --------------------------------------------------------------------
    def insert_shift(self, shift: dict) -> bool:
        try:
            self.db.shifts.insert_one(dict(shift, _id=shift["code"]))
            return True
        except DuplicateKeyError:
            return False

    def shift(self, code: str) -> dict | None:
        return _out(self.db.shifts.find_one({"_id": code}))

    def cached_shift(self, code: str) -> dict | None:
        """Shifts never change once defined, so each container may keep them."""
        cache = self.__dict__.setdefault("_shift_cache", {})
        if code not in cache:
            found = self.shift(code)
            if found is None:
                return None
            cache[code] = found
        return cache[code]

    def shifts(self) -> list[dict]:
        return [_out(d) for d in self.db.shifts.find({}).sort("_id", 1)]

    # -- roster --------------------------------------------------------------------
    def roster_entries(self, keys) -> dict[str, dict]:
        docs = self.db.roster.find({"_id": {"$in": sorted(set(keys))}})
        return {d["_id"]: _out(d, "key") for d in docs}

    def save_roster(self, entries: list[dict], existing: dict, changes: list[dict]) -> None:
        """New entries by insert_many (fast), changed ones by replacement."""
        self._save_keyed("roster", entries, existing)
        if changes:
            self.db.roster_changes.insert_many([dict(c) for c in changes])
        days = sorted({e["date"] for e in entries})
        if days:
            self.db.roster_days.bulk_write(
                [ReplaceOne({"_id": d}, {"open": True}, upsert=True) for d in days],
                ordered=False)

    def roster_between(self, date_from: str, date_to: str,
                       employee_id: str | None = None, employee_ids=None) -> list[dict]:
        """Index ``employee_id, date`` or ``date, employee_id``."""
        query: dict = {"date": {"$gte": date_from, "$lte": date_to}}
        if employee_ids is not None:
            query["employee_id"] = {"$in": sorted(set(employee_ids))}
            cursor = self.db.roster.find(query).sort([("date", 1), ("employee_id", 1)])
        elif employee_id:
            query["employee_id"] = employee_id
            cursor = self.db.roster.find(query).sort([("employee_id", 1), ("date", 1)])
        else:
            cursor = self.db.roster.find(query).sort([("date", 1), ("employee_id", 1)])
        return [_out(d, "key") for d in cursor]

    def roster_on(self, day: str, employee_ids=None, published_only=True) -> list[dict]:
        """Index ``date, employee_id``."""
        query: dict = {"date": day}
        if employee_ids is not None:
            query["employee_id"] = {"$in": sorted(set(employee_ids))}
        if published_only:
            query["published"] = True
        return [_out(d, "key") for d in self.db.roster.find(query)]

    def roster_for_clock(self, employee_id: str, days: list[str]) -> list[dict]:
        return [_out(d, "key") for d in self.db.roster.find(
            {"_id": {"$in": [f"{employee_id}:{d}" for d in days]}, "published": True})]

    def next_rostered_date(self, employee_id: str, after: str) -> str | None:
        doc = self.db.roster.find_one({"employee_id": employee_id, "date": {"$gt": after},
                                       "published": True}, sort=[("date", 1)])
        return doc["date"] if doc else None

    def open_roster_days(self, before: str, limit: int) -> list[str]:
        """Index ``open, _id``."""
        docs = self.db.roster_days.find({"open": True, "_id": {"$lt": before}}) \
            .sort("_id", 1).limit(limit)
        return [d["_id"] for d in docs]

    def mark_day_closed(self, day: str, at: datetime) -> None:
        self.db.roster_days.update_one({"_id": day}, {"$set": {"open": False, "closed_at": at}})

    def distinct_rostered_employees(self, date_from: str, date_to: str) -> list[str]:
        return sorted(self.db.roster.distinct(
            "employee_id", {"date": {"$gte": date_from, "$lte": date_to}}))

    # -- clocks and incidents ------------------------------------------------------
    def insert_clock(self, clock: dict) -> bool:
        try:
            self.db.clocks.insert_one(clock)
            return True
        except DuplicateKeyError:
            return False

    def clocks_between(self, start: datetime, end: datetime, employee_ids=None) -> dict:
        """Clock events in [start, end] by employee (index ``at`` / ``employee_id, at``)."""
        query: dict = {"at": {"$gte": start, "$lte": end}}
        if employee_ids is not None:
            query["employee_id"] = {"$in": sorted(set(employee_ids))}
        grouped: dict[str, list] = defaultdict(list)
        for doc in self.db.clocks.find(query, {"employee_id": 1, "kind": 1, "at": 1}):
            grouped[doc["employee_id"]].append(doc)
        return grouped

    def insert_incident(self, incident: dict) -> bool:
        try:
            self.db.incidents.insert_one(incident)
            return True
        except DuplicateKeyError:
            return False

    def incidents_on(self, day: str, employee_ids=None) -> dict[str, list]:
        query: dict = {"date": day}
        if employee_ids is not None:
            query["employee_id"] = {"$in": sorted(set(employee_ids))}
        grouped: dict[str, list] = defaultdict(list)
        for doc in self.db.incidents.find(query).sort("at", 1):
            grouped[doc["employee_id"]].append(dict(doc, incident_id=doc["_id"]))
        return grouped

    # -- evaluations ---------------------------------------------------------------------
    def evaluations_on(self, day: str, employee_ids=None) -> dict[str, dict]:
        query: dict = {"date": day}
        if employee_ids is not None:
            query["employee_id"] = {"$in": sorted(set(employee_ids))}
        return {d["_id"]: _out(d, "key") for d in self.db.evaluations.find(query)}

    def save_evaluations(self, evaluations: list[dict], existing: dict) -> None:
        self._save_keyed("evaluations", evaluations, existing)

    def _save_keyed(self, collection: str, docs: list[dict], existing) -> None:
        """Documents keyed by ``key``: new ones by insert_many (fast), known ones by
        replacement; one inserted meanwhile by someone else is replaced too."""
        fresh = [dict({k: v for k, v in d.items() if k != "key"}, _id=d["key"])
                 for d in docs if d["key"] not in existing]
        replaced = [ReplaceOne({"_id": d["key"]}, {k: v for k, v in d.items() if k != "key"},
                               upsert=True)
                    for d in docs if d["key"] in existing]
        if fresh:
            try:
                self.db[collection].insert_many(fresh, ordered=False)
            except BulkWriteError as exc:
                missed = set(range(len(fresh))) - _new_indexes(exc, len(fresh))
                replaced += [ReplaceOne({"_id": fresh[i]["_id"]}, fresh[i], upsert=True)
                             for i in missed]
        if replaced:
            self.db[collection].bulk_write(replaced, ordered=False)

    def evaluated_dates(self, employee_id: str, date_from: str, date_to: str) -> list[str]:
        """Index ``date, employee_id``."""
        docs = self.db.evaluations.find({"date": {"$gte": date_from, "$lte": date_to},
                                         "employee_id": employee_id}, {"date": 1})
        return sorted(d["date"] for d in docs)

    def last_present(self, employee_id: str, before: str) -> str | None:
        doc = self.db.evaluations.find_one(
            {"employee_id": employee_id, "status": "present", "date": {"$lt": before}},
            {"date": 1}, sort=[("date", -1)])
        return doc["date"] if doc else None

    # -- violations --------------------------------------------------------------------
    def insert_new_violations(self, violations: list[dict]) -> list[dict]:
        """Store those not stored yet; returns exactly the ones this call inserted."""
        if not violations:
            return []
        keys = [v["key"] for v in violations]
        known = {d["_id"] for d in self.db.violations.find({"_id": {"$in": keys}}, {"_id": 1})}
        fresh = [v for v in violations if v["key"] not in known]
        return self._insert_new("violations", fresh)

    def live_violation_keys(self, keys: list[str]) -> set[str]:
        if not keys:
            return set()
        return {d["_id"] for d in self.db.violations.find(
            {"_id": {"$in": keys}, "withdrawn_at": None}, {"_id": 1})}

    def withdraw_violation(self, key: str, at: datetime, reason: str) -> dict | None:
        """Mark withdrawn; returns the record if this call withdrew it."""
        doc = self.db.violations.find_one_and_update(
            {"_id": key, "withdrawn_at": None},
            {"$set": {"withdrawn_at": at, "withdrawn_reason": reason}},
            return_document=ReturnDocument.AFTER)
        return _out(doc, "key")

    def violations(self, employee_id=None, domain=None, since=None, until=None,
                   limit=1000) -> list[dict]:
        """Index ``employee_id, domain, at`` / ``domain, at`` / ``at``."""
        query: dict = {}
        if employee_id:
            query["employee_id"] = employee_id
        if domain:
            query["domain"] = domain
        if since or until:
            query["at"] = {k: v for k, v in (("$gte", since), ("$lt", until)) if v}
        cursor = self.db.violations.find(query).sort("at", 1).limit(limit)
        return [_out(d, "key") for d in cursor]

    # -- absences ------------------------------------------------------------------------
    def insert_new_absences(self, records: list[dict]) -> list[dict]:
        return self._insert_new("absences", records)

    def _insert_new(self, collection: str, records: list[dict]) -> list[dict]:
        """Insert keyed records not withdrawn; returns exactly the ones that went in."""
        if not records:
            return []
        docs = [dict({k: v for k, v in r.items() if k != "key"}, _id=r["key"],
                     withdrawn_at=None) for r in records]
        try:
            self.db[collection].insert_many(docs, ordered=False)
            return records
        except BulkWriteError as exc:
            went_in = _new_indexes(exc, len(docs))
            return [r for i, r in enumerate(records) if i in went_in]

    def withdraw_absence(self, key: str, at: datetime) -> bool:
        return self.db.absences.update_one({"_id": key, "withdrawn_at": None},
                                           {"$set": {"withdrawn_at": at}}).modified_count == 1

    def absence_dates(self, employee_id: str, first: str, last: str) -> list[str]:
        """Index ``employee_id, date``."""
        docs = self.db.absences.find({"employee_id": employee_id,
                                      "date": {"$gte": first, "$lte": last}, **ACTIVE},
                                     {"date": 1})
        return sorted(d["date"] for d in docs)

    def insert_once(self, collection: str, key: str, doc: dict) -> bool:
        """A fact that happens once (a dismissal review, a holiday check)."""
        try:
            self.db[collection].insert_one(dict(doc, _id=key))
            return True
        except DuplicateKeyError:
            return False

    def exists(self, collection: str, key: str) -> bool:
        return self.db[collection].find_one({"_id": key}, {"_id": 1}) is not None

    # -- leave -----------------------------------------------------------------------------
    def insert_leave(self, leave: dict) -> bool:
        doc = dict({k: v for k, v in leave.items() if k != "leave_id"}, _id=leave["leave_id"],
                   version=0)
        try:
            self.db.leaves.insert_one(doc)
            return True
        except DuplicateKeyError:
            return False

    def overlapping_leaves(self, employee_id: str, start: str, end: str) -> list[dict]:
        """Pending or approved leave of the person touching [start, end]
        (index ``employee_id, start``)."""
        docs = self.db.leaves.find({"employee_id": employee_id, "start": {"$lte": end},
                                    "end": {"$gte": start},
                                    "status": {"$in": ["pending", "approved"]}})
        return [_out(d, "leave_id") for d in docs]

    def leave(self, leave_id: str) -> dict | None:
        return _out(self.db.leaves.find_one({"_id": leave_id}), "leave_id")

    def replace_leave(self, leave: dict) -> bool:
        """Optimistic write: fails (False) if someone else decided in between."""
        version = leave.get("version", 0)
        doc = dict({k: v for k, v in leave.items() if k not in ("leave_id", "version")},
                   version=version + 1)
        return self.db.leaves.replace_one({"_id": leave["leave_id"], "version": version},
                                          doc).modified_count == 1

    def leaves(self, employee_id=None, status=None, approver_role=None,
               employee_ids=None) -> list[dict]:
        query: dict = {}
        if employee_ids is not None:
            query["employee_id"] = {"$in": sorted(set(employee_ids))}
        if employee_id:
            query["employee_id"] = employee_id
        if status:
            query["status"] = status
        if approver_role:
            query["next_approver_role"] = approver_role
        return [_out(d, "leave_id") for d in self.db.leaves.find(query).sort("_id", 1)]

    def approved_leaves_on(self, day: str, employee_ids=None) -> dict[str, list]:
        """Index ``status, start, end``."""
        query: dict = {"status": "approved", "start": {"$lte": day}, "end": {"$gte": day}}
        if employee_ids is not None:
            query["employee_id"] = {"$in": sorted(set(employee_ids))}
        grouped: dict[str, list] = defaultdict(list)
        for doc in self.db.leaves.find(query):
            grouped[doc["employee_id"]].append(_out(doc, "leave_id"))
        return grouped

    def last_leave_end(self, employee_id: str, before: str) -> str | None:
        """Index ``employee_id, status, end``."""
        doc = self.db.leaves.find_one(
            {"employee_id": employee_id, "status": "approved", "end": {"$lt": before}},
            {"end": 1}, sort=[("end", -1)])
        return doc["end"] if doc else None

    def proofs_due(self, now: datetime, limit: int = 500) -> list[dict]:
        """Index ``proof_open, proof_due``."""
        cursor = self.db.leaves.find({"proof_open": True, "proof_due": {"$lte": now}}) \
            .sort("proof_due", 1).limit(limit)
        return [_out(d, "leave_id") for d in cursor]

    def mark_converted(self, leave_id: str, converted_id: str) -> bool:
        return self.db.leaves.update_one(
            {"_id": leave_id, "converted_to": None},
            {"$set": {"converted_to": converted_id, "proof_open": False},
             "$inc": {"version": 1}}).modified_count == 1

    def set_proof(self, leave_id: str, at: datetime, on_time: bool) -> bool:
        update = {"proof_at": at}
        if on_time:
            update["proof_open"] = False
        return self.db.leaves.update_one({"_id": leave_id, "proof_at": None},
                                         {"$set": update, "$inc": {"version": 1}}
                                         ).modified_count == 1

    def pending_approvals(self) -> list[dict]:
        """Index ``status, next_approver_role, submitted_at``."""
        return list(self.db.leaves.aggregate([
            {"$match": {"status": "pending"}},
            {"$group": {"_id": "$next_approver_role", "count": {"$sum": 1},
                        "oldest": {"$min": "$submitted_at"}}}]))

    # -- seniority accounts ----------------------------------------------------------------
    def seniority_account(self, employee_id: str, year: int) -> dict | None:
        return _out(self.db.seniority_accounts.find_one({"_id": f"{employee_id}:{year}"}))

    def save_seniority_account(self, account: dict, expected=ANY) -> bool:
        """Write the account; with ``expected``, only over that revision."""
        key = f"{account['employee_id']}:{account['year']}"
        if expected is ANY:
            self.db.seniority_accounts.replace_one({"_id": key}, account, upsert=True)
            return True
        doc = dict(account, revision=(expected or 0) + 1)
        return self.db.seniority_accounts.replace_one(
            {"_id": key, "revision": expected}, doc).matched_count == 1

    # -- reports -------------------------------------------------------------------------------
    def report(self, key: str) -> dict | None:
        return _out(self.db.reports.find_one({"_id": key}), "key")

    def insert_report(self, report: dict) -> bool:
        return self.insert_once("reports", report["key"],
                                {k: v for k, v in report.items() if k != "key"})

    def submit_report(self, report: dict) -> bool:
        """Record the submission unless one is already recorded."""
        doc = {k: v for k, v in report.items() if k != "key"}
        try:
            result = self.db.reports.update_one(
                {"_id": report["key"], "submitted_at": None}, {"$set": doc}, upsert=True)
        except DuplicateKeyError:  # a submitted report exists: the upsert collided
            return False
        return bool(result.modified_count or result.upserted_id)

    # -- meetings ------------------------------------------------------------------------------
    def insert_meeting(self, meeting: dict) -> bool:
        return self.insert_once("meetings", meeting["meeting_id"],
                                {k: v for k, v in meeting.items() if k != "meeting_id"})

    def meeting(self, meeting_id: str) -> dict | None:
        return _out(self.db.meetings.find_one({"_id": meeting_id}), "meeting_id")

    def close_meeting(self, meeting_id: str, result: dict) -> bool:
        return self.db.meetings.update_one(
            {"_id": meeting_id, "status": "scheduled"},
            {"$set": {"status": "closed", "ended_at": result["ended_at"], "result": result}}
        ).modified_count == 1

    def insert_checkin(self, checkin: dict) -> bool:
        return self.insert_once("meeting_checkins",
                                f"{checkin['meeting_id']}:{checkin['employee_id']}", checkin)

    def checkin(self, meeting_id: str, employee_id: str) -> dict | None:
        return _out(self.db.meeting_checkins.find_one({"_id": f"{meeting_id}:{employee_id}"}))

    def checked_in(self, meeting_id: str) -> list[str]:
        """Index ``meeting_id``."""
        return sorted(d["employee_id"] for d in self.db.meeting_checkins.find(
            {"meeting_id": meeting_id}, {"employee_id": 1}))
