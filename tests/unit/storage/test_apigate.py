"""The gate of every /v1/ request: a known token first, then its rate, then the size limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.tokenfile import TokenFile, create_token
from ingest.tokens import Scope, Token
from storage.apigate import Gate, Refusal, _query_label
from storage.ratelimit import RateLimiter


class _Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def gate(tmp_path: Path) -> tuple[Gate, str]:
    tokens = tmp_path / "tokens.yaml"
    token = create_token(tokens, "line-a", Scope("S1", "LINE-A"))
    return Gate(TokenFile(tokens), RateLimiter(2.0, 2, _Clock()), 100), token


@pytest.mark.parametrize(
    ("authorization", "length", "status", "error"),
    [
        pytest.param(None, None, 401, "unauthorized", id="no token"),
        pytest.param("Bearer lt_unknown", None, 401, "unauthorized", id="unknown token"),
        pytest.param("Basic dXNlcjpwYXNz", None, 401, "unauthorized", id="basic is for devices only"),
        pytest.param("TOKEN", "12x", 400, "bad_length", id="length not a number"),
        pytest.param("TOKEN", "101", 413, "oversized", id="over the limit"),
        pytest.param(None, "101", 401, "unauthorized", id="the token is asked first"),
    ],
)
def test_a_request_is_refused_with_its_reason(
    gate: tuple[Gate, str], authorization: str | None, length: str | None, status: int, error: str
) -> None:
    g, token = gate
    header = authorization.replace("TOKEN", f"Bearer {token}") if authorization else None
    refusal = g.admit(header, length)
    assert isinstance(refusal, Refusal) and (refusal.status, refusal.error) == (status, error)


def test_a_known_token_within_its_rate_and_the_limit_is_let_in(gate: tuple[Gate, str]) -> None:
    g, token = gate
    admitted = g.admit(f"Bearer {token}", "100")
    assert isinstance(admitted, Token) and admitted.name == "line-a"


def test_past_the_burst_the_answer_is_429_with_retry_after(gate: tuple[Gate, str]) -> None:
    g, token = gate
    assert [isinstance(g.admit(f"Bearer {token}", None), Token) for _ in range(2)] == [True, True]
    refusal = g.admit(f"Bearer {token}", None)
    assert isinstance(refusal, Refusal) and (refusal.status, refusal.headers) == (
        429,
        (("Retry-After", "1"),),
    )
    challenge = g.admit(None, None)
    assert isinstance(challenge, Refusal)
    assert challenge.headers == (("WWW-Authenticate", 'Bearer realm="linetrace"'),)


def test_an_epcis_document_has_a_limit_of_its_own(gate: tuple[Gate, str]) -> None:
    g, token = gate
    assert isinstance(g.admit(f"Bearer {token}", "5000", limit=10_000), Token)
    refused = g.admit(f"Bearer {token}", "10001", limit=10_000)
    assert isinstance(refused, Refusal) and (refused.status, refused.error) == (413, "oversized")


def test_one_epc_s_events_share_one_query_label() -> None:
    scope = {"type": "http", "method": "GET", "path": "/epcis/epcs/urn:epc:id:sgtin:0614141.000001.25/events"}
    assert _query_label(scope) == "epcis_epc_events"
