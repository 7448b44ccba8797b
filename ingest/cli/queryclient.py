"""Answer a named query: through the running sink's API if one owns the store, else directly."""

from __future__ import annotations

import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

import orjson

from ingest.errors import InvalidInput, LinetraceError, NotFound
from ingest.httpserver import client_context
from ingest.settings import Settings
from storage.api import endpoint_file
from storage.client import connect, embedded_dir, is_embedded
from storage.service import parse_params, run_query


def api_url(settings: Settings) -> str | None:
    """URL of the sink's API if a live sink owns the embedded store."""
    if not is_embedded(settings.clickhouse_dsn):
        return None
    path = endpoint_file(embedded_dir(settings.clickhouse_dsn))
    if not path.exists():
        return None
    url = str(orjson.loads(path.read_bytes())["url"])
    try:
        with urllib.request.urlopen(url + "/health", timeout=2, context=client_context(settings)):
            return url
    except OSError:
        return None


def query(settings: Settings, name: str, params: Mapping[str, str]) -> Any:
    parse_params(name, params)  # a mistake in the question is said before where the answer is
    url = api_url(settings)
    if url is not None:
        return query_api(url, name, params, settings.api_token, client_context(settings))
    _check_store_exists(settings)
    store = connect(settings)
    try:
        return run_query(store, name, params)
    finally:
        store.close()


def _check_store_exists(settings: Settings) -> None:
    """An embedded store is opened for a query only where one was written: an empty one
    created on the spot would answer zeros, as if the plant had stopped."""
    if not is_embedded(settings.clickhouse_dsn):
        return
    directory = embedded_dir(settings.clickhouse_dsn)
    if not (directory / "metadata").is_dir():
        raise LinetraceError(
            f"no linetrace data in {directory} and no sink serving it; run the query where the data "
            "is (the demo writes ./linetrace-data/clickhouse) or set LINETRACE_CLICKHOUSE_DSN, "
            "e.g. chdb:///path/to/linetrace-data/clickhouse"
        )


# A rate-limited request waits as the API says and tries again, this many times in all, as
# long as the wait is at most RETRY_WAIT_MAX_S.
RETRY_ATTEMPTS = 3
RETRY_WAIT_MAX_S = 10


def query_api(
    url: str, name: str, params: Mapping[str, str], token: str, context: ssl.SSLContext | None = None
) -> Any:
    """A named query through the sink's API, as the holder of ``token`` (sent as a bearer token,
    never logged); ``context`` checks the API's certificate over HTTPS."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"{url}/v1/{name}?{urllib.parse.urlencode(params)}", headers=headers)
    attempt = 1
    while True:
        try:
            with urllib.request.urlopen(request, timeout=30, context=context) as resp:
                return orjson.loads(resp.read())
        except urllib.error.HTTPError as exc:
            body = _error_body(exc)
            wait = exc.headers.get("Retry-After", "")
            limited = exc.code == 429 and wait.isdigit() and int(wait) <= RETRY_WAIT_MAX_S
            if not limited or attempt >= RETRY_ATTEMPTS:
                raise _api_error(exc.code, body) from exc
        except urllib.error.URLError as exc:
            raise LinetraceError(f"query API at {url}: {exc.reason}; check that the sink runs there") from exc
        attempt += 1
        time.sleep(int(wait))


def _error_body(exc: urllib.error.HTTPError) -> dict[str, Any]:
    try:
        body = orjson.loads(exc.read() or b"{}")
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def _api_error(code: int, body: dict[str, Any]) -> LinetraceError:
    detail = body.get("detail", "")
    if code == 400:
        return InvalidInput(body.get("error", "bad_request"), detail)
    if code == 401:
        return LinetraceError(f"query API refused the token ({detail}); set LINETRACE_API_TOKEN")
    if code == 403:
        return LinetraceError(f"query API: forbidden: {detail}")
    if code == 404 and body.get("error") == "unknown_item":
        return NotFound("unknown_item", detail)
    return LinetraceError(f"query API {code}: {body.get('error', '')} {detail}".rstrip())
