"""A single-node Apache Kafka 4 broker (KRaft, broker and controller in one JVM) on loopback,
for running linetrace and its tests on the broker production runs.

Its jars come from Maven Central through ``ingest/kafka4/pom.xml`` (``make kafka`` copies them
into ``ingest/kafka4/jars``); it needs a Java 17 runtime. Unlike the local Tansu broker
(``ingest.broker``), it keeps its log directory on disk: stopped and started again on the same
directory, it has every topic, record and committed offset it had.

``secured=True`` gives it the listener production has: SASL_SSL with SCRAM-SHA-512 users
(a throwaway CA and certificate, ``ingest.kafkatls``), Kafka's StandardAuthorizer and the
ACLs of ``ingest.kafkaacl`` for each linetrace principal.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka.admin import (
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from ingest import kafkaacl
from ingest.broker import LoopbackBroker, free_port
from ingest.errors import LinetraceError
from ingest.kafka import client_config
from ingest.kafkatls import broker_tls
from ingest.processes import die_with_parent
from ingest.settings import Settings

log = logging.getLogger(__name__)

JARS_DIR = Path(__file__).parent / "kafka4" / "jars"
# A broker alone on loopback for one user: the heap Kafka's own quickstart gives it is 1 GiB;
# linetrace's tests and the demo load stay far below half of that.
HEAP_MB = 512
# One broker gains nothing from the 50 partitions these internal topics get by default, and
# each partition is a log with its own files.
INTERNAL_TOPIC_PARTITIONS = 4
# The secured broker's super user: the broker itself (between its listeners) and whoever
# creates topics and ACLs on it, as Strimzi's operators do on a cluster.
SUPERUSER = "broker"
SCRAM = "SCRAM-SHA-512"


class KafkaBroker(LoopbackBroker):
    """Apache Kafka on loopback with its data in ``data_dir``, stopped by its own process id.

    The same small interface as ``ingest.broker.LocalBroker``: ``bootstrap``, ``tuned()``,
    ``start()``/``stop()`` and a context manager. ``advertised_port`` (default: the port it
    listens on) is the port clients are told to use after bootstrap, to put a proxy in front.

    ``secured``: clients connect over SASL_SSL as SCRAM users (the super user ``broker`` and
    each principal of ``ingest.kafkaacl``, passwords kept in ``data_dir``); the controller
    listener stays PLAINTEXT on loopback.
    """

    def __init__(
        self,
        data_dir: Path,
        host: str = "127.0.0.1",
        port: int | None = None,
        advertised_port: int | None = None,
        heap_mb: int = HEAP_MB,
        jars_dir: Path = JARS_DIR,
        secured: bool = False,
    ):
        super().__init__(host, port, advertised_port)
        self.data_dir = Path(data_dir)
        self.controller_port = _kept_controller_port(self.data_dir) or free_port(host)
        self.heap_mb = heap_mb
        self.jars_dir = jars_dir
        self.log_path = self.data_dir / "broker.log"
        self.started_in_s = 0.0  # from the JVM's start to metadata served, the last start
        self.secured = secured
        self.passwords = _scram_passwords(self.data_dir) if secured else {}

    def tuned(self, settings: Settings) -> Settings:
        """Settings for clients of this broker: Kafka answers a fetch as soon as data is there
        and a group join without holding it, so the Kafka defaults of the session timeout,
        heartbeat and fetch wait stay; only the address and the broker kind change."""
        settings = settings.with_(kafka_bootstrap=self.bootstrap, broker_kind="kafka")
        return self.as_principal(settings, SUPERUSER) if self.secured else settings

    def as_principal(self, settings: Settings, principal: str) -> Settings:
        """``settings`` with the secured listener's credentials of ``principal``."""
        return settings.with_(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism=SCRAM,
            kafka_sasl_username=principal,
            kafka_sasl_password=self.passwords[principal],
            kafka_ssl_cafile=str(self.data_dir / "tls" / "ca.crt"),
        )

    def grant(self, settings: Settings, timeout_s: float = 30.0) -> None:
        """Create the ACLs of every linetrace principal for the topics and worker id of
        ``settings`` (``ingest.kafkaacl.grants``), as the super user."""
        admin = AdminClient(client_config(self.tuned(Settings())))
        bindings = [
            binding
            for principal, granted in kafkaacl.grants(settings).items()
            for binding in kafkaacl.acl_bindings(principal, granted)
        ]
        for future in admin.create_acls(bindings, request_timeout=timeout_s).values():
            future.result()
        # The controller takes them at once; the broker's authorizer a moment later, from the
        # metadata log. DescribeAcls is answered by the broker's authorizer.
        # None matches any name, principal and host (the stubs say str).
        anyone: Any = None
        everything = AclBindingFilter(
            ResourceType.ANY,
            anyone,
            ResourcePatternType.ANY,
            anyone,
            anyone,
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
        deadline = time.monotonic() + timeout_s
        while not set(bindings) <= set(admin.describe_acls(everything).result()):
            if time.monotonic() > deadline:
                raise LinetraceError(f"the ACLs were not in force after {timeout_s} s")
            time.sleep(0.1)

    def start(self, timeout_s: float = 90.0) -> KafkaBroker:
        """Format the log directory if it is new, start the broker and wait until it serves
        metadata. A directory formatted before is kept as it is (a restart)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        if not (self.data_dir / "log" / "meta.properties").exists():
            self._format(config)
        began = time.monotonic()
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                [*self._java(), "kafka.Kafka", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self._wait_until_serving(timeout_s)
        self.started_in_s = time.monotonic() - began
        log.info(
            "Kafka broker pid %s on %s: serving after %.1f s, %d MiB resident",
            self.process.pid,
            self.bootstrap,
            self.started_in_s,
            self.resident_mb(),
        )
        return self

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM (a controlled shutdown that flushes the logs), SIGKILL after ``timeout_s``."""
        super().stop(timeout_s)

    def resident_mb(self) -> int:
        """The broker process's resident memory (0 when it does not run)."""
        if self.process is None:
            return 0
        try:
            status = Path(f"/proc/{self.process.pid}/status").read_text()
        except OSError:
            return 0
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
        return 0

    def _java(self) -> list[str]:
        if not any(self.jars_dir.glob("kafka_2.13-*.jar")):
            raise LinetraceError(f"no Kafka jars in {self.jars_dir}: `make kafka` resolves them")
        return [
            java_binary(),
            f"-Xmx{self.heap_mb}m",
            "-XX:+UseSerialGC",  # a small heap on a small machine: no parallel GC threads
            "-Djava.awt.headless=true",
            "-Dorg.slf4j.simpleLogger.showDateTime=true",
            "-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSS",
            "-cp",
            str(self.jars_dir / "*"),
        ]

    def _write_config(self) -> Path:
        controller = f"{self.host}:{self.controller_port}"
        clients = "SASL_SSL" if self.secured else "PLAINTEXT"
        lines = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": controller,
            "listeners": f"{clients}://{self.bootstrap},CONTROLLER://{controller}",
            "advertised.listeners": f"{clients}://{self.advertised}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": clients,
            "listener.security.protocol.map": f"{clients}:{clients},CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir / "log"),
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": str(INTERNAL_TOPIC_PARTITIONS),
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": str(INTERNAL_TOPIC_PARTITIONS),
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # The first member of a new group is answered at once (the default waits 3 s for more).
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
        }
        if self.secured:
            lines |= self._security_config()
        path = self.data_dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        return path

    def _security_config(self) -> dict[str, str]:
        tls = broker_tls(self.data_dir / "tls")
        login = "org.apache.kafka.common.security.scram.ScramLoginModule required"
        return {
            "sasl.enabled.mechanisms": SCRAM,
            "sasl.mechanism.inter.broker.protocol": SCRAM,
            f"listener.name.sasl_ssl.{SCRAM.lower()}.sasl.jaas.config": (
                f'{login} username="{SUPERUSER}" password="{self.passwords[SUPERUSER]}";'
            ),
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(tls.keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(tls.ca),
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            # The broker reaches its own controller over the PLAINTEXT controller listener, as
            # User:ANONYMOUS, and registers itself there (a cluster action). That listener is
            # on loopback, and it takes controller requests only.
            "super.users": f"User:{SUPERUSER};User:ANONYMOUS",
            "allow.everyone.if.no.acl.found": "false",
        }

    def _format(self, config: Path) -> None:
        """``kafka-storage format --standalone``: a new cluster whose one controller is this
        node; a secured broker's SCRAM users are written into its metadata here."""
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        command = ["kafka.tools.StorageTool", "format", "--standalone", "--cluster-id", cluster_id]
        for name, password in self.passwords.items():
            command += ["--add-scram", f"{SCRAM}=[name={name},password={password}]"]
        with open(self.log_path, "ab") as out:
            done = subprocess.run(
                [*self._java(), *command, "--config", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=120,
                preexec_fn=die_with_parent,
            )
        if done.returncode != 0:
            raise LinetraceError(f"formatting {self.data_dir} failed; see {self.log_path}")

    def _wait_until_serving(self, timeout_s: float) -> None:
        """Until the port is open (so the admin client logs no refused connection), then until
        the broker answers as ``_serves`` asks."""
        admin: AdminClient | None = None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                self.process = None
                raise LinetraceError(f"the Kafka broker exited at start; see {self.log_path}")
            if admin is None and _listens(self.host, self.port):
                admin = AdminClient(client_config(self.tuned(Settings())))
            if admin is not None and _serves(admin):
                return
            time.sleep(0.2)
        self.stop()
        raise LinetraceError(f"the Kafka broker did not serve within {timeout_s} s; see {self.log_path}")


def _listens(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def _scram_passwords(data_dir: Path) -> dict[str, str]:
    """The SCRAM users' passwords of the broker in ``data_dir``: made at its first start,
    kept beside its log for the starts after (they are in the formatted metadata)."""
    path = data_dir / "scram-passwords.json"
    try:
        kept: dict[str, str] = json.loads(path.read_text())
        return kept
    except FileNotFoundError:
        pass
    made = {name: secrets.token_urlsafe(18) for name in (SUPERUSER, *kafkaacl.PRINCIPALS)}
    data_dir.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(made, indent=1))
    return made


def _kept_controller_port(data_dir: Path) -> int | None:
    """The controller port of an earlier start on this directory: the formatted log records
    the controller's address among the quorum's voters, so a restart keeps it."""
    try:
        config = (data_dir / "server.properties").read_text()
    except OSError:
        return None
    found = re.search(r"CONTROLLER://[^,\s]+:(\d+)", config)
    return int(found.group(1)) if found else None


def _group_partition(group: str) -> int:
    """The __consumer_offsets partition of a group: Java's String.hashCode, made positive,
    modulo the partitions (Kafka's GroupCoordinator.partitionFor)."""
    h = 0
    for ch in group:
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    return (h & 0x7FFFFFFF) % INTERNAL_TOPIC_PARTITIONS


def _probe_groups() -> list[str]:
    """One group name for each __consumer_offsets partition."""
    found: dict[int, str] = {}
    n = 0
    while len(found) < INTERNAL_TOPIC_PARTITIONS:
        found.setdefault(_group_partition(f"linetrace-probe-{n}"), f"linetrace-probe-{n}")
        n += 1
    return sorted(found.values())


PROBE_GROUPS = _probe_groups()


def _serves(admin: AdminClient) -> bool:
    """Metadata is served and the group coordinator has loaded every partition of its log
    (after a restart it answers NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS for a while,
    which some client calls, such as ``committed()``, do not retry)."""
    try:
        if not admin.list_topics(timeout=1.0).brokers:
            return False
        for future in admin.describe_consumer_groups(PROBE_GROUPS, request_timeout=1.0).values():
            future.result()
        return True
    except Exception:  # not serving yet, whatever the client says
        return False


def java_binary() -> str:
    """The ``java`` on the PATH."""
    found = shutil.which("java")
    if found is None:
        raise LinetraceError("no Java runtime: `make kafka` installs openjdk-17-jre-headless")
    return found
