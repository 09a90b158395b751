"""The console service: web pages for the people who work the regulations.

Entrypoints only; each page is a function in ``pages/`` that receives the
request's :class:`~console.web.Page`. The console keeps sessions and nothing
else: every figure it shows and every decision it records goes through the
owning service, called with the signed-in person's own token.
"""
from __future__ import annotations

import gzip
import mimetypes
from pathlib import Path

from nameko.web.handlers import http
from werkzeug.wrappers import Response
from zhidu.mongo import Mongo
from zhidu.service import ZhiduService

from .acting import Services
from .pages import account, board, clerk, desk, housing, mine
from .store import ConsoleStore
from .web import Web, page

STATIC = Path(__file__).parent / "static"


class ConsoleService(ZhiduService):
    name = "console"
    store = Mongo(ConsoleStore)
    services = Services()
    web = Web()

    # -- signing in and out -------------------------------------------------------------
    @http("GET", "/")
    @page()
    def home(self, page):
        return page.redirect("/work")

    @http("GET", "/login")
    @page(login=False)
    def login_form(self, page):
        return account.login_form(page)

    @http("POST", "/login")
    @page(login=False)
    def login(self, page):
        return account.login(page)

    @http("GET", "/login/oidc")
    @page(login=False)
    def login_oidc(self, page):
        return account.oidc_start(page)

    @http("GET", "/login/oidc/callback")
    @page(login=False)
    def login_oidc_callback(self, page):
        return account.oidc_callback(page)

    @http("POST", "/logout")
    @page()
    def logout(self, page):
        return account.logout(page)

    @http("POST", "/language")
    @page(login=False)
    def language(self, page):
        return account.language(page)

    # -- my work and my own records ------------------------------------------------------
    @http("GET", "/work")
    @page()
    def work(self, page):
        return mine.work(page)

    @http("GET", "/inbox")
    @page()
    def inbox(self, page):
        return mine.inbox(page)

    @http("GET", "/inbox/<item_id>")
    @page()
    def inbox_item(self, page, item_id):
        return mine.inbox_item(page, item_id)

    @http("GET", "/ledger")
    @page()
    def ledger(self, page):
        return mine.ledger(page)

    @http("POST", "/ledger/<entry_id>/appeal")
    @page()
    def appeal(self, page, entry_id):
        return mine.appeal(page, entry_id)

    @http("POST", "/appeals/<entry_id>/decision")
    @page()
    def decide_appeal(self, page, entry_id):
        return mine.decide_appeal(page, entry_id)

    @http("GET", "/leave")
    @page()
    def leave(self, page):
        return mine.leave(page)

    @http("POST", "/leave")
    @page()
    def request_leave(self, page):
        return mine.request_leave(page)

    @http("POST", "/leave/<leave_id>/decision")
    @page()
    def decide_leave(self, page, leave_id):
        return mine.decide_leave(page, leave_id)

    @http("GET", "/roster")
    @page()
    def roster(self, page):
        return mine.roster(page)

    @http("POST", "/notices/<notice_id>/decision")
    @page()
    def decide_notice(self, page, notice_id):
        return mine.decide_notice(page, notice_id)

    # -- the complaint desk ---------------------------------------------------------------
    @http("GET", "/complaints")
    @page()
    def complaints(self, page):
        return desk.listing(page)

    @http("GET", "/complaints/new")
    @page()
    def complaint_form(self, page):
        return desk.new(page)

    @http("POST", "/complaints/check")
    @page()
    def complaint_check(self, page):
        return desk.check(page)

    @http("POST", "/complaints")
    @page()
    def file_complaint(self, page):
        return desk.file(page)

    @http("GET", "/complaints/<number>")
    @page()
    def complaint(self, page, number):
        return desk.case(page, number)

    @http("POST", "/complaints/<number>/<step>")
    @page()
    def complaint_step(self, page, number, step):
        return desk.step(page, number, step)

    # -- the SLA board --------------------------------------------------------------------
    @http("GET", "/board")
    @page()
    def board(self, page):
        return board.board(page)

    @http("GET", "/board/stats")
    @page()
    def board_stats(self, page):
        return board.stats(page)

    @http("GET", "/board/live")
    @page()
    def board_live(self, page):
        return board.live(page)

    # -- dormitory and attendance desks ---------------------------------------------------
    @http("GET", "/dormitory")
    @page()
    def dormitory(self, page):
        return housing.desk(page)

    @http("GET", "/dormitory/room")
    @page()
    def dormitory_room(self, page):
        return housing.room(page)

    @http("POST", "/dormitory/inspections")
    @page()
    def dormitory_inspection(self, page):
        return housing.inspect(page)

    @http("POST", "/dormitory/beds/<action>")
    @page()
    def dormitory_beds(self, page, action):
        return housing.beds(page, action)

    @http("GET", "/attendance")
    @page()
    def attendance(self, page):
        return clerk.desk(page)

    @http("POST", "/attendance/<action>")
    @page()
    def attendance_action(self, page, action):
        return clerk.act(page, action)

    # -- static files: vendored, versioned by content, served compressed ----------------
    @http("GET", "/static/<name>")
    def static(self, request, name):
        path = STATIC / name
        if "/" in name or name.startswith(".") or not path.is_file():
            return Response("not found", status=404)
        body = path.read_bytes()
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        response = Response(content_type=kind + ("; charset=utf-8" if kind.startswith(
            ("text/", "application/javascript")) else ""))
        if "gzip" in request.headers.get("Accept-Encoding", "") and len(body) > 1024:
            body = _gzipped(name, body)
            response.headers["Content-Encoding"] = "gzip"
        response.set_data(body)
        response.headers["Vary"] = "Accept-Encoding"
        # URLs carry the content's hash (?v=), so a file may be kept for a year.
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


_GZIPPED: dict[str, bytes] = {}


def _gzipped(name: str, body: bytes) -> bytes:
    if name not in _GZIPPED:
        _GZIPPED[name] = gzip.compress(body, 9, mtime=0)
    return _GZIPPED[name]
