"""``linetrace broker --kind kafka --secured``: Apache Kafka on loopback with the listener
production has (SASL_SSL, SCRAM-SHA-512, ACLs), and the environment each linetrace principal
needs to connect to it, so its processes can be tried against a secured broker on one machine.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path

from ingest import kafkaacl
from ingest.kafka import create_topics
from ingest.kafkabroker import SUPERUSER, KafkaBroker
from ingest.settings import PREFIX, Settings

# The variables that say where the broker is and who a process is on it.
CONNECTION = (
    "kafka_bootstrap",
    "kafka_security_protocol",
    "kafka_sasl_mechanism",
    "kafka_sasl_username",
    "kafka_sasl_password",
    "kafka_ssl_cafile",
)
# What each principal is for (docs/operations.md, "Kafka security").
USES = {
    kafkaacl.READER: "linetrace reader run",
    kafkaacl.WORKER: "linetrace worker",
    kafkaacl.SINK: "linetrace sink",
    kafkaacl.PUBLISHER: "linetrace plant publish",
    SUPERUSER: "linetrace topics, state restore; the super user",
}


def connection_env(settings: Settings) -> dict[str, str]:
    """The ``LINETRACE_KAFKA_*`` variables of ``settings`` that connect a process to Kafka."""
    env = settings.to_env()
    return {PREFIX + name.upper(): env[PREFIX + name.upper()] for name in CONNECTION}


def env_text(principal: str, env: dict[str, str]) -> str:
    """One principal's environment as shell lines to paste or ``eval``."""
    lines = [f"# {principal}: {USES.get(principal, '')}"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in env.items()]
    return "\n".join(lines)


def run_secured_broker(settings: Settings, data_dir: Path, port: int) -> None:
    """Start the broker, create the topics of ``settings`` and grant every principal its ACLs
    on them, print each principal's environment, and serve until Ctrl-C."""
    # Absolute, so the CA file printed is found from any directory.
    with KafkaBroker(data_dir.resolve(), port=port, secured=True) as kafka:
        create_topics(kafka.tuned(settings))
        kafka.grant(settings)
        for principal in (*kafkaacl.PRINCIPALS, SUPERUSER):
            env = connection_env(kafka.as_principal(kafka.tuned(settings), principal))
            print(env_text(principal, env) + "\n")
        print(
            f"Apache Kafka on {kafka.bootstrap}, SASL_SSL with SCRAM-SHA-512 and ACLs for topic "
            f"prefix {settings.topic_prefix!r} and worker id {settings.worker_id!r} (data and "
            f"passwords in {data_dir}; serving after {kafka.started_in_s:.1f} s); Ctrl-C stops it",
            flush=True,
        )
        while kafka.process is not None and kafka.process.poll() is None:
            time.sleep(0.5)
