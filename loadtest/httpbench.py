"""Query API latency over HTTP: the p95 of history, genealogy and wip as a client sees them,
answered by the query server on the query benchmark's store (``loadtest.querydata``, built
once with ``--build``), of /health (the HTTP stack alone), and of the line board: the page a
supervisor opens and the fragment a wall screen polls every 2 s, rendered by the screens.

    .venv/bin/python -m loadtest.httpbench /tmp/httpbench --build   # the store, then the figures
    .venv/bin/python -m loadtest.httpbench /tmp/httpbench           # again on the same store
    .venv/bin/python -m loadtest.httpbench /tmp/httpbench-full --build --full  # 100M passes

Each request opens its own connection, as ``linetrace query`` does; the first few of each
query are not counted. Prints JSON. (Before and after the move from http.server to FastAPI,
docs/architecture.md "HTTP stack", this ran both servers side by side.)
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import statistics
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from ingest.plant import parse_plant
from ingest.settings import Settings
from ingest.tokenfile import TokenFile, local_token
from loadtest.querydata import LEVELS, LINE, SITE, QuerySizes, bench_plant, generate_query_data
from storage.api import QueryServer
from storage.apigate import Gate
from storage.client import connect
from storage.ratelimit import RateLimiter
from storage.screens.app import Screens
from storage.screens.session import SESSION_COOKIE, Sessions

WARM_UP = 10
COMPONENT = f"urn:epc:id:sgtin:0614141.{LEVELS[0]}.{{}}"
QUERIES: dict[str, dict[str, str]] = {
    "history": {"item": COMPONENT},
    "genealogy": {"item": COMPONENT, "direction": "up"},
    "wip": {"site": SITE},
}


def _p(samples: list[float], q: int) -> float:
    return round(statistics.quantiles(samples, n=100)[q - 1], 2)


BOARD = f"/screens/board/{SITE}/{LINE}"
PAGES = {"board_page": BOARD, "board_live": f"{BOARD}/live"}


def _timed(url: str, token: str = "", cookie: str = "") -> float:
    headers = {"Authorization": f"Bearer {token}"} if token else {"Cookie": f"{SESSION_COOKIE}={cookie}"}
    request = urllib.request.Request(url, headers=headers)
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as answer:
        answer.read()
    return (time.perf_counter() - started) * 1000


def _run(url: str, token: str, cookie: str, requests: int, counts: list[int]) -> dict[str, Any]:
    rng = random.Random(1)
    samples: dict[str, list[float]] = {}
    for name, path in PAGES.items():
        for i in range(WARM_UP + requests):
            took = _timed(url + path, cookie=cookie)
            if i >= WARM_UP:
                samples.setdefault(name, []).append(took)
    for name, params in [*QUERIES.items(), ("health", {})]:
        for i in range(WARM_UP + requests):
            value = rng.randrange(counts[0])
            query = urllib.parse.urlencode({k: v.format(value) for k, v in params.items()})
            took = _timed(f"{url}/v1/{name}?{query}" if name != "health" else f"{url}/health", token)
            if i >= WARM_UP:
                samples.setdefault(name, []).append(took)
    every = [s for name, runs in samples.items() if name in QUERIES for s in runs]
    return {
        **{f"{name}_p95_ms": _p(runs, 95) for name, runs in samples.items()},
        "queries_p50_ms": _p(every, 50),
        "queries_p95_ms": _p(every, 95),
    }


def measure(directory: Path, requests: int, build: bool, full: bool) -> dict[str, Any]:
    settings = Settings(clickhouse_dsn=f"chdb://{directory / 'clickhouse'}")
    sizes = QuerySizes.full() if full else QuerySizes.quick()
    built = generate_query_data(settings, sizes) if build else {}
    tokens = directory / "api-tokens.yaml"
    token = local_token(tokens, "httpbench")
    store = connect(settings)
    token_file = TokenFile(tokens)
    gate = Gate(token_file, RateLimiter(0, 1), 1_000_000)
    sessions = Sessions(secrets.token_bytes(32), 1)
    plant = parse_plant(bench_plant(), source="loadtest.querydata")
    screens = Screens(store, token_file, sessions, plant=lambda: plant)
    signed_in = token_file.find(token)
    assert signed_in is not None
    cookie, _ = sessions.issue(signed_in)
    server = QueryServer(store, "127.0.0.1", 0, gate, screens=screens).start()
    try:
        figures = _run(server.url, token, cookie, requests, sizes.counts())
    finally:
        server.stop()
        store.close()
    return {"requests_per_query": requests, **figures, **built}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--build", action="store_true", help="build the store first")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per query")
    parser.add_argument("--full", action="store_true", help="the full store: 100M passes (with --build)")
    args = parser.parse_args()
    args.directory.mkdir(parents=True, exist_ok=True)
    print(json.dumps(measure(args.directory, args.requests, args.build, args.full), indent=2))


if __name__ == "__main__":
    main()
