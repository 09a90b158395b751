"""Signing in (own issuer or the company's OpenID provider), out, and the language."""
from __future__ import annotations

import logging
from datetime import timedelta

from zhidu.config import setting
from zhidu.identity import parse_groups
from zhidu.times import utcnow

from .. import i18n
from ..acting import Refusal
from ..oidc import OidcClient, OidcError
from ..store import key_of
from ..web import LANG_COOKIE, Page, safe_next

log = logging.getLogger(__name__)
PENDING_LOGIN = timedelta(minutes=10)
_CLIENTS: dict[int, OidcClient] = {}


def oidc_client(page: Page) -> OidcClient:
    key = id(page.web)
    if key not in _CLIENTS:
        _CLIENTS[key] = OidcClient(page.web.config)
    return _CLIENTS[key]


def login_form(page: Page, status: int = 200, error: str | None = None,
               employee_id: str = ""):
    if page.session is not None and not error:
        return page.redirect(safe_next(page.arg("next")))
    notice = page.t("login.expired") if page.arg("expired") else None
    return page.render("login.html", status=status, error=error, notice=notice,
                       employee_id=employee_id, next=safe_next(page.arg("next")),
                       oidc=oidc_client(page).enabled)


def login(page: Page):
    employee_id = page.form("employee_id")
    password = page.request.form.get("password") or ""
    target = safe_next(page.form("next"))
    if not employee_id or not password:
        return login_form(page, 400, page.t("login.missing"), employee_id)
    try:
        granted = page.call("directory", "login", {"employee_id": employee_id,
                                                   "password": password})
    except Refusal as refusal:
        if refusal.kind == "Unauthenticated":
            key = "login.locked" if "too many" in refusal.message else "login.wrong"
            return login_form(page, 401, page.t(key), employee_id)
        if refusal.kind == "ValidationError":
            return login_form(page, 400, page.t("login.missing"), employee_id)
        raise
    token = granted["access_token"]
    record = _record(page, employee_id, token)
    page.web.open_session(page, employee_id=employee_id, token=token,
                          expires_in=int(granted.get("expires_in") or 3600), record=record,
                          extra_roles=_groups(page, employee_id))
    log.info("%s signed in to the console", employee_id)
    return page.redirect(target)


def _record(page: Page, employee_id: str, token: str) -> dict:
    """The person's own directory record, read with their own token."""
    try:
        return page.caller.as_token(token).call("directory", "get_employee",
                                                {"employee_id": employee_id})
    except Refusal as refusal:
        log.warning("could not read %s's directory record: %s", employee_id, refusal)
        return {}


def _groups(page: Page, employee_id: str) -> list[str]:
    groups = parse_groups(setting(page.web.config, "ZHIDU_GROUPS"))
    return sorted(groups.get(employee_id, ()))


def logout(page: Page):
    page.web.close_session(page)
    return page.redirect("/login")


def language(page: Page):
    locale = i18n.pick(page.form("locale"))
    page.cookies.append((LANG_COOKIE, locale, 365 * 86400))
    if page.session is not None:
        page.web.store.update_session(page.session["_id"], {"locale": locale})
    return page.redirect(safe_next(page.form("next"), "/login" if page.session is None
                                   else "/work"))


# -- the company's OpenID Connect provider ---------------------------------------------------
def _callback_url(page: Page) -> str:
    return page.request.host_url.rstrip("/") + "/login/oidc/callback"


def oidc_start(page: Page):
    client = oidc_client(page)
    if not client.enabled:
        return login_form(page, 404, page.t("login.oidc_off"))
    try:
        begun = client.begin(_callback_url(page))
    except OidcError as exc:
        log.warning("OIDC log-in could not start: %s", exc)
        return login_form(page, 503, page.t("login.oidc_failed"))
    page.web.store.remember_login(begun.state, {
        "verifier": begun.verifier, "nonce": begun.nonce, "browser": key_of(page.csrf),
        "next": safe_next(page.arg("next")), "expires_at": utcnow() + PENDING_LOGIN})
    return page.redirect_external(begun.url)


def oidc_callback(page: Page):
    client = oidc_client(page)
    state, code = page.arg("state"), page.arg("code")
    # The log-in must come back to the browser that started it (the double-submit
    # value it was given), or a stranger's code could sign this browser in.
    pending = page.web.store.take_login(state, page.csrf) if state and page.csrf else None
    if pending is None or not code:
        return login_form(page, 400, page.t("login.oidc_failed"))
    try:
        proven = client.finish(code, pending["verifier"], pending["nonce"], _callback_url(page))
    except OidcError as exc:
        log.warning("OIDC log-in refused: %s", exc)
        return login_form(page, 401, page.t("login.oidc_failed"))
    record = _record(page, proven.subject, proven.token)
    page.web.open_session(page, employee_id=proven.subject, token=proven.token,
                          expires_in=proven.expires_in, record=record,
                          extra_roles=[*proven.roles, *_groups(page, proven.subject)],
                          issuer="oidc")
    return page.redirect(pending.get("next") or "/work")
