"""The console's door: sessions, CSRF, the language, rendering and refusals.

Every page handler is wrapped by :func:`page`, which

- finds the person's session from the cookie (HttpOnly, SameSite=Lax, Secure
  when served over HTTPS) and sends anyone without one to the log-in page;
- refuses a POST whose CSRF token does not match the session's (or, before
  log-in, the double-submit cookie's), or whose Origin is another site;
- hands the handler a :class:`Page`: the person, their words, a caller bound
  to their token, and ``render``/``redirect`` helpers;
- turns a service's refusal into a page in the person's language, and a
  token that no longer proves anyone into the end of the session.
"""
from __future__ import annotations

import functools
import gzip
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlparse

import jinja2
from nameko.extensions import DependencyProvider
from werkzeug.wrappers import Response
from zhidu.config import setting
from zhidu.times import local_tz, utcnow

from . import formats, i18n, refusals
from .acting import Refusal

log = logging.getLogger(__name__)

PACKAGE = Path(__file__).parent
SESSION_COOKIE = "zhidu_session"
LOGIN_COOKIE = "zhidu_login"      # double-submit CSRF value for the log-in forms
LANG_COOKIE = "zhidu_lang"
HTML = "text/html; charset=utf-8"
# Scripts and styles come from this origin only; no inline script runs.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'; "
       "object-src 'none'")


@dataclass
class Person:
    id: str
    name: str
    roles: tuple[str, ...]
    department: str | None = None
    unit: str | None = None

    @property
    def role(self) -> str:
        return self.roles[0] if self.roles else "staff"

    def holds(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)


@dataclass
class Page:
    web: Web
    request: object
    t: i18n.Translator
    session: dict | None = None
    person: Person | None = None
    caller: object = None
    csrf: str = ""
    cookies: list = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    @property
    def locale(self) -> str:
        return self.t.locale

    @property
    def htmx(self) -> bool:
        return self.request.headers.get("HX-Request") == "true"

    @property
    def now(self) -> datetime:
        return utcnow()

    def form(self, name: str, default: str = "") -> str:
        value = self.request.form.get(name)
        return value.strip() if isinstance(value, str) else default

    def arg(self, name: str, default: str = "") -> str:
        value = self.request.args.get(name)
        return value.strip() if isinstance(value, str) else default

    def call(self, service: str, method: str, payload: dict | None = None):
        return self.caller.call(service, method, payload)

    def start(self, service: str, method: str, payload: dict | None = None):
        return self.caller.start(service, method, payload)

    def flash(self, kind: str, text: str, **extra) -> None:
        if self.session is not None:
            self.web.store.push_flash(self.session["_id"], {"kind": kind, "text": text,
                                                            **extra})

    def flash_refusal(self, refusal: Refusal) -> None:
        told = refusals.tell(refusal, self.t)
        self.flash("error", told.reason, title=told.title, source=told.source,
                   original=told.original, fields=told.fields)

    def render(self, template: str, status: int = 200, **context) -> Response:
        return self.web.render(self, template, status=status, **context)

    def redirect_external(self, url: str) -> Response:
        """To the identity provider: the one place the console sends a browser away."""
        return Response(status=303, headers={"Location": url})

    def redirect(self, to: str) -> Response:
        response = Response(status=303, headers={"Location": safe_next(to)})
        if self.htmx:
            response.headers["HX-Redirect"] = safe_next(to)
        return response


def safe_next(target: str | None, default: str = "/work") -> str:
    """Only paths on this site: a crafted ``next`` never sends anyone elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc:
        return default
    return target


def is_secure(request, config) -> bool:
    if request.scheme == "https":
        return True
    trust = str(setting(config, "ZHIDU_CONSOLE_TRUST_PROXY", "false")).lower() == "true"
    return trust and request.headers.get("X-Forwarded-Proto", "").lower() == "https"


class Web(DependencyProvider):
    """The console's templates, words and session store, shared by every worker."""

    def setup(self):
        self.config = self.container.config
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(PACKAGE / "templates")),
            autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True,
            lstrip_blocks=True, undefined=jinja2.ChainableUndefined)
        self.env.globals.update(static=self.static_url, fmt=formats)
        self.static_versions = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:10]
                                for p in (PACKAGE / "static").iterdir() if p.is_file()}
        self.board_refresh = int(setting(self.config, "ZHIDU_CONSOLE_BOARD_REFRESH_SECONDS",
                                         "30"))

    @property
    def store(self):
        from zhidu.events import _find
        return _find(self.container, "Mongo").store

    def get_dependency(self, worker_ctx):
        return self

    def static_url(self, name: str) -> str:
        return f"/static/{name}?v={self.static_versions.get(name, '0')}"

    # -- the request's way through ---------------------------------------------------------
    def handle(self, service, request, handler, params, *, login: bool):
        t = i18n.Translator(self._locale(request, None))
        page = Page(self, request, t)
        sid = request.cookies.get(SESSION_COOKIE)
        session = self.store.session(sid) if sid else None
        if session is not None:
            page.session = session
            page.t = i18n.Translator(session.get("locale") or t.locale)
            page.person = Person(session["employee_id"], session.get("name") or
                                 session["employee_id"], tuple(session.get("roles") or ()),
                                 session.get("department"), session.get("unit"))
            page.caller = service.services.as_token(session["token"])
            page.csrf = session["csrf"]
        else:
            page.caller = service.services.as_token(None)
            page.csrf = request.cookies.get(LOGIN_COOKIE) or ""
            if not page.csrf:
                page.csrf = secrets.token_urlsafe(24)
                page.cookies.append((LOGIN_COOKIE, page.csrf, None))
        if login and session is None:
            if sid:
                self.store.purge_expired()
            target = request.full_path.rstrip("?") if request.method == "GET" else "/work"
            response = Response(status=303, headers={
                "Location": f"/login?next={quote(target, safe='')}"
                            + ("&expired=1" if sid else "")})
            if request.headers.get("HX-Request") == "true":
                response.headers["HX-Redirect"] = response.headers["Location"]
            return self._finish(page, response)
        if request.method == "POST" and not self._csrf_ok(page, request):
            return self._finish(page, page.render("error.html", status=403,
                                                  told=refusals.Told(
                                                      t("refusal.csrf.title"),
                                                      t("refusal.csrf.reason"))))
        try:
            response = handler(service, page, **params)
        except Refusal as refusal:
            if refusal.kind == "Unauthenticated" and session is not None:
                # The token no longer proves the person (expired, revoked, departed).
                self.store.end_session(session["_id"])
                response = Response(status=303, headers={"Location": "/login?expired=1"})
            else:
                told = refusals.tell(refusal, page.t)
                status = {"PermissionDenied": 403, "NotFound": 404, "ValidationError": 400,
                          "Conflict": 409}.get(refusal.kind, 503)
                template = "refusal_fragment.html" if page.htmx else "error.html"
                response = page.render(template, status=status, told=told)
        except Exception:
            # A fault of ours: logged in full here, a plain apology on the page.
            log.exception("%s %s failed", request.method, request.path)
            told = refusals.Told(page.t("refusal.failed.title"), page.t("refusal.failed.reason"))
            response = page.render("error.html", status=500, told=told)
        return self._finish(page, response)

    def _csrf_ok(self, page: Page, request) -> bool:
        origin = request.headers.get("Origin")
        if origin and origin != "null":
            host = request.headers.get("X-Forwarded-Host") or request.host
            if urlparse(origin).netloc != host:
                return False
        sent = request.form.get("csrf") or request.headers.get("X-CSRF-Token") or ""
        return bool(page.csrf) and hmac.compare_digest(sent.encode(), page.csrf.encode())

    def _locale(self, request, session) -> str:
        chosen = request.cookies.get(LANG_COOKIE)
        if chosen:
            return i18n.pick(chosen)
        return i18n.pick(setting(self.config, "ZHIDU_LOCALE"))

    def _finish(self, page: Page, response: Response) -> Response:
        secure = is_secure(page.request, self.config)
        for name, value, max_age in page.cookies:
            if value is None:
                response.delete_cookie(name, path="/", secure=secure, httponly=True,
                                       samesite="Lax")
            else:
                response.set_cookie(name, value, max_age=max_age, path="/", secure=secure,
                                    httponly=True, samesite="Lax")
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Cache-Control", "no-store")
        headers["Server-Timing"] = f"app;dur={(time.perf_counter() - page.started) * 1000:.1f}"
        _compress(page.request, response)
        return response

    # -- rendering ---------------------------------------------------------------------------
    def render(self, page: Page, template: str, status: int = 200, **context) -> Response:
        flashes = []
        if page.session is not None and not page.htmx:
            flashes = self.store.take_flash(page.session["_id"])
        body = self.env.get_template(template).render(
            t=page.t, page=page, person=page.person, csrf=page.csrf, flashes=flashes,
            nav=navigation(page.person) if page.person else [], request=page.request,
            now=page.now, tz=local_tz(), board_refresh=self.board_refresh, **context)
        return Response(body, status=status, content_type=HTML)

    # -- sessions ----------------------------------------------------------------------------
    def open_session(self, page: Page, *, employee_id: str, token: str, expires_in: int,
                     record: dict | None, extra_roles=(), issuer: str = "zhidu") -> None:
        record = record or {}
        roles = [record.get("role") or "staff", *extra_roles]
        session_id = secrets.token_urlsafe(32)
        self.store.create_session(session_id, {
            "employee_id": employee_id, "name": record.get("name") or employee_id,
            "roles": list(dict.fromkeys(roles)), "department": record.get("department"),
            "unit": record.get("unit"), "token": token, "issuer": issuer,
            "expires_at": utcnow() + timedelta(seconds=int(expires_in)),
            "csrf": secrets.token_urlsafe(24), "locale": page.locale,
            "created_at": utcnow(), "flash": []})
        page.cookies.append((SESSION_COOKIE, session_id, int(expires_in)))
        page.cookies.append((LOGIN_COOKIE, None, None))

    def close_session(self, page: Page) -> None:
        if page.session is not None:
            self.store.end_session(page.session["_id"])
        page.cookies.append((SESSION_COOKIE, None, None))


def _compress(request, response: Response) -> None:
    """Pages travel gzipped: a phone on a work bench's mobile data feels every kilobyte."""
    if (response.status_code != 200 or response.direct_passthrough
            or not (response.mimetype or "").startswith("text/html")
            or "gzip" not in request.headers.get("Accept-Encoding", "")):
        return
    body = response.get_data()
    if len(body) < 1400:
        return
    response.set_data(gzip.compress(body, 6))
    response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"


def page(*, login: bool = True):
    """Wrap a handler ``fn(service, page, **params)`` as a nameko HTTP handler body."""
    def decorate(fn):
        @functools.wraps(fn)
        def handler(self, request, **params):
            return self.web.handle(self, request, fn, params, login=login)
        return handler
    return decorate


# -- what each person sees in the menu ------------------------------------------------------
MANAGERS = ("dept_manager", "deputy_gm", "gm", "gm_office", "it_admin", "info_officer")


def navigation(person: Person) -> list[tuple[str, str]]:
    items = [("/work", "nav.work"), ("/inbox", "nav.inbox"), ("/ledger", "nav.ledger"),
             ("/leave", "nav.leave"), ("/roster", "nav.roster"),
             ("/complaints", "nav.complaints")]
    if sees_board(person):
        items.append(("/board", "nav.board"))
    if person.holds("inspector", "dorm_admin"):
        items.append(("/dormitory", "nav.dormitory"))
    if person.holds("attendance_clerk", "dept_manager"):
        items.append(("/attendance", "nav.attendance"))
    return items


def sees_board(person: Person) -> bool:
    """The SLA board is for managers, on-call IT and the complaint desk: the menu
    and the board's own pages ask the same question."""
    return person.holds(*MANAGERS) or person.department in desk_departments()


@functools.lru_cache(maxsize=1)
def desk_departments() -> tuple[str, ...]:
    from .duties import load_duties
    return tuple(load_duties()["desk_departments"])
