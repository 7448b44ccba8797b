# The two commands of the README. Everything installs into .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DURATION ?= 60

.PHONY: setup demo test lint clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,loadtest]'
	touch $@

# promtool (alert rules and dashboard PromQL are checked by the tests) from Debian's
# prometheus package, unpacked without installing the service.
$(BIN)/promtool: $(VENV)/.installed
	rm -rf $(VENV)/deb && mkdir -p $(VENV)/deb
	cd $(VENV)/deb && (apt-get download prometheus 2>/dev/null || (apt-get update -qq && apt-get download prometheus))
	dpkg-deb -x $(VENV)/deb/prometheus_*.deb $(VENV)/deb/root
	cp $(VENV)/deb/root/usr/bin/promtool $@
	rm -rf $(VENV)/deb

setup: $(VENV)/.installed $(BIN)/promtool

demo: setup
	$(BIN)/linetrace demo --duration $(DURATION)

lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) linetrace-data
