"""Errors the dormitory rules raise.

The domain does not import the shared library; the operation layer recognises
these by name (``...Validation``, ``...Conflict``) and turns them into the
contract's remote errors, keeping a validation error's fields. Looking things
up, and so ``NotFound``, is the service's business, not the rules'.
"""
from __future__ import annotations


class DormitoryError(Exception):
    """Base of every rule refusal."""


class DomainValidation(DormitoryError):
    """Bad input; ``messages`` maps the payload field to what is wrong with it."""

    def __init__(self, messages: dict):
        self.messages = messages
        super().__init__(messages)

    @classmethod
    def one(cls, field: str, message: str) -> DomainValidation:
        return cls({field: [message]})


class DomainConflict(DormitoryError):
    """Well-formed, but the state forbids it: full room, wrong gender, taken bed."""
