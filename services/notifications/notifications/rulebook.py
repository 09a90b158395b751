"""Everything the service reads from its rule files and settings, checked at
start-up: routes, templates, delivery policy, channels, groups.

A malformed file, a route naming a missing template, or a route for an event
type the service has no handler for stops the container from starting: a
notification system that starts with a broken table fails quietly later.
"""
from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from nameko.events import EventHandler
from nameko.extensions import DependencyProvider
from zhidu.config import setting

from .channels import ChannelSettings, Senders
from .dispatch import Courier
from .fanout import Channels
from .retry import load_policy
from .routing import RoutingError, load_routes
from .templates import load_catalogue

log = logging.getLogger(__name__)


def consumed_event_types(container) -> set[str]:
    return {f"{ep.source_service}.{ep.event_type}" for ep in container.entrypoints
            if isinstance(ep, EventHandler)}


def id_list(text) -> list[str]:
    if isinstance(text, (list, tuple)):
        return [str(x) for x in text if str(x).strip()]
    return [part.strip() for part in str(text or "").split(",") if part.strip()]


class Rulebook(DependencyProvider):
    def setup(self):
        config = self.container.config
        self.routes = load_routes(setting(config, "ZHIDU_NOTIFY_ROUTES") or None)
        self.default_locale = setting(config, "ZHIDU_LOCALE")
        self.catalogue = load_catalogue(setting(config, "ZHIDU_NOTIFY_TEMPLATES") or None,
                                        default=self.default_locale)
        self.catalogue.require(self.routes.templates())
        self.policy = load_policy(setting(config, "ZHIDU_NOTIFY_DELIVERY_POLICY") or None)
        self.tz = ZoneInfo(setting(config, "ZHIDU_TZ"))
        self.settings = ChannelSettings.from_config(config)
        self.channels = Channels(email=bool(self.settings.smtp_host),
                                 sms=bool(self.settings.sms_url),
                                 chat=bool(self.settings.chat_url))
        self.groups = {name: id_list(setting(config, key, ""))
                       for name, key in self.routes.groups.items()}
        unhandled = set(self.routes.routes) - consumed_event_types(self.container)
        if unhandled:
            raise RoutingError(f"routes for event types with no handler: {sorted(unhandled)}")
        self.senders = Senders(self.settings, self.policy.smtp_timeout,
                               self.policy.http_timeout)

    def stop(self):
        self.senders.close()

    kill = stop

    def get_dependency(self, worker_ctx):
        return self

    def courier(self, store, on_settled=None) -> Courier:
        return Courier(store, self.senders, self.policy, on_settled)

    def spawn(self, fn, *args):
        """Run ``fn`` outside the worker; killed with the container, which is
        safe because it only sends what is already stored."""
        def run():
            try:
                fn(*args)
            except Exception:  # an error in a managed thread would kill the container
                log.exception("immediate send failed; the sweep will retry")

        self.container.spawn_managed_thread(run, identifier="notifications.send_now")
