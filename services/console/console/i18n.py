"""The console's words in zh-CN (first) and en.

Each locale is one YAML file of flat keys (``locales/<locale>.yaml``). A key
missing from a locale falls back to zh-CN, the company's language, and then
to the key itself, so a gap shows as a readable key rather than an error.
"""
from __future__ import annotations

import string
from functools import cache
from pathlib import Path

import yaml

LOCALES = ("zh-CN", "en")
DEFAULT = "zh-CN"
HERE = Path(__file__).parent / "locales"


@cache
def catalogue(locale: str) -> dict[str, str]:
    with open(HERE / f"{locale}.yaml", encoding="utf-8") as handle:
        raw = yaml.safe_load(handle) or {}
    return _flatten(raw)


def _flatten(tree: dict, prefix: str = "") -> dict[str, str]:
    out = {}
    for key, value in tree.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{full}."))
        else:
            out[full] = str(value)
    return out


def pick(requested: str | None) -> str:
    """The supported locale closest to ``requested`` (an Accept-Language tag or ours)."""
    if not requested:
        return DEFAULT
    wanted = requested.strip().lower()
    for locale in LOCALES:
        if wanted == locale.lower():
            return locale
    return "en" if wanted.startswith("en") else DEFAULT


class _Lenient(string.Formatter):
    def get_value(self, key, args, kwargs):
        if isinstance(key, str):
            return kwargs.get(key, "{" + key + "}")
        return super().get_value(key, args, kwargs)


_FORMAT = _Lenient()


class Translator:
    def __init__(self, locale: str):
        self.locale = pick(locale)
        self.words = catalogue(self.locale)
        self.fallback = catalogue(DEFAULT)

    def __call__(self, key: str, **values) -> str:
        text = self.words.get(key)
        if text is None:
            text = self.fallback.get(key, key)
        return _FORMAT.format(text, **values) if values else text

    def has(self, key: str) -> bool:
        return key in self.words or key in self.fallback

    def label(self, group: str, value, default: str | None = None) -> str:
        """``label("role", "gm")`` → 总经理; an unknown value is shown as it is."""
        if value is None or value == "":
            return "—"
        key = f"{group}.{value}"
        if self.has(key):
            return self(key)
        return default if default is not None else str(value)

    def labels(self, group: str, values) -> str:
        sep = "、" if self.locale == "zh-CN" else ", "
        return sep.join(self.label(group, v) for v in values or ())
