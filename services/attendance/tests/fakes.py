"""What the in-memory attendance stores of the application tests share."""
from __future__ import annotations

import copy
from collections import defaultdict

from zhidu.fakes import FakeUnits


class FakeDocs:
    """Documents by collection and key, and the units of work they run in."""

    def __init__(self):
        self.units = FakeUnits()
        self.docs: dict[str, dict[str, dict]] = defaultdict(dict)

    def unit(self, body, on_retry=None):
        return self.units.unit(body, on_retry)

    def _get(self, collection, key, id_field):
        doc = self.docs[collection].get(key)
        return dict(copy.deepcopy(doc), **{id_field: key}) if doc is not None else None

    def _insert_once(self, collection, key, doc) -> bool:
        if key in self.docs[collection]:
            return False
        self.docs[collection][key] = copy.deepcopy(doc)
        return True

    # -- duties: what is owed, reminded until done -----------------------------------------
    def open_duties(self, duties):
        return sum(self._insert_once("duties", d["key"], dict(
            {k: v for k, v in d.items() if k != "key"}, open=True, remind_at=d["due_at"],
            sent=0, done_at=None)) for d in duties)

    def close_duty(self, key, at):
        held = self.docs["duties"].get(key)
        if held is None or not held["open"]:
            return False
        held.update(open=False, done_at=at, remind_at=None)
        return True

    def duty(self, key):
        return self._get("duties", key, "key")

    def duties_to_remind(self, now, limit=500):
        due = sorted((d["remind_at"], k) for k, d in self.docs["duties"].items()
                     if d["open"] and d["remind_at"] is not None and d["remind_at"] <= now)
        return [k for _, k in due[:limit]]

    def mark_reminded(self, key, sent, number, next_at):
        held = self.docs["duties"][key]
        if not held["open"] or held["sent"] != sent:
            return False
        held.update(sent=number, remind_at=next_at)
        return True
