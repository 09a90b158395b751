"""Nameko dependency providers of the dormitory service."""
from __future__ import annotations

from nameko.extensions import DependencyProvider
from zhidu.config import setting

from .catalogue import Catalogue, load_catalogue


class Rules(DependencyProvider):
    """The rule catalogue, loaded and validated once when the container starts.

    ``ZHIDU_DORMITORY_RULES_FILE`` (nameko config or environment) replaces the
    shipped ``rules/catalog.yaml``; a broken file raises ``ValueError`` naming
    the key, and the service does not start.
    """

    catalogue: Catalogue | None = None

    def setup(self):
        self.catalogue = load_catalogue(
            setting(self.container.config, "ZHIDU_DORMITORY_RULES_FILE"))

    def get_dependency(self, worker_ctx):
        return self.catalogue
