# The two commands of the README. Everything installs into .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DURATION ?= 60

.PHONY: setup chromium demo test lint clean kafka test-kafka test-tansu

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

# Debian's Chromium and its driver, for the browser tests (Playwright drives the installed
# browser; nothing is downloaded from the internet), when missing.
chromium:
	(command -v chromium && command -v chromedriver) >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq chromium chromium-driver)

setup: $(VENV)/.installed $(BIN)/promtool chromium

# make demo SERVE=1: the pipeline and the screens stay up after the line stops, until Ctrl-C.
demo: setup
	$(BIN)/linetrace demo --duration $(DURATION)$(if $(SERVE), --serve)

lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

# The unit tests, then the integration and fault suites on Apache Kafka 4 (the broker
# production runs). The embedded default has its own leg inside the same run: the demo, the
# bench and the whole-stack restart with state restore start Tansu themselves.
test: lint kafka
	LINETRACE_TEST_BROKER=kafka $(BIN)/pytest -q

clean:
	rm -rf $(VENV) linetrace-data

# Apache Kafka's broker jars from Maven Central (ingest/kafka4/pom.xml pins the version), for
# `linetrace broker --kind kafka` and the tests on Kafka; Java and Maven from Debian if missing.
KAFKA_JARS := ingest/kafka4/jars

$(KAFKA_JARS)/.resolved: ingest/kafka4/pom.xml
	(command -v java && command -v mvn) >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless maven)
	rm -rf $(KAFKA_JARS)
	cd ingest/kafka4 && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=jars
	touch $@

kafka: $(KAFKA_JARS)/.resolved

# The integration and fault suites alone, on Apache Kafka or on the local broker (Tansu).
test-kafka: setup kafka
	LINETRACE_TEST_BROKER=kafka $(BIN)/pytest -q tests/integration

test-tansu: setup
	LINETRACE_TEST_BROKER=tansu $(BIN)/pytest -q tests/integration
