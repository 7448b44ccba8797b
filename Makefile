# The two commands of the README. Everything installs into .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DURATION ?= 60

.PHONY: setup demo test lint clean kafka test-kafka

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

# The integration and fault suites on Apache Kafka instead of the local broker.
test-kafka: setup kafka
	LINETRACE_TEST_BROKER=kafka $(BIN)/pytest -q tests/integration
