"""A service as ``python -m zhidu.serve`` runs it, minus what proving the caller costs.

``python -m bench.serve_open <service>``: the bench's yardstick for authentication,
never deployed. The bearer token is still read and its claims still make the
caller (so payloads naming an actor, the audit and the events see the same
identity), but its signature, issuer, audience and times are not checked, and
every permission check allows. Set beside the same service started as deployed,
the difference is what authentication and authorisation cost a call.

The change is made here, in this process only: the library and the services have
no setting that turns authentication off.
"""
import eventlet

eventlet.monkey_patch()

import sys  # noqa: E402

import jwt  # noqa: E402
from zhidu import identity, permissions  # noqa: E402
from zhidu.errors import Unauthenticated  # noqa: E402


def _claims_unverified(self, token: str):
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise Unauthenticated("malformed token") from None
    issuer = self.issuers.get(claims.get("iss")) or next(iter(self.issuers.values()))
    return claims, issuer


def _allow(self, *args, **kwargs) -> None:
    return None


def open_doors() -> None:
    identity.Verifier.verify = _claims_unverified
    permissions.Permissions.check = _allow
    permissions.Permissions.precheck = _allow


def main(argv=None):
    from zhidu.serve import main as serve

    open_doors()
    serve(argv)


if __name__ == "__main__":
    sys.exit(main())
