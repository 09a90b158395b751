"""The attendance database: collections, their indexes, and every query.

Keys are deterministic wherever a record stands for a fact (a roster day, a
clock event, a violation, an absence), so replays and two replicas running the
same sweep meet on a unique ``_id`` instead of writing twice. Each query below
names the index that serves it; SecantusDB and MongoDB alike scan without one.

Every write runs inside a unit of work (one transaction), where a duplicate
key aborts the whole transaction: a write that may meet an existing key is an
upsert, or reads first and lets a duplicate from a racing unit escape, so the
unit runs again and reads the winner. None catches one and carries on.
"""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from datetime import datetime

from pymongo import ASCENDING, DESCENDING, IndexModel, ReplaceOne, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError
from zhidu.mongo import Store
from zhidu.uow import StaleWrite, on_commit

ACTIVE = {"withdrawn_at": None}
# How long a replica answers clock-ins from its copy of a day's published
# roster before reading it again. Its own roster changes reach the copy when
# they commit; another replica's as soon as its ``duty_rostered`` or
# ``roster_changed`` reaches every replica (the service's broadcast handlers
# drop the days they name), and within this time should that message be lost.
# A day's first publication is announced by no event and waits for it too.
# The copy only shapes a clock-in's reply (roster day, shift, minutes late)
# and the lateness metrics: the clock event is stored as sent, and closing the
# day reads the roster afresh.
ROSTER_COPY_SECONDS = 30.0


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


def _without_id(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "_id"}


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
        "meeting_leaves": [_ix("meeting_id", "status")],
        # the GM office meeting's agenda, one per month (000 §3 四.7): by key
        "agendas": [],
        # handovers and the duty log, per post and day
        "handovers": [_ix("post", "date")],
        "duty_log": [_ix("post", "date"), _ix("post", "month", "date")],
        "duty_reviews": [_ix("post", "period")],
        # duties with a deadline (log reviews, the sheet's steps) still to remind
        "duties": [_ix("open", "remind_at")],
        "outings": [_ix("employee_id", "out_at")],
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

    def role_holders(self, role: str) -> list[str]:
        """Everyone holding ``role`` now, company-wide (index ``role, department``)."""
        docs = self.db.employees.find({"role": role, "departed_at": None},
                                      {"_id": 1}).sort("_id", 1)
        return [d["_id"] for d in docs]

    def superiors_in_department(self, department: str) -> list[str]:
        """The direct superiors (team leader, manager, unit head) of the department's
        people who work in it themselves (index ``department, role``)."""
        fields = ("team_leader_id", "manager_id", "unit_head_id")
        docs = list(self.db.employees.find({"department": department, "departed_at": None},
                                           {f: 1 for f in fields}))
        members = {d["_id"] for d in docs}
        return sorted({d.get(f) for d in docs for f in fields} & members)

    def active_members(self, departments) -> list[str]:
        """Everyone filed under any of ``departments`` who has not left (index
        ``department, role``)."""
        docs = self.db.employees.find({"department": {"$in": sorted(set(departments))},
                                       "departed_at": None}, {"_id": 1})
        return sorted(d["_id"] for d in docs)

    def active_employees(self) -> list[str]:
        """Everyone who has not left (index ``departed_at``)."""
        return sorted(d["_id"] for d in self.db.employees.find({"departed_at": None},
                                                                {"_id": 1}))

    def department_heads(self) -> dict[str, list[str]]:
        """The department managers of every department (index ``role, department``)."""
        heads: dict[str, list[str]] = defaultdict(list)
        for d in self.db.employees.find({"role": "dept_manager", "departed_at": None},
                                        {"department": 1}).sort("_id", 1):
            if d.get("department"):
                heads[d["department"]].append(d["_id"])
        return dict(heads)

    def departments_of(self, employee_ids) -> dict[str, str | None]:
        docs = self.db.employees.find({"_id": {"$in": sorted(set(employee_ids))}},
                                      {"department": 1})
        return {d["_id"]: d.get("department") for d in docs}

    # -- shifts --------------------------------------------------------------------
    def insert_shift(self, shift: dict) -> bool:
        """Define the shift unless its code is taken; True if this call defined it."""
        return self._insert_once("shifts", shift["code"], shift)

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
        """``existing``: the entries as this unit read them (``roster_entries``)."""
        self._save_keyed("roster", entries, existing)
        on_commit(lambda: self._update_roster_copy(entries))
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
        """The published entries of ``employee_id`` on ``days``, from this replica's
        copy of each day's roster (``ROSTER_COPY_SECONDS``, ``forget_roster_days``):
        a shift change brings the whole shift to the clocks within minutes, and
        one read of the day serves them all instead of one read each. While a
        day is read for the first time, other calls read their own entry as
        before rather than wait."""
        found, unread = [], []
        for day in days:
            copy = self._roster_copy(day)
            if copy is None:
                unread.append(day)
            elif employee_id in copy:
                found.append(dict(copy[employee_id]))
        if unread:
            found += [_out(d, "key") for d in self.db.roster.find(
                {"_id": {"$in": [f"{employee_id}:{d}" for d in unread]}, "published": True})]
        return found

    def _roster_copy(self, day: str) -> dict[str, dict] | None:
        copies = self.__dict__.setdefault("_roster_copies", {})
        locks = self.__dict__.setdefault("_roster_locks", defaultdict(threading.Lock))
        copy = copies.get(day)
        if copy is not None and time.monotonic() < copy[0]:
            return copy[1]
        # One reader per day; the others answer from the expired copy
        # meanwhile (or, before the first, read their entry), so renewing it
        # costs one clock-in's latency, not a stall of all of them.
        if not locks[day].acquire(blocking=False):
            return copy[1] if copy is not None else None
        try:
            changes = self._roster_changes(day)
            # Outside the caller's transaction: the copy outlives it.
            docs = self._db.roster.find({"date": day, "published": True})
            entries = {d["employee_id"]: _out(d, "key") for d in docs}
            # A change committed while reading may be missing from what was
            # read: then the copy serves this call only.
            fresh = changes == self._roster_changes(day)
            copies[day] = (time.monotonic() + ROSTER_COPY_SECONDS if fresh else 0.0, entries)
            return entries
        finally:
            locks[day].release()

    def forget_roster_days(self, days) -> None:
        """The published roster of ``days`` (None: of any day) changed, here or
        on another replica: the next clock-in of each reads it again. A read
        under way when the change is heard serves its own call only (the
        change count moved on)."""
        copies = self.__dict__.get("_roster_copies") or {}
        changed = self.__dict__.setdefault("_roster_changed", defaultdict(int))
        for day in set(copies) | set(changed) if days is None else set(days):
            changed[day] += 1
            copies.pop(day, None)

    def _roster_changes(self, day: str) -> int:
        return self.__dict__.setdefault("_roster_changed", defaultdict(int))[day]

    def _update_roster_copy(self, entries: list[dict]) -> None:
        """Bring this replica's copies up to date with roster entries it committed."""
        copies = self.__dict__.get("_roster_copies") or {}
        changed = self.__dict__.setdefault("_roster_changed", defaultdict(int))
        for entry in entries:
            changed[entry["date"]] += 1
            copy = copies.get(entry["date"])
            if copy is None:
                continue
            if entry.get("published"):
                copy[1][entry["employee_id"]] = dict(entry)
            else:
                copy[1].pop(entry["employee_id"], None)

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

    # -- clocks and incidents ------------------------------------------------------
    def insert_clock(self, clock: dict) -> bool:
        """Record the clock event unless its key is stored; True if this call stored it."""
        return self._insert_once("clocks", clock["_id"], clock)

    def clocks_between(self, start: datetime, end: datetime, employee_ids=None) -> dict:
        """Clock events in [start, end] by employee (index ``at`` / ``employee_id, at``).

        The people come first in the filter: the embedded server plans from the
        filter's first field, and a time range first scans every clock of the
        day for each batch of a day's close (measured: 12 ms against 730 ms for
        50 people among 5,000).
        """
        query: dict = {}
        if employee_ids is not None:
            query["employee_id"] = {"$in": sorted(set(employee_ids))}
        query["at"] = {"$gte": start, "$lte": end}
        grouped: dict[str, list] = defaultdict(list)
        for doc in self.db.clocks.find(query, {"employee_id": 1, "kind": 1, "at": 1}):
            grouped[doc["employee_id"]].append(doc)
        return grouped

    def insert_incident(self, incident: dict) -> bool:
        return self._insert_once("incidents", incident["_id"], incident)

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
        """Documents keyed by ``key``; ``existing`` holds the keys this unit read.

        New ones go in by one insert_many, known ones by replacement: on the
        embedded server a batch of upserts costs three to four times an
        insert_many of the same documents. One that another unit inserted
        after this unit read is a duplicate key, and the unit runs again.
        """
        latest = {d["key"]: {k: v for k, v in d.items() if k != "key"} for d in docs}
        fresh = [dict(doc, _id=key) for key, doc in latest.items() if key not in existing]
        replaced = [ReplaceOne({"_id": key}, doc, upsert=True)
                    for key, doc in latest.items() if key in existing]
        if fresh:
            self._insert_many(collection, fresh)
        if replaced:
            self.db[collection].bulk_write(replaced, ordered=True)

    def _insert_many(self, collection: str, docs: list[dict]) -> None:
        """One insert_many whose duplicate key re-runs the unit (the library retries
        ``DuplicateKeyError``, not the bulk error that carries it)."""
        try:
            self.db[collection].insert_many(docs, ordered=True)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors") or []
            if errors and all(err.get("code") == 11000 for err in errors):
                raise DuplicateKeyError(errors[0].get("errmsg", "duplicate key"), 11000,
                                        exc.details) from exc
            raise

    def _insert_once(self, collection: str, key: str, doc: dict) -> bool:
        """Store ``doc`` under ``key`` unless something is there; True if this call did."""
        result = self.db[collection].update_one(
            {"_id": key}, {"$setOnInsert": _without_id(doc)}, upsert=True)
        return result.upserted_id is not None

    def _insert_new(self, collection: str, records: list[dict]) -> list[dict]:
        """Insert the keyed records not stored yet (withdrawn ones count as stored);
        returns exactly those this call inserted, each key once."""
        if not records:
            return []
        keys = sorted({r["key"] for r in records})
        known = {d["_id"] for d in self.db[collection].find({"_id": {"$in": keys}}, {"_id": 1})}
        fresh: dict[str, dict] = {}
        for record in records:
            if record["key"] not in known:
                fresh.setdefault(record["key"], record)
        if fresh:
            self._insert_many(collection, [
                dict({k: v for k, v in r.items() if k != "key"}, _id=key, withdrawn_at=None)
                for key, r in fresh.items()])
        return list(fresh.values())

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
        return self._insert_new("violations", violations)

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
        return self._insert_once(collection, key, doc)

    def exists(self, collection: str, key: str) -> bool:
        return self.db[collection].find_one({"_id": key}, {"_id": 1}) is not None

    # -- leave -----------------------------------------------------------------------------
    def insert_leave(self, leave: dict) -> None:
        """A new leave record. Its id is fresh (a sequence number, or the one
        conversion of a leave whose mark this unit set), so a duplicate key can
        only come from a racing unit, and it re-runs this one."""
        doc = dict({k: v for k, v in leave.items() if k != "leave_id"}, _id=leave["leave_id"],
                   version=0)
        self.db.leaves.insert_one(doc)

    def overlapping_leaves(self, employee_id: str, start: str, end: str) -> list[dict]:
        """Pending or approved leave of the person touching [start, end]
        (index ``employee_id, start``)."""
        docs = self.db.leaves.find({"employee_id": employee_id, "start": {"$lte": end},
                                    "end": {"$gte": start},
                                    "status": {"$in": ["pending", "approved"]}})
        return [_out(d, "leave_id") for d in docs]

    def leave(self, leave_id: str) -> dict | None:
        return _out(self.db.leaves.find_one({"_id": leave_id}), "leave_id")

    def replace_leave(self, leave: dict) -> None:
        """Write a decision over the version it was made on; ``StaleWrite`` (the unit
        runs again and decides on the fresh record) if someone decided in between."""
        version = leave.get("version", 0)
        doc = dict({k: v for k, v in leave.items() if k not in ("leave_id", "version")},
                   version=version + 1)
        if self.db.leaves.replace_one({"_id": leave["leave_id"], "version": version},
                                      doc).matched_count != 1:
            raise StaleWrite(f"leave {leave['leave_id']} changed since it was read")

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

    def save_seniority_account(self, account: dict, read: dict | None) -> None:
        """Write the account over the one this unit ``read`` (None: there was none).

        Two approvals of one person's leave must not both debit the balance they
        each read: a revision that moved raises ``StaleWrite`` and the unit runs
        again on the fresh balance; a racing first account is a duplicate key,
        which re-runs it too.
        """
        key = f"{account['employee_id']}:{account['year']}"
        revision = (read or {}).get("revision")
        doc = dict(account, revision=(revision or 0) + 1)
        if read is None:
            self.db.seniority_accounts.insert_one(dict(doc, _id=key))
        elif self.db.seniority_accounts.replace_one({"_id": key, "revision": revision},
                                                    doc).matched_count != 1:
            raise StaleWrite(f"the seniority account {key} changed since it was read")

    # -- reports -------------------------------------------------------------------------------
    def report(self, key: str) -> dict | None:
        return _out(self.db.reports.find_one({"_id": key}), "key")

    def insert_report(self, report: dict) -> bool:
        return self.insert_once("reports", report["key"],
                                {k: v for k, v in report.items() if k != "key"})

    def save_report(self, report: dict, read: dict | None) -> None:
        """Write the report over the revision this unit read (a report the sweep
        found overdue, one sent back, or none)."""
        self._save_revised("reports", report["key"], report, read, "key")

    # -- meetings ------------------------------------------------------------------------------
    def insert_meeting(self, meeting: dict) -> bool:
        return self.insert_once("meetings", meeting["meeting_id"],
                                {k: v for k, v in meeting.items() if k != "meeting_id"})

    def meeting(self, meeting_id: str) -> dict | None:
        return _out(self.db.meetings.find_one({"_id": meeting_id}), "meeting_id")

    def close_meeting(self, meeting_id: str, result: dict) -> bool:
        # The revision moves too: a change read before the close cannot undo it.
        return self.db.meetings.update_one(
            {"_id": meeting_id, "status": "scheduled"},
            {"$set": {"status": "closed", "ended_at": result["ended_at"], "result": result},
             "$inc": {"revision": 1}}
        ).modified_count == 1

    def save_meeting(self, meeting: dict, read: dict) -> None:
        """A change, a substitute invited, minutes, a decision reported: over the
        revision read."""
        self._save_revised("meetings", meeting["meeting_id"], meeting, read, "meeting_id")

    def meeting_leave(self, meeting_id: str, employee_id: str) -> dict | None:
        return _out(self.db.meeting_leaves.find_one({"_id": f"{meeting_id}:{employee_id}"}),
                    "key")

    def insert_meeting_leave(self, leave: dict) -> bool:
        return self._insert_once("meeting_leaves", leave["key"],
                                 {k: v for k, v in leave.items() if k != "key"})

    def save_meeting_leave(self, leave: dict, read: dict) -> None:
        self._save_revised("meeting_leaves", leave["key"], leave, read, "key")

    def meeting_leaves(self, meeting_id: str, status: str | None = None) -> list[dict]:
        """Index ``meeting_id, status``."""
        query = {"meeting_id": meeting_id} | ({"status": status} if status else {})
        return [_out(d, "key") for d in
                self.db.meeting_leaves.find(query).sort("employee_id", 1)]

    def insert_checkin(self, checkin: dict) -> bool:
        return self.insert_once("meeting_checkins",
                                f"{checkin['meeting_id']}:{checkin['employee_id']}", checkin)

    def checkin(self, meeting_id: str, employee_id: str) -> dict | None:
        return _out(self.db.meeting_checkins.find_one({"_id": f"{meeting_id}:{employee_id}"}))

    def checked_in(self, meeting_id: str) -> list[str]:
        """Index ``meeting_id``."""
        return sorted(d["employee_id"] for d in self.db.meeting_checkins.find(
            {"meeting_id": meeting_id}, {"employee_id": 1}))


    # -- the GM office meeting's agenda (000 §3 四.7) ------------------------------------------
    def agenda(self, key: str) -> dict | None:
        return _out(self.db.agendas.find_one({"_id": key}), "key")

    def save_agenda(self, agenda: dict, read: dict | None) -> None:
        """An item added, the agenda closed or decided: over the revision read (a
        new one when ``read`` is None)."""
        self._save_revised("agendas", agenda["key"], agenda, read, "key")

    def close_agenda_duties(self, agenda_key: str, at: datetime) -> int:
        """The agenda closed: no department is reminded of it any more (index
        ``open, remind_at`` narrows to the open duties)."""
        return self.db.duties.update_many(
            {"open": True, "kind": "agenda_item", "agenda": agenda_key},
            {"$set": {"open": False, "done_at": at, "remind_at": None}}).modified_count

    # -- handovers and the duty log ----------------------------------------------------------
    def handover(self, handover_id: str) -> dict | None:
        return _out(self.db.handovers.find_one({"_id": handover_id}), "handover_id")

    def save_handover(self, handover: dict, read: dict | None) -> None:
        self._save_revised("handovers", handover["handover_id"], handover, read,
                           "handover_id")

    def handovers_between(self, post: str, first: str, last: str) -> list[dict]:
        """Index ``post, date``."""
        docs = self.db.handovers.find({"post": post, "date": {"$gte": first, "$lte": last}})
        return [_out(d, "handover_id") for d in docs.sort([("date", 1), ("_id", 1)])]

    def insert_log_entry(self, entry: dict) -> bool:
        return self._insert_once("duty_log", entry["key"],
                                 {k: v for k, v in entry.items() if k != "key"})

    def log_between(self, post: str, first: str, last: str) -> list[dict]:
        """Index ``post, date``."""
        docs = self.db.duty_log.find({"post": post, "date": {"$gte": first, "$lte": last}})
        return [_out(d, "key") for d in docs.sort([("date", 1), ("at", 1)])]

    def logged_days(self, post: str, month: str) -> list[str]:
        """Index ``post, month, date``."""
        return sorted(self.db.duty_log.distinct("date", {"post": post, "month": month}))

    def duty_review(self, key: str) -> dict | None:
        return _out(self.db.duty_reviews.find_one({"_id": key}), "key")

    def insert_duty_review(self, review: dict) -> bool:
        return self._insert_once("duty_reviews", review["key"],
                                 {k: v for k, v in review.items() if k != "key"})

    def duty_reviews_between(self, post: str, first: str, last: str) -> list[dict]:
        """Reviews of days in [first, last] and of their months (index ``post, period``)."""
        docs = self.db.duty_reviews.find({"post": post, "period": {"$gte": first[:7],
                                                                  "$lte": last}})
        return [_out(d, "key") for d in docs.sort("period", 1)
                if len(d["period"]) == 7 or first <= d["period"]]

    # -- duties with a deadline ----------------------------------------------------------------
    def open_duties(self, duties: list[dict]) -> int:
        """Record each duty unless it is on record (open, done, reminded); returns how
        many this call recorded."""
        opened = 0
        for duty in duties:
            doc = dict({k: v for k, v in duty.items() if k != "key"}, open=True,
                       remind_at=duty["due_at"], sent=0, done_at=None)
            opened += self._insert_once("duties", duty["key"], doc)
        return opened

    def close_duty(self, key: str, at: datetime) -> bool:
        return self.db.duties.update_one({"_id": key, "open": True},
                                         {"$set": {"open": False, "done_at": at,
                                                   "remind_at": None}}).modified_count == 1

    def duty(self, key: str) -> dict | None:
        return _out(self.db.duties.find_one({"_id": key}), "key")

    def duties_to_remind(self, now: datetime, limit: int = 500) -> list[str]:
        """Index ``open, remind_at``."""
        docs = self.db.duties.find({"open": True, "remind_at": {"$lte": now}}, {"_id": 1}) \
            .sort("remind_at", 1).limit(limit)
        return [d["_id"] for d in docs]

    def mark_reminded(self, key: str, sent: int, number: int, next_at) -> bool:
        """Count the reminder unless another sweep counted it first."""
        return self.db.duties.update_one(
            {"_id": key, "open": True, "sent": sent},
            {"$set": {"sent": number, "remind_at": next_at}}).modified_count == 1

    # -- going out during working hours --------------------------------------------------------
    def insert_outing(self, outing: dict) -> None:
        """A fresh sequence id: a duplicate key can only come from a racing unit."""
        self.db.outings.insert_one(dict({k: v for k, v in outing.items()
                                         if k != "outing_id"}, _id=outing["outing_id"],
                                        revision=0))

    def outing(self, outing_id: str) -> dict | None:
        return _out(self.db.outings.find_one({"_id": outing_id}), "outing_id")

    def save_outing(self, outing: dict, read: dict) -> None:
        self._save_revised("outings", outing["outing_id"], outing, read, "outing_id")

    def outings_around(self, employee_id: str, at: datetime) -> list[dict]:
        """The person's outings that began by ``at`` and may still cover it
        (index ``employee_id, out_at``)."""
        docs = self.db.outings.find({"employee_id": employee_id, "out_at": {"$lte": at},
                                     "expected_back_at": {"$gte": at}})
        return [_out(d, "outing_id") for d in docs]

    # -- records written over the revision they were read at ---------------------------------
    def _save_revised(self, collection: str, key: str, record: dict, read: dict | None,
                      id_field: str) -> None:
        """Insert (``read`` None) or write over the revision read; ``StaleWrite`` (the
        unit runs again on the fresh record) if someone wrote in between."""
        doc = {k: v for k, v in record.items() if k not in (id_field, "revision")}
        if read is None:
            self.db[collection].insert_one(dict(doc, _id=key, revision=1))
            return
        revision = read.get("revision") or 0
        query = {"_id": key, "revision": read.get("revision")}
        if self.db[collection].replace_one(query, dict(doc, revision=revision + 1)
                                           ).matched_count != 1:
            raise StaleWrite(f"{collection} {key} changed since it was read")
