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
    parser = argparse.ArgumentParser(prog="zhidu")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="the whole suite (zhidu run --help)")
    sub.add_parser("serve", help="one service in this process")
    sub.add_parser("docs", help="regenerate the event catalogue, JSON Schemas, AsyncAPI")
    dlq = sub.add_parser("dlq", help="list or replay a service's dead letters")
    dlq.add_argument("action", choices=["list", "replay"])
    dlq.add_argument("service")
    dlq.add_argument("--id", action="append", dest="ids", help="only these ids")
    sub.add_parser("services", help="the services installed here")
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
