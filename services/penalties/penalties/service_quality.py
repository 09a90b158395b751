"""Penalties and rewards that follow a complaint liability (004 二, 000 §6 七).

When ``complaints.liability_determined`` names employees, the service calls
``complaint_entries`` once per liable employee. For the n-th complaint against
that person in the month (n counted by ``prior_complaints`` + 1):

- C01 case fine, ``fine_yuan`` within 200–1500 (set by whoever determined
  liability). Decision: each liable employee is fined the amount given — the
  seed prices the case per responsible party (经职责归属处…/次). Without an
  amount the catalogue minimum is booked (policy ``fine_default: minimum``; the
  seed makes the fine mandatory) and a note says so;
- Q01 n × 5 points to the person;
- Q02 to the direct supervisor from the 2nd complaint on and Q03 to the group
  leader from the 3rd on, growing as the seed writes it (004 二.2: 第二次以后对
  直接责任主管…扣3分/次,之后按连续次数乘3分; 第三次…主管集团领导…扣3分/次,依次
  类推): the k-th joint charge along the person's complaints of the month
  costs k × 3, k = n - from_nth + 1 — the supervisor 3, 6, 9 … at the 2nd,
  3rd, 4th complaint, the group leader 3, 6 … at the 3rd, 4th. The growth is
  the catalogue rule's ``progressive``; a flat 3 per complaint is a catalogue
  override away;
- Q04 attitude 5 / Q05 abuse 10 points, on top of Q01 (policy
  ``attitude_mode: add``) or instead of it (``replace``).

A missing supervisor or group leader does not fail the booking: the share is
skipped and a note put on the person's first entry (same as for split shares).

Complaint number = incident id, so a redelivered event rebooks the same ids.
"Worst of the month" (Q06) is a threshold (see ``thresholds``), not booked here.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from zhidu.domain import DomainConflict, DomainValidation, Problems

from .booking import Booking, attach_notes, book, plan
from .catalog import Catalogs
from .ledger import live_entries
from .policy import Ladder, Policy

ATTITUDES = ("attitude", "abuse")


def prior_complaints(entries: Iterable[Mapping], employee_id: str, number: str,
                     year: int, month: int, policy: Policy) -> int:
    """n - 1 for complaint ``number`` against ``employee_id`` in (year, month).

    Counts the person's distinct live complaint incidents (Q01, individual
    share) of that month other than ``number``. If ``number`` is already
    booked (a redelivery), its stored ordinal minus one is returned instead,
    so the rebooked entries are identical to the first ones.
    """
    code = policy.service_quality.complaint_code
    mine = [e for e in live_entries(entries)
            if e["employee_id"] == employee_id and e["code"] == code
            and e["share"] == "individual" and e["year"] == year
            and e["month"] == month]
    for e in mine:
        if e["incident_id"] == number and e.get("basis", {}).get("nth"):
            return e["basis"]["nth"] - 1
    return len({e["incident_id"] for e in mine if e["incident_id"] != number})


def complaint_entries(liability: Mapping, catalogs: Catalogs, policy: Policy, *,
                      prior_complaints: int, context: Mapping | None = None
                      ) -> list[dict]:
    """Entries for one liable employee of one complaint.

    ``liability``: ``{number, employee_id, at, fine_yuan?, attitude?:
    None|"attitude"|"abuse", reporting_line?, actor?, source?}``.
    ``prior_complaints``: complaints against this employee earlier in the same
    month (see ``prior_complaints()``). Raises ``DomainValidation`` on bad input
    (fine outside 200–1500, unknown attitude ...).
    """
    sq = policy.service_quality
    p = Problems()
    if not isinstance(prior_complaints, int) or prior_complaints < 0:
        p.add("prior_complaints", "must be an integer >= 0")
    attitude = liability.get("attitude")
    if attitude is not None and attitude not in ATTITUDES:
        p.add("attitude", f"must be one of {', '.join(ATTITUDES)} or null")
    number = liability.get("number")
    if not isinstance(number, str) or not number:
        p.add("number", "required, the complaint number")
    p.raise_if_any()
    n = prior_complaints + 1

    common = {"employee_id": liability.get("employee_id"), "incident_id": number,
              "at": liability.get("at"),
              "reporting_line": liability.get("reporting_line"),
              "actor": liability.get("actor"),
              "source": liability.get("source", "complaints.liability_determined")}
    fine_rule = catalogs.rule(sq.fine_code)
    bookings: list[Booking] = []

    fine = liability.get("fine_yuan")
    if fine is not None or sq.fine_default == "minimum":
        try:
            bookings.append(plan({**common, "domain": fine_rule.domain,
                                  "codes": [sq.fine_code],
                                  "amount_yuan": fine}, catalogs, context))
        except DomainValidation as exc:
            # The caller's field is fine_yuan, not the incident's amount_yuan.
            raise DomainValidation({("fine_yuan" if k == "amount_yuan" else k): v
                                    for k, v in exc.errors.items()}) from exc

    def sq_plan(code: str, nth: int | None = None) -> Booking:
        return plan({**common, "domain": catalogs.rule(code).domain,
                     "codes": [code], "nth": nth}, catalogs, context)

    if attitude is None or sq.attitude_mode == "add":
        bookings.append(sq_plan(sq.complaint_code, n))
    if attitude is not None:
        bookings.append(sq_plan(sq.attitude_codes[attitude]))
    for ladder in (sq.supervisor, sq.group_leader):
        if n >= ladder.from_nth:
            bookings.append(_ladder_plan(ladder, n, common, catalogs, context))

    merged = Booking()
    for b in bookings:
        merged.entries.extend(b.entries)
        merged.notes.extend(b.notes)
    if not merged.entries:
        raise DomainValidation.one("employee_id", "nothing to book")
    attach_notes(merged)
    return merged.entries


def _ladder_plan(ladder: Ladder, n: int, common: dict, catalogs: Catalogs,
                 context) -> Booking:
    rule = catalogs.rule(ladder.code)
    incident = {**common, "domain": rule.domain, "codes": [ladder.code]}
    if rule.progressive:
        incident["nth"] = joint_charge_ordinal(ladder, n)
    return plan(incident, catalogs, context)


def joint_charge_ordinal(ladder: Ladder, n: int) -> int:
    """k: which joint charge of the leader the person's n-th complaint is."""
    return n - ladder.from_nth + 1


def star_streak(entries: Iterable[Mapping], employee_id: str, year: int,
                month: int, policy: Policy) -> int:
    """Months running the person is service star, ending with (year, month).

    004 二.3: 连续被评为服务明星的按连续次数乘500奖励,中断后重新累计 — the
    streak counts (year, month) itself plus the unbroken run of earlier live
    S01 awards right before it.
    """
    code = policy.service_quality.service_star_code
    won = {(e["year"], e["month"]) for e in live_entries(entries)
           if e["employee_id"] == employee_id and e["code"] == code}
    streak, y, m = 1, year, month
    while True:
        y, m = (y - 1, 12) if m == 1 else (y, m - 1)
        if (y, m) not in won:
            return streak
        streak += 1


def check_unit_stars(unit: str | None, employee_id: str, *, year: int, month: int,
                     unit_entries: Iterable[Mapping], policy: Policy) -> None:
    """004 二.3 各单位评出"服务明星"一名: a unit's stars of one month are at most
    ``stars_per_unit``; another one is refused, naming the rule.

    ``unit``: the unit of the person rated; ``unit_entries``: the unit's entries
    of the month rated (at least its live service stars). The same person's
    star again is no second star (it books nothing new); a star reversed on
    appeal frees its place. A person with no unit on record is refused too:
    whose one star it is cannot be told.
    """
    sq = policy.service_quality
    if not unit:
        raise DomainValidation.one("employee_id", f"{employee_id} has no unit on record: "
                                                  "the service star is one per unit "
                                                  "a month (004 二.3)")
    stars = sorted({e["employee_id"] for e in live_entries(unit_entries)
                    if e["code"] == sq.service_star_code and e.get("unit") == unit
                    and (e["year"], e["month"]) == (year, month)} - {employee_id})
    if len(stars) >= sq.stars_per_unit:
        raise DomainConflict(
            f"004 二.3: unit {unit} has its service star for {year}-{month:02d} already "
            f"({', '.join(stars)}); at most {sq.stars_per_unit} per unit a month")


def service_star_entries(employee_id: str, *, year: int, month: int, at,
                         previous: Iterable[Mapping], catalogs: Catalogs,
                         policy: Policy, unit: str | None = None,
                         context: Mapping | None = None) -> list[dict]:
    """The monthly service-star reward (n × 500 yuan for n months running).

    ``previous``: the person's earlier entries (at least the preceding months'
    S01). The incident id ``service_star:<year>-<month>`` makes the award
    once per person and month; the entry's year/month are the month rated
    even when ``at`` (the announcement) falls in the next one.
    """
    code = policy.service_quality.service_star_code
    n = star_streak(previous, employee_id, year, month, policy)
    incident = {"domain": catalogs.rule(code).domain, "codes": [code],
                "employee_id": employee_id, "at": at, "nth": n,
                "incident_id": f"service_star:{year}-{month:02d}",
                "note": f"unit {unit}" if unit else None, "source": "service_star"}
    entries = book(incident, catalogs, context)
    for e in entries:
        # The award belongs to the month rated, even when announced later.
        e["year"], e["month"] = year, month
    return entries
