"""Injects the complaint rules: the SLA policy and the working calendar, read once.

``ZHIDU_COMPLAINTS_POLICY`` names a deployment's own policy file (default: the
shipped ``rules/sla.yaml``) and ``ZHIDU_CALENDAR_FILE`` the company calendar;
a bad file stops the container at start-up instead of mis-timing a sweep.
"""
from __future__ import annotations

from nameko.extensions import DependencyProvider
from zhidu.calendar import load_calendar
from zhidu.config import setting

from .domain import ComplaintRules
from .policy import load_policy


class Rules(DependencyProvider):
    rules: ComplaintRules

    def setup(self):
        config = self.container.config
        policy = load_policy(setting(config, "ZHIDU_COMPLAINTS_POLICY") or None)
        calendar = load_calendar(setting(config, "ZHIDU_CALENDAR_FILE") or None)
        self.rules = ComplaintRules(policy, calendar)

    def get_dependency(self, worker_ctx):
        return self.rules
