"""Attendance and meeting policy: the YAML under ``rules/`` as validated objects.

Every number the rules use (points, minutes, day counts, approval tiers,
deadlines) lives in ``rules/attendance.yaml`` and ``rules/meetings.yaml`` so a
company tunes them without touching code (rules.md preamble). Loading checks
every key, refuses unknown ones (a typo must not silently fall back to a
default) and raises ``ValueError`` naming the offending key, e.g.
``attendance.yaml: clocking.grace_minutes: expected an integer >= 0, got -1``.

The only I/O in the domain is reading the file whose path the caller passes.
:func:`load_rules` gathers everything a worker needs (both policies and the
working calendar) from the files configuration names; the service hands it to
``zhidu.rulebook.RuleBook``, so a broken file stops the service at start,
naming the key, instead of failing the first request.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from zhidu.calendar import WorkingCalendar, load_calendar
from zhidu.config import setting

from .standing import StandingMeeting, standing_meetings

RULES_DIR = Path(__file__).with_name("rules")

# Codes the domain books by itself; the catalogue must define them.
ATTENDANCE_CODES = ("A01", "A02", "A03", "A04", "R01", "R02", "R04")
MEETING_CODES = ("M01", "M02", "M03", "M04", "M05", "M06")
COMBINE_MODES = ("sum", "max")
COUNT_MODES = ("working_days", "calendar_days")
ABSENCE_WINDOWS = ("calendar_year", "rolling")


# -- value objects -------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    title_zh: str
    title_en: str
    points: int
    source: str = ""
    applies_to: tuple[str, ...] = ("employee",)

    def as_dict(self) -> dict:
        return {"code": self.code, "name": self.name, "title_zh": self.title_zh,
                "title_en": self.title_en, "points": self.points,
                "source": self.source, "applies_to": list(self.applies_to)}


@dataclass(frozen=True)
class Catalogue:
    domain: str
    combine: str
    point_value_yuan: int
    rules: Mapping[str, Rule]

    def rule(self, code: str) -> Rule:
        return self.rules[code]

    def as_list(self) -> list[dict]:
        """The shape ``catalog({})`` replies with and penalties mirrors."""
        return [dict(r.as_dict(), domain=self.domain) for r in self.rules.values()]


@dataclass(frozen=True)
class ClockingPolicy:
    late_early_limit_minutes: int = 30
    grace_minutes: int = 0
    off_post_limit_minutes: int = 30
    window_before_minutes: int = 240
    window_after_minutes: int = 480


@dataclass(frozen=True)
class AbsencePolicy:
    dismissal_after_days: int = 3
    window: str = "calendar_year"
    rolling_days: int = 365


@dataclass(frozen=True)
class RosterPolicy:
    change_approver_role: str = "supervisor"
    holiday_lead_days: int = 7
    require_every_holiday_day: bool = True
    holidays: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApprovalTier:
    min_days: int
    roles: tuple[str, ...]


@dataclass(frozen=True)
class LeaveType:
    name: str
    title_zh: str
    title_en: str
    count: str
    approvals: tuple[ApprovalTier, ...]
    proof_working_days: int | None = None
    convert_to: str | None = None
    approve_before_start: bool = False
    emergency_allowed: bool = False
    emergency_consent_role: str | None = None
    advance_min_days: int | None = None
    advance_days_ahead: int | None = None


@dataclass(frozen=True)
class SeniorityPolicy:
    parts: tuple[tuple[int, int], ...] = ((10, 2), (15, 3))
    previous_year_parts: int = 1
    carry_over_approver: str = "gm"

    def max_parts(self, entitlement_days: int) -> int:
        for up_to, max_parts in self.parts:
            if entitlement_days <= up_to:
                return max_parts
        return self.parts[-1][1]


# Who may hold a duty: these words name a standing towards the department
# concerned; any other word is a role (gm, gm_office, deputy_gm …).
DEPARTMENT_HEAD, DEPARTMENT_CLERK, SUPERVISOR_TERM = \
    "department_head", "department_clerk", "supervisor"
REVIEW_KINDS = ("daily", "monthly", "spot_check")


@dataclass(frozen=True)
class ChainStep:
    """One step of the monthly sheet's chain after the clerk's submission."""

    step: str
    holders: tuple[str, ...]
    working_days: int


@dataclass(frozen=True)
class IrregularPolicy:
    """A sheet sent back by one of ``returned_by`` is an irregular record
    (000 §2 六.1); the first ``booked_per_year`` of a department's year book
    ``rule``. Empty ``returned_by``: none is detected."""

    rule: str = "R02"
    returned_by: tuple[str, ...] = ()
    booked_per_year: int = 1


@dataclass(frozen=True)
class ReportPolicy:
    due_day: int = 30
    departments: Mapping[str, int] = field(default_factory=dict)
    rule: str = "R01"
    chain: tuple[ChainStep, ...] = ()
    irregular: IrregularPolicy = IrregularPolicy()
    # 000 §2 六.4: a leave misreported on a submitted sheet; None: not detected.
    misreport_rule: str | None = None

    def due_day_for(self, department: str | None) -> int:
        return self.departments.get(department or "", self.due_day)

    def step(self, name: str) -> ChainStep:
        return next(s for s in self.chain if s.step == name)


@dataclass(frozen=True)
class HandoverPolicy:
    arrive_early_minutes: int = 10


@dataclass(frozen=True)
class Post:
    code: str
    department: str
    title_zh: str
    title_en: str


@dataclass(frozen=True)
class ReviewDuty:
    """A review of a post's duty log: who makes it and by when."""

    kind: str
    reviewers: tuple[str, ...]
    due_days: int | None = None       # daily: days after the logged day
    due_day: int | None = None        # monthly kinds: day of the following month
    min_percent: int | None = None    # spot check: share of the logged days


@dataclass(frozen=True)
class DutyLogPolicy:
    posts: Mapping[str, Post] = field(default_factory=dict)
    reviews: Mapping[str, ReviewDuty] = field(default_factory=dict)

    def post(self, code: str | None) -> Post | None:
        return self.posts.get(code or "")


@dataclass(frozen=True)
class OutingPolicy:
    approver: str = SUPERVISOR_TERM
    approver_by_role: Mapping[str, str] = field(default_factory=dict)
    max_hours: int = 8

    def approver_for(self, employee_role: str | None) -> str:
        return self.approver_by_role.get(employee_role or "", self.approver)


@dataclass(frozen=True)
class ReminderPolicy:
    every_hours: int = 24
    at_most: int = 3


@dataclass(frozen=True)
class AttendancePolicy:
    catalogue: Catalogue
    ladder: tuple[str, ...]
    clocking: ClockingPolicy
    absence: AbsencePolicy
    roster: RosterPolicy
    leave_types: Mapping[str, LeaveType]
    seniority: SeniorityPolicy
    reports: ReportPolicy
    handover: HandoverPolicy
    duty_log: DutyLogPolicy = DutyLogPolicy()
    outings: OutingPolicy = OutingPolicy()
    reminders: ReminderPolicy = ReminderPolicy()

    def leave_type(self, name: str) -> LeaveType:
        return self.leave_types[name]


@dataclass(frozen=True)
class MeetingPolicy:
    catalogue: Catalogue
    seated_early_minutes: int
    max_minutes: Mapping[str, int]
    max_penalties: int
    max_points: int
    # 000 §3 八: minutes the day after; who owes them when no minute taker is named.
    minutes_due_days: int = 1
    minutes_holders: tuple[str, ...] = ("gm_office",)
    # 000 §3 四: the regular meetings, held as a standing schedule (standing.py).
    standing: tuple[StandingMeeting, ...] = ()


# -- reading -------------------------------------------------------------------
class _Section:
    """A mapping plus its dotted path, so every complaint names the key."""

    def __init__(self, data: Any, path: str, source: str):
        self.source, self.path = source, path
        if data is None:
            data = {}
        if not isinstance(data, dict):
            self.fail("", f"expected a mapping, got {type(data).__name__}")
        self.data = data

    def where(self, key: str) -> str:
        return ".".join(p for p in (self.path, key) if p)

    def fail(self, key: str, message: str):
        raise ValueError(f"{self.source}: {self.where(key) or '<root>'}: {message}")

    def only(self, *allowed: str) -> None:
        for key in self.data:
            if key not in allowed:
                self.fail(str(key), f"unknown key (allowed: {', '.join(allowed)})")

    def section(self, key: str, required: bool = False) -> _Section:
        if required and key not in self.data:
            self.fail(key, "missing")
        return _Section(self.data.get(key), self.where(key), self.source)

    def integer(self, key: str, default: int | None = None, minimum: int = 0,
                maximum: int | None = None) -> int:
        value = self.data.get(key, default)
        if value is None:
            self.fail(key, "missing")
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum \
                or (maximum is not None and value > maximum):
            bound = f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum else "")
            self.fail(key, f"expected {bound}, got {value!r}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            self.fail(key, f"expected true or false, got {value!r}")
        return value

    def text(self, key: str, default: str | None = None, choices=None) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"expected a non-empty string, got {value!r}")
        if choices and value not in choices:
            self.fail(key, f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def strings(self, key: str, default=None, allow_empty: bool = False) -> tuple[str, ...]:
        value = self.data.get(key, default)
        if not isinstance(value, list) or (not value and not allow_empty) or \
                not all(isinstance(v, str) and v.strip() for v in value):
            self.fail(key, f"expected a list of non-empty strings, got {value!r}")
        return tuple(value)

    def items(self, key: str) -> list[_Section]:
        value = self.data.get(key)
        if not isinstance(value, list) or not value:
            self.fail(key, "expected a non-empty list")
        return [_Section(v, f"{self.where(key)}[{i}]", self.source)
                for i, v in enumerate(value)]


def _read_yaml(path: Path) -> tuple[dict, str]:
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"{path.name}: expected a mapping at the top level")
    return data, path.name


def _catalogue(root: _Section, required_codes: tuple[str, ...]) -> Catalogue:
    rules: dict[str, Rule] = {}
    names: set[str] = set()
    for item in root.items("catalogue"):
        item.only("code", "name", "title_zh", "title_en", "points", "source", "applies_to")
        rule = Rule(code=item.text("code"), name=item.text("name"),
                    title_zh=item.text("title_zh"), title_en=item.text("title_en"),
                    points=item.integer("points"), source=str(item.data.get("source", "")),
                    applies_to=item.strings("applies_to", ["employee"]))
        if rule.code in rules:
            item.fail("code", f"duplicate code {rule.code}")
        if rule.name in names:
            item.fail("name", f"duplicate name {rule.name}")
        rules[rule.code] = rule
        names.add(rule.name)
    for code in required_codes:
        if code not in rules:
            root.fail("catalogue", f"rule {code} is required by the domain but missing")
    return Catalogue(domain=root.text("domain"), combine=root.text("combine", "sum", COMBINE_MODES),
                     point_value_yuan=root.integer("point_value_yuan", 10),
                     rules=MappingProxyType(rules))


def _approval_tiers(entry: _Section) -> tuple[ApprovalTier, ...]:
    tiers = []
    for item in entry.items("approvals"):
        item.only("min_days", "roles")
        tiers.append(ApprovalTier(item.integer("min_days", minimum=1), item.strings("roles")))
    if [t.min_days for t in tiers] != sorted({t.min_days for t in tiers}):
        entry.fail("approvals", "tiers must have strictly increasing min_days")
    if tiers[0].min_days != 1:
        entry.fail("approvals", "the first tier must start at min_days: 1")
    return tuple(tiers)


def _leave_type(name: str, entry: _Section) -> LeaveType:
    entry.only("title_zh", "title_en", "count", "approvals", "proof_working_days",
               "convert_to", "approve_before_start", "emergency_allowed",
               "emergency_consent_role", "advance_notice")
    notice = entry.section("advance_notice")
    notice.only("min_days", "days_ahead")
    has_notice = bool(notice.data)
    emergency = entry.boolean("emergency_allowed", False)
    return LeaveType(
        name=name, title_zh=entry.text("title_zh"), title_en=entry.text("title_en"),
        count=entry.text("count", "working_days", COUNT_MODES),
        approvals=_approval_tiers(entry),
        proof_working_days=(entry.integer("proof_working_days", minimum=1)
                            if "proof_working_days" in entry.data else None),
        convert_to=entry.text("convert_to") if "convert_to" in entry.data else None,
        approve_before_start=entry.boolean("approve_before_start", False),
        emergency_allowed=emergency,
        emergency_consent_role=(entry.text("emergency_consent_role", "supervisor")
                                if emergency else None),
        advance_min_days=notice.integer("min_days", minimum=1) if has_notice else None,
        advance_days_ahead=notice.integer("days_ahead") if has_notice else None,
    )


def attendance_policy_from_dict(data: dict, source: str = "attendance.yaml") -> AttendancePolicy:
    """Validate an already-parsed attendance policy (tests build variants this way)."""
    root = _Section(data, "", source)
    root.only("version", "domain", "combine", "point_value_yuan", "catalogue", "authority",
              "clocking", "absence", "roster", "leave", "reports", "handover", "duty_log",
              "outings", "reminders")
    root.integer("version", minimum=1, maximum=1)
    catalogue = _catalogue(root, ATTENDANCE_CODES)

    authority = root.section("authority", required=True)
    authority.only("ladder")
    ladder = authority.strings("ladder")
    if len(set(ladder)) != len(ladder):
        authority.fail("ladder", "roles must be unique")

    clk = root.section("clocking")
    clk.only(*ClockingPolicy.__dataclass_fields__)
    clocking = ClockingPolicy(**{k: clk.integer(k, getattr(ClockingPolicy, k))
                                 for k in ClockingPolicy.__dataclass_fields__})

    ab = root.section("absence")
    ab.only("dismissal_after_days", "window", "rolling_days")
    absence = AbsencePolicy(ab.integer("dismissal_after_days", 3),
                            ab.text("window", "calendar_year", ABSENCE_WINDOWS),
                            ab.integer("rolling_days", 365, minimum=1))

    ro = root.section("roster")
    ro.only("change_approver_role", "holiday_lead_days", "require_every_holiday_day", "holidays")
    roster = RosterPolicy(ro.text("change_approver_role", "supervisor"),
                          ro.integer("holiday_lead_days", 7),
                          ro.boolean("require_every_holiday_day", True),
                          ro.strings("holidays", [], allow_empty=True))

    lv = root.section("leave", required=True)
    lv.only("types", "seniority")
    types_section = lv.section("types", required=True)
    types = {str(name): _leave_type(str(name), types_section.section(str(name)))
             for name in types_section.data}
    for name in ("seniority", "sick", "personal"):
        if name not in types:
            types_section.fail(name, "this leave type is required (000 §2 四)")
    for name, kind in types.items():
        if kind.convert_to and kind.convert_to not in types:
            types_section.fail(f"{name}.convert_to", f"unknown leave type {kind.convert_to!r}")
    if types["sick"].proof_working_days is None or types["sick"].convert_to is None:
        types_section.fail("sick", "needs proof_working_days and convert_to")

    sen = lv.section("seniority")
    sen.only("parts", "previous_year_parts", "carry_over_approver")
    parts = []
    for item in sen.items("parts"):
        item.only("up_to_days", "max_parts")
        parts.append((item.integer("up_to_days", minimum=1), item.integer("max_parts", minimum=1)))
    if [p[0] for p in parts] != sorted({p[0] for p in parts}):
        sen.fail("parts", "tiers must have strictly increasing up_to_days")
    seniority = SeniorityPolicy(tuple(parts), sen.integer("previous_year_parts", 1, minimum=1),
                                sen.text("carry_over_approver", "gm"))

    rep = root.section("reports").section("monthly")
    rep.only("due_day", "departments", "rule", "chain", "irregular", "misreport")
    departments = rep.section("departments")
    chain = _chain(rep)
    misreport = rep.section("misreport")
    misreport.only("rule")
    reports = ReportPolicy(
        due_day=rep.integer("due_day", 30, minimum=1, maximum=31),
        departments=MappingProxyType({str(d): departments.integer(str(d), minimum=1, maximum=31)
                                      for d in departments.data}),
        rule=rep.text("rule", "R01"), chain=chain,
        irregular=_irregular(rep.section("irregular"), chain, catalogue),
        misreport_rule=misreport.text("rule") if misreport.data else None)
    if reports.rule not in catalogue.rules:
        rep.fail("rule", f"{reports.rule} is not in the catalogue")
    if reports.misreport_rule is not None and reports.misreport_rule not in catalogue.rules:
        misreport.fail("rule", f"{reports.misreport_rule} is not in the catalogue")

    ho = root.section("handover")
    ho.only("arrive_early_minutes")
    handover = HandoverPolicy(ho.integer("arrive_early_minutes", 10, maximum=24 * 60))

    return AttendancePolicy(catalogue=catalogue, ladder=ladder, clocking=clocking,
                            absence=absence, roster=roster,
                            leave_types=MappingProxyType(types), seniority=seniority,
                            reports=reports, handover=handover,
                            duty_log=_duty_log(root.section("duty_log", required=True)),
                            outings=_outings(root.section("outings", required=True)),
                            reminders=_reminders(root.section("reminders")))


def _chain(rep: _Section) -> tuple[ChainStep, ...]:
    """The steps after the clerk's submission (000 §2 五.1), in order."""
    steps = []
    for item in rep.items("chain"):
        item.only("step", "holders", "working_days")
        step = ChainStep(item.text("step"), item.strings("holders"),
                         item.integer("working_days", minimum=0, maximum=60))
        if step.step in {s.step for s in steps} | {"submission"}:
            item.fail("step", f"duplicate or reserved step name {step.step!r}")
        if DEPARTMENT_CLERK in step.holders:
            item.fail("holders", "the clerk submits the sheet; a later step is someone else's")
        steps.append(step)
    return tuple(steps)


def _irregular(section: _Section, chain: tuple[ChainStep, ...],
               catalogue: Catalogue) -> IrregularPolicy:
    """Which returns of the sheet are irregular records (000 §2 六.1)."""
    if not section.data:
        return IrregularPolicy()
    section.only("rule", "returned_by", "booked_per_year")
    policy = IrregularPolicy(section.text("rule"),
                             section.strings("returned_by", [], allow_empty=True),
                             section.integer("booked_per_year", 1, maximum=366))
    if policy.rule not in catalogue.rules:
        section.fail("rule", f"{policy.rule} is not in the catalogue")
    steps = {s.step for s in chain}
    for step in policy.returned_by:
        if step not in steps:
            section.fail("returned_by", f"{step!r} is not a step of the chain "
                                        f"({', '.join(sorted(steps))})")
    return policy


def _duty_log(section: _Section) -> DutyLogPolicy:
    section.only("posts", "reviews")
    posts_section = section.section("posts", required=True)
    posts = {}
    for code in posts_section.data:
        entry = posts_section.section(str(code))
        entry.only("department", "title_zh", "title_en")
        posts[str(code)] = Post(str(code), entry.text("department"), entry.text("title_zh"),
                                entry.text("title_en"))
    if not posts:
        section.fail("posts", "at least one post is required")
    reviews_section = section.section("reviews", required=True)
    reviews_section.only(*REVIEW_KINDS)
    reviews = {}
    for kind in REVIEW_KINDS:
        entry = reviews_section.section(kind, required=True)
        if kind == "daily":
            entry.only("reviewers", "due_days")
            reviews[kind] = ReviewDuty(kind, entry.strings("reviewers"),
                                       due_days=entry.integer("due_days", 1, maximum=31))
            continue
        allowed = ("reviewers", "due_day") + (("min_percent",) if kind == "spot_check" else ())
        entry.only(*allowed)
        reviews[kind] = ReviewDuty(
            kind, entry.strings("reviewers"),
            due_day=entry.integer("due_day", 5, minimum=1, maximum=31),
            min_percent=(entry.integer("min_percent", 20, minimum=1, maximum=100)
                         if kind == "spot_check" else None))
    return DutyLogPolicy(MappingProxyType(posts), MappingProxyType(reviews))


def _outings(section: _Section) -> OutingPolicy:
    section.only("approver", "approver_by_role", "max_hours")
    by_role = section.section("approver_by_role")
    return OutingPolicy(
        approver=section.text("approver", SUPERVISOR_TERM),
        approver_by_role=MappingProxyType({str(r): by_role.text(str(r)) for r in by_role.data}),
        max_hours=section.integer("max_hours", 8, minimum=1, maximum=24))


def _reminders(section: _Section) -> ReminderPolicy:
    section.only("every_hours", "at_most")
    return ReminderPolicy(section.integer("every_hours", 24, minimum=1, maximum=24 * 31),
                          section.integer("at_most", 3, minimum=1, maximum=100))


def meeting_policy_from_dict(data: dict, source: str = "meetings.yaml") -> MeetingPolicy:
    root = _Section(data, "", source)
    root.only("version", "domain", "combine", "point_value_yuan", "catalogue", "meetings")
    root.integer("version", minimum=1, maximum=1)
    catalogue = _catalogue(root, MEETING_CODES)
    mt = root.section("meetings", required=True)
    mt.only("seated_early_minutes", "kinds", "award_threshold", "minutes", "standing")
    kinds_section = mt.section("kinds", required=True)
    kinds = {}
    for name in kinds_section.data:
        kind = kinds_section.section(str(name))
        kind.only("max_minutes")
        kinds[str(name)] = kind.integer("max_minutes", minimum=1)
    if not kinds:
        mt.fail("kinds", "at least one meeting kind is required")
    threshold = mt.section("award_threshold", required=True)
    threshold.only("max_penalties", "max_points")
    minutes = mt.section("minutes", required=True)
    minutes.only("due_days", "holders")
    return MeetingPolicy(catalogue=catalogue,
                         seated_early_minutes=mt.integer("seated_early_minutes", 10),
                         max_minutes=MappingProxyType(kinds),
                         max_penalties=threshold.integer("max_penalties"),
                         max_points=threshold.integer("max_points"),
                         minutes_due_days=minutes.integer("due_days", maximum=31),
                         minutes_holders=minutes.strings("holders"),
                         standing=standing_meetings(mt.section("standing"), kinds))


def load_attendance_policy(path: str | os.PathLike | None = None) -> AttendancePolicy:
    """Read and validate ``path`` (default: the shipped ``rules/attendance.yaml``)."""
    data, name = _read_yaml(Path(path or RULES_DIR / "attendance.yaml"))
    return attendance_policy_from_dict(data, name)


def load_meeting_policy(path: str | os.PathLike | None = None) -> MeetingPolicy:
    """Read and validate ``path`` (default: the shipped ``rules/meetings.yaml``)."""
    data, name = _read_yaml(Path(path or RULES_DIR / "meetings.yaml"))
    return meeting_policy_from_dict(data, name)


@dataclass(frozen=True)
class AttendanceRules:
    """The rules a worker sees: attendance and meeting policy, and the calendar."""

    attendance: AttendancePolicy
    meetings: MeetingPolicy
    calendar: WorkingCalendar

    @property
    def tz(self):
        return self.calendar.tz


def load_rules(config: dict | None = None) -> AttendanceRules:
    """From ``ZHIDU_ATTENDANCE_RULES``, ``ZHIDU_MEETING_RULES`` and
    ``ZHIDU_CALENDAR_FILE``; unset → the shipped defaults."""
    return AttendanceRules(
        attendance=load_attendance_policy(setting(config, "ZHIDU_ATTENDANCE_RULES") or None),
        meetings=load_meeting_policy(setting(config, "ZHIDU_MEETING_RULES") or None),
        calendar=load_calendar(setting(config, "ZHIDU_CALENDAR_FILE") or None))
