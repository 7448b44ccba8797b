"""The OpenAPI 3.1 document of the query API, built from the named queries' parameters."""

from __future__ import annotations

from typing import Any

_FILTERS = {
    "site": "Only this site (empty: every site of the token's scope; another site: 403).",
    "line": "Only this line (empty: every line of the token's scope; another line: 403).",
}

# query -> (summary, {parameter: description}, required parameters)
QUERY_DOCS: dict[str, tuple[str, dict[str, str], set[str]]] = {
    "summary": ("Reads, items, passes, violations, WIP, read rates, throughput, one trace.", _FILTERS, set()),
    "history": (
        "Every pass of an item in time order with its verdict.",
        {"item": "Item key.", **_FILTERS},
        {"item"},
    ),
    "genealogy": (
        "Items linked to an item now: down = what is in it (assembled, packed, transformed into it), "
        "up = what it is in. Unpacked items are no longer linked.",
        {"item": "Item key.", "direction": "up or down (default down).", **_FILTERS},
        {"item"},
    ),
    "trace": (
        "Genealogy with every pass of every item found.",
        {"item": "Item key.", "direction": "up or down (default down).", **_FILTERS},
        {"item"},
    ),
    "recall": (
        "Recall scope: the item and everything it is in, at any depth, with stage, job and status.",
        {"item": "Item key.", **_FILTERS},
        {"item"},
    ),
    "wip": ("Items in process by stage.", _FILTERS, set()),
    "throughput": (
        "Passes per station per minute or hour.",
        {
            "bucket": "minute or hour (default minute).",
            "minutes": "Window ending now (default 60).",
            "since": "RFC 3339 start (overrides minutes).",
            "until": "RFC 3339 end.",
            **_FILTERS,
        },
        set(),
    ),
    "violations": (
        "Open violations, newest first; skipped stages carry p_missed_read.",
        {"type": "Only this violation type.", "limit": "At most this many (default 100).", **_FILTERS},
        set(),
    ),
    "read_rates": (
        "Portal read rate per route stage, from the items seen downstream of it.",
        _FILTERS,
        set(),
    ),
    "held": (
        "Items under a hold now, placed on them or on anything they were made from.",
        {"limit": "At most this many (default 1000).", **_FILTERS},
        set(),
    ),
    "wip_by_job": ("Items in process by job and stage.", _FILTERS, set()),
    "wip_ageing": (
        "Items in process not read for longer than older_than_s, longest waiting first.",
        {"older_than_s": "Seconds (default 900).", "limit": "At most this many (default 1000).", **_FILTERS},
        set(),
    ),
    "cycle_time": (
        "Per stage: time from the first read there to the next stage reached.",
        {
            "minutes": "Window ending now (default 1440).",
            "since": "RFC 3339 start.",
            "until": "RFC 3339 end.",
            **_FILTERS,
        },
        set(),
    ),
    "operators": (
        "Operator performance per stage, from scans that carry an operator: passes, items, "
        "violations and passes per hour.",
        {
            "minutes": "Window ending now (default 480, a shift).",
            "since": "RFC 3339 start.",
            "until": "RFC 3339 end.",
            **_FILTERS,
        },
        set(),
    ),
    "job_progress": (
        "Per job and route stage: received, completed, rejected, pending.",
        {"job": "Only this job.", **_FILTERS},
        set(),
    ),
    "late_jobs": (
        "Jobs past due with items to go, or that will miss it at their target rate.",
        _FILTERS,
        set(),
    ),
    "blocked_jobs": ("Open blockers by job, and jobs with items under a hold.", _FILTERS, set()),
    "pending_qc": (
        "Items at the QC stage without a QC result since they arrived.",
        {"stage": "The QC stage (default qc).", **_FILTERS},
        set(),
    ),
    "ready_for_dispatch": (
        "Jobs flagged ready for dispatch or with their whole quantity complete.",
        _FILTERS,
        set(),
    ),
    "progress": (
        "Rows stored so far, every site (cheap; for load tests; plant-wide tokens only).",
        {},
        set(),
    ),
    "verdicts": (
        "Passes first seen in a window, each counted once with its latest verdict: passes, "
        "movements, open and retracted violations.",
        {
            "minutes": "Window ending now (default 60).",
            "since": "RFC 3339 start.",
            "until": "RFC 3339 end (excluded).",
            **_FILTERS,
        },
        set(),
    ),
}


def _json(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {}}}}


# Answers every /v1/ operation may give before or beside its own.
_GATE = {
    "401": {
        **_json("No bearer token, or one the API does not know."),
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer."}},
    },
    "403": _json("The request names a site or line outside the token's scope."),
    "413": _json("The request body is larger than LINETRACE_API_MAX_REQUEST_BYTES."),
    "429": {
        **_json("The token made more requests than LINETRACE_API_RATE_PER_S and LINETRACE_API_BURST allow."),
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}},
    },
}
_OPEN: list[dict[str, list[str]]] = []  # no security requirement


def openapi_document() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/health": {
            "get": {
                "summary": "Liveness of the query API (no token).",
                "security": _OPEN,
                "responses": {"200": _json("Status.")},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics of the sink and the API (no token; no item keys).",
                "security": _OPEN,
                "responses": {"200": {"description": "Prometheus text format."}},
            }
        },
    }
    for name, (summary, params, required) in QUERY_DOCS.items():
        paths[f"/v1/{name}"] = {
            "get": {
                "operationId": name,
                "summary": summary,
                "parameters": [
                    {
                        "name": p,
                        "in": "query",
                        "required": p in required,
                        "description": d,
                        "schema": {"type": "string"},
                    }
                    for p, d in params.items()
                ],
                "responses": {
                    "200": _json("The answer, for the token's scope only."),
                    "400": _json("A parameter is missing or invalid."),
                    **_GATE,
                    "500": _json("ClickHouse refused the query; its error code is given."),
                },
            }
        }
    paths["/v1/events/{kind}"] = {
        "post": {
            "operationId": "post_event",
            "summary": "Post a job event, hold, QC result, aggregation or transformation "
            "(see docs/wire-format.md) for a site and line of the token's scope, about items not "
            "known at another line.",
            "parameters": [
                {
                    "name": "kind",
                    "in": "path",
                    "required": True,
                    "schema": {
                        "type": "string",
                        "enum": ["job", "hold", "qc", "aggregation", "transformation"],
                    },
                }
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "responses": {
                "202": _json("Published to its topic."),
                "400": _json("Not valid (over LINETRACE_MAX_MESSAGE_BYTES: oversized); the error says why."),
                **_GATE,
                "411": _json("No Content-Length."),
                "503": _json("The broker did not take it; retry."),
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "linetrace query API", "version": "1", "license": {"name": "Apache-2.0"}},
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "From `linetrace token create`: grants a site, a line, or every site.",
                }
            }
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }
