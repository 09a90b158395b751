"""My work, my inbox, my ledger, my leave and my roster — and the decisions on my desk."""
from __future__ import annotations

from datetime import date, timedelta

from zhidu.times import local_tz

from .. import formats
from ..acting import Refusal
from ..duties import load_duties, may_approve_remedy, remedy_role, rule
from ..web import Page, safe_next

# Approvers outside the reporting line (decide_leave's roles in the attendance
# permissions file): the attendance service lists their queue by the role itself.
QUEUE_ROLES = ("gm", "group_leader")
# Owned complaints still in the owner's hands.
OWNED_STATUSES = ("assigned", "planned", "investigated", "remedy_proposed", "remedy_approved",
                  "reopened", "paused")
SUPERVISOR_LADDER = ("supervisor", "dept_manager", "deputy_gm", "gm")
# Who signs penalty notices after the supervisors (penalties' decide_notice
# roles, 001 §1 第十二条(二)); the service reads the whole queue for them.
NOTICE_SIGNERS = ("gm",)
AWAITING = "awaiting_approval"
MAX_REPORTS = 50
MAX_REMEDIES = 40
MAX_OWNED = 100


def _today(page: Page) -> date:
    return page.now.astimezone(local_tz()).date()


# -- my work -------------------------------------------------------------------------------
def work(page: Page):
    me = page.person
    desk = me.department in load_duties()["desk_departments"]
    reports = page.web.store.reports_of(me.id, MAX_REPORTS)
    calls = {"leave": [], "owned": [], "desk": []}
    for role in QUEUE_ROLES:
        if me.holds(role):
            calls["leave"].append(page.start("attendance", "list_leaves",
                                             {"status": "pending", "approver_role": role}))
    if me.holds("dept_manager") and me.department:
        calls["leave"].append(page.start("attendance", "list_leaves",
                                         {"status": "pending", "department": me.department}))
    for report in reports:
        calls["leave"].append(page.start("attendance", "list_leaves",
                                         {"status": "pending", "employee_id": report}))
    # 001 §1 第九条(六): a sanction goes to the person's supervisor first, so
    # anyone may have notices waiting at their step; the signers see the
    # notices the supervisors have passed on.
    sanctions = page.start("penalties", "list_notices", {"status": AWAITING,
                                                         "approver_id": me.id})
    notices = page.start("penalties", "list_notices", {"status": AWAITING}) \
        if me.holds(*NOTICE_SIGNERS) else None
    appeals = page.start("penalties", "list_appeals", {"status": "pending"}) \
        if me.holds("gm") else None
    # No contacts in these lists: nothing is read in full, so nothing audited.
    remedies = page.start("complaints", "search", {"status": "remedy_proposed",
                                                   "limit": MAX_REMEDIES, "contacts": False}) \
        if me.holds("dept_manager", "deputy_gm", "gm") else None
    for status in OWNED_STATUSES:
        calls["owned"].append(page.start("complaints", "search", {
            "status": status, "owner_id": me.id, "limit": MAX_OWNED, "contacts": False}))
    if desk:
        for status in ("received", "resolved"):
            calls["desk"].append(page.start("complaints", "search",
                                             {"status": status, "limit": 50,
                                              "contacts": False}))

    leaves = _leave_queue(me, reports, [c.result_or([]) for c in calls["leave"]])
    owned = [case for c in calls["owned"] for case in c.result_or([])]
    owned.sort(key=_nearest_due)
    mine_to_instruct = [_my_step(n, me.id) for n in _listed(sanctions.result_or([]), "notices")]
    to_sign = [n for n in _listed(notices.result_or([]), "notices")
               if _at_signing_step(n, me)] if notices else []
    desk_cases = [case for c in calls["desk"] for case in c.result_or([])]
    desk_cases.sort(key=_nearest_due)
    proposed = _remedy_queue(page, remedies.result_or([]) if remedies else [])
    approves_leave = bool(reports) or me.holds(*QUEUE_ROLES, "dept_manager")
    sections = [
        _section("leave", leaves, shown=approves_leave),
        _section("sanction", mine_to_instruct, shown=bool(mine_to_instruct)),
        _section("notice", to_sign, shown=me.holds(*NOTICE_SIGNERS)),
        _section("remedy", proposed, shown=remedies is not None),
        _section("complaint", owned),
        _section("validity", [c for c in desk_cases if c.get("status") == "received"],
                 shown=desk),
        _section("followup", [c for c in desk_cases if c.get("status") == "resolved"],
                 shown=desk),
        _section("appeal", _listed(appeals.result_or(None), "entries") if appeals else None,
                 shown=me.holds("gm")),
    ]
    sections = [s for s in sections if s["shown"]]
    people = {p for s in sections for item in s["items"] for p in _people_in(item)}
    names = page.web.store.names(people)
    return page.render("work.html", sections=sections, names=names,
                       pending=sum(len(s["items"]) for s in sections))


def _listed(reply, key: str):
    """A list reply, whether the service sends the list or wraps it (``{key: [...]}``)."""
    if isinstance(reply, dict):
        return reply.get(key) or []
    return reply


def _my_step(notice: dict, me: str) -> dict:
    """The notice with the people whose sanctions are this supervisor's to instruct on."""
    ids = [e for step in notice.get("steps") or [] if step.get("step") == "supervisor"
           and step.get("approver_id") == me and step.get("status") == "pending"
           for e in step.get("employee_ids") or []]
    return {**notice, "mine_ids": ids or list(notice.get("employee_ids") or [])}


def _at_signing_step(notice: dict, me) -> bool:
    """Waiting for the signature, not still for a supervisor (a notice drafted
    before notices had steps has none and waits for the signer)."""
    if (notice.get("step") or "gm") != "gm":
        return False
    signers = [r for r in str(notice.get("approver_role") or "").split(",") if r]
    return not signers or me.holds(*signers)


def _section(key: str, items, shown: bool = True) -> dict:
    return {"key": key, "items": items or [], "shown": shown and items is not None,
            "rule": rule(key if key != "validity" else "validity")}


def _people_in(item: dict) -> list[str]:
    out = [item.get("employee_id"), item.get("owner_id")]
    out += list(item.get("employee_ids") or [])
    return [p for p in out if isinstance(p, str)]


def _nearest_due(case: dict):
    dues = [d for d in (case.get("deadlines") or {}).values() if d]
    return min(dues) if dues else "9999"


def _leave_queue(me, reports: list[str], results: list[list[dict]]) -> list[dict]:
    """Pending leave whose next step is mine: my role's queue, or my reports' supervisor step."""
    found: dict[str, dict] = {}
    for leaves in results:
        for leave in leaves:
            found.setdefault(leave["leave_id"], leave)
    mine = []
    for leave in found.values():
        if leave["employee_id"] == me.id or leave.get("status") != "pending":
            continue
        step = leave.get("next_approver_role")
        if step in me.roles:
            mine.append(leave)
        elif step == "supervisor" and (leave["employee_id"] in reports
                                       or me.holds(*SUPERVISOR_LADDER[1:])):
            mine.append(leave)
    return sorted(mine, key=lambda lv: (lv.get("start") or "", lv["leave_id"]))


def _remedy_queue(page: Page, cases: list[dict]) -> list[dict]:
    me = page.person
    detail = [page.start("complaints", "get", {"number": c["number"]}) for c in cases]
    queue = []
    for case in (d.result_or(None) for d in detail):
        if not case or case.get("status") != "remedy_proposed" or not case.get("remedies"):
            continue
        remedy = case["remedies"][-1]
        proposer = _id_of(remedy.get("proposed_by"))
        amount = int(remedy.get("amount_yuan") or 0)
        if proposer == me.id or not may_approve_remedy(me.roles, amount, me.department):
            continue
        queue.append({"number": case["number"], "subject": case.get("subject"),
                      "remedy": remedy.get("remedy"), "amount_yuan": amount,
                      "needed": remedy_role(amount), "proposer": proposer,
                      "department": case.get("department"),
                      "deadlines": case.get("deadlines") or {}})
    return sorted(queue, key=_nearest_due)


def _id_of(who) -> str | None:
    return who.get("id") if isinstance(who, dict) else who


# -- decisions taken from "my work" ----------------------------------------------------------
def decide_leave(page: Page, leave_id: str):
    approve = page.form("approve") == "1"
    try:
        page.call("attendance", "decide_leave", {
            "leave_id": leave_id, "approve": approve, "at": page.now.isoformat(),
            "note": page.form("note") or None})
    except Refusal as refusal:
        page.flash_refusal(refusal)
    else:
        page.flash("ok", page.t("done.leave_approved" if approve else "done.leave_rejected",
                                leave_id=leave_id))
    return page.redirect(safe_next(page.form("next")))


def decide_notice(page: Page, notice_id: str):
    approve = page.form("approve") == "1"
    payload = {"notice_id": notice_id, "approve": approve, "at": page.now.isoformat(),
               "note": page.form("note") or None}
    if page.form("revision").isdigit():
        payload["revision"] = int(page.form("revision"))
    try:
        decided = page.call("penalties", "decide_notice", payload)
    except Refusal as refusal:
        page.flash_refusal(refusal)
    else:
        notice = (decided.get("notice") if isinstance(decided, dict) else None) or {}
        if not approve:
            done = "done.notice_rejected"
        elif notice.get("status") == AWAITING:
            done = "done.notice_forwarded"      # a supervisor's step: the GM signs next
        else:
            done = "done.notice_approved"
        page.flash("ok", page.t(done))
    return page.redirect(safe_next(page.form("next")))


def decide_appeal(page: Page, entry_id: str):
    upheld = page.form("upheld") == "1"
    try:
        page.call("penalties", "decide_appeal", {
            "entry_id": entry_id, "upheld": upheld, "note": page.form("note") or None,
            "at": page.now.isoformat()})
    except Refusal as refusal:
        page.flash_refusal(refusal)
    else:
        page.flash("ok", page.t("done.appeal_upheld" if upheld else "done.appeal_rejected"))
    return page.redirect(safe_next(page.form("next")))


# -- inbox ---------------------------------------------------------------------------------
def inbox(page: Page):
    unread = page.arg("unread") == "1"
    items = page.call("notifications", "inbox", {"recipient_id": page.person.id,
                                                  "unread_only": unread, "limit": 200})
    return page.render("inbox.html", items=items, unread_only=unread,
                       unread_count=sum(1 for i in items if not i.get("read")))


def inbox_item(page: Page, item_id: str):
    # Opening it is reading it: the recipient's own acknowledgement (mark_read).
    item = page.call("notifications", "mark_read", {"id": item_id})
    return page.render("inbox_item.html", item=item)


# -- ledger --------------------------------------------------------------------------------
def ledger(page: Page):
    today = _today(page)
    year = int(page.arg("year")) if page.arg("year").isdigit() else today.year
    account = page.call("penalties", "get_account", {"employee_id": page.person.id,
                                                     "year": year})
    entries = account.get("entries") or []
    reversed_ids = {e.get("reverses") for e in entries if e.get("reverses")}
    return page.render("ledger.html", account=account, entries=entries, year=year,
                       years=list(range(today.year, today.year - 4, -1)),
                       reversed_ids=reversed_ids, rule=rule("appeal"))


def appeal(page: Page, entry_id: str):
    reason = page.form("reason")
    if not reason:
        page.flash("error", page.t("invalid.appeal_reason"))
        return page.redirect("/ledger")
    try:
        page.call("penalties", "appeal", {"entry_id": entry_id, "reason": reason,
                                          "at": page.now.isoformat(),
                                          "request_id": f"appeal-{entry_id}"[:128]})
    except Refusal as refusal:
        page.flash_refusal(refusal)
    else:
        page.flash("ok", page.t("done.appealed"))
    return page.redirect(safe_next(page.form("next"), "/ledger"))


# -- leave ---------------------------------------------------------------------------------
def leave(page: Page, status: int = 200, errors: dict | None = None, values: dict | None = None):
    leaves = page.call("attendance", "list_leaves", {"employee_id": page.person.id})
    leaves.sort(key=lambda lv: lv.get("start") or "", reverse=True)
    year = str(_today(page).year)
    used: dict[str, dict] = {}
    for lv in leaves:
        if not (lv.get("start") or "").startswith(year):
            continue
        slot = used.setdefault(lv["type"], {"approved": 0, "pending": 0})
        if lv.get("status") in ("approved", "pending"):
            slot[lv["status"]] += int(lv.get("days") or 0)
    tomorrow = _today(page) + timedelta(days=3)
    names = page.web.store.names(a.get("actor_id") for lv in leaves
                                 for a in lv.get("approvals") or [])
    return page.render("leave.html", status=status, leaves=leaves, used=used, year=year,
                       names=names,
                       types=load_duties()["leave_types"], errors=errors or {},
                       values=values or {"start": tomorrow.isoformat(),
                                         "end": tomorrow.isoformat(), "type": "personal"},
                       rule=rule("leave"))


def request_leave(page: Page):
    values = {k: page.form(k) for k in ("type", "start", "end", "reason", "emergency",
                                        "seniority_year")}
    errors: dict[str, list[str]] = {}
    for name in ("type", "start", "end"):
        if not values[name]:
            errors.setdefault(name, []).append(page.t("invalid.required"))
    if values["start"] and values["end"] and values["end"] < values["start"]:
        errors.setdefault("end", []).append(page.t("invalid.end_before_start"))
    if errors:
        return leave(page, 400, errors, values)
    payload = {"employee_id": page.person.id, "type": values["type"], "start": values["start"],
               "end": values["end"], "reason": values["reason"] or None,
               "submitted_at": page.now.isoformat(), "emergency": bool(values["emergency"])}
    if values["type"] == "seniority" and values["seniority_year"]:
        payload["seniority_year"] = values["seniority_year"]
    try:
        made = page.call("attendance", "request_leave", payload)
    except Refusal as refusal:
        if refusal.kind == "ValidationError":
            from ..refusals import tell
            told = tell(refusal, page.t)
            return leave(page, 400, told.fields, values)
        raise
    page.flash("ok", page.t("done.leave_requested", leave_id=made["leave_id"],
                            approver=page.t.label("approver", made.get("approver_role"))))
    return page.redirect("/leave")


# -- roster --------------------------------------------------------------------------------
def roster(page: Page):
    today = _today(page)
    start = today.replace(day=1)
    end = (start + timedelta(days=62)).replace(day=1) - timedelta(days=1)
    entries = page.start("attendance", "get_roster", {
        "employee_id": page.person.id, "date_from": start.isoformat(),
        "date_to": end.isoformat()})
    shifts = page.start("attendance", "list_shifts", {})
    by_code = {s.get("code"): s for s in shifts.result_or([])}
    rows = sorted(entries.result(), key=lambda e: e.get("date") or "")
    return page.render("roster.html", rows=rows, shifts=by_code, start=start, end=end,
                       today=today.isoformat(), rule=rule("roster"), fmt_day=formats.day)
