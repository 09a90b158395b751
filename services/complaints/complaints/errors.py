"""Errors the domain raises; the service layer maps each to a contract error.

``DomainValidation`` → ``ValidationError``, ``DomainConflict`` → ``Conflict``,
``DomainPermission`` → ``PermissionDenied``. They live here, not in ``shared``,
so the domain imports nothing the service layer owns.
"""
from __future__ import annotations


class DomainError(Exception):
    """Base class, so a caller can catch every refusal of the domain at once."""


class DomainValidation(DomainError):
    """Bad input. ``errors`` maps each offending field to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = {field: list(messages) for field, messages in errors.items()}
        super().__init__(self.errors)

    @classmethod
    def one(cls, field: str, message: str) -> DomainValidation:
        return cls({field: [message]})


class DomainConflict(DomainError):
    """The request is well-formed but the case's state does not allow it."""


class DomainPermission(DomainError):
    """The actor's role lacks the authority for this step."""
