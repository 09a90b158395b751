# eventlet must patch the standard library before anything opens a socket,
# as it does in a running nameko service.
import eventlet

eventlet.monkey_patch()

import os  # noqa: E402

pytest_plugins = ["zhidu.testing"]

_STAND_IN = []


def pytest_configure(config):
    # nameko's fixtures take the broker from --amqp-uri; default it from the env.
    uri = os.environ.get("AMQP_URI")
    if uri and config.getoption("RABBIT_AMQP_URI").startswith("pyamqp://guest:guest@localhost"):
        config.option.RABBIT_AMQP_URI = uri
    if "not integration" in (config.getoption("markexpr") or ""):
        return
    from zhidu.testing import stand_in_broker

    node = stand_in_broker(config.getoption("RABBIT_AMQP_URI"),
                           config.getoption("RABBIT_API_URI"))
    if node is not None:
        _STAND_IN.append(node)
        config.option.RABBIT_AMQP_URI = node.amqp_uri
        config.option.RABBIT_API_URI = node.api_uri


def pytest_unconfigure(config):
    while _STAND_IN:
        _STAND_IN.pop().close()
