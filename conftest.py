# eventlet must patch the standard library before anything opens a socket,
# as it does in a running nameko service.
import eventlet

eventlet.monkey_patch()

import os  # noqa: E402

pytest_plugins = ["zhidu.testing"]


def pytest_configure(config):
    # nameko's fixtures take the broker from --amqp-uri; default it from the env.
    uri = os.environ.get("AMQP_URI")
    if uri and config.getoption("RABBIT_AMQP_URI").startswith("pyamqp://guest:guest@localhost"):
        config.option.RABBIT_AMQP_URI = uri
