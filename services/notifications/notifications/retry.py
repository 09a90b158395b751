"""The delivery policy: back-off schedule, lease, timeouts, default channels,
how webhooks are kept apart from people's deliveries, how long the list of
webhook subscribers is trusted.

Kept in ``rules/delivery.yaml``; a deployment points
``ZHIDU_NOTIFY_DELIVERY_POLICY`` at its own copy.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from .routing import CHANNELS

POLICY_FILE = Path(__file__).parent / "rules" / "delivery.yaml"


class PolicyError(ValueError):
    """The delivery policy is malformed; raised at start-up."""


@dataclass(frozen=True)
class DeliveryPolicy:
    retry_after_seconds: tuple[float, ...]
    lease_seconds: float = 120
    smtp_timeout: float = 10
    http_timeout: float = 10
    default_channels: tuple[str, ...] = ("inbox", "email")
    sweep_batch: int = 200
    sweep_concurrency: int = 10
    subscribers_cache_seconds: float = 5
    webhook_concurrency: int = 20
    webhook_per_target: int = 2
    webhook_attempt_seconds: float = 5

    @property
    def longest_attempt(self) -> float:
        return max(self.smtp_timeout, self.http_timeout, self.webhook_attempt_seconds)

    @property
    def max_attempts(self) -> int:
        return len(self.retry_after_seconds) + 1

    def next_attempt_at(self, attempts_made: int, failed_at: datetime) -> datetime | None:
        """When to try again after the ``attempts_made``-th attempt failed;
        ``None`` means give up."""
        if attempts_made < 1:
            raise ValueError("attempts_made counts from 1")
        if attempts_made > len(self.retry_after_seconds):
            return None
        return failed_at + timedelta(seconds=self.retry_after_seconds[attempts_made - 1])


def load_policy(path: str | Path | None = None) -> DeliveryPolicy:
    path = Path(path or POLICY_FILE)
    with open(path, encoding="utf-8") as handle:
        return build_policy(yaml.safe_load(handle), str(path))


def build_policy(raw, where: str = "delivery policy") -> DeliveryPolicy:
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: expected a mapping")
    unknown = set(raw) - {"retry_after_seconds", "lease_seconds", "timeouts",
                          "default_channels", "sweep", "subscribers_cache_seconds",
                          "webhooks"}
    if unknown:
        raise PolicyError(f"{where}: unknown keys {sorted(unknown)}")
    schedule = raw.get("retry_after_seconds")
    if not isinstance(schedule, list) or not all(
            isinstance(s, (int, float)) and not isinstance(s, bool) and s > 0
            for s in schedule):
        raise PolicyError(f"{where}: retry_after_seconds must be a list of positive numbers")
    timeouts = raw.get("timeouts") or {}
    sweep = raw.get("sweep") or {}
    if not isinstance(timeouts, dict) or set(timeouts) - {"smtp_seconds", "http_seconds"}:
        raise PolicyError(f"{where}: timeouts takes smtp_seconds and http_seconds")
    if not isinstance(sweep, dict) or set(sweep) - {"batch", "concurrency"}:
        raise PolicyError(f"{where}: sweep takes batch and concurrency")
    webhooks = raw.get("webhooks") or {}
    if not isinstance(webhooks, dict) or \
            set(webhooks) - {"concurrency", "per_target", "attempt_seconds"}:
        raise PolicyError(f"{where}: webhooks takes concurrency, per_target and "
                          f"attempt_seconds")
    channels = raw.get("default_channels", ["inbox", "email"])
    if not isinstance(channels, list) or not set(channels) <= set(CHANNELS):
        raise PolicyError(f"{where}: default_channels must be a list of {CHANNELS}")
    try:
        policy = DeliveryPolicy(
            retry_after_seconds=tuple(float(s) for s in schedule),
            lease_seconds=float(raw.get("lease_seconds", 120)),
            smtp_timeout=float(timeouts.get("smtp_seconds", 10)),
            http_timeout=float(timeouts.get("http_seconds", 10)),
            default_channels=tuple(channels),
            sweep_batch=int(sweep.get("batch", 200)),
            sweep_concurrency=int(sweep.get("concurrency", 10)),
            subscribers_cache_seconds=float(raw.get("subscribers_cache_seconds", 5)),
            webhook_concurrency=int(webhooks.get("concurrency", 20)),
            webhook_per_target=int(webhooks.get("per_target", 2)),
            webhook_attempt_seconds=float(webhooks.get("attempt_seconds", 5)),
        )
    except (TypeError, ValueError) as exc:
        raise PolicyError(f"{where}: {exc}") from None
    if min(policy.lease_seconds, policy.smtp_timeout, policy.http_timeout,
           policy.webhook_attempt_seconds) <= 0 or policy.sweep_batch < 1 or \
            min(policy.sweep_concurrency, policy.webhook_concurrency,
                policy.webhook_per_target) < 1:
        raise PolicyError(f"{where}: lease, timeouts, sweep and webhook sizes must be positive")
    if policy.subscribers_cache_seconds < 0:
        raise PolicyError(f"{where}: subscribers_cache_seconds must not be negative")
    if policy.lease_seconds < 2 * policy.longest_attempt:
        # A lease that ran out mid-send would let a second sweep send it again.
        raise PolicyError(f"{where}: lease_seconds must be at least twice the longest timeout")
    return policy
