"""Bearer tokens and their scopes: who may read the trace through the query API, and which
devices may post reads to the readers' HTTP endpoints. One tokens file serves both
(``LINETRACE_API_TOKENS_FILE``, ``ingest.tokenfile``).

A token grants one site (every line of it), one line of one site, or every site (``site:
"*"``, for plant-wide analysts, the demo and the load test). Only the token's sha256 is
kept, and a presented token is compared by its hash in constant time. Pure functions: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ingest.errors import LinetraceError

ALL_SITES = "*"
TOKEN_PREFIX = "lt_"


class TokenFileError(LinetraceError):
    """The tokens file is not a valid list of tokens; the message says where."""


@dataclass(frozen=True)
class Scope:
    site: str  # ALL_SITES: every site
    line: str = ""  # "": every line of the site

    def __post_init__(self) -> None:
        if not self.site:
            raise ValueError("a scope names a site, or * for every site")
        if self.site == ALL_SITES and self.line:
            raise ValueError("a line belongs to one site: name the site, not *")

    @property
    def plant_wide(self) -> bool:
        return self.site == ALL_SITES

    def covers(self, site: str, line: str) -> bool:
        """Whether rows stamped with this site and line belong to the scope."""
        if self.plant_wide:
            return True
        return site == self.site and (not self.line or line == self.line)

    def __str__(self) -> str:
        if self.plant_wide:
            return "every site"
        return f"site {self.site}" + (f" line {self.line}" if self.line else "")


@dataclass(frozen=True)
class Token:
    name: str
    sha256: str
    scope: Scope


def new_token() -> str:
    """A fresh bearer token: 256 random bits, URL-safe, with a prefix that makes it findable in
    leaked text (secret scanners)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def find_token(tokens: Iterable[Token], presented: str) -> Token | None:
    """The token whose hash matches, compared in constant time against every entry."""
    digest = hash_token(presented)
    found = None
    for token in tokens:
        if hmac.compare_digest(token.sha256, digest):
            found = token
    return found


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (None without one)."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or not value or " " in value:
        return None
    return value


def presented_token(header: str | None) -> str | None:
    """The token of an ``Authorization`` header: ``Bearer <token>``, or HTTP Basic with the
    token as the password (the user name is not checked: devices that only know Basic send
    the token's name or anything there). None without a readable one."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() == "bearer":
        return bearer(header)
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    _, colon, password = decoded.partition(":")
    return password if colon and password else None


def parse_tokens(doc: Any, source: str = "tokens file") -> list[Token]:
    """The tokens of a tokens document (YAML or JSON)::

    tokens:
      - {name: line-a, sha256: <64 hex>, scope: {site: PLANT-1, line: LINE-A}}
      - {name: plant, sha256: <64 hex>, scope: {site: "*"}}
    """
    if doc is None:
        return []
    if not isinstance(doc, dict) or not isinstance(doc.get("tokens", []), list):
        raise TokenFileError(f"{source}: expected a mapping with a list under 'tokens'")
    tokens: list[Token] = []
    for n, entry in enumerate(doc.get("tokens") or []):
        where = f"{source}: tokens[{n}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("scope"), dict):
            raise TokenFileError(f"{where}: expected name, sha256 and scope {{site, line}}")
        name, digest, scope = entry.get("name"), entry.get("sha256"), entry["scope"]
        if not isinstance(name, str) or not name:
            raise TokenFileError(f"{where}: name must be a non-empty string")
        if not isinstance(digest, str) or len(digest) != 64 or not _is_hex(digest):
            raise TokenFileError(f"{where} ({name}): sha256 must be 64 hex digits")
        if name in {t.name for t in tokens}:
            raise TokenFileError(f"{where}: the name {name!r} is taken twice")
        try:
            tokens.append(
                Token(name, digest.lower(), Scope(str(scope.get("site", "")), str(scope.get("line", ""))))
            )
        except ValueError as exc:
            raise TokenFileError(f"{where} ({name}): {exc}") from exc
    return tokens


def tokens_doc(tokens: Iterable[Token]) -> dict[str, Any]:
    """The document ``parse_tokens`` reads back."""
    entries = []
    for t in tokens:
        scope = {"site": t.scope.site, **({"line": t.scope.line} if t.scope.line else {})}
        entries.append({"name": t.name, "sha256": t.sha256, "scope": scope})
    return {"tokens": entries}


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True
