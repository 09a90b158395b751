"""The errors every service's domain raises, and nothing else.

Pure Python with no I/O and no import from the rest of the library, so a
domain module can use them and stay testable in milliseconds. The operation
layer maps each to the contract's error by type: ``DomainValidation`` →
``ValidationError`` (its field messages kept), ``DomainNotFound`` →
``NotFound``, ``DomainConflict`` → ``Conflict``, ``DomainPermission`` →
``PermissionDenied``. A rule or policy *file* that is wrong raises plain
``ValueError`` instead: a deployment mistake found at start-up, not a caller's.
"""
from __future__ import annotations


class DomainError(Exception):
    """Base class, so a caller can catch every refusal of a domain at once."""


class DomainValidation(DomainError):
    """Bad input. ``errors`` maps each offending field to its messages."""

    def __init__(self, errors: dict[str, list[str]] | None = None, **fields: str):
        # A nested map (an item of a list: {"findings": {1: {...}}}) stays a map.
        merged: dict = {k: dict(v) if isinstance(v, dict) else list(v)
                        for k, v in (errors or {}).items()}
        for name, message in fields.items():
            merged.setdefault(name, []).append(message)
        self.errors = merged
        super().__init__(merged)

    @classmethod
    def one(cls, field: str, message: str) -> DomainValidation:
        return cls({field: [message]})


class DomainConflict(DomainError):
    """Well-formed, but the current state does not allow it."""


class DomainPermission(DomainError):
    """The actor may not take this step (beyond what the permissions file checks)."""


class DomainNotFound(DomainError):
    """A referenced thing does not exist."""


class Problems:
    """Collects field errors so one reply names every bad field, not only the first."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise DomainValidation(self.errors)
