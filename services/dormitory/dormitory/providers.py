"""How the dormitory service loads its rules at start-up."""
from __future__ import annotations

from zhidu.config import setting

from .catalogue import Catalogue, load_catalogue


def load_rules(config) -> Catalogue:
    """The rule catalogue, validated once when the container starts.

    ``ZHIDU_DORMITORY_RULES_FILE`` (nameko config or environment) replaces the
    shipped ``rules/catalog.yaml``; a broken file raises ``ValueError`` naming
    the key, and the service does not start.
    """
    return load_catalogue(setting(config, "ZHIDU_DORMITORY_RULES_FILE"))
