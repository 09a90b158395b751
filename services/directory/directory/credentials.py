"""Passwords for the suite's own issuer: slow salted hashes, attempts limited per person.

Argon2id (argon2-cffi) costs tens of milliseconds of CPU by design; it runs in
a native thread so one log-in does not stall every other call on the hub.
"""
from __future__ import annotations

from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventlet import tpool

HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    return tpool.execute(HASHER.hash, password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """False for a wrong password; an unknown person costs as much as a known one."""
    target = stored_hash or _DECOY
    try:
        ok = tpool.execute(HASHER.verify, target, password)
    except (VerificationError, InvalidHashError):
        return False
    return bool(ok) and stored_hash is not None


def needs_rehash(stored_hash: str) -> bool:
    return HASHER.check_needs_rehash(stored_hash)


def locked_until(failures: list, now, max_failures: int, window: timedelta):
    """When the person may try again, or None: ``max_failures`` within ``window`` lock.

    ``failures`` holds attempts (``{"at", "id"}``), or bare times as stored
    before attempts were recorded ahead of the check.
    """
    times = (f["at"] if isinstance(f, dict) else f for f in failures)
    recent = sorted(t for t in times if t > now - window)
    if len(recent) < max_failures:
        return None
    return recent[-max_failures] + window


# Verified against when the person is unknown, so timing does not tell who exists.
_DECOY = HASHER.hash("not a password anyone has")
