"""Run one service in this process: ``python -m zhidu.serve <name>``.

Equivalent to ``nameko run`` with the suite's configuration taken from the
environment, and the service's own HTTP port on ``ZHIDU_BIND_ADDRESS`` (every
interface when unset) unless WEB_SERVER_ADDRESS says otherwise.
"""
import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402

from nameko.cli.run import run  # noqa: E402

from .config import setting  # noqa: E402
from .plugins import load  # noqa: E402


def service_config(plugin) -> dict:
    bind = setting(None, "ZHIDU_BIND_ADDRESS") or "0.0.0.0"
    if ":" in bind and not bind.startswith("["):
        bind = f"[{bind}]"  # an IPv6 address, written as a URL host
    config = {"AMQP_URI": setting(None, "AMQP_URI"),
              "WEB_SERVER_ADDRESS": os.environ.get("WEB_SERVER_ADDRESS")
              or f"{bind}:{plugin.port}"}
    for key, value in os.environ.items():
        if key.startswith("ZHIDU_") or key in ("MONGO_URI",):
            config[key] = value
    return config


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("service")
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("ZHIDU_LOG_LEVEL", "INFO"),
                        format=f"%(asctime)s {args.service} %(levelname)s %(name)s: %(message)s")
    try:
        plugin = load(args.service)
    except LookupError as exc:
        parser.error(str(exc))
    run([plugin.load_class()], service_config(plugin))


if __name__ == "__main__":
    main()
