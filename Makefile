# Zhidu — the two commands are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
AMQP_URI ?= amqp://guest:guest@localhost:5672/
export AMQP_URI
SERVICE_DIRS := $(sort $(dir $(wildcard services/*/pyproject.toml)))
STAMP := $(VENV)/.installed

.PHONY: run test unit integration lint bench broker tools browser venv clean docs fuzz

run: venv broker ## the whole suite on its embedded defaults (Ctrl-C stops it)
	$(BIN)/zhidu run

test: venv broker tools browser ## install what the tests need, then unit + integration tests
	$(BIN)/ruff check shared services tests bench
	$(BIN)/python -m pytest -q -p no:cacheprovider
	@if [ -d deploy/prometheus/tests ]; then \
		for t in deploy/prometheus/tests/*.yaml; do promtool test rules $$t || exit 1; done; fi

unit: venv
	$(BIN)/python -m pytest -q -m "not integration"

integration: venv broker
	$(BIN)/python -m pytest -q -m integration

lint: venv
	$(BIN)/ruff check shared services tests bench

bench: venv broker ## throughput and latency figures, with the raw ceilings beside them
	$(BIN)/python -m bench

fuzz: venv broker ## the fuzzer at length, and a valid request's p99 while it runs
	ZHIDU_FUZZ_EXAMPLES=$${ZHIDU_FUZZ_EXAMPLES:-100} ZHIDU_FUZZ_LOAD=1 \
		$(BIN)/python -m pytest -q -s -p no:cacheprovider tests/test_fuzz.py

venv: $(STAMP)

$(STAMP): constraints.txt requirements.txt requirements-dev.txt shared/pyproject.toml $(wildcard services/*/pyproject.toml)
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools==84.2.1 wheel==0.48.0
	$(BIN)/python -m pip install -q -c constraints.txt -r requirements-dev.txt
	$(BIN)/python -m pip install -q -c constraints.txt --no-build-isolation -e shared $(addprefix -e ,$(SERVICE_DIRS))
	touch $@

# A broker on AMQP_URI; when none answers, Debian's rabbitmq-server is installed
# and started. Tests create a vhost per test through the management plugin.
broker:
	@bash deploy/scripts/ensure-broker.sh

# Debian's prometheus and prometheus-alertmanager: promtool and amtool test the
# alerting rules and the routes, and the monitoring tests and `make run` start
# their own servers on ports of their choosing. The packages' post-install would
# start system daemons as well; a policy-rc.d answering 101 (the Debian way to
# say "no service starts now") keeps them from starting at all, so nothing has
# to be stopped afterwards. One already in place is the administrator's and is
# left alone.
tools:
	@if ! command -v promtool >/dev/null || ! command -v amtool >/dev/null; then \
		set -e; own_policy=false; \
		if [ ! -e /usr/sbin/policy-rc.d ]; then \
			printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d; \
			chmod 755 /usr/sbin/policy-rc.d; own_policy=true; \
		fi; \
		trap '$$own_policy && rm -f /usr/sbin/policy-rc.d' EXIT; \
		echo "installing prometheus and prometheus-alertmanager"; \
		apt-get update -qq; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			prometheus prometheus-alertmanager >/dev/null; \
	fi

# Debian's Chromium for the console's end-to-end tests, which drive it
# headless through Playwright (its driver ships in the wheel; Playwright's own
# browser download is never used), and a Chinese font for its screenshots.
browser:
	@if ! command -v chromium >/dev/null || ! dpkg -s fonts-wqy-microhei >/dev/null 2>&1; then \
		echo "installing chromium"; \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; \
	fi

clean:
	rm -rf $(VENV) var .pytest_cache
