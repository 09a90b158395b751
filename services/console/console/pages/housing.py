"""The dormitory desk: inspections against the D01–D17 catalogue, beds assigned and released."""
from __future__ import annotations

from zhidu.times import local_tz

from ..acting import Refusal
from ..duties import rule
from ..refusals import tell
from ..web import Page


def _local_now(page: Page) -> str:
    return page.now.astimezone(local_tz()).strftime("%Y-%m-%dT%H:%M")


def desk(page: Page, status: int = 200, told=None):
    admin = page.person.holds("dorm_admin")
    rooms = page.start("dormitory", "list_rooms", {}) if admin else None
    catalog = page.start("dormitory", "catalog", {})
    building, room_no = page.arg("building"), page.arg("room_no")
    room = _room(page, building, room_no) if building and room_no else None
    return page.render("dormitory.html", status=status, told=told, admin=admin,
                       rooms=rooms.result_or([]) if rooms else [], catalog=catalog.result(),
                       room=room, building=building, room_no=room_no,
                       now_local=_local_now(page),
                       rules={k: rule(k) for k in ("inspection", "beds")})


def _room(page: Page, building: str, room_no: str):
    try:
        return page.call("dormitory", "get_room", {"building": building, "room_no": room_no})
    except Refusal as refusal:
        if refusal.kind == "Unauthenticated":
            raise
        return {"told": tell(refusal, page.t)}


def room(page: Page):
    """The inspection sheet for one room, its occupants listed (htmx fragment)."""
    building, room_no = page.arg("building"), page.arg("room_no")
    found = _room(page, building, room_no) if building and room_no else None
    catalog = page.call("dormitory", "catalog", {})
    return page.render("dormitory_sheet.html", room=found, catalog=catalog,
                       building=building, room_no=room_no, now_local=_local_now(page))


def inspect(page: Page):
    form = page.request.form
    building, room_no = page.form("building"), page.form("room_no")
    findings = []
    for code in form.getlist("code"):
        finding = {"code": code}
        named = [e for e in form.getlist(f"who_{code}") if e]
        if named:
            finding["employee_ids"] = named
        note = (form.get(f"note_{code}") or "").strip()
        if note:
            finding["note"] = note[:500]
        findings.append(finding)
    payload = {"building": building, "room_no": room_no, "inspector_id": page.person.id,
               "at": page.form("at") or page.now.isoformat(), "findings": findings,
               "request_id": page.form("request_id") or None}
    try:
        done = page.call("dormitory", "record_inspection", payload)
    except Refusal as refusal:
        if refusal.kind == "Unauthenticated":
            raise
        page.flash_refusal(refusal)
    else:
        page.flash("ok", page.t("done.inspected", count=len(done.get("violations") or [])))
    return page.redirect(f"/dormitory?building={building}&room_no={room_no}")


def beds(page: Page, action: str):
    employee_id = page.form("employee_id")
    at = page.form("at") or page.now.isoformat()
    if action == "assign":
        payload = {"employee_id": employee_id, "building": page.form("building"),
                   "room_no": page.form("room_no"), "at": at}
        if page.form("bed_no").isdigit():
            payload["bed_no"] = int(page.form("bed_no"))
        method, done_key = "assign_bed", "done.bed_assigned"
    elif action == "release":
        payload = {"employee_id": employee_id, "at": at,
                   "reason": page.form("reason") or "moved_out"}
        method, done_key = "release_bed", "done.bed_released"
    else:
        return desk(page, 404)
    try:
        done = page.call("dormitory", method, payload)
    except Refusal as refusal:
        if refusal.kind == "Unauthenticated":
            raise
        page.flash_refusal(refusal)
    else:
        page.flash("ok", page.t(done_key, employee_id=employee_id,
                                building=done.get("building", ""),
                                room_no=done.get("room_no", ""),
                                bed_no=done.get("bed_no", "")))
    return page.redirect("/dormitory")
