"""``zhidu deploy secrets``: the deployment's passwords, made here, never committed.

Writes ``deploy/secrets/`` (git-ignored, readable by its owner only):

* ``mongo.env`` — the database's root password, the replica set's shared key
  and one password per service (``ZHIDU_MONGO_PASSWORD_<SERVICE>``), for the
  ``mongo`` container and its ``deploy/mongo/init-users.js``;
* ``rabbitmq.env`` — the broker's administrator and one password per service
  (``ZHIDU_AMQP_PASSWORD_<SERVICE>``), for the ``rabbitmq`` container and the
  per-service broker users;
* ``<service>.env`` — that service's ``AMQP_URI`` and ``MONGO_URI``, with its
  own user (the service's name) and password, for its container;
* ``grafana.env`` — Grafana's administrator password
  (``deploy/grafana/compose.monitoring.yaml``);
* ``k8s.yaml`` — the same as Kubernetes Secrets (``zhidu-<service>-connections``)
  and the token issuer's signing keys (``zhidu-signing-keys``).

Passwords already there are kept, so running it again after installing a new
service adds that service's and changes nothing else; ``--rotate`` makes new
ones throughout (the database's users then need their passwords changed too).
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import tempfile
from pathlib import Path

from .plugins import discover

ROOT_USER = "root"
ADMIN_USER = "admin"


def password() -> str:
    """URL-safe, so it goes into a connection URI as it is."""
    return secrets.token_urlsafe(24)


def read_env(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            values[key.strip()] = value.strip()
    return values


def env_text(title: str, values: dict[str, str]) -> str:
    lines = [f"# {title}", "# Written by `zhidu deploy secrets`; never commit this file."]
    return "\n".join([*lines, *(f"{k}={v}" for k, v in values.items()), ""])


def generate(services: list[str], old_mongo: dict, old_rabbit: dict, *,
             amqp_host: str = "rabbitmq", mongo_host: str = "mongo",
             rotate: bool = False) -> dict[str, dict[str, str]]:
    """Every env file's values: ``mongo``, ``rabbitmq`` and one per service."""
    def kept(old: dict, key: str, make=password) -> str:
        return old[key] if key in old and old[key] and not rotate else make()

    mongo = {"MONGO_INITDB_ROOT_USERNAME": ROOT_USER,
             "MONGO_INITDB_ROOT_PASSWORD": kept(old_mongo, "MONGO_INITDB_ROOT_PASSWORD"),
             # mongod's key file: base64 characters, 6 to 1024 of them.
             "ZHIDU_MONGO_KEY": kept(old_mongo, "ZHIDU_MONGO_KEY",
                                     lambda: secrets.token_hex(256))}
    rabbit = {"RABBITMQ_DEFAULT_USER": ADMIN_USER,
              "RABBITMQ_DEFAULT_PASS": kept(old_rabbit, "RABBITMQ_DEFAULT_PASS")}
    out = {}
    for service in services:
        mongo_key = f"ZHIDU_MONGO_PASSWORD_{service.upper()}"
        amqp_key = f"ZHIDU_AMQP_PASSWORD_{service.upper()}"
        mongo[mongo_key] = kept(old_mongo, mongo_key)
        rabbit[amqp_key] = kept(old_rabbit, amqp_key)
        out[service] = {
            "AMQP_URI": f"amqp://{service}:{rabbit[amqp_key]}@{amqp_host}:5672/",
            "MONGO_URI": f"mongodb://{service}:{mongo[mongo_key]}@{mongo_host}:27017/"
                         "?replicaSet=rs0&directConnection=true&authSource=admin",
        }
    return {"mongo": mongo, "rabbitmq": rabbit, **out}


def kubernetes_secrets(connections: dict[str, dict[str, str]], keys: dict[str, str]) -> str:
    documents = []
    for service, values in connections.items():
        documents.append(_secret(f"zhidu-{service}-connections", values))
    documents.append(_secret("zhidu-signing-keys", keys))
    return "# Written by `zhidu deploy secrets`; never commit this file.\n" \
        + "---\n".join(documents)


def _secret(name: str, values: dict[str, str]) -> str:
    # JSON strings are YAML strings: no quoting rules of our own to get wrong.
    body = "\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in values.items())
    return (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n"
            f"  labels: {{app.kubernetes.io/part-of: zhidu}}\ntype: Opaque\n"
            f"stringData:\n{body}\n")


def signing_keys(directory: Path) -> dict[str, str]:
    """The issuer's key files (made on first run, kept after), by file name."""
    from .identity import KeyRing

    ring = KeyRing(directory).ensure()
    return {path.name: path.read_text(encoding="utf-8")
            for path in sorted(ring.dir.iterdir())
            if path.is_file() and not path.name.startswith(".")}


def write_private(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="zhidu deploy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("secrets", help="write deploy/secrets/ (kept passwords stay)")
    make.add_argument("--dir", default="deploy/secrets")
    make.add_argument("--amqp-host", default="rabbitmq",
                      help="the broker's host name in the URIs (Kubernetes: its Service)")
    make.add_argument("--mongo-host", default="mongo",
                      help="the database's host name in the URIs")
    make.add_argument("--rotate", action="store_true", help="new passwords throughout")
    args = parser.parse_args(argv)
    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    services = list(discover())
    values = generate(services, read_env(directory / "mongo.env"),
                      read_env(directory / "rabbitmq.env"), amqp_host=args.amqp_host,
                      mongo_host=args.mongo_host, rotate=args.rotate)
    write_private(directory / "mongo.env", env_text("The database (deploy/compose.yaml: mongo)",
                                                    values.pop("mongo")))
    write_private(directory / "rabbitmq.env",
                  env_text("The broker (deploy/compose.yaml: rabbitmq)", values.pop("rabbitmq")))
    grafana = read_env(directory / "grafana.env").get("GF_SECURITY_ADMIN_PASSWORD")
    write_private(directory / "grafana.env", env_text(
        "Grafana (deploy/grafana/compose.monitoring.yaml)",
        {"GF_SECURITY_ADMIN_PASSWORD": grafana if grafana and not args.rotate
         else password()}))
    for service, connection in values.items():
        write_private(directory / f"{service}.env",
                      env_text(f"The {service} service's connections", connection))
    write_private(directory / "k8s.yaml",
                  kubernetes_secrets(values, signing_keys(directory / "keys")))
    print(f"wrote {directory}/: mongo.env, rabbitmq.env, grafana.env, k8s.yaml and one env "
          f"file for each of {', '.join(services)}")
    return 0
