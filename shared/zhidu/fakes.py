"""Stand-ins for a worker's unit of work in application-layer tests.

An application function takes the unit of work — the service's store, the
worker's outbox, its rules — and nothing else, so a test hands it fakes and
runs in milliseconds with no broker and no database. Each service keeps an
in-memory fake of its own store next to its tests; the outbox and the unit
runner are the same everywhere and live here.
"""
from __future__ import annotations

from .envelope import derived_id, make_envelope


class FakeOutbox:
    """Records what a call emitted, with the same id rules as the real outbox."""

    def __init__(self, service: str = "test", cause: dict | None = None,
                 actor: dict | None = None):
        self.service, self.cause, self.actor = service, cause, actor
        self.envelopes: list[dict] = []
        self.persisted = 0

    def emit(self, event_type: str, data: dict, *, key: str | None = None,
             correlation_id: str | None = None, at=None) -> dict:
        event_id = None
        if self.cause is not None:
            event_id = derived_id(self.cause["id"], self.service, event_type,
                                  key if key is not None else len(self.envelopes))
        elif key is not None:
            event_id = derived_id(self.service, event_type, key)
        envelope = make_envelope(self.service, event_type, data, cause=self.cause,
                                 correlation_id=correlation_id, event_id=event_id, at=at,
                                 actor=self.actor)
        self.envelopes.append(envelope)
        return envelope

    def persist(self) -> None:
        self.persisted = len(self.envelopes)

    def mark(self) -> tuple[int, int]:
        return len(self.envelopes), self.persisted

    def rollback(self, mark: tuple[int, int]) -> None:
        del self.envelopes[mark[0]:]
        self.persisted = mark[1]

    def of_type(self, event_type: str) -> list[dict]:
        """The data of the events of one type (``"penalty_issued"``), in order."""
        return [e["data"] for e in self.envelopes
                if e["type"] == f"{self.service}.{event_type}"]


class FakeUnits:
    """Runs a unit's body at once; counts the units, as a store's ``unit`` would open them."""

    def __init__(self):
        self.opened = 0

    def unit(self, body, on_retry=None):
        self.opened += 1
        return body()
