"""The console's door over HTTP: sessions, cookies, CSRF, log-out, token expiry, OIDC."""
import base64
import hashlib
import json
import re
import time
import uuid
from urllib.parse import parse_qs, urlparse

import eventlet
import jwt
import pytest
import requests
from console.service import ConsoleService
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from directory.service import DirectoryService
from eventlet import wsgi
from jwt.algorithms import OKPAlgorithm
from werkzeug.wrappers import Request, Response
from zhidu.testing import free_port

pytestmark = pytest.mark.integration

PASSWORD = "a long passphrase 1"
LI = {"employee_id": "E101", "name": "王丽", "gender": "F", "department": "customer_service",
      "unit": "centre", "role": "staff"}


@pytest.fixture
def directory(start_service, rpc, people):
    """The directory (the suite's own issuer) with 王丽 enrolled and her password set."""
    def start(**config):
        container = start_service(DirectoryService, **config)
        rpc.directory.upsert_employee(LI)
        rpc.directory.set_password({"employee_id": "E101", "password": PASSWORD})
        people.add("E101", "staff", name="王丽", department="customer_service")
        return container
    return start


def csrf_of(text: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', text).group(1)


def sign_in(base: str, employee_id="E101", password=PASSWORD, headers=None):
    browser = requests.Session()
    form = browser.get(f"{base}/login")
    reply = browser.post(f"{base}/login", data={
        "csrf": csrf_of(form.text), "employee_id": employee_id, "password": password,
        "next": "/work"}, allow_redirects=False, headers=headers or {})
    return browser, reply


@pytest.fixture
def console(start_service, directory):
    directory()
    return start_service(ConsoleService)


def test_sign_in_opens_a_session_with_a_strict_cookie_and_sign_out_ends_it(console):
    base = console.web_url
    anonymous = requests.get(f"{base}/work", allow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["Location"] == "/login?next=%2Fwork"

    browser, reply = sign_in(base)
    assert reply.status_code == 303 and reply.headers["Location"] == "/work"
    cookie = reply.headers["Set-Cookie"]
    assert "zhidu_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie       # served over plain HTTP here
    work = browser.get(f"{base}/work")
    assert work.status_code == 200 and "王丽 · 员工" in work.text
    assert "default-src 'self'" in work.headers["Content-Security-Policy"]
    stolen = dict(browser.cookies)

    refused = browser.post(f"{base}/logout", data={"csrf": "forged"}, allow_redirects=False)
    assert refused.status_code == 403 and "页面已过期" in refused.text
    out = browser.post(f"{base}/logout", data={"csrf": csrf_of(work.text)},
                       allow_redirects=False)
    assert out.status_code == 303 and out.headers["Location"] == "/login"
    # The session is gone on the server: the old cookie opens nothing.
    again = requests.get(f"{base}/work", cookies=stolen, allow_redirects=False)
    assert again.status_code == 303 and again.headers["Location"].startswith("/login")


def test_the_cookie_is_secure_behind_https(start_service, directory):
    directory()
    console = start_service(ConsoleService, ZHIDU_CONSOLE_TRUST_PROXY="true")
    _, reply = sign_in(console.web_url, headers={"X-Forwarded-Proto": "https"})
    assert "; Secure" in reply.headers["Set-Cookie"]


def test_a_wrong_password_is_told_plainly_and_the_login_form_has_csrf(console):
    base = console.web_url
    _, reply = sign_in(base, password="not the password")
    assert reply.status_code == 401 and "工号或密码不正确" in reply.text
    forged = requests.post(f"{base}/login", data={"employee_id": "E101", "password": PASSWORD},
                           allow_redirects=False)
    assert forged.status_code == 403
    browser = requests.Session()
    form = browser.get(f"{base}/login")
    cross_site = browser.post(f"{base}/login", data={
        "csrf": csrf_of(form.text), "employee_id": "E101", "password": PASSWORD},
        headers={"Origin": "https://evil.example"}, allow_redirects=False)
    assert cross_site.status_code == 403


def test_the_session_ends_with_the_token(start_service, directory):
    directory(ZHIDU_TOKEN_TTL="2")
    console = start_service(ConsoleService)
    browser, reply = sign_in(console.web_url)
    assert "Max-Age=2" in reply.headers["Set-Cookie"]
    assert browser.get(f"{console.web_url}/work", allow_redirects=False).status_code == 200
    kept = dict(browser.cookies)
    eventlet.sleep(2.5)
    # The browser forgets the cookie with the token; a kept copy is refused and told so.
    assert browser.get(f"{console.web_url}/work", allow_redirects=False).headers[
        "Location"] == "/login?next=%2Fwork"
    expired = requests.get(f"{console.web_url}/work", cookies=kept, allow_redirects=False)
    assert expired.status_code == 303 and "expired=1" in expired.headers["Location"]
    assert "登录已过期" in requests.get(f"{console.web_url}{expired.headers['Location']}",
                                       cookies=kept).text


def test_the_language_is_switchable_and_remembered(console):
    base = console.web_url
    browser, _ = sign_in(base)
    work = browser.get(f"{base}/work")
    browser.post(f"{base}/language", data={"csrf": csrf_of(work.text), "locale": "en",
                                            "next": "/inbox"})
    inbox = browser.get(f"{base}/inbox")
    assert '<html lang="en">' in inbox.text and "My work" in inbox.text
    # The inbox service is not running here: its absence is said, not shown as a trace.
    assert inbox.status_code == 503 and "did not answer" in inbox.text


def test_static_files_are_versioned_compressed_and_cached(console):
    page = requests.get(f"{console.web_url}/login")
    script = re.search(r'src="(/static/htmx.min.js\?v=\w+)"', page.text).group(1)
    reply = requests.get(f"{console.web_url}{script}", headers={"Accept-Encoding": "gzip"})
    assert reply.headers["Content-Encoding"] == "gzip"
    assert "immutable" in reply.headers["Cache-Control"]
    assert int(reply.headers["Content-Length"]) < 20_000     # 51 kB before compression
    assert requests.get(f"{console.web_url}/static/..%2Fservice.py").status_code == 404
    assert requests.get(f"{console.web_url}/health").json()["service"] == "console"


# -- the company's OpenID Connect provider ----------------------------------------------------
class Provider:
    """An OpenID provider of the authorization-code flow with PKCE, as small as it gets."""

    def __init__(self, subject: str, client_id: str = "zhidu-console"):
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.subject, self.client_id = subject, client_id
        self.key = Ed25519PrivateKey.generate()
        self.codes: dict[str, dict] = {}
        self.exchanged: list[dict] = []

    def sign(self, claims: dict) -> str:
        now = int(time.time())
        return jwt.encode({"iss": self.issuer, "iat": now, "exp": now + 600, **claims},
                          self.key, algorithm="EdDSA", headers={"kid": "k1"})

    def __call__(self, environ, start_response):
        request = Request(environ)
        path = request.path
        if path == "/.well-known/openid-configuration":
            body = {"issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
                    "token_endpoint": f"{self.issuer}/token", "jwks_uri": f"{self.issuer}/jwks"}
            response = Response(json.dumps(body), content_type="application/json")
        elif path == "/jwks":
            jwk = json.loads(OKPAlgorithm.to_jwk(self.key.public_key()))
            jwk.update({"kid": "k1", "alg": "EdDSA", "use": "sig"})
            response = Response(json.dumps({"keys": [jwk]}), content_type="application/json")
        elif path == "/authorize":
            args = request.args
            assert args["code_challenge_method"] == "S256" and args["client_id"] == self.client_id
            code = uuid.uuid4().hex
            self.codes[code] = dict(args)
            response = Response(status=302, headers={
                "Location": f"{args['redirect_uri']}?code={code}&state={args['state']}"})
        elif path == "/token":
            form = request.form
            asked = self.codes.pop(form["code"], None)
            digest = base64.urlsafe_b64encode(hashlib.sha256(
                form["code_verifier"].encode()).digest()).rstrip(b"=").decode()
            self.exchanged.append(dict(form))
            if asked is None or digest != asked["code_challenge"] or \
                    form["redirect_uri"] != asked["redirect_uri"]:
                response = Response(json.dumps({"error": "invalid_grant"}), status=400,
                                    content_type="application/json")
            else:
                tokens = {"token_type": "Bearer", "expires_in": 600,
                          "id_token": self.sign({"sub": self.subject, "aud": self.client_id,
                                                 "nonce": asked["nonce"]}),
                          "access_token": self.sign({"sub": self.subject, "aud": "zhidu"})}
                response = Response(json.dumps(tokens), content_type="application/json")
        else:
            response = Response("not found", status=404)
        return response(environ, start_response)


@pytest.fixture
def provider():
    server = Provider("E101")
    sock = eventlet.listen(("127.0.0.1", server.port))
    thread = eventlet.spawn(wsgi.server, sock, server, log_output=False)
    yield server
    thread.kill()
    sock.close()


def test_sign_in_through_the_company_provider_with_pkce(start_service, directory, provider):
    oidc = {"ZHIDU_OIDC_ISSUER": provider.issuer, "ZHIDU_OIDC_AUDIENCE": "zhidu"}
    directory(**oidc)
    console = start_service(ConsoleService, ZHIDU_CONSOLE_OIDC_CLIENT_ID="zhidu-console", **oidc)
    base = console.web_url
    browser = requests.Session()
    assert "使用公司统一身份认证登录" in browser.get(f"{base}/login").text
    start = browser.get(f"{base}/login/oidc?next=/inbox", allow_redirects=False)
    assert start.status_code == 303
    to_provider = urlparse(start.headers["Location"])
    query = parse_qs(to_provider.query)
    assert query["code_challenge_method"] == ["S256"] and "nonce" in query
    back = browser.get(start.headers["Location"], allow_redirects=False)
    callback = back.headers["Location"]
    # A callback replayed in another browser, or twice, signs nobody in.
    assert requests.get(callback, allow_redirects=False).status_code == 400
    done = browser.get(callback, allow_redirects=False)
    assert done.status_code == 303 and done.headers["Location"] == "/inbox"
    assert provider.exchanged[-1]["code_verifier"]
    work = browser.get(f"{base}/work")
    assert work.status_code == 200 and "王丽" in work.text
    assert browser.get(callback, allow_redirects=False).status_code == 400
