"""What `linetrace broker --kind kafka --secured` prints for each principal: the environment
that connects a linetrace process to it (no broker)."""

from __future__ import annotations

import shlex

from ingest.cli.securedbroker import connection_env, env_text
from ingest.settings import Settings

ADMIN = Settings().with_(
    kafka_bootstrap="127.0.0.1:9092",
    kafka_security_protocol="SASL_SSL",
    kafka_sasl_mechanism="SCRAM-SHA-512",
    kafka_sasl_username="linetrace-admin",
    kafka_sasl_password="pa ss'word",
    kafka_ssl_cafile="/data/kafka/tls/ca.crt",
    topic_prefix="other",
)


def test_the_environment_names_the_listener_the_user_and_the_ca() -> None:
    assert connection_env(ADMIN) == {
        "LINETRACE_KAFKA_BOOTSTRAP": "127.0.0.1:9092",
        "LINETRACE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "LINETRACE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "LINETRACE_KAFKA_SASL_USERNAME": "linetrace-admin",
        "LINETRACE_KAFKA_SASL_PASSWORD": "pa ss'word",
        "LINETRACE_KAFKA_SSL_CAFILE": "/data/kafka/tls/ca.crt",
    }


def test_the_printed_lines_give_the_same_settings_back_in_a_shell() -> None:
    text = env_text("linetrace-admin", connection_env(ADMIN))
    header, *exports = text.splitlines()
    assert header == "# linetrace-admin: linetrace plant publish"
    env = dict(shlex.split(line)[1].split("=", 1) for line in exports)
    assert Settings.from_env(env) == ADMIN.with_(topic_prefix="linetrace")
