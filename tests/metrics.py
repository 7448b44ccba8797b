"""A linetrace process's /metrics as the tests read it: the page over HTTP, its samples parsed
by prometheus_client, and one sample's value (or a metric's total) by name and labels."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]
Samples = dict[tuple[str, Labels], float]


def metrics_page(url: str, timeout_s: float = 10.0) -> str:
    """The text of a /metrics page, which must be Prometheus text."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        kind = response.headers["Content-Type"]
        assert kind.startswith("text/plain"), f"{url} answers {kind}"
        return str(response.read().decode())


def scrape(url: str, timeout_s: float = 10.0) -> Samples:
    """Every sample of a /metrics page, by name and sorted labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics_page(url, timeout_s))
        for s in family.samples
    }


def try_scrape(url: str, timeout_s: float = 10.0) -> Samples:
    """``scrape``, or {} while the process does not answer: for waiting until a value shows."""
    try:
        return scrape(url, timeout_s)
    except OSError:
        return {}


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample ``name`` with exactly ``labels`` (0 when there is none)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: Samples, name: str) -> float:
    """The sum of ``name`` over all its labels."""
    return sum(v for (n, _), v in samples.items() if n == name)
