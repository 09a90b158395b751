"""Errors the attendance domain raises.

The service layer maps them one-to-one onto the contract's remote error types:
``DomainValidation`` → ``ValidationError``, ``DomainConflict`` → ``Conflict``,
``DomainPermission`` → ``PermissionDenied``. The domain never raises
``NotFound``: looking things up is the store's business.
"""
from __future__ import annotations


class DomainError(Exception):
    """Base class, so a caller can catch every rule refusal at once."""


class DomainValidation(DomainError):
    """Bad input. ``errors`` maps a payload field to its messages."""

    def __init__(self, errors: dict[str, list[str]] | None = None, **fields: str):
        merged: dict[str, list[str]] = {k: list(v) for k, v in (errors or {}).items()}
        for name, message in fields.items():
            merged.setdefault(name, []).append(message)
        self.errors = merged
        super().__init__(merged)

    @classmethod
    def one(cls, field: str, message: str) -> DomainValidation:
        return cls({field: [message]})


class DomainConflict(DomainError):
    """The request is well-formed but the current state forbids it."""


class DomainPermission(DomainError):
    """The actor's role does not carry the authority the rule demands."""


class Problems:
    """Collects field errors so one reply names every bad field, not the first."""

    def __init__(self):
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise DomainValidation(self.errors)
