"""The tokens file (``LINETRACE_API_TOKENS_FILE``): read by the query API and by the readers'
HTTP endpoints, written by ``linetrace token``.

Only names, sha256 hashes and scopes are kept; the token itself is shown once, when it is
created. Its readers read the file again when its modification time or size changes (a
Kubernetes Secret update swaps the mounted file), so creating or revoking a token needs no
restart. A file that cannot be read as tokens leaves them with none: every /v1/ request and
every reader POST gets 401 until it is fixed, and the error is logged.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from pathlib import Path

import yaml

from ingest.tokens import (
    Scope,
    Token,
    TokenFileError,
    find_token,
    hash_token,
    new_token,
    parse_tokens,
    tokens_doc,
)

log = logging.getLogger(__name__)

HEADER = "# linetrace tokens: names, sha256 hashes and scopes only (linetrace token create).\n"


def read_tokens(path: Path) -> list[Token]:
    """The tokens of the file ([] when it does not exist). YAML, so JSON too."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TokenFileError(f"{path}: not YAML or JSON: {exc}") from exc
    return parse_tokens(doc, str(path))


def write_tokens(path: Path, tokens: list[Token]) -> None:
    """Replace the file at once (a reader never sees half of it), readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = HEADER + yaml.safe_dump(tokens_doc(tokens), sort_keys=False)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def create_token(path: Path, name: str, scope: Scope) -> str:
    """Add a token to the file and return it (the only time it is ever seen)."""
    tokens = read_tokens(path)
    if any(t.name == name for t in tokens):
        raise TokenFileError(f"{path}: a token named {name!r} exists; revoke it first or choose another name")
    token = new_token()
    write_tokens(path, [*tokens, Token(name, hash_token(token), scope)])
    return token


def revoke_token(path: Path, name: str) -> bool:
    """Remove the named token; False if there was none."""
    tokens = read_tokens(path)
    kept = [t for t in tokens if t.name != name]
    if len(kept) == len(tokens):
        return False
    write_tokens(path, kept)
    return True


def local_token(path: Path, name: str = "local") -> str:
    """A tokens file holding one new plant-wide token, for a stack this process starts itself
    (demo, load test, bench, tests); returns the token."""
    token = new_token()
    write_tokens(path, [Token(name, hash_token(token), Scope("*"))])
    return token


class TokenFile:
    """The tokens of a file, read again when the file changes; thread-safe.

    ``refused`` says, in the log, what goes without a token (the query API's /v1/ requests,
    a reader's POSTs)."""

    def __init__(self, path: Path, refused: str = "every /v1/ request gets 401"):
        self.path = path
        self._seen: tuple[int, int] | None = None
        self._tokens: list[Token] = []
        self._lock = threading.Lock()
        self._refresh()
        if not self._tokens:
            log.warning("no tokens in %s: %s (linetrace token create)", path, refused)

    def find(self, presented: str) -> Token | None:
        return find_token(self.current(), presented)

    def current(self) -> list[Token]:
        """The file's tokens as it is now."""
        self._refresh()
        return self._tokens

    def _refresh(self) -> None:
        try:
            st = self.path.stat()
            seen = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            seen = (0, -1)
        with self._lock:
            if seen == self._seen:
                return
            self._seen = seen
            try:
                self._tokens = read_tokens(self.path)
                log.info("tokens: %d from %s", len(self._tokens), self.path)
            except (OSError, TokenFileError) as exc:
                self._tokens = []
                log.error("tokens not read, none accepted until fixed: %s", exc)
