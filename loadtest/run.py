"""``linetrace loadtest``: Locust, headless, against the local stack, and a report of what the
pipeline itself measured (reads stored per second, read-to-stored latency from the sink's
histogram) beside what Locust measured (broker acknowledgements, API response times)."""

from __future__ import annotations

import csv
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from ingest.cli.queryclient import query_api
from ingest.cli.stack import StackPlace, local_stack
from ingest.plant import load_plant
from ingest.processes import child_env, die_with_parent
from ingest.settings import Settings

LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def run_loadtest(
    settings: Settings,
    plant_path: Path,
    users: int,
    duration_s: float,
    items_per_minute: float,
    work_dir: Path,
) -> dict[str, Any]:
    plant = load_plant(plant_path)
    # The analysts share the stack's one token; its rate limit would cap what is measured.
    with local_stack(settings.with_(api_rate_per_s=0.0), plant, StackPlace(data_dir=work_dir)) as stack:
        env = child_env(stack.settings)
        env.update(
            LINETRACE_LOADTEST_PLANT=str(plant_path),
            LINETRACE_LOADTEST_ITEMS_PER_MINUTE=str(items_per_minute),
        )
        prefix = work_dir / "locust"
        started = time.monotonic()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(LOCUSTFILE),
                "--headless",
                "-u",
                str(users),
                "-r",
                str(users),
                "-t",
                f"{int(duration_s)}s",
                "--host",
                stack.api,
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=duration_s + 120,
            preexec_fn=die_with_parent,
        )
        elapsed = time.monotonic() - started
        if done.returncode not in (0, 1):  # 1: some requests failed; reported below
            raise RuntimeError(f"locust failed ({done.returncode}): {done.stderr[-2000:]}")
        summary = _drained(stack.api, stack.settings.api_token)
        latency = _latency(stack.api + "/metrics")
    stats = _stats(prefix)
    reads = int(summary["reads"]["reads"] or 0)
    return {
        "users": users,
        "duration_s": round(elapsed, 1),
        "pipeline": {
            "reads_stored": reads,
            "reads_per_s": round(reads / elapsed),
            "read_cycles_stored": summary["reads"]["reports"],
            "passes": summary["passes"]["passes"],
            "items": summary["items"]["items"],
            "latency_p50_ms": latency["p50"],
            "latency_p99_ms": latency["p99"],
            "latency_passes": latency["count"],
        },
        "locust": stats,
    }


def _drained(api: str, token: str, timeout_s: float = 120.0) -> dict[str, Any]:
    """The summary once the pipeline has stored everything (three equal answers in a row)."""
    deadline = time.monotonic() + timeout_s
    seen: list[tuple[Any, ...]] = []
    while time.monotonic() < deadline:
        s = query_api(api, "summary", {}, token)
        seen.append((s["reads"]["reports"], s["passes"]["passes"], s["items"]["items"]))
        if len(seen) >= 3 and len(set(seen[-3:])) == 1:
            return dict(s)
        time.sleep(1.0)
    raise RuntimeError(f"the pipeline did not settle within {timeout_s} s")


def _rows(prefix: Path) -> list[dict[str, str]]:
    path = Path(f"{prefix}_stats.csv")
    if not path.exists():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def _stats(prefix: Path) -> dict[str, Any]:
    return {
        f"{r['Type']} {r['Name']}": {
            "requests": int(r["Request Count"]),
            "failures": int(r["Failure Count"]),
            "p50_ms": float(r["50%"] or 0),
            "p95_ms": float(r["95%"] or 0),
            "per_s": round(float(r["Requests/s"]), 1),
        }
        for r in _rows(prefix)
        if r["Name"] != "Aggregated"
    }


def _latency(metrics_url: str) -> dict[str, Any]:
    """p50 and p99 of read-to-stored latency from the sink's histogram (bucket upper bounds)."""
    with urllib.request.urlopen(metrics_url, timeout=10) as response:
        text = response.read().decode()
    buckets: list[tuple[float, float]] = []
    for family in text_string_to_metric_families(text):
        if family.name == "linetrace_pass_latency_seconds":
            buckets = sorted(
                (float(s.labels["le"]), s.value) for s in family.samples if s.name.endswith("_bucket")
            )
    count = buckets[-1][1] if buckets else 0.0

    def quantile(q: float) -> float | None:
        """As Prometheus's histogram_quantile: linear within the bucket that holds the rank."""
        lower, below = 0.0, 0.0
        for upper, cumulative in buckets:
            if count and cumulative >= q * count:
                if upper == float("inf"):
                    return lower * 1000
                share = (q * count - below) / max(cumulative - below, 1e-9)
                return round((lower + (upper - lower) * share) * 1000, 1)
            lower, below = upper, cumulative
        return None

    return {"p50": quantile(0.5), "p99": quantile(0.99), "count": int(count)}
