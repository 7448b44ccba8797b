"""Who may post to a reader's HTTP endpoint: the Authorization header to a token of the tokens
file, then the token's scope against the reader's site and line. No I/O."""

from __future__ import annotations

import base64
import logging

import pytest
from prometheus_client import CollectorRegistry

from ingest.tokens import ALL_SITES, Scope, Token, hash_token
from readers.auth import ReaderGate, admit, authenticate, challenges, check_scope

LINE_A = Token("line-a", hash_token("lt_line_a"), Scope("SITE-1", "LINE-A"))
LINE_B = Token("line-b", hash_token("lt_line_b"), Scope("SITE-1", "LINE-B"))
SITE_1 = Token("site-1", hash_token("lt_site_1"), Scope("SITE-1"))
PLANT = Token("plant", hash_token("lt_plant"), Scope(ALL_SITES))
TOKENS = (LINE_A, LINE_B, SITE_1, PLANT)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("header", "status", "token"),
    [
        pytest.param("Bearer lt_line_a", 200, LINE_A, id="bearer, the reader's line"),
        pytest.param(basic("line-a", "lt_line_a"), 200, LINE_A, id="basic, the token's name as user"),
        pytest.param(basic("zebra", "lt_line_a"), 200, LINE_A, id="basic, any user"),
        pytest.param("Bearer lt_site_1", 200, SITE_1, id="the reader's site"),
        pytest.param("Bearer lt_plant", 200, PLANT, id="every site"),
        pytest.param("Bearer lt_line_b", 403, LINE_B, id="another line of the site"),
        pytest.param(basic("line-b", "lt_line_b"), 403, LINE_B, id="basic, another line"),
        pytest.param(None, 401, None, id="no header"),
        pytest.param("Bearer lt_unknown", 401, None, id="unknown token"),
        pytest.param(basic("line-a", "wrong"), 401, None, id="basic, wrong password"),
        pytest.param(basic("lt_line_a", ""), 401, None, id="basic, the token as user"),
        pytest.param("Bearer " + hash_token("lt_line_a"), 401, None, id="the hash is not the token"),
        pytest.param("Token lt_line_a", 401, None, id="another scheme"),
    ],
)
def test_a_post_is_admitted_by_a_token_covering_the_readers_line(
    header: str | None, status: int, token: Token | None
) -> None:
    admission = admit(header, TOKENS, "SITE-1", "LINE-A")

    assert (admission.status, admission.token) == (status, token)
    assert admission.admitted == (status == 200)
    assert admission.reason == {200: "", 401: "unauthorized", 403: "forbidden"}[status]


def test_a_401_challenges_bearer_and_basic_and_says_when_the_token_is_unknown() -> None:
    missing = authenticate(None, TOKENS)
    unknown = authenticate("Bearer lt_unknown", TOKENS)

    assert missing.headers == (
        ("WWW-Authenticate", 'Bearer realm="linetrace"'),
        ("WWW-Authenticate", 'Basic realm="linetrace", charset="UTF-8"'),
    )
    assert unknown.headers == challenges(invalid=True)
    assert 'error="invalid_token"' in unknown.headers[0][1]
    assert (missing.detail, unknown.detail) == (
        "send Authorization: Bearer <token> (or Basic with the token as password)",
        "unknown token",
    )
    assert "unreadable" in authenticate("Basic ???", TOKENS).detail


def test_no_tokens_admit_nothing() -> None:
    assert admit("Bearer lt_plant", (), "SITE-1", "LINE-A").status == 401


def test_a_403_names_the_token_and_its_scope_never_the_token_itself() -> None:
    refused = check_scope(LINE_B, "SITE-1", "LINE-A")

    assert (refused.status, refused.headers) == (403, ())
    assert refused.detail == "token line-b grants site SITE-1 line LINE-B, not site SITE-1 line LINE-A"
    assert check_scope(SITE_1, "SITE-2", "LINE-A").status == 403


def test_the_gate_counts_refusals_by_reason_and_logs_them_without_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = CollectorRegistry()
    gate = ReaderGate(lambda: TOKENS, registry)

    def refused(reason: str) -> float | None:
        return registry.get_sample_value("linetrace_reader_rejections_total", {"reason": reason})

    with caplog.at_level(logging.WARNING, logger="readers.auth"):
        assert gate.admit("ZEBRA-1", "10.20.3.4", "Bearer lt_line_a", "SITE-1", "LINE-A").admitted
        for _ in range(10):
            gate.admit("ZEBRA-1", "10.20.3.4", "Bearer lt_secret_guess", "SITE-1", "LINE-A")
        gate.admit("ZEBRA-1", "10.20.3.4", "Bearer lt_line_b", "SITE-1", "LINE-A")

    assert (refused("unauthorized"), refused("forbidden")) == (10.0, 1.0)
    # The 1st and 10th of a reason are logged, not every one.
    assert len([r for r in caplog.records if "unauthorized" in r.getMessage()]) == 2
    assert "10.20.3.4" in caplog.text and "token line-b grants" in caplog.text
    assert "lt_secret_guess" not in caplog.text and "lt_line_b" not in caplog.text


def test_the_gate_sees_the_tokens_as_they_are_now() -> None:
    tokens: list[Token] = []
    gate = ReaderGate(lambda: tokens, CollectorRegistry())
    assert gate.authenticate("HAND-1", "", "Bearer lt_line_a").status == 401

    tokens.append(LINE_A)  # a token created while the reader runs
    admission = gate.authenticate("HAND-1", "", "Bearer lt_line_a")
    assert admission.token == LINE_A
    assert gate.check_scope("HAND-1", "", LINE_A, "SITE-1", "LINE-B").status == 403
