"""Webhook signatures: ``X-Zhidu-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]``.

Each ``v1`` is the HMAC-SHA256, with one of the subscription's secrets, of
``<t>.`` followed by the raw body bytes exactly as sent. The timestamp is the
attempt's, so a receiver that refuses timestamps older than a few minutes
(:data:`TOLERANCE_SECONDS`) cannot be fed a recorded delivery again later;
the body is fixed when the delivery is stored, so every retry carries the
same body under a fresh timestamp. While a secret is being replaced, each
delivery carries one ``v1`` per secret, the new one first: a receiver that
knows either accepts it.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable

HEADER = "X-Zhidu-Signature"
SCHEME = "v1"
TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(int(timestamp)).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def sign(secrets: str | Iterable[str], body: bytes, timestamp: int | None = None) -> str:
    """The header value for ``body``, signed with each of ``secrets`` in turn."""
    if isinstance(secrets, str):
        secrets = [secrets]
    t = int(time.time()) if timestamp is None else int(timestamp)
    parts = [f"t={t}", *(f"{SCHEME}={signature(s, t, body)}" for s in secrets)]
    if len(parts) < 2:
        raise ValueError("a signature needs at least one secret")
    return ",".join(parts)


def parse(header: str) -> tuple[int | None, list[str]]:
    """The timestamp and the ``v1`` signatures in a header; unknown schemes are skipped."""
    timestamp, signatures = None, []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == SCHEME and value:
            signatures.append(value)
    return timestamp, signatures


def verify(secret: str, body: bytes, header: str | None, *,
           tolerance: float = TOLERANCE_SECONDS, now: float | None = None) -> bool:
    """What a receiver does: a fresh timestamp and a ``v1`` made with its secret.

    Compares in constant time, and takes the body as received, before parsing.
    """
    if not header:
        return False
    timestamp, signatures = parse(header)
    if timestamp is None or not signatures:
        return False
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)
