"""Tokens and scopes: how a presented token is read from a header, found by its hash, and
how the tokens file's document is read and written."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from ingest.tokens import (
    ALL_SITES,
    Scope,
    Token,
    TokenFileError,
    bearer,
    find_token,
    hash_token,
    new_token,
    parse_tokens,
    presented_token,
    tokens_doc,
)

PLANT = Scope(ALL_SITES)
SITE_1 = Scope("SITE-1")
LINE_A = Scope("SITE-1", "LINE-A")


def test_a_scope_names_a_site_and_a_line_only_within_one_site() -> None:
    with pytest.raises(ValueError):
        Scope("")
    with pytest.raises(ValueError):
        Scope(ALL_SITES, "LINE-A")
    assert str(LINE_A) == "site SITE-1 line LINE-A" and str(PLANT) == "every site"


@pytest.mark.parametrize(
    ("header", "token"),
    [
        pytest.param("Bearer lt_abc", "lt_abc", id="bearer"),
        pytest.param("bearer  lt_abc ", "lt_abc", id="any case, spaces"),
        pytest.param(None, None, id="none"),
        pytest.param("", None, id="empty"),
        pytest.param("Basic dXNlcjpwdw==", None, id="basic"),
        pytest.param("Bearer", None, id="no token"),
        pytest.param("Bearer a b", None, id="two words"),
    ],
)
def test_the_bearer_token_is_read_from_the_header(header: str | None, token: str | None) -> None:
    assert bearer(header) == token


def test_a_token_is_found_by_its_hash_only() -> None:
    issued = new_token()
    other = new_token()
    tokens = [Token("a", hash_token(other), SITE_1), Token("b", hash_token(issued), LINE_A)]

    assert issued.startswith("lt_") and len(issued) > 40 and issued != other
    assert find_token(tokens, issued) == tokens[1]
    assert find_token(tokens, issued + "x") is None
    assert find_token(tokens, hash_token(issued)) is None  # the hash itself is not a token
    assert issued not in repr(tokens)


def test_tokens_read_back_what_was_written() -> None:
    tokens = [
        Token("line-a", hash_token("t1"), LINE_A),
        Token("site-1", hash_token("t2"), SITE_1),
        Token("plant", hash_token("t3"), PLANT),
    ]

    assert tokens_doc(tokens)["tokens"][0] == {
        "name": "line-a",
        "sha256": hash_token("t1"),
        "scope": {"site": "SITE-1", "line": "LINE-A"},
    }
    assert parse_tokens(tokens_doc(tokens)) == tokens
    assert parse_tokens(None) == [] and parse_tokens({"tokens": []}) == []


GOOD = {"name": "a", "sha256": "ab" * 32, "scope": {"site": "S"}}


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        pytest.param([GOOD], "a mapping", id="a bare list"),
        pytest.param({"tokens": [{**GOOD, "name": ""}]}, "name", id="no name"),
        pytest.param({"tokens": [{**GOOD, "sha256": "xyz"}]}, "64 hex", id="short hash"),
        pytest.param({"tokens": [{**GOOD, "sha256": "zz" * 32}]}, "64 hex", id="not hex"),
        pytest.param({"tokens": [{**GOOD, "scope": {}}]}, "scope", id="no site"),
        pytest.param({"tokens": [{**GOOD, "scope": {"site": "*", "line": "L"}}]}, "one site", id="line of *"),
        pytest.param({"tokens": [GOOD, GOOD]}, "twice", id="a name twice"),
        pytest.param({"tokens": [{"name": "a", "sha256": "ab" * 32}]}, "scope", id="scope missing"),
    ],
)
def test_a_bad_tokens_file_says_what_is_wrong(doc: Any, says: str) -> None:
    with pytest.raises(TokenFileError, match=says):
        parse_tokens(doc, "tokens.yaml")


def _basic(user_and_password: str) -> str:
    return "Basic " + base64.b64encode(user_and_password.encode()).decode()


@pytest.mark.parametrize(
    ("header", "token"),
    [
        pytest.param("Bearer lt_abc", "lt_abc", id="bearer"),
        pytest.param(_basic("line-a:lt_abc"), "lt_abc", id="basic, the token's name as user"),
        pytest.param(_basic(":lt_abc"), "lt_abc", id="basic, no user"),
        pytest.param(_basic("zebra:lt_a:b"), "lt_a:b", id="basic, a colon in the password"),
        pytest.param("basic  " + _basic("u:lt_abc")[6:] + " ", "lt_abc", id="basic, any case, spaces"),
        pytest.param(_basic("lt_abc"), None, id="basic, no colon"),
        pytest.param(_basic("lt_abc:"), None, id="basic, the token as user, no password"),
        pytest.param("Basic not*base64", None, id="basic, not base64"),
        pytest.param("Basic " + base64.b64encode(b"u:\xff").decode(), None, id="basic, not UTF-8"),
        pytest.param("Digest username=x", None, id="another scheme"),
        pytest.param(None, None, id="none"),
    ],
)
def test_a_device_presents_its_token_as_bearer_or_basic_password(
    header: str | None, token: str | None
) -> None:
    assert presented_token(header) == token
