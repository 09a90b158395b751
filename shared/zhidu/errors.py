"""The error types of the public contract.

RPC callers see them as nameko remote errors whose ``exc_type`` is the class
name; the HTTP layer maps them to status codes. ``ValidationError`` carries
``{field: [messages]}`` and its string form is that mapping as JSON, so a caller
in any language can read which field was wrong.
"""
from __future__ import annotations

import json


class ZhiduError(Exception):
    http_status = 500

    def payload(self) -> dict:
        return {"error": type(self).__name__, "message": str(self)}


class ValidationError(ZhiduError):
    http_status = 400

    def __init__(self, messages):
        if isinstance(messages, str):
            messages = {"_schema": [messages]}
        self.messages = {
            field: msgs if isinstance(msgs, (list, dict)) else [msgs]
            for field, msgs in dict(messages).items()
        }
        super().__init__(self.messages)

    def __str__(self):
        return json.dumps(self.messages, ensure_ascii=False, sort_keys=True)

    def payload(self) -> dict:
        return {"error": "ValidationError", "fields": self.messages}


class NotFound(ZhiduError):
    http_status = 404


class Conflict(ZhiduError):
    http_status = 409


class PermissionDenied(ZhiduError):
    http_status = 403


class Unauthenticated(ZhiduError):
    """No credentials, or credentials that do not prove who the caller is."""

    http_status = 401


CONTRACT_ERRORS = (ValidationError, NotFound, Conflict, PermissionDenied, Unauthenticated)
