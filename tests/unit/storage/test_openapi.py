"""The query API's OpenAPI document, as FastAPI generates it from the routes and the queries
table: every query, its parameters and its typed answer, and how every /v1/ request may be
refused."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from ingest.tokenfile import TokenFile
from storage.api import query_app
from storage.apigate import Gate
from storage.client import Store
from storage.openapi import document
from storage.ratelimit import RateLimiter
from storage.service import QUERIES


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    gate = Gate(TokenFile(tmp_path_factory.mktemp("api") / "tokens.yaml"), RateLimiter(1.0, 1), 1000)
    store: Store = object()  # type: ignore[assignment]  # documenting asks nothing of the store
    return document(query_app(store, gate, None, CollectorRegistry()))


def _schema(doc: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = doc["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_named_query_is_documented(doc: dict[str, Any]) -> None:
    assert doc["openapi"].startswith("3.")
    assert {f"/v1/{name}" for name in QUERIES} <= set(doc["paths"])
    history = doc["paths"]["/v1/history"]["get"]["parameters"]
    assert {(p["name"], p["required"]) for p in history} == {("item", True), ("site", False), ("line", False)}
    violations = {p["name"]: p["schema"] for p in doc["paths"]["/v1/violations"]["get"]["parameters"]}
    assert violations["limit"]["type"] == "integer" and violations["limit"]["default"] == 100
    genealogy = {p["name"]: p["schema"] for p in doc["paths"]["/v1/genealogy"]["get"]["parameters"]}
    assert genealogy["direction"]["enum"] == ["up", "down"]


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_every_answer_has_a_typed_schema_from_its_columns(doc: dict[str, Any], name: str) -> None:
    answer = doc["paths"][f"/v1/{name}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    row = _schema(doc, answer["items"] if answer.get("type") == "array" else answer)
    assert row["type"] == "object" and row["properties"], name
    assert all(prop for prop in row["properties"].values()), f"{name}: a column without a type"


def test_answer_columns_carry_their_types(doc: dict[str, Any]) -> None:
    answer = doc["paths"]["/v1/history"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    columns = _schema(doc, answer["items"])["properties"]
    assert columns["reads"]["type"] == "integer"
    assert columns["first_seen"] == {"type": "string", "format": "date-time", "title": "First Seen"}
    violation = _schema(doc, {"$ref": "#/components/schemas/Violation"})
    assert violation["properties"]["missing"]["items"] == {"type": "string"}
    assert "p_missed_read" not in violation["required"] and "item" in violation["required"]


def test_every_query_needs_a_bearer_token_and_says_how_it_is_refused(doc: dict[str, Any]) -> None:
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearer"]["description"],
    }
    assert doc["security"] == [{"bearer": []}]
    for path, operations in doc["paths"].items():
        for operation in operations.values():
            assert "422" not in operation["responses"], f"{path}: a bad parameter is a 400"
            if path.startswith("/v1/"):
                assert "security" not in operation, f"{path} inherits the bearer requirement"
                assert {"401", "403", "413", "429"} <= set(operation["responses"]), path
                assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
                assert "Retry-After" in operation["responses"]["429"]["headers"]
            else:
                assert operation["security"] == [], f"{path} is open (probes and Prometheus)"
    assert {"/health", "/metrics"} <= set(doc["paths"])
    assert "/docs" not in doc["paths"] and "HTTPValidationError" not in doc["components"]["schemas"]
