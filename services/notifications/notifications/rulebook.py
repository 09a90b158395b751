"""Everything the service reads from its rule files and settings, checked at
start-up: routes (its own and those other distributions contribute),
templates, delivery policy, channels, groups.

Loaded once per container by ``zhidu.rulebook.RuleBook(load_rules)``. A
malformed file, a route naming a missing template, or a route for an event
type the service has no handler for stops the container from starting: a
notification system that starts with a broken table fails quietly later.
"""
from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from zhidu.config import setting

from . import contributed
from .alerts import OnCallRules, load_oncall_rules
from .channels import ChannelSettings
from .fanout import Channels
from .plugin import CONSUMES, OWN_CONSUMES
from .retry import DeliveryPolicy, load_policy
from .routing import RoutingError, RoutingTable, load_routes
from .templates import Catalogue, load_catalogue


@dataclass(frozen=True)
class Rules:
    routes: RoutingTable
    catalogue: Catalogue
    policy: DeliveryPolicy
    default_locale: str
    tz: ZoneInfo
    settings: ChannelSettings
    channels: Channels
    groups: dict[str, list[str]]
    oncall: OnCallRules | None = None
    # Employee ids of the on-call fallback group (its setting), beside its roles.
    oncall_fallback: tuple[str, ...] = ()


def id_list(text) -> list[str]:
    if isinstance(text, (list, tuple)):
        return [str(x) for x in text if str(x).strip()]
    return [part.strip() for part in str(text or "").split(",") if part.strip()]


def load_rules(config) -> Rules:
    routes = load_routes(setting(config, "ZHIDU_NOTIFY_ROUTES") or None)
    default_locale = setting(config, "ZHIDU_LOCALE")
    catalogue = load_catalogue(setting(config, "ZHIDU_NOTIFY_TEMPLATES") or None,
                               default=default_locale)
    routes, catalogue = contributed.load(routes, catalogue, handled=OWN_CONSUMES)
    catalogue.require(routes.templates())
    # The plugin's list is kept equal to the service's handlers by a test, so a
    # route no handler would ever reach is refused here, before the first event.
    unhandled = set(routes.routes) - set(CONSUMES)
    if unhandled:
        raise RoutingError(f"routes for event types with no handler: {sorted(unhandled)}")
    settings = ChannelSettings.from_config(config)
    oncall = load_oncall_rules(setting(config, "ZHIDU_NOTIFY_ONCALL", "") or None)
    catalogue.require(set(oncall.templates.values()))
    return Rules(
        routes=routes, catalogue=catalogue,
        policy=load_policy(setting(config, "ZHIDU_NOTIFY_DELIVERY_POLICY") or None),
        default_locale=default_locale, tz=ZoneInfo(setting(config, "ZHIDU_TZ")),
        settings=settings,
        channels=Channels(email=bool(settings.smtp_host), sms=bool(settings.sms_url),
                          chat=bool(settings.chat_url)),
        groups={name: id_list(setting(config, key, ""))
                for name, key in routes.groups.items()},
        oncall=oncall,
        oncall_fallback=tuple(id_list(setting(config, oncall.fallback_setting, "")))
        if oncall.fallback_setting else ())
