"""Policy: thresholds, the monthly legal ceiling, the service-quality ladder,
the consequences a unit (单位) bears, which bookings wait for a signed
penalty notice and who approves it.

Loaded from ``policy.yaml`` beside this module, optionally deep-merged with a
deployment's override files. Validation raises ``ValueError("<file>: <key>:
<message>")``; ``check_against(policy, catalogs)`` verifies every rule code the
policy names exists in the loaded catalogues.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from .amounts import to_tenths
from .catalog import SPLIT_SHARES, Catalogs

DEFAULT_POLICY = Path(__file__).with_name("policy.yaml")


@dataclass(frozen=True)
class Admonishment:
    domain: str
    min_points_tenths: int
    min_subjective_failures: int
    subjective_tag: str
    shares: tuple[str, ...]


@dataclass(frozen=True)
class AwardIneligible:
    domain: str
    max_penalties: int
    max_points_tenths: int


@dataclass(frozen=True)
class WorstOfMonth:
    complaint_code: str
    min_complaints: int
    fine_code: str


@dataclass(frozen=True)
class TransferReview:
    admonished_years_running: int
    same_accident_per_month: int
    same_accident_domains: tuple[str, ...]


@dataclass(frozen=True)
class Ladder:
    """A leader's joint charge from the person's ``from_nth`` complaint of the
    month on; how it grows is the catalogue rule's (``progressive``)."""

    code: str
    from_nth: int


@dataclass(frozen=True)
class ServiceQuality:
    complaint_code: str
    fine_code: str
    fine_default: str
    supervisor: Ladder
    group_leader: Ladder
    attitude_codes: dict
    attitude_mode: str
    service_star_code: str
    # 004 二.3 各单位评出"服务明星"一名: stars a unit may have for one month.
    stars_per_unit: int = 1


@dataclass(frozen=True)
class DressCode:
    code: str
    min_penalties: int
    leader_code: str


@dataclass(frozen=True)
class Units:
    """What a unit bears for its people (000 §4 附加说明.3, §3 十.8, §4 六.1)."""

    performance_pay_cut_percent: int
    award_ineligible: AwardIneligible
    dress_code: DressCode


@dataclass(frozen=True)
class Notices:
    """Which bookings wait for a signed penalty notice (奖罚通知单), and who signs.

    ``supervisor_domains``: notices of these domains go to each charged
    person's supervisor first (001 §1 第九条(六) 個人懲處種類呈主管批示), then
    to the GM (第十二条(二)). ``alone_up_to_yuan``: a notice of at most this
    many yuan in all is booked on the supervisors' approval alone; None: the
    GM signs every notice.
    """

    domains: tuple[str, ...]
    supervisor_domains: tuple[str, ...] = ("complaint",)
    alone_up_to_yuan: int | None = None

    def needed_for(self, domain: str) -> bool:
        return domain in self.domains

    def supervisor_first(self, domain: str) -> bool:
        return domain in self.supervisor_domains


@dataclass(frozen=True)
class Policy:
    ceiling_percent: int | None
    admonishment: Admonishment
    award_ineligible: AwardIneligible
    worst_of_month: WorstOfMonth
    dismissal_min_worst_months: int
    transfer_review: TransferReview
    service_quality: ServiceQuality
    units: Units
    damage_code: str
    notices: Notices = Notices(("complaint",))
    origin: str = "<memory>"

    def codes(self) -> set[str]:
        sq = self.service_quality
        return {self.worst_of_month.complaint_code, self.worst_of_month.fine_code,
                sq.complaint_code, sq.fine_code, sq.supervisor.code,
                sq.group_leader.code, sq.service_star_code,
                *sq.attitude_codes.values(), self.units.dress_code.code,
                self.units.dress_code.leader_code, self.damage_code}


def load_policy(overrides: Iterable[str | Path] = (), *,
                base: str | Path = DEFAULT_POLICY) -> Policy:
    """The shipped policy, deep-merged with each override file in order."""
    files = [Path(base), *map(Path, overrides)]
    merged: dict = {}
    for file in files:
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"{file}: cannot read policy: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"{file}: <root>: a policy must be a mapping")
        merged = _deep_merge(merged, data)
    return parse_policy(merged, origin=" + ".join(map(str, files)))


def _deep_merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


class _Reader:
    """Typed access to nested keys that names the full key on any mistake."""

    def __init__(self, data: dict, origin: str, prefix: str = ""):
        self.data, self.origin, self.prefix = data, origin, prefix

    def fail(self, key: str, msg: str):
        raise ValueError(f"{self.origin}: {self.prefix}{key}: {msg}")

    def section(self, key: str) -> _Reader:
        value = self.data.get(key)
        if not isinstance(value, dict):
            self.fail(key, "required, a mapping")
        return _Reader(value, self.origin, f"{self.prefix}{key}.")

    def int(self, key: str, minimum: int = 0, optional: bool = False):
        value = self.data.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            self.fail(key, f"required, an integer >= {minimum}")
        return value

    def points(self, key: str) -> int:
        try:
            tenths = to_tenths(self.data.get(key))
        except ValueError as exc:
            self.fail(key, str(exc))
        if tenths < 0:
            self.fail(key, "must not be negative")
        return tenths

    def str(self, key: str, choices: tuple[str, ...] | None = None) -> str:
        value = self.data.get(key)
        if not isinstance(value, str) or not value:
            self.fail(key, "required, a string")
        if choices and value not in choices:
            self.fail(key, f"must be one of {', '.join(choices)}")
        return value

    def bool(self, key: str) -> bool:
        value = self.data.get(key, False)
        if not isinstance(value, bool):
            self.fail(key, "must be true or false")
        return value

    def optional_strings(self, key: str) -> tuple:
        """A list of strings that may be empty (``[]`` switches a feature off)."""
        value = self.data.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(key, "required, a list of strings (may be empty)")
        return tuple(value)

    def strings(self, key: str, choices: tuple[str, ...] | None = None) -> tuple:
        value = self.data.get(key)
        if not isinstance(value, list) or not value or not all(
                isinstance(v, str) for v in value):
            self.fail(key, "required, a non-empty list of strings")
        for v in value:
            if choices and v not in choices:
                self.fail(key, f"unknown value {v!r} (one of {', '.join(choices)})")
        return tuple(value)


def parse_policy(data: dict, origin: str = "<memory>") -> Policy:
    root = _Reader(data, origin)
    ceiling = root.section("ceiling")
    pct = ceiling.int("monthly_wage_percent", optional=True)
    if pct is not None and pct > 100:
        ceiling.fail("monthly_wage_percent", "must be 0–100")
    th = root.section("thresholds")
    adm = th.section("admonishment")
    award = th.section("award_ineligible")
    worst = th.section("worst_of_month")
    dism = th.section("dismissal_review")
    trans = th.section("transfer_review")
    sq = root.section("service_quality")

    def ladder(name: str) -> Ladder:
        sec = sq.section(name)
        if "progressive" in sec.data:
            # It was a policy switch once; silently ignoring it would change
            # an override's meaning without a word.
            sec.fail("progressive", "how the charge grows is the catalogue rule's "
                                    f"progressive (rule {sec.data.get('code')})")
        return Ladder(sec.str("code"), sec.int("from_nth", 1))

    units = root.section("units")
    unit_award = units.section("award_ineligible")
    dress = units.section("dress_code")
    cut = units.section("admonishment").int("performance_pay_cut_percent")
    if cut > 100:
        units.fail("admonishment.performance_pay_cut_percent", "must be 0–100")
    notices = root.section("notices")
    att = sq.section("attitude_codes")
    attitude_codes = {k: att.str(k) for k in ("attitude", "abuse")}
    return Policy(
        ceiling_percent=pct,
        admonishment=Admonishment(
            adm.str("domain"), adm.points("min_points"),
            adm.int("min_subjective_failures", 1), adm.str("subjective_tag"),
            adm.strings("shares", SPLIT_SHARES)),
        award_ineligible=AwardIneligible(
            award.str("domain"), award.int("max_penalties"), award.points("max_points")),
        worst_of_month=WorstOfMonth(
            worst.str("complaint_code"), worst.int("min_complaints", 1),
            worst.str("fine_code")),
        dismissal_min_worst_months=dism.int("min_worst_months", 1),
        transfer_review=TransferReview(
            trans.int("admonished_years_running", 2),
            trans.int("same_accident_per_month", 1),
            trans.strings("same_accident_domains")),
        service_quality=ServiceQuality(
            complaint_code=sq.str("complaint_code"), fine_code=sq.str("fine_code"),
            fine_default=sq.str("fine_default", ("minimum", "none")),
            supervisor=ladder("supervisor"), group_leader=ladder("group_leader"),
            attitude_codes=attitude_codes,
            attitude_mode=sq.str("attitude_mode", ("add", "replace")),
            service_star_code=sq.str("service_star_code"),
            stars_per_unit=sq.int("stars_per_unit", 1)),
        units=Units(
            performance_pay_cut_percent=cut,
            award_ineligible=AwardIneligible(
                unit_award.str("domain"), unit_award.int("max_penalties"),
                unit_award.points("max_points")),
            dress_code=DressCode(dress.str("code"), dress.int("min_penalties", 1),
                                 dress.str("leader_code"))),
        damage_code=root.section("damage").str("code"),
        notices=_notices(notices),
        origin=origin)


def _notices(sec: _Reader) -> Notices:
    domains = sec.optional_strings("domains")
    sup = sec.section("supervisor")
    # A domain here but not in notices.domains books at once: there is no
    # notice to approve (a deployment switching notices off keeps this list).
    first = sup.optional_strings("domains")
    alone = sup.int("alone_up_to_yuan", optional=True)
    if alone is not None and not first:
        sup.fail("alone_up_to_yuan", "needs supervisor domains: without a supervisor's "
                                     "step the GM signs every notice")
    return Notices(domains, first, alone)


def check_against(policy: Policy, catalogs: Catalogs) -> None:
    """Every code and domain the policy names must be loaded; else ``ValueError``."""
    for code in sorted(policy.codes()):
        if catalogs.rule(code) is None:
            raise ValueError(f"{policy.origin}: code {code}: no loaded catalogue "
                             "defines it")
    for domain in (policy.admonishment.domain, policy.award_ineligible.domain,
                   policy.units.award_ineligible.domain,
                   *policy.transfer_review.same_accident_domains, *policy.notices.domains,
                   *policy.notices.supervisor_domains):
        if catalogs.domain(domain) is None:
            raise ValueError(f"{policy.origin}: domain {domain}: no loaded catalogue")
    damage = catalogs.rule(policy.damage_code)
    if damage.amount.unit != "yuan" or damage.kind != "penalty":
        raise ValueError(f"{policy.origin}: damage.code: {damage.code} must be a penalty "
                         "priced in yuan (the cost recorded)")
    leader = catalogs.rule(policy.units.dress_code.leader_code)
    if "unit_head" not in leader.charge or leader.kind != "penalty":
        raise ValueError(f"{policy.origin}: units.dress_code.leader_code: "
                         f"{leader.code} must be a penalty charged to the unit_head")
