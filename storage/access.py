"""Who may ask the query API what: bearer tokens, their scopes, and the filters a scope imposes.

A token grants one site (every line of it), one line of one site, or every site (``site:
"*"``, for plant-wide analysts, the demo and the load test). Only the token's sha256 is
kept. A request runs with the token's scope as its site and line filter: naming another
site or line is refused (403), naming none answers for the scope. Item queries (history,
genealogy, trace, recall) answer only with rows of the scope: passes, links and item states
each carry the site and line where they happened, so another line's item simply has no
history here, exactly as an unknown item. Pure functions: no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ingest.errors import LinetraceError

ALL_SITES = "*"
TOKEN_PREFIX = "lt_"
# Queries with no site or line in their answer: only a plant-wide token may ask them.
PLANT_WIDE_QUERIES = frozenset({"progress"})


class Forbidden(LinetraceError):
    """The request names data outside its token's scope (HTTP 403)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


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


def narrow(scope: Scope, site: str, line: str) -> tuple[str, str]:
    """The site and line filter a request runs with: its own within the scope, the scope's where
    it names none. Forbidden if it names a site or line outside the scope."""
    if scope.plant_wide:
        return site, line
    if site and site != scope.site:
        raise Forbidden(f"this token grants {scope}, not site {site}")
    if scope.line and line and line != scope.line:
        raise Forbidden(f"this token grants {scope}, not line {line}")
    return scope.site, scope.line or line


def scoped_params(scope: Scope, query: str, params: Mapping[str, str]) -> dict[str, str]:
    """The parameters of a named query as the scope allows them (its site and line filled in)."""
    if query in PLANT_WIDE_QUERIES and not scope.plant_wide:
        raise Forbidden(f"{query} counts rows of every site; this token grants {scope}")
    site, line = narrow(scope, params.get("site", ""), params.get("line", ""))
    out = dict(params)
    if site:
        out["site"] = site
    if line:
        out["line"] = line
    return out


def check_event(scope: Scope, site: str, line: str, item_places: Iterable[tuple[str, str, str]]) -> None:
    """An event may be posted for a site and line of the scope, about items that are not known
    in another site or line. ``item_places``: (item, site, line) of each known item it names."""
    if not scope.covers(site, line):
        raise Forbidden(f"this token grants {scope}, not site {site} line {line}")
    for item, item_site, item_line in item_places:
        if item_site and not scope.covers(item_site, item_line):
            raise Forbidden(f"item {item} is at another line; this token grants {scope}")


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
