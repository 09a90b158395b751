"""Configuration from the environment, with nameko's config taking precedence.

Every setting has an embedded default so that ``make run`` and a lone
``nameko run`` work on a fresh machine. The reference lives in
docs/configuration.md.
"""
from __future__ import annotations

import os

DEFAULTS = {
    "AMQP_URI": "amqp://guest:guest@localhost:5672/",
    "MONGO_URI": "mongodb://127.0.0.1:27017/",
    "ZHIDU_TZ": "Asia/Shanghai",
    "ZHIDU_LOCALE": "zh-CN",
    # Back-off before each retry of a failed event handler, in seconds; after
    # the last one the message goes to the service's dead-letter queue.
    "ZHIDU_RETRY_DELAYS": "1,5,30,120,600",
    "ZHIDU_OUTBOX_INTERVAL": "1.0",
    "ZHIDU_SWEEP_INTERVAL": "60",
    "ZHIDU_DB_PREFIX": "",
    # Where `zhidu run` keeps what the suite makes for itself: the embedded
    # database's files, the broker mark, the monitoring's configuration, and
    # (unless ZHIDU_KEY_DIR says otherwise) the own issuer's keys.
    "ZHIDU_DATA_DIR": "var/data",
    # Identity (contract § Authentication). The own issuer's keys live here,
    # generated on first use; services verify with jwks.json in the same
    # directory unless ZHIDU_JWKS_URL points at the directory's endpoint.
    # Empty: <ZHIDU_DATA_DIR>/keys, so `zhidu run --data-dir` moves them too.
    "ZHIDU_KEY_DIR": "",
    "ZHIDU_JWKS_URL": "",
    "ZHIDU_ISSUER": "zhidu",
    "ZHIDU_AUDIENCE": "zhidu",
    "ZHIDU_TOKEN_TTL": "3600",
    # Clock skew tolerated on exp/nbf, in seconds (0-300, checked at start-up).
    "ZHIDU_TOKEN_LEEWAY": "30",
    "ZHIDU_JWKS_CACHE_SECONDS": "300",
    # Least seconds between two refetches forced by a token naming an unknown key.
    "ZHIDU_JWKS_REFRESH_COOLDOWN": "5",
    "ZHIDU_OIDC_ISSUER": "",
    "ZHIDU_OIDC_AUDIENCE": "",
    "ZHIDU_OIDC_JWKS_URL": "",
    "ZHIDU_OIDC_SUBJECT_CLAIM": "sub",
    "ZHIDU_OIDC_ROLES_CLAIM": "",
    # Extra roles by person: "it_admin=E0001,E0002;hr=E0100".
    "ZHIDU_GROUPS": "",
    # How long a service trusts its cached copy of a caller's directory record.
    "ZHIDU_IDENTITY_CACHE_SECONDS": "5",
    "ZHIDU_LOGIN_MAX_FAILURES": "5",
    "ZHIDU_LOGIN_WINDOW_SECONDS": "900",
    # The window every time a caller sends must fall in: from ZHIDU_TIME_MIN to
    # this many days after now. Anything outside is a typo or an attack, and
    # would otherwise reach calendar arithmetic and other services' handlers.
    "ZHIDU_TIME_MIN": "2000-01-01",
    "ZHIDU_TIME_MAX_AHEAD_DAYS": "366",
    # How far in the future an ``at`` (when something happened) may lie: a
    # naive local time sent from a device set to another zone can read up to a
    # day ahead of ours, and clocks drift; more than that is not a happening.
    "ZHIDU_AT_TOLERANCE_SECONDS": "86400",
    # The HTTP edge (shared/zhidu/service.py).
    "ZHIDU_MAX_BODY_BYTES": "1048576",
    "ZHIDU_MAX_JSON_DEPTH": "32",
    "ZHIDU_MAX_JSON_KEYS": "10000",
    # Host headers a service answers ("*" answers any); the service's own name
    # is always allowed, so containers reach each other by it.
    "ZHIDU_ALLOWED_HOSTS": "localhost,127.0.0.1,[::1]",
    # The address a service listens on. `zhidu run` makes it 127.0.0.1 unless
    # set, so a developer's machine does not offer the suite to its network; a
    # container (`zhidu serve`) listens on every interface unless set.
    "ZHIDU_BIND_ADDRESS": "",
    # Consumers check each event's data against its source's published schema:
    # "bounds" its limits (numbers, lengths, the time window), "types" also
    # types and enums, "strict" also the required fields, "off" trusts it.
    "ZHIDU_EVENT_VALIDATION": "bounds",
}


def setting(config: dict | None, key: str, default=None):
    """``config[key]``, else the environment, else the documented default."""
    if config and config.get(key) not in (None, ""):
        return config[key]
    value = os.environ.get(key)
    if value not in (None, ""):
        return value
    return DEFAULTS.get(key, default) if default is None else default


def float_list(text) -> list[float]:
    if isinstance(text, (list, tuple)):
        return [float(x) for x in text]
    return [float(part) for part in str(text).split(",") if part.strip()]


def database_name(config: dict | None, service: str) -> str:
    explicit = setting(config, f"ZHIDU_{service.upper()}_DB")
    if explicit:
        return explicit
    return f"{setting(config, 'ZHIDU_DB_PREFIX')}zhidu_{service}"
