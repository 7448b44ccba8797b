"""The one settings object: every tunable of every linetrace process, from ``LINETRACE_*``.

Each field's environment variable is ``LINETRACE_`` plus the field name in upper case.
The README's settings table is generated from the same field list (``linetrace settings``).
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ingest.errors import ConfigError

PREFIX = "LINETRACE_"
LOG_LEVELS = ("debug", "info", "warning", "error")
BROKER_KINDS = ("kafka", "tansu")
COMPRESSIONS = ("none", "lz4", "zstd", "gzip", "snappy")
# Tansu holds each group join for half the session timeout and answers every fetch only after
# the full fetch wait (docs/architecture.md, "Which broker"); Apache Kafka needs neither.
TANSU_DEFAULTS: dict[str, Any] = {
    "kafka_session_timeout_s": 4.0,
    "kafka_heartbeat_s": 1.0,
    "kafka_fetch_wait_ms": 20,
}
# Counts and sizes a process cannot work with at 0; every other number but the retention days
# (negative: left to the schema) may be 0 and none may be negative.
POSITIVE = frozenset(
    {
        "partitions",
        "replication_factor",
        "batch_max",
        "sink_batch_rows",
        "max_message_bytes",
        "api_max_request_bytes",
        "epcis_capture_max_bytes",
        "api_burst",
        "spool_max_mb",
    }
)
MAY_BE_NEGATIVE = frozenset({"retention_read_cycles_days", "retention_trace_days"})
PORTS = frozenset({"api_port", "metrics_port", "reader_metrics_port"})
# Addresses people open or labels carry: absolute http(s) URLs (public_base_url may be empty).
ADDRESSES = frozenset({"public_base_url", "digital_link_domain"})
# Variables of the prefix that other programs read: the Locust load test's and the tests'.
NOT_SETTINGS = frozenset(
    {
        "LINETRACE_LOADTEST_PLANT",
        "LINETRACE_LOADTEST_ITEMS_PER_MINUTE",
        "LINETRACE_TEST_PATCHES",
        "LINETRACE_TEST_BROKER",
    }
)


class SettingsError(ConfigError):
    """A setting's value is not one linetrace can run with; the message names its variable."""


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap: str = field(
        default="127.0.0.1:9092", metadata=_doc("Kafka bootstrap servers, comma separated.")
    )
    kafka_security_protocol: str = field(
        default="PLAINTEXT", metadata=_doc("PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.")
    )
    kafka_sasl_mechanism: str = field(
        default="", metadata=_doc("SASL mechanism, e.g. SCRAM-SHA-512 (empty: none).")
    )
    kafka_sasl_username: str = field(default="", metadata=_doc("SASL user name."))
    kafka_sasl_password: str = field(default="", repr=False, metadata=_doc("SASL password (never logged)."))
    kafka_ssl_cafile: str = field(default="", metadata=_doc("CA bundle for SSL listeners."))
    broker_kind: str = field(
        default="kafka",
        metadata=_doc(
            "kafka or tansu (the local broker of the demo and `linetrace broker`): with tansu, the "
            "session timeout, heartbeat and fetch wait not set default to 4, 1 and 20."
        ),
    )
    kafka_session_timeout_s: float = field(
        default=10.0,
        metadata=_doc("Consumer group session timeout; the local broker uses 4 (joins wait half)."),
    )
    kafka_heartbeat_s: float = field(default=3.0, metadata=_doc("Consumer heartbeat interval."))
    kafka_fetch_wait_ms: int = field(
        default=500,
        metadata=_doc("Longest fetch wait; the local broker holds every fetch this long, so it uses 20."),
    )
    kafka_compression: str = field(
        default="lz4",
        metadata=_doc(
            "Compression of every message linetrace produces (none, lz4, zstd, gzip or snappy); "
            "its consumers read any of them."
        ),
    )
    topic_prefix: str = field(default="linetrace", metadata=_doc("Prefix of every topic name."))
    partitions: int = field(default=4, metadata=_doc("Partitions of keyed topics at creation."))
    replication_factor: int = field(default=1, metadata=_doc("Replication factor of topics at creation."))
    clickhouse_dsn: str = field(
        default="chdb://./linetrace-data/clickhouse",
        metadata=_doc("chdb:///dir for the embedded store or http(s)://user@host:8123/db."),
    )
    clickhouse_password: str = field(
        default="", repr=False, metadata=_doc("ClickHouse password (kept out of the DSN and logs).")
    )
    clickhouse_database: str = field(default="linetrace", metadata=_doc("ClickHouse database."))
    serving_tables: bool = field(
        default=False,
        metadata=_doc(
            "Keep the key-value serving tables (kv_*) and answer trace lookups from them; turn on "
            "after `linetrace serving refill`, not on a cluster with several sinks (docs/operations.md)."
        ),
    )
    state_dir: str = field(
        default="./linetrace-data/worker", metadata=_doc("Stream worker's local data directory.")
    )
    worker_id: str = field(default="linetrace", metadata=_doc("Faust app id (consumer group)."))
    spool_dir: str = field(
        default="./linetrace-data/spool",
        metadata=_doc("Reader adapters keep reports here while the broker is away (store and forward)."),
    )
    reader_password: str = field(
        default="",
        repr=False,
        metadata=_doc("Password for readers that ask for one (Impinj IoT interface; never logged)."),
    )
    reader_delivery_timeout_s: float = field(
        default=10.0,
        metadata=_doc(
            "A report the broker has not acknowledged in this long stays in the spool and is sent again."
        ),
    )
    spool_max_mb: int = field(
        default=256, metadata=_doc("Spool size limit; a full spool holds the readers back, never drops.")
    )
    dedup_window_s: float = field(
        default=5.0,
        metadata=_doc("Reads of one item at one station closer than this are one pass."),
    )
    reorder_window_s: float = field(
        default=0.25,
        metadata=_doc(
            "A violation is confirmed once every input of the stream has passed its pass's event time "
            "by this much."
        ),
    )
    idle_input_s: float = field(
        default=1.0,
        metadata=_doc(
            "An input partition at its log end for this long is idle and no longer holds confirmations back."
        ),
    )
    batch_max: int = field(default=500, metadata=_doc("Messages per stream batch at most."))
    batch_wait_s: float = field(default=0.02, metadata=_doc("Longest wait to fill a stream batch."))
    sink_batch_rows: int = field(default=50_000, metadata=_doc("Rows per sink insert at most."))
    sink_flush_s: float = field(
        default=0.07, metadata=_doc("Longest wait before the sink inserts passes, item state and violations.")
    )
    sink_commit_s: float = field(
        default=1.0, metadata=_doc("Longest wait before the sink inserts the other tables and commits.")
    )
    max_message_bytes: int = field(
        default=1_000_000, metadata=_doc("Larger messages are dead-lettered as oversized.")
    )
    max_future_skew_s: float = field(
        default=300.0,
        metadata=_doc("Reads stamped further ahead of the worker clock are rejected."),
    )
    max_age_s: float = field(
        default=7 * 86_400.0, metadata=_doc("Reads older than this are rejected as impossible.")
    )
    retention_read_cycles_days: int = field(
        default=90,
        metadata=_doc(
            "Days to keep per-report read-cycle rows (0: forever; negative: left to the schema, "
            "as on a ClickHouse cluster)."
        ),
    )
    retention_trace_days: int = field(
        default=0,
        metadata=_doc(
            "Days to keep the trace: passes, links, violations, item state... (0: forever; "
            "negative: left to the schema, as on a ClickHouse cluster)."
        ),
    )
    api_host: str = field(default="127.0.0.1", metadata=_doc("Bind address of the query API."))
    api_port: int = field(
        default=8765, metadata=_doc("Port of the query API and the sink's /metrics (served by the sink).")
    )
    api_tokens_file: str = field(
        default="./linetrace-data/api-tokens.yaml",
        metadata=_doc(
            "Tokens of the query API and of devices posting to the zebra and barcode_http readers: "
            "names, sha256 hashes and scopes (`linetrace token create`); read again when it changes. "
            "Missing: every /v1/ request and every reader POST gets 401."
        ),
    )
    api_token: str = field(
        default="",
        repr=False,
        metadata=_doc("Bearer token that `linetrace query` and other API clients send (never logged)."),
    )
    api_max_request_bytes: int = field(
        default=1_000_000, metadata=_doc("Largest query API request body; a larger one gets 413.")
    )
    epcis_capture_max_bytes: int = field(
        default=64 << 20,
        metadata=_doc(
            "Largest EPCIS document POST /epcis/capture takes (read as a stream); a larger one gets 413."
        ),
    )
    api_rate_per_s: float = field(
        default=20.0,
        metadata=_doc("Query API requests per second per token (token bucket; 0: no limit); 429 beyond."),
    )
    api_burst: int = field(
        default=40, metadata=_doc("Query API requests a token may make at once before the rate applies.")
    )
    metrics_host: str = field(
        default="127.0.0.1", metadata=_doc("Bind address of /metrics of the stream worker and the readers.")
    )
    metrics_port: int = field(default=9464, metadata=_doc("Port of the stream worker's /metrics (0: none)."))
    reader_metrics_port: int = field(
        default=9465, metadata=_doc("Port of /metrics of `linetrace reader run` (0: none).")
    )
    tls_cert_file: str = field(
        default="",
        metadata=_doc(
            "PEM certificate chain of every HTTP listener (query API, reader endpoints, reader /metrics); "
            "with the key file, they speak HTTPS only (empty: plain HTTP)."
        ),
    )
    tls_key_file: str = field(default="", metadata=_doc("PEM private key of the certificate."))
    forwarded_allow_ips: str = field(
        default="127.0.0.1",
        metadata=_doc(
            "Reverse proxies whose X-Forwarded-For/-Proto headers the HTTP listeners believe "
            "(comma separated addresses or networks; * for any)."
        ),
    )
    public_base_url: str = field(
        default="",
        metadata=_doc(
            "Where people reach linetrace's screens, e.g. https://linetrace.plant.example (the QR codes "
            "of printed travelers open it; empty: the address a request came in on)."
        ),
    )
    digital_link_domain: str = field(
        default="https://id.gs1.org",
        metadata=_doc(
            "The domain of the GS1 Digital Link QR codes on item labels: the plant's resolver or "
            "id.gs1.org (never an internal host: labels leave the plant)."
        ),
    )
    session_hours: float = field(
        default=12.0, metadata=_doc("A screens sign-in lasts this long (or until its token is revoked).")
    )
    log_level: str = field(default="info", metadata=_doc("debug, info, warning or error."))

    def __post_init__(self) -> None:
        for f in fields(self):
            problem = _out_of_range(f.name, getattr(self, f.name))
            if problem:
                value = getattr(self, f.name)
                raise SettingsError(f"{PREFIX}{f.name.upper()}={value!r} {problem}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every field from ``LINETRACE_<NAME>``; keyword overrides win over the environment."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(PREFIX + f.name.upper())
            if raw is None:
                continue
            values[f.name] = _convert(f.name, type(f.default), raw)
        values.update(overrides)
        if values.get("broker_kind") == "tansu":
            values = TANSU_DEFAULTS | values
        return cls(**values)

    def __repr__(self) -> str:
        """Every field but the secrets; a password written into the DSN is masked too."""
        shown = []
        for f in fields(self):
            if f.repr:
                value = getattr(self, f.name)
                shown.append(f"{f.name}={redact_dsn(value) if f.name == 'clickhouse_dsn' else value!r}")
        return f"Settings({', '.join(shown)})"

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def to_env(self) -> dict[str, str]:
        """The environment that recreates these settings in a child process."""
        return {PREFIX + f.name.upper(): str(getattr(self, f.name)) for f in fields(self)}

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir)

    @property
    def spool_path(self) -> Path:
        return Path(self.spool_dir)


def _convert(name: str, kind: type, raw: str) -> Any:
    try:
        if kind is bool:
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        return kind(raw)
    except ValueError as exc:
        raise SettingsError(f"{PREFIX}{name.upper()}={raw!r} is not a valid {kind.__name__}") from exc


def _out_of_range(name: str, value: Any) -> str:
    """What is wrong with a setting's value, or '' when nothing is."""
    if name == "log_level":
        return "" if str(value).lower() in LOG_LEVELS else f"must be one of {', '.join(LOG_LEVELS)}"
    if name == "broker_kind":
        return "" if value in BROKER_KINDS else f"must be one of {', '.join(BROKER_KINDS)}"
    if name == "kafka_compression":
        return "" if value in COMPRESSIONS else f"must be one of {', '.join(COMPRESSIONS)}"
    if name in ADDRESSES:
        return _address_problem(name, str(value))
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    if not math.isfinite(value):
        return "must be a finite number"
    if name in PORTS and not 0 <= value <= 65_535:
        return "must be a port number (0-65535)"
    if name in POSITIVE and value < 1:
        return "must be at least 1"
    if name == "session_hours" and value <= 0:
        return "must be more than 0"
    if name not in MAY_BE_NEGATIVE and value < 0:
        return "must not be negative"
    return ""


def _address_problem(name: str, value: str) -> str:
    if not value and name == "public_base_url":
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "must be an http:// or https:// address, e.g. https://linetrace.plant.example"
    if parts.query or parts.fragment:
        return "must not carry a query or a fragment"
    return ""


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """A warning for each ``LINETRACE_*`` variable that is no setting (a misspelt one is
    otherwise silently left at its default), with the closest setting's name."""
    env = os.environ if environ is None else environ
    known = [PREFIX + f.name.upper() for f in fields(Settings)]
    warnings = []
    for name in sorted(env):
        if not name.startswith(PREFIX) or name in known or name in NOT_SETTINGS:
            continue
        # Compared without the prefix, which every name shares and would make any two look alike.
        close = difflib.get_close_matches(
            name.removeprefix(PREFIX), [k.removeprefix(PREFIX) for k in known], n=1
        )
        hint = f"; did you mean {PREFIX}{close[0]}?" if close else " (`linetrace settings` lists them)"
        warnings.append(f"{name} is not a linetrace setting{hint}")
    return warnings


def redact_dsn(dsn: str) -> str:
    """The DSN as it may be shown: a password in its user part or its query becomes ``***``."""
    parts = urlsplit(dsn)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        if ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:***@{hostport}"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    secret = [k for k, _ in pairs if "password" in k.lower()]
    if netloc == parts.netloc and not secret:
        return dsn
    query = urlencode([(k, "***" if k in secret else v) for k, v in pairs], safe="*/")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def settings_table() -> str:
    """Markdown table of every setting, its default and meaning (for the README)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for f in fields(Settings):
        rows.append(f"| `{PREFIX}{f.name.upper()}` | `{f.default}` | {f.metadata['doc']} |")
    return "\n".join(rows)
