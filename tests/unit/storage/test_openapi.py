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
