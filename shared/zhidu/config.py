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
    # A handler run that claimed an event and did not finish within this many
    # seconds (its process died) may be taken over by a redelivery.
    "ZHIDU_CLAIM_LEASE": "30",
    "ZHIDU_SWEEP_INTERVAL": "60",
    "ZHIDU_DB_PREFIX": "",
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
