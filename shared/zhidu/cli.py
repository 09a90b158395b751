"""The ``zhidu`` command: run the suite, one service, or operate dead letters."""
from __future__ import annotations

import argparse
import json
import sys

from .config import setting


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "run":
        from .launcher import main as run
        return run(argv[1:])
    if argv and argv[0] == "docs":
        from .docs import main as docs
        return docs(argv[1:])
    if argv and argv[0] == "serve":
        from .serve import main as serve
        return serve(argv[1:])
    if argv and argv[0] == "broker":
        from .broker import main as broker
        return broker(argv[1:])
    if argv and argv[0] == "deploy":
        from .deploysecrets import main as deploy
        return deploy(argv[1:])
    parser = argparse.ArgumentParser(prog="zhidu")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="the whole suite (zhidu run --help)")
    sub.add_parser("serve", help="one service in this process")
    sub.add_parser("docs", help="regenerate the event catalogue, JSON Schemas, AsyncAPI")
    sub.add_parser("broker", help="load each service's broker user and permissions "
                                  "into a broker (zhidu broker --help)")
    sub.add_parser("deploy", help="zhidu deploy secrets: the deployment's generated passwords")
    dlq = sub.add_parser("dlq", help="list or replay a service's dead letters")
    dlq.add_argument("action", choices=["list", "replay"])
    dlq.add_argument("service")
    dlq.add_argument("--id", action="append", dest="ids", help="only these ids")
    sub.add_parser("services", help="the services installed here")
    token = sub.add_parser("token", help="mint a token with the suite's own key, or rotate it")
    token.add_argument("action", choices=["issue", "rotate-key"])
    token.add_argument("subject", nargs="?",
                       help="an employee id, or svc:<name> for a service account")
    token.add_argument("--role", action="append", default=[],
                       help="a service account's role (repeatable); a person's roles "
                            "come from the directory")
    token.add_argument("--scope", action="append", default=[],
                       help="a service account's scope (repeatable), e.g. ops, "
                            "attendance:clock, complaints:*")
    token.add_argument("--ttl", type=int, default=None, help="seconds (default ZHIDU_TOKEN_TTL)")
    args = parser.parse_args(argv)
    if args.command == "token":
        return _token(parser, args)
    if args.command == "services":
        from .plugins import discover
        for plugin in discover().values():
            print(f"{plugin.name:15} :{plugin.port}  {plugin.summary}")
        return 0
    from .events import list_dead_letters, replay_dead_letters
    uri = setting(None, "AMQP_URI")
    if args.action == "list":
        print(json.dumps(list_dead_letters(uri, args.service), ensure_ascii=False, indent=2))
    else:
        print(json.dumps(replay_dead_letters(uri, args.service, args.ids), indent=2))
    return 0


def _token(parser, args) -> int:
    from .identity import SERVICE_PREFIX, KeyRing, issue_token, key_dir

    if args.action == "rotate-key":
        kid = KeyRing(key_dir(None)).ensure().rotate()
        print(f"new signing key {kid}; tokens signed by the previous key stay valid "
              "until they expire", file=sys.stderr)
        return 0
    if not args.subject:
        parser.error("token issue needs a subject: an employee id or svc:<name>")
    is_service = args.subject.startswith(SERVICE_PREFIX)
    if (args.role or args.scope) and not is_service:
        parser.error("--role and --scope are for service accounts (svc:<name>); a person's "
                     "roles come from the directory")
    if is_service and not args.scope:
        parser.error("a service account acts only within its scopes: give --scope")
    print(issue_token(None, args.subject, roles=args.role, scopes=args.scope, ttl=args.ttl))
    return 0


if __name__ == "__main__":
    sys.exit(main())
