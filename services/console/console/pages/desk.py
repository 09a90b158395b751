"""The complaint desk: the 客户抱怨处理表, the case with its clocks, and each step."""
from __future__ import annotations

import uuid

from zhidu.times import local_tz

from .. import intake, steps
from ..acting import Refusal
from ..clocks import case_countdowns
from ..duties import load_duties, remedy_role, rule
from ..refusals import field_message, tell
from ..web import Page

FILTER_STATUSES = ("received", "accepted", "assigned", "planned", "investigated",
                   "remedy_proposed", "remedy_approved", "resolved", "reopened", "paused",
                   "closed", "rejected")


def listing(page: Page):
    status = page.arg("status") if page.arg("status") in FILTER_STATUSES else ""
    department = page.arg("department")
    query = {"limit": 100}
    if status:
        query["status"] = status
    if department:
        query["department"] = department
    cases = page.call("complaints", "search", query)
    return page.render("complaints.html", cases=cases, status_filter=status,
                       department=department, statuses=FILTER_STATUSES)


def _local_now(page: Page) -> str:
    return page.now.astimezone(local_tz()).strftime("%Y-%m-%dT%H:%M")


def new(page: Page, status: int = 200, values: dict | None = None,
        errors: dict | None = None, told=None):
    values = values or {"received_at": _local_now(page), "channel": "phone",
                        "kind": "external", "category": "service",
                        "complainant_region": "domestic"}
    values.setdefault("request_id", uuid.uuid4().hex)
    return page.render("complaint_new.html", status=status, values=values,
                       errors=errors or {}, told=told, options=intake.options(),
                       rule=rule("intake"), major=intake.major_by_households(
                           {"households_affected": int(values.get("households_affected"))}
                           if str(values.get("households_affected") or "").isdigit() else {}))


def check(page: Page):
    """As the clerk types: the form's problems, rendered into the form's error slots."""
    payload, errors = intake.read(page.request.form)
    touched = set(page.request.form.getlist("touched")) or set(page.request.form)
    shown = {name: msgs for name, msgs in errors.items() if name in touched}
    return page.render("complaint_checks.html", errors=shown, fields=intake.FIELDS,
                       quality=payload.get("category") == "quality",
                       major=bool(payload.get("major") or payload.get("major_reason")
                                  or intake.major_by_households(payload)))


def file(page: Page):
    values = {name: page.form(name) for name in (*intake.FIELDS, "request_id")}
    payload, errors = intake.read(page.request.form)
    if errors:
        return new(page, 400, values, {k: [page.t(m) for m in v] for k, v in errors.items()})
    try:
        filed = page.call("complaints", "file", payload)
    except Refusal as refusal:
        told = tell(refusal, page.t)
        if refusal.kind == "ValidationError":
            errors = {name: [field_message(str(m), page.t) for m in messages]
                      for name, messages in intake.form_errors(refusal.fields).items()}
            return new(page, 400, values, errors, told)
        return new(page, 403 if refusal.kind == "PermissionDenied" else 409, values, {}, told)
    page.flash("ok", page.t("done.filed", number=filed["number"]))
    return page.redirect(f"/complaints/{filed['number']}")


def case(page: Page, number: str, status: int = 200, told=None, open_step: str = "",
         values: dict | None = None, errors: dict | None = None):
    found = page.call("complaints", "get", {"number": number})
    countdowns = case_countdowns(found, page.now)
    offered = steps.offered(found, page.person)
    people = [found.get("owner_id")]
    people += [(h.get("actor") or {}).get("id") for h in found.get("history") or []]
    people += [r.get(k) for r in found.get("remedies") or [] for k in ("proposed_by",
                                                                         "approved_by")]
    names = page.web.store.names(p for p in people if isinstance(p, str))
    contacts_full = page.person.holds("it_admin", "info_officer")
    return page.render("complaint.html", status=status, case=found, countdowns=countdowns,
                       offered=offered, told=told, open_step=open_step, values=values or {},
                       errors=errors or {}, names=names, contacts_full=contacts_full,
                       rules={k: rule(k) for k in ("complaint", "remedy", "confidentiality",
                                                   "followup", "validity", "feedback")},
                       desk=page.person.department in load_duties()["desk_departments"],
                       remedy_role=remedy_role)


def step(page: Page, number: str, name: str):
    chosen = steps.BY_NAME.get(name)
    if chosen is None:
        return case(page, number, 404)
    payload, problems = steps.payload(chosen, page.request.form, number, page.now.isoformat())
    values = {f: page.form(f) for f in chosen.fields}
    if problems:
        errors = {k: [page.t(m) for m in v] for k, v in problems.items()}
        return case(page, number, 400, open_step=name, values=values, errors=errors)
    try:
        page.call("complaints", name, payload)
    except Refusal as refusal:
        if refusal.kind == "Unauthenticated":
            raise
        told = tell(refusal, page.t)
        code = {"PermissionDenied": 403, "Conflict": 409, "ValidationError": 400}.get(
            refusal.kind, 503)
        return case(page, number, code, told=told, open_step=name, values=values,
                    errors=told.fields)
    page.flash("ok", page.t("done.step", step=page.t.label("operation", name)))
    return page.redirect(f"/complaints/{number}")
