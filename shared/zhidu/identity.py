"""Who is calling: bearer tokens, the suite's own issuer and the proven actor.

Every call carries a JWT (REST ``Authorization: Bearer``, RPC context data
``authorization``). Two issuers are trusted side by side: the suite's own, whose
Ed25519 keys live in ``ZHIDU_KEY_DIR`` (by default ``keys`` under the data
directory; generated on first use, never committed), and the company's OpenID
Connect provider when ``ZHIDU_OIDC_ISSUER`` is set, whose keys come from its
JWKS and are re-read when a token names a key we have not seen (a rotation
needs no restart).

A token proves *who* calls; what the caller may do comes from the directory
copy this service keeps (``role`` and reporting lines) and configured groups,
never from the token's say-so — except a service account (``svc:<name>``),
which only the suite's own issuer can mint and whose roles and scopes an
operator chose when minting it.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from .config import setting
from .errors import Unauthenticated

log = logging.getLogger(__name__)

# Asymmetric algorithms only: a shared secret would let every service that
# verifies tokens also mint them. "none" and HS* are never accepted.
ALGORITHMS = ("EdDSA", "ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "PS384")
SERVICE_PREFIX = "svc:"


@dataclass(frozen=True)
class Principal:
    """A proven caller: a person (employee id) or a service account."""

    id: str
    roles: tuple[str, ...] = ()
    scopes: frozenset[str] = frozenset()
    issuer: str = ""
    service_account: bool = False
    person: dict | None = field(default=None, compare=False, hash=False)

    @property
    def role(self) -> str | None:
        return self.roles[0] if self.roles else None

    def actor(self) -> dict:
        return {"id": self.id, "role": self.role}

    def holds_scope(self, wanted: Iterable[str]) -> bool:
        if "*" in self.scopes:
            return True
        return any(scope in self.scopes for scope in wanted)


# -- the suite's own issuer -----------------------------------------------------------
class KeyRing:
    """The own issuer's Ed25519 keys in one directory.

    ``current`` names the signing key; ``jwks.json`` lists the public half of
    every key still trusted, so a rotation keeps tokens signed by the previous
    key valid until they expire.
    """

    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory)

    @property
    def jwks_path(self) -> Path:
        return self.dir / "jwks.json"

    def exists(self) -> bool:
        return (self.dir / "current").exists()

    def ensure(self) -> KeyRing:
        """Create the first key unless one exists; safe when two processes race."""
        if self.exists():
            return self
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        lock = self.dir / ".creating"
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            deadline = time.monotonic() + 10
            while not self.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            if not self.exists():
                raise RuntimeError(f"another process left {lock} behind; remove it") from None
            return self
        try:
            os.close(fd)
            self.rotate()
        finally:
            lock.unlink(missing_ok=True)
        return self

    def rotate(self, keep: int = 2) -> str:
        """A new signing key; the newest ``keep`` public keys stay trusted."""
        key = Ed25519PrivateKey.generate()
        kid = uuid.uuid4().hex[:16]
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        private = self.dir / f"{kid}.pem"
        fd = os.open(private, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        jwk = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
        jwk.update({"kid": kid, "use": "sig", "alg": "EdDSA"})
        keys = [jwk] + self.public_jwks().get("keys", [])[: max(0, keep - 1)]
        _write_atomically(self.jwks_path, json.dumps({"keys": keys}, indent=2))
        _write_atomically(self.dir / "current", kid)
        return kid

    def public_jwks(self) -> dict:
        try:
            return json.loads(self.jwks_path.read_text())
        except FileNotFoundError:
            return {"keys": []}

    def signing_key(self) -> tuple[str, Ed25519PrivateKey]:
        kid = (self.dir / "current").read_text().strip()
        pem = (self.dir / f"{kid}.pem").read_bytes()
        return kid, serialization.load_pem_private_key(pem, password=None)

    def issue(self, subject: str, *, issuer: str, audience: str, ttl: int,
              roles: Iterable[str] = (), scopes: Iterable[str] = ()) -> str:
        kid, key = self.signing_key()
        now = int(time.time())
        claims = {"iss": issuer, "aud": audience, "sub": subject, "iat": now, "nbf": now,
                  "exp": now + int(ttl), "jti": uuid.uuid4().hex}
        if subject.startswith(SERVICE_PREFIX):
            claims["roles"] = list(roles)
            claims["scope"] = " ".join(scopes)
        return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:6]}")
    tmp.write_text(text)
    os.replace(tmp, path)


def key_dir(config) -> Path:
    """``ZHIDU_KEY_DIR``, or ``keys`` under the data directory when it is unset."""
    explicit = setting(config, "ZHIDU_KEY_DIR")
    if explicit:
        return Path(explicit)
    return Path(setting(config, "ZHIDU_DATA_DIR")) / "keys"


def issue_token(config, subject: str, *, roles=(), scopes=(), ttl: int | None = None) -> str:
    """Mint a token with the own issuer's key (operators, the directory's login)."""
    ring = KeyRing(key_dir(config)).ensure()
    return ring.issue(subject, issuer=setting(config, "ZHIDU_ISSUER"),
                      audience=setting(config, "ZHIDU_AUDIENCE"),
                      ttl=int(ttl or setting(config, "ZHIDU_TOKEN_TTL")),
                      roles=roles, scopes=scopes)


# -- verification ---------------------------------------------------------------------
class LocalKeys:
    """Public keys from a JWKS file, re-read when the file changes (rotation)."""

    def __init__(self, path: Path):
        self.path = path
        self._stamp = None
        self._keys: dict[str, jwt.PyJWK] = {}
        self._lock = threading.Lock()

    def key(self, kid: str | None):
        with self._lock:
            try:
                stamp = self.path.stat().st_mtime_ns
            except FileNotFoundError:
                raise Unauthenticated("the issuer's keys are not available here") from None
            if stamp != self._stamp:
                keys = jwt.PyJWKSet.from_json(self.path.read_text()).keys
                self._keys = {k.key_id: k for k in keys}
                self._stamp = stamp
        if kid not in self._keys:
            raise Unauthenticated("token signed by an unknown key")
        return self._keys[kid]


class RemoteKeys:
    """Public keys from an HTTP(S) JWKS endpoint, cached; an unknown kid refetches."""

    def __init__(self, url: str, lifespan: float, cooldown: float = 5.0):
        # The cooldown bounds how often a stream of tokens with made-up key ids
        # can make us refetch the provider's keys.
        self.client = jwt.PyJWKClient(url, cache_jwk_set=True, lifespan=lifespan,
                                      timeout=5, cooldown_duration=cooldown)

    def key(self, kid: str | None):
        try:
            return self.client.get_signing_key(kid)
        except jwt.PyJWKClientConnectionError as exc:
            log.warning("could not fetch the issuer's keys: %s", exc)
            raise Unauthenticated("the issuer's keys are not reachable") from None
        except jwt.PyJWKClientError:
            raise Unauthenticated("token signed by an unknown key") from None


@dataclass
class TrustedIssuer:
    name: str
    audience: str
    keys: LocalKeys | RemoteKeys
    own: bool  # the suite's own issuer: the only one that may mint service accounts
    subject_claim: str = "sub"
    roles_claim: str | None = None


class Verifier:
    """Verifies tokens against the trusted issuers; remembers good ones until expiry.

    Parsing and checking a signature costs far more than a dict look-up, and
    one person calls many times with the same token.
    """

    MAX_CACHED = 20_000

    def __init__(self, issuers: list[TrustedIssuer], leeway: float):
        self.issuers = {i.name: i for i in issuers}
        self.leeway = leeway
        self._cache: dict[str, tuple[dict, TrustedIssuer]] = {}

    def verify(self, token: str) -> tuple[dict, TrustedIssuer]:
        hit = self._cache.get(token)
        now = time.time()
        if hit is not None:
            claims = hit[0]
            if claims["exp"] + self.leeway > now:
                return hit
            self._cache.pop(token, None)
            raise Unauthenticated("token expired")
        claims, issuer = self._verify(token)
        if claims.get("nbf", 0) - self.leeway <= now:
            if len(self._cache) >= self.MAX_CACHED:
                self._cache.clear()
            self._cache[token] = (claims, issuer)
        return claims, issuer

    def _verify(self, token: str) -> tuple[dict, TrustedIssuer]:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise Unauthenticated("malformed token") from None
        if header.get("alg") not in ALGORITHMS:
            raise Unauthenticated(f"token algorithm {header.get('alg')!r} is not accepted")
        issuer = self.issuers.get(unverified.get("iss")) if isinstance(unverified, dict) else None
        if issuer is None:
            raise Unauthenticated("token from an issuer this service does not trust")
        key = issuer.keys.key(header.get("kid"))
        try:
            claims = jwt.decode(
                token, key, algorithms=list(ALGORITHMS), audience=issuer.audience,
                issuer=issuer.name, leeway=self.leeway,
                options={"require": ["exp", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("token not valid yet") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated("token meant for another audience") from None
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"invalid token: {type(exc).__name__}") from None
        return claims, issuer


def parse_groups(text: str | None) -> dict[str, set[str]]:
    """``"it_admin=E1,E2;hr=E3"`` → ``{"E1": {"it_admin"}, ...}`` (person → extra roles)."""
    grants: dict[str, set[str]] = {}
    for part in (text or "").split(";"):
        if not part.strip():
            continue
        role, _, people = part.partition("=")
        if not role.strip() or not people.strip():
            raise ValueError(f"ZHIDU_GROUPS: {part!r} is not role=id,id")
        for person in people.split(","):
            if person.strip():
                grants.setdefault(person.strip(), set()).add(role.strip())
    return grants


def build_verifier(config) -> Verifier:
    own = setting(config, "ZHIDU_ISSUER")
    jwks_url = setting(config, "ZHIDU_JWKS_URL")
    lifespan = float(setting(config, "ZHIDU_JWKS_CACHE_SECONDS"))
    cooldown = float(setting(config, "ZHIDU_JWKS_REFRESH_COOLDOWN"))
    own_keys = (RemoteKeys(jwks_url, lifespan, cooldown) if jwks_url
                else LocalKeys(KeyRing(key_dir(config)).jwks_path))
    issuers = [TrustedIssuer(own, setting(config, "ZHIDU_AUDIENCE"), own_keys, own=True)]
    oidc = setting(config, "ZHIDU_OIDC_ISSUER")
    if oidc:
        url = setting(config, "ZHIDU_OIDC_JWKS_URL") or _discover_jwks(oidc)
        issuers.append(TrustedIssuer(
            oidc, setting(config, "ZHIDU_OIDC_AUDIENCE") or setting(config, "ZHIDU_AUDIENCE"),
            RemoteKeys(url, lifespan, cooldown), own=False,
            subject_claim=setting(config, "ZHIDU_OIDC_SUBJECT_CLAIM"),
            roles_claim=setting(config, "ZHIDU_OIDC_ROLES_CLAIM") or None))
    return Verifier(issuers, token_leeway(config))


# Clock skew worth tolerating is seconds; minutes more would keep an expired
# token (a departed person's, a leaked one) working that much longer.
MAX_LEEWAY_SECONDS = 300


def token_leeway(config) -> float:
    """``ZHIDU_TOKEN_LEEWAY``, refused at start-up outside 0-300 seconds."""
    text = setting(config, "ZHIDU_TOKEN_LEEWAY")
    try:
        leeway = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"ZHIDU_TOKEN_LEEWAY={text!r} is not a number of seconds") from None
    if not 0 <= leeway <= MAX_LEEWAY_SECONDS:
        raise ValueError(f"ZHIDU_TOKEN_LEEWAY={text!r}: the clock skew tolerated on a "
                         f"token's exp and nbf must be 0 to {MAX_LEEWAY_SECONDS} seconds; "
                         "more would keep expired tokens working")
    return leeway


def _discover_jwks(issuer: str) -> str:
    import requests

    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        return requests.get(url, timeout=5).json()["jwks_uri"]
    except Exception:
        # Started before the provider answers: the conventional path, checked later.
        log.warning("OIDC discovery at %s failed; using %s/jwks", url, issuer)
        return issuer.rstrip("/") + "/jwks"


def bearer_token(header: str | None) -> str:
    if not header:
        raise Unauthenticated("no bearer token: send Authorization: Bearer <token>")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <token>'")
    return token.strip()


class Authenticator:
    """Turns a bearer header into a :class:`Principal` (one per container)."""

    def __init__(self, config, people):
        self.verifier = build_verifier(config)
        self.groups = parse_groups(setting(config, "ZHIDU_GROUPS"))
        self.people = people  # employee_id → directory copy or None (cached)

    def principal(self, header: str | None) -> Principal:
        claims, issuer = self.verifier.verify(bearer_token(header))
        subject = claims.get(issuer.subject_claim) if issuer.subject_claim else None
        if not isinstance(subject, str) or not subject:
            raise Unauthenticated(f"token has no {issuer.subject_claim!r} claim")
        if subject.startswith(SERVICE_PREFIX):
            if not issuer.own:
                raise Unauthenticated("service accounts are minted by the suite's own issuer")
            scopes = claims.get("scope") or ""
            return Principal(subject, tuple(claims.get("roles") or ()),
                             frozenset(scopes.split()), issuer.name, service_account=True)
        person = self.people(subject)
        if person is not None and person.get("departed_at"):
            raise Unauthenticated(f"{subject} has left the company")
        roles: list[str] = []
        if person is not None:
            roles.append(person.get("role") or "staff")
        if issuer.roles_claim:
            claimed = claims.get(issuer.roles_claim) or []
            roles += [r for r in claimed if isinstance(r, str)]
        roles += sorted(self.groups.get(subject, ()))
        return Principal(subject, tuple(dict.fromkeys(roles)), frozenset(), issuer.name,
                         person=person)
