"""Webhook signatures: ``X-Zhidu-Signature: sha256=<hex HMAC-SHA256>``.

The HMAC covers the raw body bytes exactly as sent, so a receiver verifies
before parsing. The body of a delivery is fixed when the delivery is stored,
which keeps the signature identical on every retry.
"""
from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Zhidu-Signature"
PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return PREFIX + digest


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver does; constant-time against timing probes."""
    if not header:
        return False
    return hmac.compare_digest(sign(secret, body), header.strip())
