"""Secrets the suite must keep but never show, sealed at rest (Fernet).

The key comes from ``ZHIDU_SECRET_KEY``: one or more Fernet keys separated
by commas, the first sealing and every one opening, so a key is replaced by
listing the new one first and dropping the old one once everything sealed
with it was sealed again. Without the setting, ``<ZHIDU_KEY_DIR>/secrets.key``
is read. That file is made by ``make run``, the tests and the benches next to
the issuer's keys (:func:`ensure_key_file`), never by a service: a service
started with neither refuses to start, rather than seal with a key of its own
that its other replicas would not have.
"""
from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from .config import setting

SETTING = "ZHIDU_SECRET_KEY"
KEY_FILE = "secrets.key"


class SecretKeyError(RuntimeError):
    """No usable sealing key: the service must not start."""


class SecretBox:
    def __init__(self, keys: list[str | bytes]):
        if not keys:
            raise SecretKeyError(f"{SETTING}: no key given")
        try:
            fernets = [Fernet(k) for k in keys]
        except (ValueError, TypeError):
            raise SecretKeyError(
                f"{SETTING}: every key must be a Fernet key (32 bytes, url-safe base64; "
                f"make one with `python -c 'from cryptography.fernet import Fernet; "
                f"print(Fernet.generate_key().decode())'`)") from None
        self._primary = fernets[0]
        self._all = MultiFernet(fernets)

    @classmethod
    def from_config(cls, config) -> SecretBox:
        listed = setting(config, SETTING)
        if listed:
            return cls([k.strip() for k in str(listed).split(",") if k.strip()])
        from .identity import key_dir

        path = key_dir(config) / KEY_FILE
        try:
            return cls([path.read_bytes().strip()])
        except FileNotFoundError:
            raise SecretKeyError(
                f"{SETTING} is not set and {path} does not exist: give every replica the "
                f"same key in {SETTING} (`make run` and the tests make {KEY_FILE} "
                f"themselves)") from None

    def seal(self, plain: str) -> str:
        return self._primary.encrypt(plain.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        """The plain text; :class:`InvalidToken` if no listed key sealed it."""
        return self._all.decrypt(sealed.encode("ascii")).decode("utf-8")

    def is_current(self, sealed: str) -> bool:
        """Whether the first key sealed it (else :meth:`reseal` it)."""
        try:
            self._primary.decrypt(sealed.encode("ascii"))
        except InvalidToken:
            return False
        return True

    def reseal(self, sealed: str) -> str:
        return self._all.rotate(sealed.encode("ascii")).decode("ascii")


def ensure_key_file(directory: str | os.PathLike) -> Path:
    """Make ``secrets.key`` in a development or test key folder unless it exists."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / KEY_FILE
    if path.exists():
        return path
    # Written aside and linked into place: a racing reader never sees it half written.
    draft = folder / f".{KEY_FILE}.{os.getpid()}.{os.urandom(4).hex()}"
    fd = os.open(draft, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(Fernet.generate_key())
    try:
        os.link(draft, path)
    except FileExistsError:
        pass  # another process made it first; theirs stands
    finally:
        draft.unlink()
    return path


__all__ = ["SecretBox", "SecretKeyError", "InvalidToken", "ensure_key_file"]
