"""Alertmanager's webhook, read: which alerts are new, whose department they
concern, and what each message says. Pure; the on-call rules come from
``rules/oncall.yaml`` and are checked at start-up.

One alert becomes one message per status: Alertmanager repeats a firing
group every ``repeat_interval`` and re-sends after a restart, and only the
first of each (fingerprint, start, status) is news. The key includes the
start, so an alert that clears and fires again is told again.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from zhidu.envelope import derived_id

from .routing import CHANNELS, Route

ONCALL_FILE = Path(__file__).parent / "rules" / "oncall.yaml"
STATUSES = ("firing", "resolved")
SOURCE = "alertmanager"


class OnCallRulesError(ValueError):
    """``rules/oncall.yaml`` is malformed; raised at start-up."""


@dataclass(frozen=True)
class Receiver:
    department: str | None = None
    urgent_channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class OnCallRules:
    receivers: dict[str, Receiver]
    default_receiver: str
    department_label: str
    service_departments: dict[str, str]
    default_department: str
    fallback_roles: tuple[str, ...]
    fallback_setting: str
    last_resort_inbox: str
    templates: dict[str, str]  # status → template id

    def receiver(self, name: str | None) -> Receiver:
        return self.receivers.get(name or "") or self.receivers[self.default_receiver]

    def department(self, receiver: str | None, labels: Mapping) -> str:
        pinned = self.receiver(receiver).department
        return pinned or labels.get(self.department_label) or \
            self.service_departments.get(labels.get("service") or "") or self.default_department

    def route(self, receiver: str | None, status: str) -> Route:
        return Route(event_type=f"{SOURCE}.{status}", template=self.templates[status],
                     recipients=(), sources=(),
                     urgent_channels=self.receiver(receiver).urgent_channels)


@dataclass(frozen=True)
class Alert:
    """One alert of a webhook call, as the templates and the de-duplication see it."""

    key: str          # (fingerprint, start, status): the same news has the same key
    status: str
    receiver: str
    department: str
    data: dict        # the message's fields

    def envelope(self, at_iso: str) -> dict:
        return {"id": self.key, "type": f"{SOURCE}.{self.status}", "source": SOURCE,
                "time": at_iso, "data": self.data}


def alerts_in(payload: Mapping, rules: OnCallRules) -> list[Alert]:
    """Every alert of a (version 4) webhook payload, each once."""
    receiver = payload.get("receiver") or rules.default_receiver
    found: dict[str, Alert] = {}
    for raw in payload.get("alerts") or ():
        status = raw.get("status") or payload.get("status")
        if status not in STATUSES:
            continue
        labels = dict(raw.get("labels") or {})
        annotations = dict(raw.get("annotations") or {})
        starts_at = raw.get("startsAt") or ""
        fingerprint = raw.get("fingerprint") or derived_id(*sorted(labels.items()))
        department = rules.department(receiver, labels)
        data = {**{k: v for k, v in labels.items() if isinstance(v, str)},
                "alertname": labels.get("alertname") or "—",
                "severity": labels.get("severity"), "service": labels.get("service"),
                "department": department, "status": status, "receiver": receiver,
                "summary": annotations.get("summary") or labels.get("alertname"),
                "description": annotations.get("description"),
                "runbook_url": annotations.get("runbook_url"),
                "starts_at": starts_at or None,
                "ends_at": raw.get("endsAt") if status == "resolved" else None,
                "fingerprint": fingerprint, "group_key": payload.get("groupKey"),
                "generator_url": raw.get("generatorURL")}
        key = derived_id(SOURCE, fingerprint, starts_at, status)
        found.setdefault(key, Alert(key, status, receiver, department, data))
    return list(found.values())


# -- loading ----------------------------------------------------------------------------
def load_oncall_rules(path: str | Path | None = None) -> OnCallRules:
    path = Path(path or ONCALL_FILE)
    with open(path, encoding="utf-8") as handle:
        return build_oncall_rules(yaml.safe_load(handle), str(path))


def build_oncall_rules(raw, where: str = "oncall") -> OnCallRules:
    if not isinstance(raw, dict):
        raise OnCallRulesError(f"{where}: expected a mapping")
    known = {"receivers", "default_receiver", "department_label", "service_departments",
             "default_department", "fallback", "last_resort_inbox", "templates"}
    if set(raw) - known:
        raise OnCallRulesError(f"{where}: unknown keys {sorted(set(raw) - known)}")
    receivers = {}
    for name, spec in (raw.get("receivers") or {}).items():
        spec = spec or {}
        if not isinstance(spec, dict) or set(spec) - {"department", "urgent_channels"}:
            raise OnCallRulesError(f"{where}: receivers.{name}: only department and "
                                   "urgent_channels")
        urgent = spec.get("urgent_channels") or []
        if not isinstance(urgent, list) or not set(urgent) <= set(CHANNELS):
            raise OnCallRulesError(f"{where}: receivers.{name}.urgent_channels must be a "
                                   f"list of {CHANNELS}")
        receivers[str(name)] = Receiver(spec.get("department"), tuple(urgent))
    default_receiver = raw.get("default_receiver")
    if default_receiver not in receivers:
        raise OnCallRulesError(f"{where}: default_receiver must name one of the receivers")
    fallback = raw.get("fallback") or {}
    if not isinstance(fallback, dict) or set(fallback) - {"roles", "setting"}:
        raise OnCallRulesError(f"{where}: fallback takes roles and setting")
    templates = raw.get("templates") or {}
    if set(templates) != set(STATUSES):
        raise OnCallRulesError(f"{where}: templates must name one for each of {STATUSES}")
    for key in ("default_department", "last_resort_inbox", "department_label"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise OnCallRulesError(f"{where}: {key} is required")
    services = raw.get("service_departments") or {}
    if not isinstance(services, dict):
        raise OnCallRulesError(f"{where}: service_departments must map a service to a "
                               "department")
    return OnCallRules(
        receivers=receivers, default_receiver=default_receiver,
        department_label=raw["department_label"],
        service_departments={str(k): str(v) for k, v in services.items()},
        default_department=raw["default_department"],
        fallback_roles=tuple(fallback.get("roles") or ()),
        fallback_setting=str(fallback.get("setting") or ""),
        last_resort_inbox=raw["last_resort_inbox"],
        templates={str(k): str(v) for k, v in templates.items()})
