from __future__ import annotations

import pytest

from ingest.tokens import ALL_SITES, Scope
from storage.access import PLANT_WIDE_QUERIES, Forbidden, check_event, narrow, scoped_params
from storage.service import QUERIES

PLANT = Scope(ALL_SITES)
SITE_1 = Scope("SITE-1")
LINE_A = Scope("SITE-1", "LINE-A")


@pytest.mark.parametrize(
    ("scope", "asked", "runs_with"),
    [
        pytest.param(PLANT, ("", ""), ("", ""), id="plant-wide, nothing named: everything"),
        pytest.param(PLANT, ("SITE-2", "LINE-Z"), ("SITE-2", "LINE-Z"), id="plant-wide, any site"),
        pytest.param(PLANT, ("", "LINE-Z"), ("", "LINE-Z"), id="plant-wide, a line of any site"),
        pytest.param(SITE_1, ("", ""), ("SITE-1", ""), id="site, nothing named: the site"),
        pytest.param(SITE_1, ("", "LINE-B"), ("SITE-1", "LINE-B"), id="site, one of its lines"),
        pytest.param(SITE_1, ("SITE-1", "LINE-B"), ("SITE-1", "LINE-B"), id="site, itself and a line"),
        pytest.param(LINE_A, ("", ""), ("SITE-1", "LINE-A"), id="line, nothing named: the line"),
        pytest.param(LINE_A, ("SITE-1", ""), ("SITE-1", "LINE-A"), id="line, its site: still the line"),
        pytest.param(LINE_A, ("", "LINE-A"), ("SITE-1", "LINE-A"), id="line, itself"),
    ],
)
def test_a_request_runs_with_the_scope_as_its_filter(
    scope: Scope, asked: tuple[str, str], runs_with: tuple[str, str]
) -> None:
    assert narrow(scope, *asked) == runs_with


@pytest.mark.parametrize(
    ("scope", "asked", "says"),
    [
        pytest.param(SITE_1, ("SITE-2", ""), "not site SITE-2", id="site asks another site"),
        pytest.param(
            LINE_A, ("SITE-2", "LINE-A"), "not site SITE-2", id="line asks its name at another site"
        ),
        pytest.param(LINE_A, ("", "LINE-B"), "not line LINE-B", id="line asks another line"),
        pytest.param(LINE_A, ("SITE-1", "LINE-B"), "not line LINE-B", id="line asks a sibling line"),
    ],
)
def test_another_site_or_line_is_forbidden(scope: Scope, asked: tuple[str, str], says: str) -> None:
    with pytest.raises(Forbidden, match=says):
        narrow(scope, *asked)


@pytest.mark.parametrize("query", sorted(set(QUERIES) - PLANT_WIDE_QUERIES))
def test_every_named_query_is_filtered_to_a_line_token(query: str) -> None:
    params = scoped_params(LINE_A, query, {"item": "urn:x", "limit": "5"})

    assert params == {"item": "urn:x", "limit": "5", "site": "SITE-1", "line": "LINE-A"}


def test_a_site_token_keeps_the_line_asked_for() -> None:
    assert scoped_params(SITE_1, "wip", {"line": "LINE-B"}) == {"site": "SITE-1", "line": "LINE-B"}


def test_plant_wide_queries_need_a_plant_wide_token() -> None:
    assert set(QUERIES) >= PLANT_WIDE_QUERIES
    for query in PLANT_WIDE_QUERIES:
        assert scoped_params(PLANT, query, {}) == {}
        with pytest.raises(Forbidden, match="every site"):
            scoped_params(SITE_1, query, {})


@pytest.mark.parametrize(
    ("scope", "event", "items", "allowed"),
    [
        pytest.param(LINE_A, ("SITE-1", "LINE-A"), [], True, id="own line, new items"),
        pytest.param(LINE_A, ("SITE-1", "LINE-A"), [("k1", "SITE-1", "LINE-A")], True, id="own items"),
        pytest.param(LINE_A, ("SITE-1", "LINE-A"), [("k1", "", "")], True, id="an item never read"),
        pytest.param(LINE_A, ("SITE-1", "LINE-B"), [], False, id="for another line"),
        pytest.param(
            LINE_A, ("SITE-1", "LINE-A"), [("k2", "SITE-1", "LINE-B")], False, id="another line's item"
        ),
        pytest.param(SITE_1, ("SITE-1", "LINE-B"), [("k2", "SITE-1", "LINE-A")], True, id="site: any line"),
        pytest.param(SITE_1, ("SITE-2", "LINE-A"), [], False, id="site: another site"),
        pytest.param(PLANT, ("SITE-9", "L"), [("k", "SITE-8", "M")], True, id="plant-wide"),
    ],
)
def test_events_are_posted_within_the_scope(
    scope: Scope, event: tuple[str, str], items: list[tuple[str, str, str]], allowed: bool
) -> None:
    if allowed:
        check_event(scope, *event, items)
    else:
        with pytest.raises(Forbidden):
            check_event(scope, *event, items)
