"""Domain errors of the penalties service.

The service layer maps them one to one onto the contract's remote error types:
``DomainValidation`` → ``ValidationError``, ``DomainNotFound`` → ``NotFound``,
``DomainConflict`` → ``Conflict``, ``DomainPermission`` → ``PermissionDenied``.
Catalogue and policy *files* that are wrong raise plain ``ValueError`` instead:
that is a deployment mistake found at start-up, not a caller's bad input.
"""
from __future__ import annotations


class DomainError(Exception):
    """Base class, so the service can catch every domain refusal in one place."""


class DomainValidation(DomainError):
    """Bad input. ``errors`` maps a field name to its messages (contract shape)."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = {field: list(msgs) for field, msgs in errors.items()}
        super().__init__(self.errors)

    @classmethod
    def single(cls, field: str, message: str) -> DomainValidation:
        return cls({field: [message]})


class DomainConflict(DomainError):
    """The request clashes with the current state (e.g. an appeal already decided)."""


class DomainPermission(DomainError):
    """The actor may not do this (e.g. appealing someone else's penalty)."""


class DomainNotFound(DomainError):
    """A referenced thing does not exist (e.g. an unknown rule code)."""


class Problems:
    """Collects field errors so one call reports every problem at once."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def raise_if_any(self) -> None:
        if self.errors:
            raise DomainValidation(self.errors)
