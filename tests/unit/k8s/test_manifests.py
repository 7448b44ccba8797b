"""The k8s/ manifests, checked offline: rendered with `kubectl kustomize`, built-in kinds
validated strictly for one Kubernetes version, custom resources against k8s/schemas, and
what a cluster operator relies on (Secrets only referenced, resources, probes, disruption
budgets, network policies, autoscalers, settings and topics that agree with the code)."""

from __future__ import annotations

import copy
import re
from dataclasses import fields
from typing import Any

import jsonschema
import pytest
import yaml

from ingest import kafkaacl
from ingest.plant import parse_plant
from ingest.settings import PREFIX, Settings
from ingest.topics import Topics
from readers.config import parse_readers, split_listen
from tests.unit.k8s.manifests import (
    K8S,
    POD_KINDS,
    TARGETS,
    WORKLOAD_KINDS,
    Doc,
    containers,
    custom_schemas,
    environment,
    linetrace_containers,
    named,
    of_kind,
    pod_spec,
    render,
    settings_of,
    validate,
    walk,
)

targets = pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.rsplit("/", 1)[-1])

# Secrets the manifests reference but never contain: Strimzi writes the cluster CA and one
# per KafkaUser; the cluster's operator creates the others (docs/operations.md).
OUTSIDE_SECRETS = {
    "linetrace-cluster-ca-cert",
    "linetrace-clickhouse",
    "linetrace-clickhouse-tls",
    "linetrace-reader-devices",
    "linetrace-api-tokens",
}
SECRET_WORDS = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE_KEY", re.IGNORECASE)
# The port each linetrace command serves (its probes and /metrics), and the bind address.
SERVES = {
    "worker": ("metrics_port", "metrics_host"),
    "sink": ("api_port", "api_host"),
    "reader": ("reader_metrics_port", "metrics_host"),
}
# Nodes of custom resources that are free maps by design: operator and broker settings, and
# Kubernetes' own maps (resource lists may name extended resources).
FREE_MAPS = re.compile(
    r"(^|\.)(labels|annotations|matchLabels|config|settings|profiles|users|requests|limits)$"
    r"|^spec\.triggers\[\]\.metadata$"
)
IN_TEMPLATE = re.compile(r"^spec\.templates\.\w+Templates\[\]\.spec(\.|$)")


@targets
def test_every_document_validates(target: str) -> None:
    errors = [e for doc in render(target) for e in validate(doc)]

    assert not errors, "\n".join(errors)


def test_a_kind_without_a_schema_fails() -> None:
    bridge = {"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaBridge", "metadata": {"name": "b"}}

    assert validate(bridge) == [
        "KafkaBridge/b: Couldn't find schema for kind KafkaBridge with api version "
        "kafka.strimzi.io/v1beta2 for kubernetes version 1.30"
    ]


def test_core_validation_is_strict() -> None:
    worker = copy.deepcopy(named(render("base"), "StatefulSet", "linetrace-worker"))
    pod_spec(worker)["containers"][0]["livenesProbe"] = {}

    assert any("livenesProbe" in e for e in validate(worker))


def test_custom_schemas_reject_a_misspelt_field_anywhere() -> None:
    """Every object of every custom resource, but the free maps, rejects a field it does not
    know. Inside the operators' pod, volume claim and service templates the core schemas do
    (checked once here: the walk leaves them out, each check there costs a core validation)."""
    checked = 0
    for doc in copy.deepcopy(render("overlays/prod")):
        schema = custom_schemas().get((doc["apiVersion"], doc["kind"]))
        if schema is None:
            continue
        validator = jsonschema.Draft202012Validator(schema)
        for path, node in walk(doc):
            if not isinstance(node, dict) or FREE_MAPS.search(path) or IN_TEMPLATE.search(path):
                continue
            node["tpyo"] = 1
            assert not validator.is_valid(doc), f"{doc['kind']} accepts a misspelt field at {path}"
            del node["tpyo"]
            checked += 1
    assert checked > 150
    chi = copy.deepcopy(named(render("base"), "ClickHouseInstallation", "linetrace"))
    chi["spec"]["templates"]["podTemplates"][0]["spec"]["containers"][0]["resoures"] = {}
    assert any("resoures" in e for e in validate(chi))


@targets
def test_no_secret_is_embedded(target: str) -> None:
    docs = render(target)
    assert not of_kind(docs, "Secret"), "Secrets are created outside the manifests"
    for cm in of_kind(docs, "ConfigMap"):
        assert not [k for k in cm.get("data", {}) if SECRET_WORDS.search(k)], cm["metadata"]["name"]
    for doc in of_kind(docs, *POD_KINDS):
        secret_mounts = _secret_mounts(doc)
        for where, c in containers(doc):
            for var in c.get("env", []):
                if SECRET_WORDS.search(var["name"]) and var["name"].endswith("_FILE"):
                    # A file of secrets: the variable names a path in a mounted Secret.
                    mounts = [m["mountPath"] for m in c.get("volumeMounts", []) if m["name"] in secret_mounts]
                    assert any(var.get("value", "").startswith(m + "/") for m in mounts), (
                        f"{where} {var['name']}"
                    )
                elif SECRET_WORDS.search(var["name"]):
                    assert "secretKeyRef" in var.get("valueFrom", {}), f"{where} {var['name']}"
    for chi in of_kind(docs, "ClickHouseInstallation"):
        for key, value in chi["spec"]["configuration"]["users"].items():
            if SECRET_WORDS.search(key):
                assert "secretKeyRef" in value.get("valueFrom", {}), f"ClickHouse user setting {key}"


def _secret_mounts(doc: Doc) -> set[str]:
    """Names of the pod's volumes that are Secrets."""
    return {v["name"] for v in pod_spec(doc).get("volumes", []) if "secret" in v}


@targets
@pytest.mark.parametrize(
    ("kind", "name", "container_name"),
    [
        pytest.param("Deployment", "linetrace-sink", "sink", id="query API"),
        pytest.param("StatefulSet", "linetrace-reader", "reader", id="reader posts"),
    ],
)
def test_api_tokens_are_read_from_the_mounted_secret(
    target: str, kind: str, name: str, container_name: str
) -> None:
    docs = render(target)
    workload = named(docs, kind, name)
    [container] = [c for _, c in containers(workload) if c["name"] == container_name]
    path = settings_of(docs, container).api_tokens_file
    [volume] = [
        v
        for v in pod_spec(workload)["volumes"]
        if v.get("secret", {}).get("secretName") == "linetrace-api-tokens"
    ]
    [mount] = [m for m in container["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] and path == f"{mount['mountPath']}/{volume['secret']['items'][0]['path']}"


@targets
def test_referenced_secrets_are_the_known_ones(target: str) -> None:
    docs = render(target)
    users = {u["metadata"]["name"] for u in of_kind(docs, "KafkaUser")}
    referenced = {
        n["secretKeyRef"]["name"] for _, n in walk(docs) if isinstance(n, dict) and "secretKeyRef" in n
    }
    mounted = {n["secret"]["secretName"] for p, n in walk(docs) if p.endswith("volumes[]") and "secret" in n}

    assert referenced and mounted
    assert referenced | mounted <= users | OUTSIDE_SECRETS
    for doc, c in linetrace_containers(docs):
        env = {v["name"]: v for v in c["env"]}
        user = env["LINETRACE_KAFKA_SASL_USERNAME"]["value"]
        assert user in users, f"{doc['metadata']['name']} authenticates as a KafkaUser"
        assert env["LINETRACE_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": user,
            "key": "password",
        }


@targets
def test_every_container_has_requests_limits_and_probes(target: str) -> None:
    docs = render(target)
    bounded = [
        (where, c.get("resources", {})) for d in of_kind(docs, *POD_KINDS) for where, c in containers(d)
    ]
    # The operators' pods: ClickHouse and Keeper pod templates, Kafka nodes and helpers.
    bounded += [
        (p, n.get("resources", {})) for p, n in walk(docs) if p.endswith("podTemplates[].spec.containers[]")
    ]
    bounded += [
        (f"KafkaNodePool/{n['metadata']['name']}", n["spec"]["resources"])
        for n in of_kind(docs, "KafkaNodePool")
    ]
    assert bounded, "no containers rendered"
    assert of_kind(docs, *WORKLOAD_KINDS), "no workloads rendered"
    for where, resources in bounded:
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources.get(bound, {})), f"{where} {bound}"
    for doc in of_kind(docs, *WORKLOAD_KINDS):
        for c in pod_spec(doc)["containers"]:
            ports = {p["name"] for p in c.get("ports", [])}
            for probe in ("readinessProbe", "livenessProbe"):
                assert probe in c, f"{doc['metadata']['name']}/{c['name']} has no {probe}"
                assert c[probe]["httpGet"]["port"] in ports, f"{doc['metadata']['name']} {probe} port"


@targets
def test_every_workload_has_a_disruption_budget(target: str) -> None:
    docs = render(target)
    budgets = [b["spec"]["selector"]["matchLabels"] for b in of_kind(docs, "PodDisruptionBudget")]
    assert budgets and of_kind(docs, *WORKLOAD_KINDS), "no budgets or no workloads rendered"
    for doc in of_kind(docs, *WORKLOAD_KINDS):
        labels = doc["spec"]["template"]["metadata"]["labels"]
        matching = [b for b in budgets if b.items() <= labels.items()]
        assert len(matching) == 1, f"{doc['metadata']['name']} has {len(matching)} PodDisruptionBudgets"


@targets
def test_network_policies_deny_by_default_and_cover_every_linetrace_pod(target: str) -> None:
    docs = render(target)
    policies = of_kind(docs, "NetworkPolicy")
    assert any(p["spec"]["podSelector"] == {} and p["spec"]["policyTypes"] == ["Ingress"] for p in policies)
    assert of_kind(docs, *POD_KINDS), "no pods rendered"
    for doc in of_kind(docs, *POD_KINDS):
        labels = doc["spec"]["template"]["metadata"]["labels"]
        covering = [p for p in policies if "Egress" in p["spec"]["policyTypes"] and selects(p, labels)]
        assert len(covering) == 1, f"{doc['metadata']['name']}: {len(covering)} policies limit its egress"


def selects(policy: Doc, labels: dict[str, str]) -> bool:
    selector = policy["spec"]["podSelector"]
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    return all(labels.get(e["key"]) in e["values"] for e in selector.get("matchExpressions", []))


@targets
def test_autoscalers_target_workloads_that_leave_them_the_replica_count(target: str) -> None:
    docs = render(target)
    partitions = settings_of(docs, next(linetrace_containers(docs))[1]).partitions
    scalers = [(s, s["spec"]["maxReplicas"]) for s in of_kind(docs, "HorizontalPodAutoscaler")]
    scalers += [(s, s["spec"]["maxReplicaCount"]) for s in of_kind(docs, "ScaledObject")]
    assert scalers
    for scaler, most in scalers:
        ref = scaler["spec"]["scaleTargetRef"]
        workload = named(docs, ref["kind"], ref["name"])
        assert "replicas" not in workload["spec"], f"{ref['name']}: the autoscaler owns the replica count"
        assert most <= partitions, f"{ref['name']}: consumers beyond the {partitions} partitions idle"


@targets
def test_settings_are_real_and_processes_listen_on_all_interfaces(target: str) -> None:
    docs = render(target)
    known = {PREFIX + f.name.upper() for f in fields(Settings)}
    serving: set[str] = set()
    for doc, c in linetrace_containers(docs):
        env = environment(docs, c)
        assert {k for k in env if k.startswith(PREFIX)} <= known, set(env) - known
        settings = Settings.from_env(env)
        command = c["args"][0]
        if command in SERVES:
            serving.add(command)
            port_setting, host_setting = SERVES[command]
            assert getattr(settings, host_setting) == "0.0.0.0"
            ports = {p["containerPort"] for p in c["ports"]}
            assert getattr(settings, port_setting) in ports, (
                f"{doc['metadata']['name']} serves a declared port"
            )
    assert serving == set(SERVES), f"rendered no container for {set(SERVES) - serving}"


@targets
def test_topics_are_the_ones_the_code_uses(target: str) -> None:
    docs = render(target)
    settings = settings_of(docs, next(linetrace_containers(docs))[1])
    topics = {
        t["spec"].get("topicName", t["metadata"]["name"]): t["spec"] for t in of_kind(docs, "KafkaTopic")
    }
    brokers = sum(
        p["spec"]["replicas"] for p in of_kind(docs, "KafkaNodePool") if "broker" in p["spec"]["roles"]
    )
    layout = Topics.of(settings).layout()
    layout[f"{settings.worker_id}-__assignor-__leader"] = 1

    assert {name: spec["partitions"] for name, spec in topics.items()} == layout
    assert {spec["replicas"] for spec in topics.values()} == {settings.replication_factor}
    assert settings.replication_factor <= brokers
    for compacted in (Topics.of(settings).route_state, Topics.of(settings).plant):
        assert topics[compacted]["config"]["cleanup.policy"] == "compact"


@targets
def test_the_plant_file_is_valid_and_its_listeners_are_reachable_from_the_plant_network_only(
    target: str,
) -> None:
    """Every port an adapter of the plant file listens on is a port of the reader container,
    and NetworkPolicy linetrace-reader lets the plant network (the range the readers' egress
    reaches) in on exactly those ports, and monitoring on the metrics port: nothing else."""
    docs = render(target)
    plant = parse_plant(yaml.safe_load(named(docs, "ConfigMap", "linetrace-plant")["data"]["plant.yaml"]))
    reader = pod_spec(named(docs, "StatefulSet", "linetrace-reader"))["containers"][0]
    metrics_port = settings_of(docs, reader).reader_metrics_port
    listening = set()
    for spec in parse_readers(plant):
        if "listen" in spec.options:
            host, port = split_listen(spec.options["listen"])
            assert host == "0.0.0.0", f"{spec.reader} listens where the pod is reachable"
            listening.add(port)
    assert listening, "the example plant has adapters that listen"
    assert {p["containerPort"] for p in reader["ports"]} == listening | {metrics_port}

    policy = named(docs, "NetworkPolicy", "linetrace-reader")
    [plant_range] = {
        peer["ipBlock"]["cidr"]
        for rule in policy["spec"]["egress"]
        for peer in rule["to"]
        if "ipBlock" in peer
    }
    allowed = set()
    for rule in policy["spec"]["ingress"]:
        for peer in rule["from"]:
            assert set(peer) in ({"ipBlock"}, {"namespaceSelector"}), peer
            source = (
                peer["ipBlock"]["cidr"]
                if "ipBlock" in peer
                else peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            )
            allowed |= {(source, p["port"]) for p in rule["ports"]}
    assert allowed == {("monitoring", metrics_port)} | {(plant_range, port) for port in listening}


@targets
def test_images_are_pinned(target: str) -> None:
    images = [node for path, node in walk(render(target)) if path.endswith("containers[].image")]

    assert images and all(re.fullmatch(r"[\w./-]+:[\w.-]+", i) and not i.endswith(":latest") for i in images)


def test_prometheus_rule_carries_the_alert_rules() -> None:
    rule = named(render("base"), "PrometheusRule", "linetrace")
    alerts: dict[str, Any] = yaml.safe_load((K8S / "monitoring" / "alerts.yaml").read_text())

    assert rule["spec"]["groups"] == alerts["groups"]


def test_prod_reaches_kafka_and_clickhouse_over_tls_only() -> None:
    docs = render("overlays/prod")
    for _, c in linetrace_containers(docs):
        settings = settings_of(docs, c)
        assert settings.kafka_security_protocol == "SASL_SSL" and settings.kafka_ssl_cafile
        assert settings.clickhouse_dsn.startswith("https://") and "ca_cert=" in settings.clickhouse_dsn
    chi = named(docs, "ClickHouseInstallation", "linetrace")
    keeper = named(docs, "ClickHouseKeeperInstallation", "linetrace")
    server = chi["spec"]["configuration"]["settings"]
    service = chi["spec"]["templates"]["serviceTemplates"][0]["spec"]
    assert (server["https_port"], server["tcp_port_secure"]) == (8443, 9440)
    assert {p["port"] for p in service["ports"]} == {8443, 9440}
    assert keeper["spec"]["configuration"]["clusters"][0]["layout"]["replicasCount"] % 2 == 1


@targets
def test_each_process_has_the_kafka_acls_linetrace_declares(target: str) -> None:
    """Each workload's KafkaUser holds exactly the ACLs ingest/kafkaacl.py declares for its
    principal, for the topic prefix and worker id the workload runs with: the ACLs the
    integration tests run linetrace through on Apache Kafka (test_kafka_security.py)."""
    docs = render(target)
    users = {u["metadata"]["name"]: u["spec"] for u in of_kind(docs, "KafkaUser")}
    assert set(users) == set(kafkaacl.PRINCIPALS)
    for doc, c in linetrace_containers(docs):
        settings = settings_of(docs, c)
        spec = users[settings.kafka_sasl_username]
        assert spec["authentication"] == {"type": "scram-sha-512"}
        declared = [g.strimzi() for g in kafkaacl.grants(settings)[settings.kafka_sasl_username]]
        assert spec["authorization"] == {"type": "simple", "acls": declared}, doc["metadata"]["name"]
    [kafka] = of_kind(docs, "Kafka")
    assert kafka["spec"]["kafka"]["authorization"] == {"type": "simple"}
    listeners = kafka["spec"]["kafka"]["listeners"]
    assert [(lst["tls"], lst["authentication"]) for lst in listeners] == [(True, {"type": "scram-sha-512"})]
