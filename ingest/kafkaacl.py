"""Who may do what on Kafka: one principal per kind of linetrace process, and the ACLs each
needs for what it reads and writes, declared once.

The Strimzi KafkaUsers (k8s/base/kafka/users.yaml) hold these ACLs for the cluster's
settings (a unit test compares them), and ``KafkaBroker`` creates them on its secured
listener, where tests/integration/test_kafka_security.py runs linetrace through them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from ingest.settings import Settings
from ingest.topics import Topics

READER = "linetrace-reader"
WORKER = "linetrace-worker"
SINK = "linetrace-sink"
PUBLISHER = "linetrace-admin"  # `linetrace plant publish`: the plant and the jobs it seeds
PRINCIPALS = (READER, WORKER, SINK, PUBLISHER)

CONSUME = ("Read", "Describe")
PRODUCE = ("Write", "Describe")
BOTH = ("Read", "Write", "Describe")


@dataclass(frozen=True)
class Grant:
    """Operations on one resource: a topic or a consumer group, by literal name or prefix."""

    resource: str  # topic or group
    name: str
    operations: tuple[str, ...]
    prefix: bool = False

    def strimzi(self) -> dict[str, Any]:
        """As a Strimzi KafkaUser's ``spec.authorization.acls`` entry."""
        pattern = "prefix" if self.prefix else "literal"
        return {
            "resource": {"type": self.resource, "name": self.name, "patternType": pattern},
            "operations": list(self.operations),
        }


def grants(settings: Settings) -> dict[str, tuple[Grant, ...]]:
    """Each principal's ACLs for the topics of ``settings`` and its worker id."""
    t = Topics.of(settings)
    worker = settings.worker_id
    return {
        # A reader's forwarder sends read-cycle reports, and input it rejects as dead letters.
        READER: (_topic(t.reads, PRODUCE), _topic(t.dead_letter, PRODUCE)),
        WORKER: (
            *(_topic(name, CONSUME) for name in (t.plant, t.reads, t.jobs, t.aggregations)),
            _topic(t.item_bundles, BOTH),
            _topic(t.route_state, BOTH),
            _topic(t.trace, PRODUCE),
            _topic(t.dead_letter, PRODUCE),
            _topic(f"{worker}-__assignor-__leader", BOTH),  # faust's leader election
            Grant("group", worker, CONSUME),
            _read_to_end(worker),  # the plant; a route-state partition on assignment
        ),
        SINK: (
            _topic(t.trace, CONSUME),
            _topic(t.dead_letter, CONSUME),
            Grant("group", f"{worker}-sink", CONSUME),
            # The query API posts job, hold, QC and genealogy events, checked against the plant.
            _topic(t.plant, CONSUME),
            _topic(t.jobs, PRODUCE),
            _topic(t.aggregations, PRODUCE),
            # EPCIS capture: OBSERVE events as reads; every captured event, stored by the sink.
            _topic(t.reads, PRODUCE),
            _topic(t.epcis_events, BOTH),
            _read_to_end(worker),
        ),
        PUBLISHER: (_topic(t.plant, PRODUCE), _topic(t.jobs, PRODUCE)),
    }


def _topic(name: str, operations: tuple[str, ...]) -> Grant:
    return Grant("topic", name, operations)


def _read_to_end(worker: str) -> Grant:
    """The throwaway groups of ``ingest.kafka.read_partitions`` (it assigns partitions and
    commits nothing, but a consumer with a group id still looks up its coordinator)."""
    return Grant("group", f"{worker}-read-", CONSUME, prefix=True)


def acl_bindings(principal: str, granted: tuple[Grant, ...]) -> list[AclBinding]:
    """``granted`` as the Admin API's ACL bindings for ``User:principal``, from any host."""
    return [
        AclBinding(
            ResourceType[g.resource.upper()],
            g.name,
            ResourcePatternType.PREFIXED if g.prefix else ResourcePatternType.LITERAL,
            f"User:{principal}",
            "*",
            AclOperation[op.upper()],
            AclPermissionType.ALLOW,
        )
        for g in granted
        for op in g.operations
    ]
