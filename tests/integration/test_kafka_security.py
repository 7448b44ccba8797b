"""linetrace on Apache Kafka's SASL_SSL listener, secured as production is: SCRAM-SHA-512
users, a broker certificate from a CA the test makes, Kafka's StandardAuthorizer and the ACLs
of ingest/kafkaacl.py (the same as the Strimzi KafkaUsers), one principal per kind of process.

Kafka only: Tansu has neither SASL nor ACLs."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from ingest.broker import free_port
from ingest.cli.stack import stack_settings
from ingest.kafka import (
    client_config,
    create_topics,
    deliver_or_raise,
    make_consumer,
    make_producer,
    read_partitions,
)
from ingest.kafkaacl import PUBLISHER, READER, SINK, WORKER
from ingest.kafkabroker import KafkaBroker
from ingest.kafkatls import certificate_authority
from ingest.plant import Plant, parse_plant
from ingest.processes import child_env, stop_process
from ingest.schema import HoldEvent
from ingest.settings import Settings
from ingest.timefmt import now_us
from ingest.topics import Topics
from ingest.wire import encode_hold, encode_report
from tests.integration.brokers import kafka_only
from tests.integration.conftest import Pipeline, Process
from tests.integration.scenario import LINE, PLANT, SITE, build

pytestmark = kafka_only


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka-secured"), secured=True)
    began = time.monotonic()
    with broker:
        up = time.monotonic() - began
        print(f"secured Kafka broker: up after {up:.1f} s, {broker.started_in_s:.1f} s of them serving")
        yield broker


@pytest.fixture
def settings(secured: KafkaBroker, tmp_path: Path) -> Settings:
    """The super user's settings for a fresh set of topics, with every principal's ACLs on them."""
    run = uuid.uuid4().hex[:8]
    settings = stack_settings(secured.tuned(Settings()), tmp_path, "tests").with_(
        topic_prefix=f"t{run}", worker_id=f"w{run}", partitions=2, reorder_window_s=0.5
    )
    create_topics(settings)
    secured.grant(settings)
    return settings


def test_a_reader_may_publish_reads_and_nothing_else(secured: KafkaBroker, settings: Settings) -> None:
    topics = Topics.of(settings)
    reader = secured.as_principal(settings, READER)
    report = build(now_us())[0][0]
    producer = make_producer(reader)
    producer.produce(topics.reads, encode_report(report), key=report.reader_id.encode())
    deliver_or_raise(producer)
    arrived = [m.value() for m in read_partitions(settings, topics.reads, [0, 1])]
    assert arrived == [encode_report(report)]

    producer.produce(topics.trace, b"{}")
    with pytest.raises(KafkaException) as refused:
        deliver_or_raise(producer)
    assert refused.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    # Asked for the trace by name, the broker says the reader may not see it; subscribed to it
    # as the sink is, the reader gets no group and not one record.
    described = AdminClient(client_config(reader)).list_topics(topics.trace, timeout=10).topics[topics.trace]
    assert described.error is not None and described.error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert _errors_subscribing(reader, topics.trace) == {KafkaError.GROUP_AUTHORIZATION_FAILED}


def _errors_subscribing(settings: Settings, topic: str) -> set[int]:
    """What a consumer that subscribes to ``topic`` as the sink does is told in 5 s (and that
    it reads nothing)."""
    consumer = make_consumer(settings, f"{settings.worker_id}-sink")
    errors: set[int] = set()
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=10, timeout=0.5):
                error = msg.error()
                assert error is not None, "a record was read"
                errors.add(error.code())
    finally:
        consumer.close()
    return errors


PUBLISH = ["plant", "publish", "plant.yaml"]
# It reads the published plant first, to check the job's line and product against it.
JOB_CREATE = ["job", "create", "--site", SITE, "--line", LINE, "--job", "J-1", "--product", "PART"]


@pytest.mark.parametrize(
    "command", [pytest.param(PUBLISH, id="plant publish"), pytest.param(JOB_CREATE, id="job create")]
)
@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        pytest.param(
            "password",
            "SASL authentication error: Authentication failed during authentication due to invalid "
            "credentials with SASL mechanism SCRAM-SHA-512",
            id="wrong password",
        ),
        pytest.param("ca", "certificate verify failed", id="untrusted certificate"),
    ],
)
def test_a_refused_connection_is_one_line(
    secured: KafkaBroker, settings: Settings, tmp_path: Path, wrong: str, says: str, command: list[str]
) -> None:
    publisher = secured.as_principal(settings, PUBLISHER)
    (tmp_path / "plant.yaml").write_text(json.dumps(PLANT))
    if wrong == "password":
        publisher = publisher.with_(kafka_sasl_password="not-" + publisher.kafka_sasl_password)
    else:
        other_ca, _ = certificate_authority(tmp_path / "other-ca", "someone else's CA")
        publisher = publisher.with_(kafka_ssl_cafile=str(other_ca))
    done = subprocess.run(
        [sys.executable, "-m", "ingest.cli", *command],
        env=child_env(publisher) | {"PYTHONFAULTHANDLER": "1"},  # a crash shows where it was
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"linetrace: Kafka at {settings.kafka_bootstrap}: "), done.stderr
    assert says in done.stderr
    assert done.stderr.count("\n") == 1, done.stderr


def test_the_secured_broker_command_prints_what_a_process_connects_with(tmp_path: Path) -> None:
    """`linetrace broker --kind kafka --secured`, and `linetrace plant publish` with the
    environment it prints for linetrace-admin."""
    ours = Settings().with_(topic_prefix=f"t{uuid.uuid4().hex[:8]}")
    command = ["broker", "--kind", "kafka", "--secured", "--port", str(free_port())]
    broker = subprocess.Popen(
        [sys.executable, "-m", "ingest.cli", *command, "--data-dir", str(tmp_path / "kafka")],
        env=child_env(ours),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert broker.stdout is not None
        printed = []
        for line in broker.stdout:  # the environments, then a line saying it serves
            printed.append(line)
            if "Ctrl-C stops it" in line:
                break
        admin = _exports("".join(printed), PUBLISHER)
        assert set(admin) == {f"LINETRACE_KAFKA_{k}" for k in _CONNECTION}
        (tmp_path / "plant.yaml").write_text(json.dumps(PLANT))
        env = child_env(ours) | admin
        done = subprocess.run(
            [sys.executable, "-m", "ingest.cli", *PUBLISH],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
    finally:
        stop_process(broker)  # type: ignore[arg-type]  # text mode: the same process


_CONNECTION = (
    "BOOTSTRAP",
    "SECURITY_PROTOCOL",
    "SASL_MECHANISM",
    "SASL_USERNAME",
    "SASL_PASSWORD",
    "SSL_CAFILE",
)


def _exports(printed: str, principal: str) -> dict[str, str]:
    """The ``export`` lines of the block headed ``# principal:``."""
    block = printed.split(f"# {principal}:", 1)[1].split("\n\n", 1)[0]
    return dict(
        shlex.split(line)[1].split("=", 1) for line in block.splitlines() if line.startswith("export ")
    )


class SecuredPipeline(Pipeline):
    """The local stack with each process authenticated as its own principal."""

    PRINCIPALS = {"worker": WORKER, "sink": SINK}

    def __init__(self, broker: KafkaBroker, settings: Settings, plant: Plant, log_dir: Path):
        super().__init__(settings, plant, log_dir)
        self.broker = broker

    def launch(self, name: str, args: list[str], settings: Settings | None = None) -> Process:
        principal = self.broker.as_principal(settings or self.settings, self.PRINCIPALS[name])
        return Process(args, principal, self.log_dir / f"{name}.log")


def test_the_pipeline_runs_with_a_principal_per_process(
    secured: KafkaBroker, settings: Settings, tmp_path: Path
) -> None:
    base = now_us() - 600 * 1_000_000
    reports, _, keys = build(base)
    settings = settings.with_(reader_metrics_port=free_port())
    p = SecuredPipeline(secured, settings, parse_plant(PLANT), tmp_path)
    try:
        p.start()  # topics and plant as the super user; the worker and the sink as themselves
        reader = make_producer(secured.as_principal(settings, READER))
        for r in reports:
            reader.produce(p.topics.reads, encode_report(r), key=r.reader_id.encode())
        reader.produce(p.topics.reads, b"{not json", key=b"RA")
        deliver_or_raise(reader)
        hold = HoldEvent(
            event="placed",
            hold_id="H-1",
            site=SITE,
            line=LINE,
            items=(keys["p5"],),
            hold_type="material",
            owner="QA",
            reason="bad lot",
            time_us=base,
        )
        assert p.post("hold", encode_hold(hold)) == (202, p.topics.jobs)  # written as linetrace-sink

        stored = len(reports)
        p.wait_until(lambda: p.query("summary")["reads"]["reports"] == stored, what="every cycle stored")
        p.wait_until(lambda: p.query("summary")["passes"]["passes"] == 14, what="every pass judged")
        dead = p.query("summary")["dead_letters"]
        assert {d["reason"]: d["records"] for d in dead} == {"malformed_json": 1}
        for name in ("worker", "sink"):
            assert "AUTHORIZATION_FAILED" not in p.processes[name].log(), p.processes[name].log()
    finally:
        p.stop()
