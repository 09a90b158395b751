"""What proving the caller costs per call: token verification and the permission check.

Measured in-process on the same code path the operation layer runs: a token
seen for the first time (parse, Ed25519 signature, claims), the same token
again (the verifier's cache), and the permissions file's check for a role rule
and a relation rule. The directory copy is served from memory here, as the
identity cache serves it within ``ZHIDU_IDENTITY_CACHE_SECONDS`` in a service.
"""
from __future__ import annotations

import statistics
import tempfile
import time

from zhidu.identity import Authenticator, KeyRing, issue_token
from zhidu.permissions import Permissions

PEOPLE = {f"E{i}": {"employee_id": f"E{i}", "role": "staff", "manager_id": "M1"}
          for i in range(2000)}
RULES = {"operations": {
    "approve": {"roles": ["gm", "deputy_gm"], "subject": "employee_id", "not_self": True},
    "read": {"relations": ["self", "line_manager"], "roles": ["hr"], "subject": "employee_id"},
}}


class _Service:
    class identity:  # noqa: N801
        person = staticmethod(PEOPLE.get)


def _micro(fn, items) -> dict:
    samples = []
    for item in items:
        started = time.perf_counter()
        fn(item)
        samples.append((time.perf_counter() - started) * 1e6)
    ordered = sorted(samples)
    return {"p50_us": round(statistics.median(ordered), 1),
            "p99_us": round(ordered[int(0.99 * (len(ordered) - 1))], 1)}


def run(**_ignored) -> dict:
    with tempfile.TemporaryDirectory() as keys:
        KeyRing(keys).ensure()
        config = {"ZHIDU_KEY_DIR": keys}
        auth = Authenticator(config, PEOPLE.get)
        tokens = [f"Bearer {issue_token(config, f'E{i}')}" for i in range(2000)]
        cold = _micro(auth.principal, tokens)            # first sight: full verification
        warm = _micro(auth.principal, tokens)            # the same tokens again
        permissions = Permissions.from_dict(RULES, "bench", {"approve", "read"})
        principal = auth.principal(tokens[0])
        manager = auth.principal(f"Bearer {issue_token(config, 'M1')}")
        role_rule = _micro(lambda _: _denied(permissions, "approve", principal),
                           range(2000))
        relation = _micro(lambda i: permissions.check(
            "read", manager, {"employee_id": f"E{i}"}, service=_Service), range(2000))
    door_cold_ms = (cold["p50_us"] + relation["p50_us"]) / 1000
    return {
        "verify_first_sight": cold, "verify_cached": warm,
        "check_role_rule": role_rule, "check_relation_rule": relation,
        "door_p50_ms_first_sight": round(door_cold_ms, 3),
        "door_p50_ms_cached": round((warm["p50_us"] + relation["p50_us"]) / 1000, 3),
        "target_p50_ms": 1.0,
        "within_target": door_cold_ms <= 1.0,
    }


def _denied(permissions, operation, principal):
    try:
        permissions.check(operation, principal, {"employee_id": "E9"})
    except Exception:
        return


if __name__ == "__main__":
    import json
    print(json.dumps(run(), indent=2))
