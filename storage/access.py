"""What a query API token may ask: the filters its scope imposes on queries and posted events.

Tokens, their scopes and the tokens file are ``ingest.tokens`` and ``ingest.tokenfile``
(the readers' HTTP endpoints use them too). A request runs with the token's scope as its
site and line filter: naming another site or line is refused (403), naming none answers for
the scope. Item queries (history, genealogy, trace, recall) answer only with rows of the
scope: passes, links and item states each carry the site and line where they happened, so
another line's item simply has no history here, exactly as an unknown item. Pure functions:
no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ingest.errors import LinetraceError
from ingest.tokens import Scope

# Queries with no site or line in their answer: only a plant-wide token may ask them.
PLANT_WIDE_QUERIES = frozenset({"progress"})


class Forbidden(LinetraceError):
    """The request names data outside its token's scope (HTTP 403)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


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
