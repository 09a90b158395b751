"""Rule catalogues: the model, loading and validation.

A catalogue is one YAML file per domain (see ``catalogs/*.yaml``)::

    domain: dormitory              # required, unique across loaded catalogues
    title_zh: 宿舍管理              # optional
    title_en: Dormitory            # optional
    source: "000 §5"               # optional seed reference
    combine: sum                   # sum | max   (default sum)
    split:                         # optional responsibility split, percents,
      individual: 60               #   keys from SPLIT_SHARES, must include
      team_leader: 20              #   individual and add up to 100
      dept_manager: 10
      unit_head: 10
    yuan_per_point: 10             # default 10 (rules §0: 1 point = 10 yuan)
    replaces: false                # true: replace an earlier catalogue of the
                                   #   same domain (deployment override)
    rules:
      - code: D01                  # [A-Z][A-Z0-9]{1,7}, unique across catalogues
        title_zh: ...
        title_en: ...
        kind: penalty              # penalty | reward
        points: 2                  # exactly one of points / yuan; a number
        # yuan: {min: 200, max: 1500}   (fixed) or {min, max} (a range)
        progressive: false         # amount × n for the n-th occurrence (Q01, S01)
        charge: [individual]       # who is charged the full amount; shares from
                                   #   SHARES (R01: clerk and department head)
        split: true                # false: the catalogue split does not apply
        tags: []                   # e.g. subjective_failure (admonishment rule)
        source: "000 §5 三.3"

Any mistake raises ``ValueError("<file>: <key>: <message>")`` at load time, so
a broken plugin stops the service at start-up instead of mis-booking later.
Unknown keys are errors too: a typo like ``pionts`` must not silently become a
rule without an amount.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .amounts import from_tenths, to_tenths, to_yuan

SHARES = ("individual", "team_leader", "dept_manager", "unit_head",
          "supervisor", "group_leader")
SPLIT_SHARES = ("individual", "team_leader", "dept_manager", "unit_head")
KINDS = ("penalty", "reward")
COMBINES = ("sum", "max")
CODE_RE = re.compile(r"^[A-Z][A-Z0-9]{1,7}$")
DOMAIN_RE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")

_CATALOG_KEYS = {"domain", "title_zh", "title_en", "source", "combine", "split",
                 "yuan_per_point", "replaces", "rules"}
_RULE_KEYS = {"code", "title_zh", "title_en", "kind", "points", "yuan",
              "progressive", "charge", "split", "tags", "source"}

BUILTIN_DIR = Path(__file__).with_name("catalogs")


@dataclass(frozen=True)
class Amount:
    """What a rule costs. ``unit`` is "points" (bounds in tenths) or "yuan"."""

    unit: str
    low: int
    high: int

    @property
    def fixed(self) -> bool:
        return self.low == self.high

    def describe(self):
        conv = from_tenths if self.unit == "points" else int
        if self.fixed:
            return conv(self.low)
        return {"min": conv(self.low), "max": conv(self.high)}


@dataclass(frozen=True)
class Rule:
    domain: str
    code: str
    title_zh: str
    title_en: str
    kind: str
    amount: Amount
    progressive: bool = False
    charge: tuple[str, ...] = ("individual",)
    split: bool = True
    tags: frozenset[str] = frozenset()
    source: str | None = None

    def describe(self) -> dict:
        doc = {"code": self.code, "domain": self.domain, "title_zh": self.title_zh,
               "title_en": self.title_en, "kind": self.kind,
               self.amount.unit: self.amount.describe(),
               "progressive": self.progressive, "charge": list(self.charge),
               "split": self.split, "tags": sorted(self.tags)}
        if self.source:
            doc["source"] = self.source
        return doc


@dataclass(frozen=True)
class Catalog:
    domain: str
    rules: tuple[Rule, ...]
    combine: str = "sum"
    split: tuple[tuple[str, int], ...] | None = None
    yuan_per_point: int = 10
    title_zh: str | None = None
    title_en: str | None = None
    source: str | None = None
    origin: str = "<memory>"
    replaces: bool = False
    _index: dict = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_index", {r.code: i for i, r in enumerate(self.rules)})

    def rule(self, code: str) -> Rule | None:
        i = self._index.get(code)
        return None if i is None else self.rules[i]

    def position(self, code: str) -> int:
        return self._index[code]

    def describe(self) -> dict:
        """Plain dict for the ``catalogs({})`` RPC."""
        return {"domain": self.domain, "title_zh": self.title_zh,
                "title_en": self.title_en, "source": self.source,
                "combine": self.combine,
                "split": dict(self.split) if self.split else None,
                "yuan_per_point": self.yuan_per_point, "origin": self.origin,
                "rules": [r.describe() for r in self.rules]}


class Catalogs:
    """Every loaded catalogue, looked up by domain or by (globally unique) code."""

    def __init__(self, catalogs: Iterable[Catalog] = ()):
        self._domains: dict[str, Catalog] = {}
        self._codes: dict[str, Catalog] = {}
        for cat in catalogs:
            self.add(cat)

    def add(self, cat: Catalog) -> None:
        old = self._domains.get(cat.domain)
        if old is not None:
            if not cat.replaces:
                raise ValueError(f"{cat.origin}: domain: {cat.domain!r} already "
                                 f"loaded from {old.origin} (set replaces: true "
                                 "to override it)")
            for rule in old.rules:
                del self._codes[rule.code]
        for rule in cat.rules:
            other = self._codes.get(rule.code)
            if other is not None:
                raise ValueError(f"{cat.origin}: rules.{rule.code}: duplicate code, "
                                 f"already defined in {other.origin} "
                                 f"({other.domain})")
        self._domains[cat.domain] = cat
        for rule in cat.rules:
            self._codes[rule.code] = cat

    def domain(self, name: str) -> Catalog | None:
        return self._domains.get(name)

    def rule(self, code: str) -> Rule | None:
        cat = self._codes.get(code)
        return None if cat is None else cat.rule(code)

    @property
    def domains(self) -> list[str]:
        return sorted(self._domains)

    def __iter__(self):
        return iter(self._domains[d] for d in self.domains)

    def describe(self) -> list[dict]:
        return [cat.describe() for cat in self]


# --- loading -------------------------------------------------------------

def catalog_files(path: str | Path) -> list[Path]:
    """A file as is; a directory → its ``*.yaml``/``*.yml`` files, sorted."""
    p = Path(path)
    if p.is_dir():
        return sorted(q for q in p.iterdir()
                      if q.suffix in (".yaml", ".yml") and q.is_file())
    if p.is_file():
        return [p]
    raise ValueError(f"{p}: no such catalogue file or directory")


def load_catalogs(paths: Iterable[str | Path]) -> Catalogs:
    """Load catalogue files/directories in order into one ``Catalogs``.

    Order matters only for ``replaces: true`` (a later file overrides an earlier
    domain). Duplicate domains without ``replaces`` and duplicate codes across
    catalogues are errors.
    """
    result = Catalogs()
    for path in paths:
        for file in catalog_files(path):
            result.add(load_catalog_file(file))
    return result


def load_catalog_file(path: str | Path) -> Catalog:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read catalogue: {exc}") from exc
    return parse_catalog(data, origin=str(path))


def parse_catalog(data, origin: str = "<memory>") -> Catalog:
    """Validate one catalogue document (already parsed YAML) into a ``Catalog``."""
    def fail(key: str, msg: str):
        raise ValueError(f"{origin}: {key}: {msg}")

    if not isinstance(data, dict):
        fail("<root>", "a catalogue must be a mapping")
    for key in data:
        if key not in _CATALOG_KEYS:
            fail(str(key), "unknown key")
    domain = data.get("domain")
    if not isinstance(domain, str) or not DOMAIN_RE.match(domain):
        fail("domain", "required, lower-case identifier")
    combine = data.get("combine", "sum")
    if combine not in COMBINES:
        fail("combine", f"must be one of {', '.join(COMBINES)}")
    ypp = data.get("yuan_per_point", 10)
    if not isinstance(ypp, int) or isinstance(ypp, bool) or ypp <= 0:
        fail("yuan_per_point", "must be a positive integer")
    for key in ("title_zh", "title_en", "source"):
        if key in data and not isinstance(data[key], str):
            fail(key, "must be a string")
    replaces = data.get("replaces", False)
    if not isinstance(replaces, bool):
        fail("replaces", "must be true or false")
    split = _parse_split(data.get("split"), fail)
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        fail("rules", "required, a non-empty list")
    rules, seen = [], set()
    for i, raw in enumerate(raw_rules):
        rule = _parse_rule(raw, domain, f"rules[{i}]", fail)
        if rule.code in seen:
            fail(f"rules[{i}].code", f"duplicate code {rule.code}")
        seen.add(rule.code)
        rules.append(rule)
    return Catalog(domain=domain, rules=tuple(rules), combine=combine, split=split,
                   yuan_per_point=ypp, title_zh=data.get("title_zh"),
                   title_en=data.get("title_en"), source=data.get("source"),
                   origin=origin, replaces=replaces)


def _parse_split(raw, fail):
    if raw is None:
        return None
    if not isinstance(raw, dict) or not raw:
        fail("split", "must be a mapping share → percent")
    for share, pct in raw.items():
        if share not in SPLIT_SHARES:
            fail(f"split.{share}", f"unknown share (one of {', '.join(SPLIT_SHARES)})")
        if not isinstance(pct, int) or isinstance(pct, bool) or not 0 < pct <= 100:
            fail(f"split.{share}", "must be an integer percent 1–100")
    if "individual" not in raw:
        fail("split.individual", "required: the person at fault always has a share")
    if sum(raw.values()) != 100:
        fail("split", f"percents add up to {sum(raw.values())}, not 100")
    # Canonical order so rounding ties always favour the same share.
    return tuple((s, raw[s]) for s in SPLIT_SHARES if s in raw)


def _parse_rule(raw, domain, where, fail) -> Rule:
    if not isinstance(raw, dict):
        fail(where, "a rule must be a mapping")
    for key in raw:
        if key not in _RULE_KEYS:
            fail(f"{where}.{key}", "unknown key")
    code = raw.get("code")
    if not isinstance(code, str) or not CODE_RE.match(code):
        fail(f"{where}.code", "required, like D01 (capital letter, then 1–7 "
                              "capitals or digits)")
    where = f"rules.{code}"  # from here on the code names the rule best
    for key in ("title_zh", "title_en"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            fail(f"{where}.{key}", "required, a non-empty string")
    kind = raw.get("kind")
    if kind not in KINDS:
        fail(f"{where}.kind", f"required, one of {', '.join(KINDS)}")
    has_points, has_yuan = "points" in raw, "yuan" in raw
    if has_points == has_yuan:
        fail(f"{where}.points", "give exactly one of points or yuan")
    unit = "points" if has_points else "yuan"
    amount = _parse_amount(raw[unit], unit, f"{where}.{unit}", fail)
    progressive = raw.get("progressive", False)
    if not isinstance(progressive, bool):
        fail(f"{where}.progressive", "must be true or false")
    split = raw.get("split", True)
    if not isinstance(split, bool):
        fail(f"{where}.split", "must be true or false")
    charge = raw.get("charge", ["individual"])
    if isinstance(charge, str):
        charge = [charge]
    if not isinstance(charge, list) or not charge:
        fail(f"{where}.charge", "must be a non-empty list of shares")
    for share in charge:
        if share not in SHARES:
            fail(f"{where}.charge", f"unknown share {share!r} (one of {', '.join(SHARES)})")
    if len(set(charge)) != len(charge):
        fail(f"{where}.charge", "shares must not repeat")
    tags = raw.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        fail(f"{where}.tags", "must be a list of strings")
    source = raw.get("source")
    if source is not None and not isinstance(source, str):
        fail(f"{where}.source", "must be a string")
    return Rule(domain=domain, code=code, title_zh=raw["title_zh"].strip(),
                title_en=raw["title_en"].strip(), kind=kind, amount=amount,
                progressive=progressive, charge=tuple(charge), split=split,
                tags=frozenset(tags), source=source)


def _parse_amount(raw, unit, where, fail) -> Amount:
    conv = to_tenths if unit == "points" else to_yuan
    if isinstance(raw, dict):
        extra = set(raw) - {"min", "max"}
        if extra:
            fail(f"{where}.{sorted(extra)[0]}", "unknown key (use min and max)")
        if "min" not in raw or "max" not in raw:
            fail(where, "a range needs min and max")
        bounds = []
        for key in ("min", "max"):
            try:
                bounds.append(conv(raw[key]))
            except ValueError as exc:
                fail(f"{where}.{key}", str(exc))
        low, high = bounds
    else:
        try:
            low = high = conv(raw)
        except ValueError as exc:
            fail(where, str(exc))
    if low <= 0:
        fail(where, "must be positive (the kind gives the direction)")
    if high < low:
        fail(where, "max is below min")
    return Amount(unit=unit, low=low, high=high)
