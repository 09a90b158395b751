"""The notifications database: people, case and penalty-notice copies, preferences,
subscriptions, the inbox and the delivery log. Every query sits next to the
index that serves it.

An inbox item carries its person's e-mail, SMS and chat deliveries
(``deliveries``, ``due``, ``lease``); the ``deliveries`` collection holds
webhook deliveries, and the person deliveries stored before items carried
them. Every write here runs inside the caller's unit of work when there is
one, so nothing here may catch a duplicate key and carry on: that aborts the
transaction. Writes that may meet an existing document are upserts, or read
first and let a racing unit conflict and be re-run.
"""
from __future__ import annotations

import uuid
from datetime import UTC, timedelta

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument, UpdateOne
from zhidu.mongo import Store

from .fanout import item_delivery

PERSON_FIELDS = ("name", "manager_id", "team_leader_id", "unit_head_id",
                 "group_leader_id", "department", "unit", "role")
# From directory.employee_contact_changed, restricted to this service; stamped
# apart, so the newest of each event wins whichever arrives first.
CONTACT_FIELDS = ("email", "phone")
NOTICE_FIELDS = ("number", "domain", "incident_id", "employee_ids", "amount_yuan_total",
                 "points_total", "approver_role")
# A subscription's secrets (sealed, and the plain one of old documents) are read
# only to sign, one subscription at a time; nothing that lists reads them.
_NO_SECRETS = {"secret": 0, "secret_sealed": 0, "previous_secret_sealed": 0}
# What the delivery log shows of an item: not the message, which is the item's own.
_ITEM_LOG = {"event_id": 1, "event_type": 1, "recipient_id": 1, "created_at": 1,
             "deliveries": 1}


class NotificationsStore(Store):
    INDEXES = {
        "people": [IndexModel([("role", ASCENDING), ("department", ASCENDING)])],
        # Who is on call: a department's on-call entries around an instant.
        "duty": [IndexModel([("department", ASCENDING), ("on_call", ASCENDING),
                             ("start", ASCENDING)])],
        "subscriptions": [IndexModel([("event_types", ASCENDING), ("active", ASCENDING)]),
                          IndexModel([("active", ASCENDING), ("created_at", ASCENDING)]),
                          IndexModel([("created_at", ASCENDING)])],
        "inbox": [
            # One item per (event, recipient), whatever redelivery does.
            IndexModel([("event_id", ASCENDING), ("recipient_id", ASCENDING)], unique=True),
            IndexModel([("recipient_id", ASCENDING), ("created_at", DESCENDING)]),
            IndexModel([("recipient_id", ASCENDING), ("read", ASCENDING),
                        ("created_at", DESCENDING)]),
            # The sweep: items with a delivery due (null once all are settled).
            IndexModel([("due", ASCENDING)]),
            # The delivery log, newest first.
            IndexModel([("created_at", DESCENDING)]),
        ],
        "deliveries": [
            IndexModel([("state", ASCENDING), ("next_attempt_at", ASCENDING)]),
            IndexModel([("event_id", ASCENDING), ("created_at", ASCENDING)]),
            IndexModel([("recipient_id", ASCENDING), ("created_at", DESCENDING)]),
            IndexModel([("subscription_id", ASCENDING), ("created_at", DESCENDING)]),
            IndexModel([("created_at", DESCENDING)]),
        ],
    }

    # -- the copies fed by other services' events ------------------------------
    def upsert_person(self, employee_id: str, data: dict, as_of) -> bool:
        """Keep the newest version; an older event arriving late changes nothing.

        ``employee_upserted`` no longer carries contacts; one from before that
        still does (a redelivery, a replayed dead letter) sets them as well.
        """
        doc = {field: data.get(field) for field in PERSON_FIELDS}
        doc.update({field: data[field] for field in CONTACT_FIELDS if field in data})
        return self.copy_newer("people", employee_id, doc, as_of, stamp="as_of")

    def upsert_contact(self, employee_id: str, data: dict, as_of) -> bool:
        """A person's phone and e-mail, unless a newer contact event set them."""
        doc = {field: data.get(field) for field in CONTACT_FIELDS}
        return self.copy_newer("people", employee_id, doc, as_of, stamp="contact_as_of")

    def mark_departed(self, employee_id: str, at) -> None:
        self.db.people.update_one({"_id": employee_id}, {"$set": {"departed_at": at}},
                                  upsert=True)

    def remember_case(self, number: str, owner_id: str | None, department: str | None,
                      as_of) -> bool:
        doc = {"owner_id": owner_id, "department": department}
        return self.copy_newer("cases", number, doc, as_of, stamp="as_of")

    def remember_notice(self, notice_id: str, data: dict, as_of) -> bool:
        """What a penalty notice's decision will need: its number and the people named."""
        doc = {field: data.get(field) for field in NOTICE_FIELDS}
        return self.copy_newer("notices", notice_id, doc, as_of, stamp="as_of")

    def notice(self, notice_id: str) -> dict | None:
        return self.db.notices.find_one({"_id": notice_id})

    def people(self, ids) -> dict[str, dict]:
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        return {doc["_id"]: doc for doc in self.db.people.find({"_id": {"$in": ids}})}

    def with_role(self, role: str, department: str | None = None) -> list[str]:
        query = {"role": role, "departed_at": None}
        if department is not None:
            query["department"] = department
        return [doc["_id"] for doc in self.db.people.find(query, {"_id": 1}).sort("_id", 1)]

    def case_owner(self, number: str) -> str | None:
        doc = self.db.cases.find_one({"_id": number}, {"owner_id": 1})
        return doc.get("owner_id") if doc else None

    # -- the duty rota (attendance.duty_rostered) ---------------------------------
    def remember_duty(self, entries: list[dict], as_of) -> int:
        """Keep each employee-and-date entry as of its newest announcement."""
        return sum(self.copy_newer("duty", e["_id"], {k: v for k, v in e.items() if k != "_id"},
                                   as_of, stamp="as_of") for e in entries)

    def duty_around(self, department: str, at, longest=timedelta(hours=48)) -> list[dict]:
        """The department's on-call entries that may cover ``at`` (none lasts ``longest``)."""
        return list(self.db.duty.find({"department": department, "on_call": True,
                                       "start": {"$lte": at, "$gte": at - longest}}))

    def alert_told(self, key: str, now) -> bool:
        """Record that the alert news ``key`` was told; whether it was already."""
        result = self.db.alerts.update_one({"_id": key}, {"$setOnInsert": {"at": now}},
                                           upsert=True)
        return result.upserted_id is None

    # -- preferences -------------------------------------------------------------
    def preferences(self, ids) -> dict[str, dict]:
        ids = list(dict.fromkeys(ids))
        if not ids:
            return {}
        return {doc["_id"]: doc for doc in self.db.preferences.find({"_id": {"$in": ids}})}

    def set_preferences(self, recipient_id: str, changes: dict) -> dict:
        return self.db.preferences.find_one_and_update(
            {"_id": recipient_id}, {"$set": changes}, upsert=True,
            return_document=ReturnDocument.AFTER)

    # -- subscriptions -----------------------------------------------------------
    def add_subscription(self, url: str, event_types: list[str], sealed_secret: str,
                         actor: dict, now) -> dict:
        doc = {"_id": str(uuid.uuid4()), "url": url, "event_types": event_types,
               "secret_sealed": sealed_secret, "previous_secret_sealed": None,
               "previous_until": None, "active": True, "created_at": now,
               "created_by": actor, "removed_at": None}
        self.db.subscriptions.insert_one(doc)
        return doc

    def rotate_secret(self, subscription_id: str, sealed_secret: str, previous_until,
                      actor: dict, now) -> dict | None:
        """The new secret signs from now on; the one it replaces, until ``previous_until``.

        Read, then write: a racing rotation is a write conflict inside the unit,
        and the re-run keeps the winner's secret as the previous one.
        """
        current = self.db.subscriptions.find_one({"_id": subscription_id, "active": True},
                                                 {"secret_sealed": 1})
        if current is None:
            return None
        return self.db.subscriptions.find_one_and_update(
            {"_id": subscription_id, "active": True},
            {"$set": {"secret_sealed": sealed_secret,
                      "previous_secret_sealed": current.get("secret_sealed"),
                      "previous_until": previous_until, "rotated_at": now,
                      "rotated_by": actor}},
            projection=_NO_SECRETS, return_document=ReturnDocument.AFTER)

    def remove_subscription(self, subscription_id: str, actor: dict, now) -> dict | None:
        return self.db.subscriptions.find_one_and_update(
            {"_id": subscription_id, "active": True},
            {"$set": {"active": False, "removed_at": now, "removed_by": actor}},
            return_document=ReturnDocument.AFTER)

    def active_subscriptions(self) -> list[dict]:
        """Every active subscription, oldest first, without its secret."""
        return list(self.db.subscriptions.find({"active": True}, _NO_SECRETS)
                    .sort("created_at", ASCENDING))

    def list_subscriptions(self) -> list[dict]:
        return list(self.db.subscriptions.find({}, _NO_SECRETS).sort("created_at", 1))

    def secrets(self, subscription_ids, now) -> dict[str, list[str]]:
        """Each active subscription's sealed secrets that sign at ``now``, newest first."""
        ids = [i for i in dict.fromkeys(subscription_ids) if i]
        if not ids:
            return {}
        found = self.db.subscriptions.find(
            {"_id": {"$in": ids}, "active": True},
            {"secret_sealed": 1, "previous_secret_sealed": 1, "previous_until": 1})
        return {doc["_id"]: _signing(doc, now) for doc in found}

    def reseal_secrets(self, box) -> int:
        """Seal what an older version stored plain, and what an older key sealed.

        At start-up, outside any unit; each write only if the document still
        holds what was read, so two replicas starting together write once.
        """
        changed = 0
        for doc in self.db.subscriptions.find(
                {}, {"secret": 1, "secret_sealed": 1, "previous_secret_sealed": 1}):
            update: dict = {}
            if doc.get("secret") is not None:
                update["$unset"] = {"secret": ""}
                if doc.get("secret_sealed") is None:
                    update["$set"] = {"secret_sealed": box.seal(doc["secret"])}
            for field in ("secret_sealed", "previous_secret_sealed"):
                if doc.get(field) and not box.is_current(doc[field]):
                    update.setdefault("$set", {})[field] = box.reseal(doc[field])
            if update:
                match = {"_id": doc["_id"], **{f: doc.get(f) for f in (
                    "secret", "secret_sealed", "previous_secret_sealed")}}
                changed += self.db.subscriptions.update_one(match, update).modified_count
        return changed

    # -- what an event leaves: inbox items and webhook deliveries ------------------
    def add_notices(self, items: list[dict], webhooks: list[dict]) -> tuple[list, list]:
        """Store what an event decided; returns the items and webhooks that are new.

        Upserts keyed by the ids the event derives: a document already there
        is left as it is (and is not new), instead of failing the unit.
        """
        return _upsert_new(self.db.inbox, items), _upsert_new(self.db.deliveries, webhooks)

    # -- inbox ---------------------------------------------------------------------
    def inbox(self, recipient_id: str, unread_only: bool, limit: int) -> list[dict]:
        query = {"recipient_id": recipient_id}
        if unread_only:
            query["read"] = False
        return list(self.db.inbox.find(query, {"deliveries": 0, "lease": 0})
                    .sort("created_at", DESCENDING).limit(limit))

    def inbox_item(self, item_id: str) -> dict | None:
        return self.db.inbox.find_one({"_id": item_id}, {"recipient_id": 1})

    def mark_read(self, item_id: str, now) -> dict | None:
        doc = self.db.inbox.find_one_and_update(
            {"_id": item_id, "read": False}, {"$set": {"read": True, "read_at": now}},
            projection={"deliveries": 0, "lease": 0}, return_document=ReturnDocument.AFTER)
        return doc or self.db.inbox.find_one({"_id": item_id}, {"deliveries": 0, "lease": 0})

    # -- sending -------------------------------------------------------------------
    def due(self, now, limit: int) -> tuple[list[str], list[str]]:
        """Ids of inbox items and of the other deliveries to people due at ``now``
        (to numbers outside the company, and those stored before items carried them)."""
        items = self.db.inbox.find({"due": {"$lte": now}}, {"_id": 1}) \
            .sort("due", ASCENDING).limit(limit)
        deliveries = self.db.deliveries.find(
            {"state": "pending", "next_attempt_at": {"$lte": now},
             "channel": {"$ne": "webhook"}}, {"_id": 1}
        ).sort("next_attempt_at", ASCENDING).limit(limit)
        return [doc["_id"] for doc in items], [doc["_id"] for doc in deliveries]

    def due_webhooks(self, now, limit: int) -> list[dict]:
        """Webhook deliveries due at ``now``, oldest first: ids and targets."""
        return list(self.db.deliveries.find(
            {"state": "pending", "next_attempt_at": {"$lte": now}, "channel": "webhook"},
            {"_id": 1, "target": 1}).sort("next_attempt_at", ASCENDING).limit(limit))

    def claim_item(self, item_id: str, now, lease_seconds: float) -> dict | None:
        """Take an item whose deliveries are due; ``None`` if none is or someone
        else holds it. The lease pushes ``due`` out, so the item comes due
        again by itself if this sender dies."""
        return self.db.inbox.find_one_and_update(
            {"_id": item_id, "due": {"$lte": now}},
            {"$set": {"due": now + timedelta(seconds=lease_seconds),
                      "lease": uuid.uuid4().hex}},
            return_document=ReturnDocument.AFTER)

    def record_item(self, item: dict, deliveries: list[dict], due) -> bool:
        """An item's deliveries after one round of attempts, if its lease still holds."""
        result = self.db.inbox.update_one(
            {"_id": item["_id"], "lease": item["lease"]},
            {"$set": {"deliveries": deliveries, "due": due, "lease": None}})
        return result.modified_count == 1

    def claim(self, delivery_id: str, now, lease_seconds: float) -> dict | None:
        """Take a due delivery for one attempt; ``None`` if it is not due or
        someone else holds it. The lease pushes ``next_attempt_at`` out, so
        the delivery comes due again by itself if this sender dies."""
        token = uuid.uuid4().hex
        return self.db.deliveries.find_one_and_update(
            {"_id": delivery_id, "state": "pending", "next_attempt_at": {"$lte": now}},
            {"$set": {"next_attempt_at": now + timedelta(seconds=lease_seconds),
                      "lease": token}},
            return_document=ReturnDocument.AFTER)

    def record_attempt(self, claimed: dict, attempt: dict, state: str, next_attempt_at,
                       now) -> bool:
        result = self.db.deliveries.update_one(
            {"_id": claimed["_id"], "lease": claimed["lease"]},
            {"$push": {"attempts": attempt},
             "$set": {"state": state, "next_attempt_at": next_attempt_at,
                      "updated_at": now, "lease": None}})
        return result.modified_count == 1

    # -- the delivery log ------------------------------------------------------------
    def deliveries(self, event_id=None, recipient_id=None, subscription_id=None,
                   limit: int = 100) -> list[dict]:
        """Both kinds, flat: webhooks (and older person deliveries) and items' own."""
        query, oldest_first = {}, bool(event_id)
        if event_id:
            query["event_id"] = event_id
        if recipient_id:
            query["recipient_id"] = recipient_id
        order = ("created_at", ASCENDING if oldest_first else DESCENDING)
        found = list(self.db.deliveries.find(
            {**query, **({"subscription_id": subscription_id} if subscription_id else {})},
            {"lease": 0}).sort(*order).limit(limit))
        if not subscription_id:
            items = self.db.inbox.find({**query, "deliveries.0": {"$exists": True}},
                                       _ITEM_LOG).sort(*order).limit(limit)
            found += [item_delivery(item, entry) for item in items
                      for entry in item["deliveries"]]
        # Stable: within one event, deliveries keep the order they were decided in.
        found.sort(key=lambda doc: doc["created_at"], reverse=not oldest_first)
        return found[:limit]

    def pending_count(self) -> int:
        """Deliveries waiting for a (re)try, whichever document carries them."""
        carried = self.db.inbox.aggregate([
            {"$match": {"due": {"$ne": None}}}, {"$unwind": "$deliveries"},
            {"$match": {"deliveries.state": "pending"}}, {"$count": "n"}])
        return self.db.deliveries.count_documents({"state": "pending"}) + \
            next(iter(carried), {"n": 0})["n"]


def _upsert_new(collection, docs: list[dict]) -> list[dict]:
    if not docs:
        return []
    result = collection.bulk_write(
        [UpdateOne({"_id": doc["_id"]},
                   {"$setOnInsert": {k: v for k, v in doc.items() if k != "_id"}}, upsert=True)
         for doc in docs], ordered=True)
    fresh = set(result.upserted_ids.values())
    return [doc for doc in docs if doc["_id"] in fresh]


def _signing(doc: dict, now) -> list[str]:
    sealed = [doc.get("secret_sealed")]
    until = doc.get("previous_until")
    if until is not None and _aware(until) > _aware(now):
        sealed.append(doc.get("previous_secret_sealed"))
    return [s for s in sealed if s]


def _aware(moment):
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
