"""Load a service's rule catalogues and policies once, at start-up.

A bad YAML file must stop the service from starting, with the file and key in
the error, rather than fail the first request that needs it.
"""
from __future__ import annotations

from nameko.extensions import DependencyProvider


class RuleBook(DependencyProvider):
    """Injects ``loader(config)``'s result, computed in ``setup``."""

    def __init__(self, loader):
        self.loader = loader
        self.rules = None

    def setup(self):
        self.rules = self.loader(self.container.config)

    def get_dependency(self, worker_ctx):
        return self.rules
