"""Alert rules and dashboard PromQL, checked with promtool (Debian's prometheus package)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
MONITORING = ROOT / "k8s" / "monitoring"
DASHBOARDS = sorted((MONITORING / "dashboards").glob("*.json"))
ALERT_TESTS = sorted(p.name for p in MONITORING.glob("alerts*_test.yaml"))


def promtool() -> str:
    found = Path(sys.executable).parent / "promtool"
    path = str(found) if found.exists() else shutil.which("promtool")
    assert path, "promtool is missing: `make setup` unpacks it from Debian's prometheus package"
    return path


def run(*args: str, cwd: Path = MONITORING) -> str:
    done = subprocess.run([promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def prometheus_panels(path: Path) -> list[tuple[str, str]]:
    dashboard: dict[str, Any] = json.loads(path.read_text())
    return [
        (f"{p['title']} ({t['refId']})", t["expr"])
        for p in dashboard["panels"]
        if p["datasource"]["type"] == "prometheus"
        for t in p["targets"]
    ]


def test_alert_rules_are_valid() -> None:
    assert "SUCCESS: 11 rules found" in run("check", "rules", "alerts.yaml")


def test_alert_rules_fire_when_they_should_and_not_before() -> None:
    out = run("test", "rules", *ALERT_TESTS)
    assert out.count("SUCCESS") == len(ALERT_TESTS) == 2


def test_every_alert_has_a_test_and_a_runbook_entry() -> None:
    rules = yaml.safe_load((MONITORING / "alerts.yaml").read_text())["groups"][0]["rules"]
    tests = [t for f in ALERT_TESTS for t in yaml.safe_load((MONITORING / f).read_text())["tests"]]
    tested = {t["alertname"] for case in tests for t in case["alert_rule_test"] if t["exp_alerts"]}
    names = {r["alert"] for r in rules}
    assert names == tested
    operations = (ROOT / "docs" / "operations.md").read_text()
    for name in names:
        assert f"### {name}" in operations, f"docs/operations.md explains {name}"


@pytest.mark.parametrize("path", [d for d in DASHBOARDS if prometheus_panels(d)], ids=lambda p: p.stem)
def test_dashboard_promql_parses(path: Path, tmp_path: Path) -> None:
    panels = prometheus_panels(path)
    rules = {
        "groups": [
            {
                "name": "panels",
                "rules": [
                    {"record": f"panel_{i}", "expr": expr.replace("$__rate_interval", "5m")}
                    for i, (_, expr) in enumerate(panels)
                ],
            }
        ]
    }
    (tmp_path / "panels.yaml").write_text(yaml.safe_dump(rules))
    assert f"SUCCESS: {len(panels)} rules found" in run("check", "rules", "panels.yaml", cwd=tmp_path)


def test_dashboards_and_alerts_name_only_metrics_linetrace_exports() -> None:
    from tests.unit.ops.exported import exported_metric_names

    known = exported_metric_names()
    texts = [(MONITORING / "alerts.yaml").read_text(), *(p.read_text() for p in DASHBOARDS)]
    used = {m for t in texts for m in re.findall(r"\blinetrace_[a-z_]+", t)}
    unknown = sorted(
        m for m in used if re.sub(r"_(bucket|count|sum)$", "", m) not in known and m not in known
    )
    assert unknown == []
