from __future__ import annotations

from storage.openapi import QUERY_DOCS, openapi_document
from storage.service import QUERIES


def test_every_named_query_is_documented() -> None:
    assert set(QUERY_DOCS) == set(QUERIES)
    doc = openapi_document()
    assert doc["openapi"].startswith("3.")
    assert {f"/v1/{name}" for name in QUERIES} <= set(doc["paths"])
    history = doc["paths"]["/v1/history"]["get"]["parameters"]
    assert {(p["name"], p["required"]) for p in history} == {("item", True), ("site", False), ("line", False)}


def test_every_query_needs_a_bearer_token_and_says_how_it_is_refused() -> None:
    doc = openapi_document()

    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["bearer"]["description"],
    }
    assert doc["security"] == [{"bearer": []}]
    for path, operations in doc["paths"].items():
        for operation in operations.values():
            if path.startswith("/v1/"):
                assert "security" not in operation, f"{path} inherits the bearer requirement"
                assert {"401", "403", "413", "429"} <= set(operation["responses"]), path
                assert "WWW-Authenticate" in operation["responses"]["401"]["headers"]
                assert "Retry-After" in operation["responses"]["429"]["headers"]
            else:
                assert operation["security"] == [], f"{path} is open (probes and Prometheus)"
    assert {"/health", "/metrics"} <= set(doc["paths"])
