from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from ingest.tokenfile import TokenFile, create_token, local_token, read_tokens, revoke_token
from ingest.tokens import Scope, TokenFileError, hash_token


def test_a_created_token_is_kept_only_as_its_hash(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    token = create_token(path, "line-a", Scope("SITE-1", "LINE-A"))
    other = create_token(path, "plant", Scope("*"))

    text = path.read_text()
    assert token not in text and other not in text
    assert hash_token(token) in text
    assert [(t.name, t.scope) for t in read_tokens(path)] == [
        ("line-a", Scope("SITE-1", "LINE-A")),
        ("plant", Scope("*")),
    ]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_names_are_unique_and_revoking_removes_one(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    create_token(path, "a", Scope("S"))
    create_token(path, "b", Scope("S"))

    with pytest.raises(TokenFileError, match="exists"):
        create_token(path, "a", Scope("T"))
    assert revoke_token(path, "a") is True
    assert revoke_token(path, "a") is False
    assert [t.name for t in read_tokens(path)] == ["b"]


def test_a_json_tokens_file_is_read_too(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    doc = {"tokens": [{"name": "n", "sha256": hash_token("t"), "scope": {"site": "S", "line": "L"}}]}
    path.write_text(json.dumps(doc))

    assert read_tokens(path)[0].scope == Scope("S", "L")


def test_the_api_reads_the_file_again_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    first = local_token(path, "first")
    tokens = TokenFile(path)
    assert tokens.find(first) is not None

    second = create_token(path, "second", Scope("S"))
    os.utime(path, ns=(1, 1))  # a new modification time even within the clock's resolution
    found = tokens.find(second)
    assert found is not None and found.name == "second"

    path.write_text("tokens: [oops")  # a broken file accepts nothing until it is fixed
    assert tokens.find(first) is None


def test_no_file_no_tokens(tmp_path: Path) -> None:
    assert read_tokens(tmp_path / "absent.yaml") == []
    assert TokenFile(tmp_path / "absent.yaml").find("lt_anything") is None
