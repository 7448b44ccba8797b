"""The named queries by name, with their parameters parsed from text (CLI and HTTP alike)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ingest.errors import InvalidInput
from ingest.timefmt import parse_us, to_datetime
from storage import jobqueries, queries
from storage.client import Store


def _time(params: Mapping[str, str], key: str, default: datetime) -> datetime:
    raw = params.get(key)
    return to_datetime(parse_us(raw)) if raw else default


def _history(store: Store, p: Mapping[str, str]) -> Any:
    return queries.item_history(store, _required(p, "item"), p.get("site", ""), p.get("line", ""))


def _genealogy(store: Store, p: Mapping[str, str]) -> Any:
    direction = p.get("direction", "down")
    if direction not in ("up", "down"):
        raise InvalidInput("bad_parameter", "direction must be up or down")
    return queries.genealogy(store, _required(p, "item"), direction, p.get("site", ""), p.get("line", ""))


def _throughput(store: Store, p: Mapping[str, str]) -> Any:
    since, until = _window(p, 60)
    bucket = p.get("bucket", "minute")
    if bucket not in ("minute", "hour"):
        raise InvalidInput("bad_parameter", "bucket must be minute or hour")
    return queries.throughput(store, since, until, p.get("site", ""), p.get("line", ""), bucket)


def _window(p: Mapping[str, str], default_minutes: int) -> tuple[datetime, datetime]:
    now = datetime.now(UTC)
    minutes = int(p.get("minutes", str(default_minutes)))
    return _time(p, "since", now - timedelta(minutes=minutes)), _time(p, "until", now + timedelta(minutes=1))


def _cycle_time(store: Store, p: Mapping[str, str]) -> Any:
    since, until = _window(p, 24 * 60)
    return queries.cycle_time(store, since, until, p.get("site", ""), p.get("line", ""))


def _operators(store: Store, p: Mapping[str, str]) -> Any:
    since, until = _window(p, 8 * 60)
    return queries.operator_performance(store, since, until, p.get("site", ""), p.get("line", ""))


def _verdicts(store: Store, p: Mapping[str, str]) -> Any:
    since, until = _window(p, 60)
    return queries.verdicts(store, since, until, p.get("site", ""), p.get("line", ""))


def _wip_ageing(store: Store, p: Mapping[str, str]) -> Any:
    return queries.wip_ageing(
        store,
        int(p.get("older_than_s", "900")),
        p.get("site", ""),
        p.get("line", ""),
        int(p.get("limit", "1000")),
    )


def _violations(store: Store, p: Mapping[str, str]) -> Any:
    return queries.violations(
        store, p.get("site", ""), p.get("line", ""), p.get("type", ""), int(p.get("limit", "100"))
    )


QUERIES: dict[str, Callable[[Store, Mapping[str, str]], Any]] = {
    "history": _history,
    "genealogy": _genealogy,
    "wip": lambda s, p: queries.wip_by_stage(s, p.get("site", ""), p.get("line", "")),
    "throughput": _throughput,
    "violations": _violations,
    "summary": lambda s, p: queries.summary(s, p.get("site", ""), p.get("line", "")),
    "trace": lambda s, p: queries.trace(
        s, _required(p, "item"), p.get("direction", "down"), p.get("site", ""), p.get("line", "")
    ),
    "read_rates": lambda s, p: queries.read_rates(s, p.get("site", ""), p.get("line", "")),
    "recall": lambda s, p: queries.recall(s, _required(p, "item"), p.get("site", ""), p.get("line", "")),
    "held": lambda s, p: queries.held_items(
        s, p.get("site", ""), p.get("line", ""), int(p.get("limit", "1000"))
    ),
    "wip_by_job": lambda s, p: queries.wip_by_job(s, p.get("site", ""), p.get("line", "")),
    "wip_ageing": _wip_ageing,
    "cycle_time": _cycle_time,
    "operators": _operators,
    "job_progress": lambda s, p: jobqueries.job_progress(
        s, p.get("job", ""), p.get("site", ""), p.get("line", "")
    ),
    "late_jobs": lambda s, p: jobqueries.late_jobs(s, p.get("site", ""), p.get("line", "")),
    "blocked_jobs": lambda s, p: jobqueries.blocked_jobs(s, p.get("site", ""), p.get("line", "")),
    "pending_qc": lambda s, p: jobqueries.pending_qc(
        s, p.get("stage", "qc"), p.get("site", ""), p.get("line", "")
    ),
    "ready_for_dispatch": lambda s, p: jobqueries.ready_for_dispatch(s, p.get("site", ""), p.get("line", "")),
    "progress": lambda s, p: s.query(queries.PROGRESS)[0],
    "verdicts": _verdicts,
}


def run_query(store: Store, name: str, params: Mapping[str, str]) -> Any:
    if name not in QUERIES:
        raise InvalidInput("unknown_query", f"{name!r}; known: {', '.join(QUERIES)}")
    try:
        return QUERIES[name](store, params)
    except ValueError as exc:
        raise InvalidInput("bad_parameter", str(exc)) from exc


def _required(p: Mapping[str, str], key: str) -> str:
    value = p.get(key, "")
    if not value:
        raise InvalidInput("bad_parameter", f"{key} is required")
    return value
