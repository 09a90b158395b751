"""Log-in through the company's OpenID Connect provider: authorization code with PKCE.

The console is the provider's client (``ZHIDU_CONSOLE_OIDC_CLIENT_ID``, and a
secret when the provider gives it one). It sends the browser to the
provider with a fresh ``state``, ``nonce`` and PKCE challenge (S256), takes
the code back at ``/login/oidc/callback`` and exchanges it, with the
verifier, for the person's tokens. The token it then carries to the services
is the one they trust (the same ``ZHIDU_OIDC_ISSUER`` / ``ZHIDU_OIDC_AUDIENCE``
check every service makes); the ID token's ``nonce`` ties the answer to this
log-in.
"""
from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import jwt
import requests
from zhidu.config import setting
from zhidu.identity import ALGORITHMS, build_verifier

log = logging.getLogger(__name__)
DISCOVERY_SECONDS = 300


class OidcError(Exception):
    """The provider's answer did not prove a log-in (shown as a failed log-in)."""


@dataclass
class Begun:
    url: str
    state: str
    verifier: str
    nonce: str


@dataclass
class Proven:
    subject: str
    token: str
    expires_in: int
    roles: tuple[str, ...] = ()


def challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OidcClient:
    def __init__(self, config):
        self.config = config
        self.issuer = (setting(config, "ZHIDU_OIDC_ISSUER") or "").rstrip("/")
        self.client_id = setting(config, "ZHIDU_CONSOLE_OIDC_CLIENT_ID") or ""
        self.client_secret = setting(config, "ZHIDU_CONSOLE_OIDC_CLIENT_SECRET") or ""
        self.scopes = setting(config, "ZHIDU_CONSOLE_OIDC_SCOPES", "openid profile")
        self.redirect_uri = setting(config, "ZHIDU_CONSOLE_OIDC_REDIRECT_URI") or ""
        self._metadata: tuple[float, dict] | None = None
        self._verifier = None

    @property
    def enabled(self) -> bool:
        return bool(self.issuer and self.client_id)

    def metadata(self) -> dict:
        now = time.monotonic()
        if self._metadata is None or self._metadata[0] < now:
            url = f"{self.issuer}/.well-known/openid-configuration"
            try:
                doc = requests.get(url, timeout=5).json()
            except (requests.RequestException, ValueError) as exc:
                raise OidcError(f"the provider's configuration is not reachable: {exc}") from None
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not doc.get(key):
                    raise OidcError(f"the provider's configuration has no {key}")
            self._metadata = (now + DISCOVERY_SECONDS, doc)
        return self._metadata[1]

    def begin(self, redirect_uri: str) -> Begun:
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(64)[:96]
        query = {"response_type": "code", "client_id": self.client_id,
                 "redirect_uri": self.redirect_uri or redirect_uri, "scope": self.scopes,
                 "state": state, "nonce": nonce, "code_challenge": challenge(verifier),
                 "code_challenge_method": "S256"}
        url = f"{self.metadata()['authorization_endpoint']}?{urlencode(query)}"
        return Begun(url, state, verifier, nonce)

    def finish(self, code: str, verifier: str, nonce: str, redirect_uri: str) -> Proven:
        meta = self.metadata()
        form = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": self.redirect_uri or redirect_uri,
                "client_id": self.client_id, "code_verifier": verifier}
        auth = (self.client_id, self.client_secret) if self.client_secret else None
        try:
            reply = requests.post(meta["token_endpoint"], data=form, auth=auth, timeout=10)
            tokens = reply.json()
        except (requests.RequestException, ValueError) as exc:
            raise OidcError(f"the token endpoint did not answer: {exc}") from None
        if reply.status_code != 200 or "error" in tokens:
            raise OidcError(f"the provider refused the code: {tokens.get('error')}")
        self._check_nonce(tokens.get("id_token"), nonce, meta)
        return self._prove(tokens)

    def _check_nonce(self, id_token: str | None, nonce: str, meta: dict) -> None:
        if not id_token:
            raise OidcError("the provider sent no ID token")
        try:
            key = jwt.PyJWKClient(meta["jwks_uri"], timeout=5).get_signing_key_from_jwt(id_token)
            claims = jwt.decode(id_token, key, algorithms=list(ALGORITHMS),
                                audience=self.client_id, issuer=self.issuer,
                                leeway=float(setting(self.config, "ZHIDU_TOKEN_LEEWAY")))
        except jwt.PyJWTError as exc:
            raise OidcError(f"the ID token does not verify: {type(exc).__name__}") from None
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise OidcError("the ID token belongs to another log-in (nonce)")

    def _prove(self, tokens: dict) -> Proven:
        """The token the services will trust, checked as they check it."""
        if self._verifier is None:
            self._verifier = build_verifier(self.config)
        for name in ("access_token", "id_token"):
            token = tokens.get(name)
            if not token:
                continue
            try:
                claims, issuer = self._verifier.verify(token)
            except Exception as exc:  # noqa: BLE001 — try the next token
                log.info("OIDC %s not accepted by the services' check: %s", name, exc)
                continue
            subject = claims.get(issuer.subject_claim)
            if not isinstance(subject, str) or not subject or subject.startswith("svc:"):
                continue
            roles = claims.get(issuer.roles_claim) if issuer.roles_claim else None
            expires_in = max(0, int(claims["exp"] - time.time()))
            return Proven(subject, token, expires_in,
                          tuple(r for r in roles or () if isinstance(r, str)))
        raise OidcError("no token from the provider is one the services accept "
                        "(check ZHIDU_OIDC_AUDIENCE)")
