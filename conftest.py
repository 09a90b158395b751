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


FIGURE = "figure"


def pytest_terminal_summary(terminalreporter):
    """What the tests measured, at the end of every run, even under -q: each
    ``record_property("figure", "...")`` of a test that ran."""
    figures = []
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, ()):
            if getattr(report, "when", None) != "call":
                continue
            for name, value in report.user_properties:
                if name == FIGURE:
                    figures.append((report.nodeid, value, outcome))
    if not figures:
        return
    terminalreporter.section("figures", sep="-")
    for nodeid, value, outcome in figures:
        suffix = "" if outcome == "passed" else "  (the test failed after measuring this)"
        terminalreporter.write_line(f"{value}{suffix}")
        terminalreporter.write_line(f"    {nodeid}")
