"""Token verification against both issuers: the suite's own keys and an OIDC provider.

The provider is a real HTTP server on loopback serving discovery and a JWKS, so
key fetching, caching and rotation run as they do against a company's IdP.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from zhidu.errors import Unauthenticated
from zhidu.identity import Authenticator, KeyRing, issue_token, parse_groups

PEOPLE = {"E1": {"employee_id": "E1", "role": "dept_manager", "department": "cs"},
          "E2": {"employee_id": "E2", "role": "staff", "departed_at": "2026-11-01"}}


class Provider:
    """A minimal OpenID Connect provider: discovery, JWKS, and keys it signs with."""

    def __init__(self):
        self.keys = {}
        self.published: list[str] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": provider.issuer, "jwks_uri": f"{provider.issuer}/jwks"}
                elif self.path == "/jwks":
                    provider.fetches += 1
                    body = {"keys": [provider.public(kid) for kid in provider.published]}
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.fetches = 0
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def new_key(self, publish=True) -> str:
        kid = f"k{len(self.keys) + 1}"
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if publish:
            self.published.append(kid)
        return kid

    def public(self, kid) -> dict:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
        return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}

    def token(self, kid, **claims) -> str:
        now = int(time.time())
        body = {"iss": self.issuer, "aud": "zhidu-console", "sub": "E1", "iat": now,
                "exp": now + 300, **claims}
        return jwt.encode(body, self.keys[kid], algorithm="RS256", headers={"kid": kid})

    def close(self):
        self.server.shutdown()


@pytest.fixture
def provider():
    idp = Provider()
    yield idp
    idp.close()


@pytest.fixture
def own_keys(tmp_path):
    KeyRing(tmp_path / "keys").ensure()
    return str(tmp_path / "keys")


def authenticator(own_keys, provider=None, **extra) -> Authenticator:
    config = {"ZHIDU_KEY_DIR": own_keys, "ZHIDU_JWKS_REFRESH_COOLDOWN": "0", **extra}
    if provider is not None:
        config.update(ZHIDU_OIDC_ISSUER=provider.issuer, ZHIDU_OIDC_AUDIENCE="zhidu-console")
    return Authenticator(config, PEOPLE.get)


def bearer(token: str) -> str:
    return f"Bearer {token}"


def refused(auth, token) -> str:
    with pytest.raises(Unauthenticated) as err:
        auth.principal(bearer(token))
    return str(err.value)


# -- the suite's own issuer ---------------------------------------------------------
def test_own_token_proves_the_person_and_roles_come_from_the_directory(own_keys):
    auth = authenticator(own_keys)
    token = issue_token({"ZHIDU_KEY_DIR": own_keys}, "E1")
    principal = auth.principal(bearer(token))
    assert (principal.id, principal.roles, principal.service_account) == \
        ("E1", ("dept_manager",), False)
    assert principal.person["department"] == "cs"


def test_a_person_token_cannot_carry_roles(own_keys):
    """Only a service account's roles come from its token (contract § Authentication)."""
    ring = KeyRing(own_keys)
    kid, key = ring.signing_key()
    forged = jwt.encode({"iss": "zhidu", "aud": "zhidu", "sub": "E9", "roles": ["gm"],
                         "exp": int(time.time()) + 60}, key, algorithm="EdDSA",
                        headers={"kid": kid})
    assert authenticator(own_keys).principal(bearer(forged)).roles == ()


def test_service_account_carries_its_scopes_and_roles(own_keys):
    token = issue_token({"ZHIDU_KEY_DIR": own_keys}, "svc:clock-1", roles=["device"],
                        scopes=["attendance:clock"])
    principal = authenticator(own_keys).principal(bearer(token))
    assert principal.service_account and principal.scopes == {"attendance:clock"}
    assert principal.roles == ("device",)


def test_departed_people_and_missing_or_malformed_tokens_are_refused(own_keys):
    auth = authenticator(own_keys)
    gone = issue_token({"ZHIDU_KEY_DIR": own_keys}, "E2")
    assert "left the company" in refused(auth, gone)
    with pytest.raises(Unauthenticated, match="no bearer token"):
        auth.principal(None)
    with pytest.raises(Unauthenticated, match="Bearer <token>"):
        auth.principal("Basic dXNlcjpwYXNz")
    assert "malformed" in refused(auth, "not.a.jwt")


def test_alg_none_and_symmetric_tokens_are_refused(own_keys):
    auth = authenticator(own_keys)
    unsigned = jwt.encode({"iss": "zhidu", "aud": "zhidu", "sub": "E1",
                           "exp": int(time.time()) + 60}, None, algorithm="none")
    assert "'none' is not accepted" in refused(auth, unsigned)
    public = KeyRing(own_keys).public_jwks()["keys"][0]["x"]
    # The classic confusion: HMAC "signed" with the public key as the secret.
    hs = jwt.encode({"iss": "zhidu", "aud": "zhidu", "sub": "E1",
                     "exp": int(time.time()) + 60}, public, algorithm="HS256")
    assert "'HS256' is not accepted" in refused(auth, hs)


def test_expiry_is_checked_with_bounded_skew(own_keys):
    config = {"ZHIDU_KEY_DIR": own_keys}
    auth = authenticator(own_keys, ZHIDU_TOKEN_LEEWAY="30")
    kid, key = KeyRing(own_keys).signing_key()
    now = int(time.time())

    def token(**claims):
        return jwt.encode({"iss": "zhidu", "aud": "zhidu", "sub": "E1", **claims}, key,
                          algorithm="EdDSA", headers={"kid": kid})

    assert auth.principal(bearer(token(exp=now - 10))).id == "E1"   # within the skew
    assert "expired" in refused(auth, token(exp=now - 120))
    assert "not valid yet" in refused(auth, token(exp=now + 600, nbf=now + 120))
    assert "audience" in refused(auth, token(exp=now + 60, aud="payroll"))
    with pytest.raises(Unauthenticated):
        auth.principal(bearer(token(iat=now)))                       # no exp at all
    assert auth.principal(bearer(issue_token(config, "E1", ttl=60))).id == "E1"


def test_the_tolerated_clock_skew_is_at_most_five_minutes(own_keys):
    assert authenticator(own_keys, ZHIDU_TOKEN_LEEWAY="300").verifier.leeway == 300
    for leeway in ("301", "3600", "-1", "nan", "half a minute"):
        with pytest.raises(ValueError, match="ZHIDU_TOKEN_LEEWAY"):
            authenticator(own_keys, ZHIDU_TOKEN_LEEWAY=leeway)


def test_a_rotated_own_key_is_picked_up_and_the_previous_one_still_verifies(own_keys):
    config = {"ZHIDU_KEY_DIR": own_keys}
    auth = authenticator(own_keys)
    before = issue_token(config, "E1")
    assert auth.principal(bearer(before)).id == "E1"
    time.sleep(0.01)  # a distinct modification time for the key file
    KeyRing(own_keys).rotate()
    after = issue_token(config, "E1")
    assert jwt.get_unverified_header(after)["kid"] != jwt.get_unverified_header(before)["kid"]
    assert auth.principal(bearer(after)).id == "E1"
    fresh = authenticator(own_keys)  # a service started after the rotation
    assert fresh.principal(bearer(before)).id == "E1"


def test_keys_are_created_once_even_when_two_processes_race(tmp_path):
    rings = [KeyRing(tmp_path / "k") for _ in range(4)]
    threads = [threading.Thread(target=ring.ensure) for ring in rings]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(KeyRing(tmp_path / "k").public_jwks()["keys"]) == 1
    assert (tmp_path / "k").stat().st_mode & 0o077 == 0


# -- the company's OpenID Connect provider ------------------------------------------
def test_oidc_token_is_verified_against_the_providers_jwks(own_keys, provider):
    kid = provider.new_key()
    auth = authenticator(own_keys, provider)
    principal = auth.principal(bearer(provider.token(kid)))
    assert principal.id == "E1" and principal.roles == ("dept_manager",)
    assert principal.issuer == provider.issuer
    # Keys are cached: a second token costs no fetch.
    fetches = provider.fetches
    auth.principal(bearer(provider.token(kid, jti="second")))
    assert provider.fetches == fetches


def test_oidc_refusals_expired_wrong_audience_unknown_key_and_alg_none(own_keys, provider):
    kid = provider.new_key()
    stranger = provider.new_key(publish=False)
    auth = authenticator(own_keys, provider)
    now = int(time.time())
    assert "expired" in refused(auth, provider.token(kid, exp=now - 3600))
    assert "audience" in refused(auth, provider.token(kid, aud="someone-else"))
    assert "unknown key" in refused(auth, provider.token(stranger))
    unsigned = jwt.encode({"iss": provider.issuer, "aud": "zhidu-console", "sub": "E1",
                           "exp": now + 60}, None, algorithm="none")
    assert "not accepted" in refused(auth, unsigned)
    # Only the suite's own issuer mints service accounts.
    assert "own issuer" in refused(auth, provider.token(kid, sub="svc:payroll"))
    other = jwt.encode({"iss": "https://elsewhere.example", "aud": "zhidu-console",
                        "sub": "E1", "exp": now + 60}, provider.keys[kid], algorithm="RS256",
                       headers={"kid": kid})
    assert "does not trust" in refused(auth, other)


def test_a_rotated_provider_key_is_picked_up_without_a_restart(own_keys, provider):
    old = provider.new_key()
    auth = authenticator(own_keys, provider)
    assert auth.principal(bearer(provider.token(old))).id == "E1"
    new = provider.new_key()          # the provider rotates: a new key in its JWKS
    provider.published = [new]
    assert auth.principal(bearer(provider.token(new))).id == "E1"


def test_provider_roles_count_only_when_configured(own_keys, provider):
    kid = provider.new_key()
    token = provider.token(kid, sub="E7", groups=["hr"])
    assert authenticator(own_keys, provider).principal(bearer(token)).roles == ()
    trusting = authenticator(own_keys, provider, ZHIDU_OIDC_ROLES_CLAIM="groups")
    assert trusting.principal(bearer(token)).roles == ("hr",)


def test_configured_groups_add_roles():
    assert parse_groups("it_admin=E1,E2; hr=E2") == {"E1": {"it_admin"},
                                                     "E2": {"it_admin", "hr"}}
    with pytest.raises(ValueError):
        parse_groups("it_admin")


def test_the_issuers_keys_follow_the_data_directory_unless_placed_elsewhere(monkeypatch,
                                                                             capsys):
    from pathlib import Path

    from zhidu.identity import key_dir
    from zhidu.launcher import print_first_steps

    monkeypatch.delenv("ZHIDU_KEY_DIR", raising=False)
    monkeypatch.delenv("ZHIDU_DATA_DIR", raising=False)
    assert key_dir(None) == Path("var/data/keys")
    monkeypatch.setenv("ZHIDU_DATA_DIR", "/srv/zhidu")       # zhidu run --data-dir /srv/zhidu
    assert key_dir(None) == Path("/srv/zhidu/keys")
    assert key_dir({"ZHIDU_KEY_DIR": "/etc/zhidu/keys"}) == Path("/etc/zhidu/keys")
    monkeypatch.setenv("ZHIDU_KEY_DIR", "/etc/zhidu/keys")
    assert key_dir(None) == Path("/etc/zhidu/keys")
    # The first steps `zhidu run` prints sign with the keys the services trust.
    print_first_steps({}, Path("var/data/keys"))
    assert "$(.venv/bin/zhidu token issue svc:setup" in capsys.readouterr().out
    print_first_steps({}, Path("/srv/zhidu/keys"))
    assert "$(ZHIDU_KEY_DIR=/srv/zhidu/keys .venv/bin/zhidu token issue" in \
        capsys.readouterr().out
