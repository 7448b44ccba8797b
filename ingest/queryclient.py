"""Answer a named query: through the running sink's API if one owns the store, else directly."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

import orjson

from ingest.errors import InvalidInput, LinetraceError
from ingest.settings import Settings
from storage.api import endpoint_file
from storage.client import connect, embedded_dir, is_embedded
from storage.service import run_query


def api_url(settings: Settings) -> str | None:
    """URL of the sink's API if a live sink owns the embedded store."""
    if not is_embedded(settings.clickhouse_dsn):
        return None
    path = endpoint_file(embedded_dir(settings.clickhouse_dsn))
    if not path.exists():
        return None
    url = str(orjson.loads(path.read_bytes())["url"])
    try:
        with urllib.request.urlopen(url + "/health", timeout=2):
            return url
    except OSError:
        return None


def query(settings: Settings, name: str, params: Mapping[str, str]) -> Any:
    url = api_url(settings)
    if url is not None:
        return query_api(url, name, params)
    store = connect(settings)
    try:
        return run_query(store, name, params)
    finally:
        store.close()


def query_api(url: str, name: str, params: Mapping[str, str]) -> Any:
    full = f"{url}/v1/{name}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(full, timeout=30) as resp:
            return orjson.loads(resp.read())
    except urllib.error.HTTPError as exc:
        body = orjson.loads(exc.read() or b"{}")
        if exc.code == 400:
            raise InvalidInput(body.get("error", "bad_request"), body.get("detail", "")) from exc
        raise LinetraceError(f"query API {exc.code}: {body}") from exc
