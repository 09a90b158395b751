"""The console's own database: sessions and OpenID log-ins in flight, nothing else.

A session is keyed by the SHA-256 of the cookie's value, so a copy of the
database does not hand out live cookies; it holds the person's bearer token
and ends when the token does.
"""
from __future__ import annotations

import hashlib

from pymongo import ASCENDING, IndexModel, ReturnDocument
from zhidu.mongo import Store
from zhidu.times import utcnow


def key_of(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ConsoleStore(Store):
    INDEXES = {
        "sessions": [IndexModel([("expires_at", ASCENDING)], name="expiry"),
                     IndexModel([("employee_id", ASCENDING)], name="person")],
        "oidc_pending": [IndexModel([("expires_at", ASCENDING)], name="expiry")],
        # Whose leave waits for a supervisor: the people copy by reporting line.
        "people": [IndexModel([("team_leader_id", ASCENDING)], name="team_leader"),
                   IndexModel([("manager_id", ASCENDING)], name="manager")],
    }

    # -- sessions ---------------------------------------------------------------------
    def create_session(self, session_id: str, doc: dict) -> None:
        self.db.sessions.insert_one({**doc, "_id": key_of(session_id)})

    def session(self, session_id: str) -> dict | None:
        """The live session for a cookie value; an expired one is removed."""
        doc = self.db.sessions.find_one({"_id": key_of(session_id)})
        if doc is None:
            return None
        if doc["expires_at"] <= utcnow():
            self.db.sessions.delete_one({"_id": doc["_id"]})
            return None
        return doc

    def update_session(self, session_key: str, changes: dict) -> None:
        self.db.sessions.update_one({"_id": session_key}, {"$set": changes})

    def push_flash(self, session_key: str, message: dict) -> None:
        self.db.sessions.update_one({"_id": session_key}, {"$push": {"flash": message}})

    def take_flash(self, session_key: str) -> list[dict]:
        doc = self.db.sessions.find_one_and_update(
            {"_id": session_key, "flash.0": {"$exists": True}}, {"$set": {"flash": []}},
            projection={"flash": 1}, return_document=ReturnDocument.BEFORE)
        return (doc or {}).get("flash") or []

    def end_session(self, session_key: str) -> None:
        self.db.sessions.delete_one({"_id": session_key})

    def purge_expired(self) -> int:
        now = utcnow()
        done = self.db.sessions.delete_many({"expires_at": {"$lte": now}}).deleted_count
        self.db.oidc_pending.delete_many({"expires_at": {"$lte": now}})
        return done

    # -- OpenID Connect log-ins between the redirect and the callback ----------------------
    def remember_login(self, state: str, doc: dict) -> None:
        self.db.oidc_pending.insert_one({**doc, "_id": key_of(state)})

    def take_login(self, state: str, browser: str) -> dict | None:
        """The pending log-in for ``state`` started by ``browser``, once: a replayed
        callback finds nothing, and a stranger's does not use it up."""
        doc = self.db.oidc_pending.find_one_and_delete({"_id": key_of(state),
                                                        "browser": key_of(browser)})
        if doc is None or doc["expires_at"] <= utcnow():
            return None
        return doc

    # -- the directory copy every service keeps (names and reporting lines) -----------------
    def names(self, employee_ids) -> dict[str, str]:
        ids = sorted({i for i in employee_ids if i})
        if not ids:
            return {}
        return {doc["_id"]: doc.get("name") or doc["_id"]
                for doc in self.db.people.find({"_id": {"$in": ids}}, {"name": 1})}

    def reports_of(self, employee_id: str, limit: int = 200) -> list[str]:
        """People whose reporting line names ``employee_id`` (team leader or manager)."""
        query = {"$or": [{"team_leader_id": employee_id}, {"manager_id": employee_id}],
                 "departed_at": None}
        return [doc["_id"] for doc in self.db.people.find(query, {"_id": 1}).limit(limit)]
