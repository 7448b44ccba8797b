"""The plant-floor screens on the query API's own server, over a chDB store holding a
hand-built line: sign-in and its cookie, sessions that expire or lose their token, CSRF,
a line-scoped token's view, the board's exact counts, the traveler's QR code, a Digital
Link path landing on the item page."""

from __future__ import annotations

import http.client
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import segno
from prometheus_client import CollectorRegistry

from ingest.httpserver import HttpServer
from ingest.plant import Plant, parse_plant
from ingest.records.rows import ItemStateRow
from ingest.settings import Settings
from ingest.tokenfile import TokenFile, create_token, revoke_token
from ingest.tokens import Scope
from storage.api import query_app
from storage.apigate import Gate
from storage.client import Store, connect
from storage.ratelimit import RateLimiter
from storage.screens.app import Screens
from storage.screens.labels import label_qr
from storage.screens.session import SESSION_COOKIE, Sessions
from storage.tables import insert_rows
from streams.counted import counted_of
from streams.jobcounts import JobCounts
from streams.wipcounts import WipCounts
from tests.integration.clock import clear_of_the_hour
from tests.unit.factories import plant_doc

SITE, LINE_A, LINE_B, LINE_C = "S1", "L1", "L2", "L3"
ITEM = "urn:epc:id:sgtin:0614141.000001.7"  # GTIN 00614141000012, serial 7
PUBLIC = "https://linetrace.plant.example"
RESOLVER = "https://resolver.plant.example"  # where item labels point, never linetrace
CASE, PACKED = "urn:epc:id:sscc:0614141.1234567890", "gs1:01/c/21/0"
US = 1_000_000


def _us(moment: datetime) -> int:
    return int(moment.timestamp() * US)


def _put(store: Store, table: str, *rows: dict[str, Any]) -> None:
    insert_rows(store, table, rows)
    if table == "item_state":
        _count(store, rows)


# Every item row put in each store, by item: the rollups are counted again from all of them.
_ITEM_ROWS: dict[int, dict[str, dict[str, Any]]] = {}


def _count(store: Store, rows: tuple[dict[str, Any], ...]) -> None:
    """The rollups stage 2 writes beside item rows (streams/wipcounts.py, streams/jobcounts.py),
    as one partition holding every item put so far."""
    items = _ITEM_ROWS.setdefault(id(store), {})
    items.update({r["item"]: r for r in rows})
    counted = [counted_of(cast(ItemStateRow, r)) for r in items.values()]
    _put(store, "wip_counts", *WipCounts.of(counted).take(0).rows)
    _put(store, "job_counts", *JobCounts.of(counted).take(0).rows)


def _state(item: str, line: str, stage: str, last_seen: datetime, job: str = "") -> dict[str, Any]:
    return {
        **dict(item=item, site=SITE, line=line, product="PART", job=job, stage=stage, station=""),
        **dict(status="in_process", parent="", passes=1, on_hold=0, revision=1, route_stage=stage),
        "first_seen": _us(last_seen),
        "last_seen": _us(last_seen),
    }


def _pass(pass_id: str, item: str, station: str, stage: str, seen: datetime, outcome: str) -> dict[str, Any]:
    return {
        **dict(pass_id=pass_id, item=item, site=SITE, line=LINE_A, station=station, stage=stage),
        **dict(reader_id="R", reads=3, product="PART", job="J-1", outcome=outcome, detail=""),
        **dict(route_index=0, revision=1, direction="", operator=""),
        "first_seen": _us(seen),
        "last_seen": _us(seen),
    }


def _scenario(store: Store, now: datetime) -> None:
    """Line L1: 3 items in process at cut (one unread for 20 minutes), 2 at machine; 30 passes
    at CUT-1 this hour, none at MACH-1; two open violations. Line L2: 4 at cut, one violation."""
    fresh, old = now - timedelta(seconds=30), now - timedelta(minutes=20)
    _put(
        store,
        "stations",
        *(
            dict(site=SITE, line=ln, station=st, stage=sg, target_per_hour=t)
            for ln, st, sg, t in (
                (LINE_A, "CUT-1", "cut", 60.0),
                (LINE_A, "MACH-1", "machine", 120.0),
                (LINE_B, "CUT-9", "cut", 60.0),
            )
        ),
    )
    states = [_state(ITEM, LINE_A, "cut", fresh, "J-1"), _state("gs1:01/a/21/2", LINE_A, "cut", fresh)]
    states += [_state("gs1:01/a/21/3", LINE_A, "cut", old)]
    states += [_state(f"gs1:01/a/21/m{n}", LINE_A, "machine", fresh) for n in range(2)]
    states += [_state(f"gs1:01/b/21/{n}", LINE_B, "cut", fresh) for n in range(4)]
    _put(store, "item_state", *states)
    minute = now.replace(second=0, microsecond=0)
    _put(
        store,
        "pass_counts",
        dict(site=SITE, line=LINE_A, station="CUT-1", stage="cut", minute=_us(minute), partition=0)
        | dict(passes=30, revision=1),
    )
    _put(
        store,
        "violations",
        *(
            dict(pass_id=pid, item=item, site=SITE, line=ln, station="CUT-1", stage="cut", time=_us(fresh))
            | dict(type="out_of_sequence", detail="", missing=[], product="PART", job="", retracted=0)
            | dict(revision=1)
            for pid, item, ln in (
                ("v-a1", ITEM, LINE_A),
                ("v-a2", "gs1:01/a/21/2", LINE_A),
                ("v-b1", "gs1:01/b/21/0", LINE_B),
            )
        ),
    )
    _put(
        store,
        "portal_read_rates",
        dict(site=SITE, line=LINE_A, stage="cut", partition=0, observed=10, read=9, revision=1),
    )
    _put(
        store,
        "passes",
        _pass("p-1", ITEM, "CUT-1", "cut", fresh - timedelta(minutes=1), "movement"),
        _pass("p-2", ITEM, "CUT-1", "cut", fresh, "out_of_sequence"),
    )
    _put(
        store,
        "jobs",
        dict(
            job="J-1", site=SITE, line=LINE_A, product="PART", quantity=10, created=_us(now), planned_start=0
        )
        | dict(planned_end=0, due=_us(now + timedelta(days=1)), target_rate_per_h=0.0),
    )


def _line_c(store: Store, now: datetime) -> None:
    """Line L3, 3 h ago: 25 items through cut, machine and assemble a minute apart each, and 12
    seen at assemble without machine: 6 two minutes after cut (as long as a trip through
    machine: probably a missed read) and 6 one minute after (a leg's time: probably skipped).
    Operator op-1 scanned every pass. Packed: case CASE holds one item."""
    base = now - timedelta(hours=3)
    _put(
        store,
        "stations",
        *(
            dict(site=SITE, line=LINE_C, station=f"{sg.upper()}-3", stage=sg, target_per_hour=0.0)
            for sg in ("cut", "machine", "assemble")
        ),
    )
    passes, violations = [], []
    for n in range(37):
        item, t = f"gs1:01/c/21/{n}", base + timedelta(seconds=10 * n)
        visits = (
            [("cut", 0), ("machine", 60), ("assemble", 120)]
            if n < 25
            else [("cut", 0), ("assemble", 120 if n < 31 else 60)]
        )
        for k, (stage, after_s) in enumerate(visits):
            outcome = "skipped_stage" if n >= 25 and stage == "assemble" else "movement"
            row = _pass(
                f"c{n}-{k}", item, f"{stage.upper()}-3", stage, t + timedelta(seconds=after_s), outcome
            )
            passes.append(
                row
                | {
                    "line": LINE_C,
                    "operator": "op-1",
                    "route_index": k,
                    "detail": "missing machine" if outcome != "movement" else "",
                }
            )
        if n >= 25:
            violations.append(
                dict(
                    pass_id=f"c{n}-1",
                    item=item,
                    site=SITE,
                    line=LINE_C,
                    station="ASSEMBLE-3",
                    stage="assemble",
                )
                | dict(time=_us(t + timedelta(seconds=120)), type="skipped_stage", detail="missing machine")
                | dict(missing=["machine"], product="PART", job="", retracted=0, revision=1)
            )
    _put(store, "passes", *passes)
    _put(store, "violations", *violations)
    _put(
        store,
        "portal_read_rates",
        dict(site=SITE, line=LINE_C, stage="machine", partition=0, observed=40, read=25, revision=1),
    )
    packed = _state(PACKED, LINE_C, "assemble", base, "J-3") | {"status": "assembled", "parent": CASE}
    _put(store, "item_state", packed, _state(CASE, LINE_C, "pack", base) | {"status": "complete"})
    shipment = dict(item=CASE, shipment_id="s-1", site=SITE, line=LINE_C, station="", time=_us(base))
    shipped = dict(transaction_types=["desadv"], transactions=["D-1"], destination_types=["location"])
    _put(store, "shipments", shipment | shipped | {"destinations": ["urn:epc:id:sgln:4012345.00001.0"]})
    _put(
        store,
        "genealogy",
        dict(node=PACKED, direction="up", other=CASE, depth=1, present=1, version=1, site=SITE, line=LINE_C)
        | dict(station="PACK-3", time=_us(base)),
    )


def _plant() -> Plant:
    doc = plant_doc()
    line = doc["sites"][0]["lines"][0]
    line["products"][0]["company_prefix"] = "0614141"
    targets = {"CUT-1": 60, "MACH-1": 120}
    line["stations"] = [{**s, "target_per_hour": targets.get(s["station"], 0)} for s in line["stations"]]
    return parse_plant(doc)


class Browser:
    """A browser as far as the screens care: cookies kept, redirects not followed."""

    def __init__(self, url: str):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "", parts.port or 80
        self.cookies: dict[str, str] = {}

    def go(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, Any, str]:
        body = urlencode(form).encode() if form is not None else None
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body, headers)
            resp = conn.getresponse()
            text = resp.read().decode()
        finally:
            conn.close()
        for raw in resp.headers.get_all("Set-Cookie") or []:
            jar = SimpleCookie(raw)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or morsel.value in ("", '""'):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return resp.status, resp.headers, text

    def sign_in(self, token: str, next_path: str = "/screens/") -> tuple[int, Any, str]:
        _, _, page = self.go("GET", "/screens/sign-in?" + urlencode({"next": next_path}))
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf, page
        return self.go("POST", "/screens/sign-in", {"csrf": csrf[1], "next": next_path, "token": token})


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("screens")
    settings = Settings(clickhouse_dsn=f"chdb://{data / 'ch'}", api_tokens_file=str(data / "tokens.yaml"))
    tokens_path = Path(settings.api_tokens_file)
    tokens = {
        "plant": create_token(tokens_path, "plant", Scope("*")),
        "line-a": create_token(tokens_path, "line-a", Scope(SITE, LINE_A)),
    }
    store = connect(settings)
    clear_of_the_hour(180.0)  # the module's tests read "this hour" of a scenario built now
    _scenario(store, datetime.now(UTC))
    _line_c(store, datetime.now(UTC))
    token_file = TokenFile(tokens_path)
    gate = Gate(token_file, RateLimiter(0, 40), settings.api_max_request_bytes)
    screens = Screens(store, token_file, Sessions(b"k" * 32, 12), PUBLIC, RESOLVER, plant=_plant)
    server = HttpServer(query_app(store, gate, None, CollectorRegistry(), screens), "127.0.0.1", 0, "screens")
    server.start()
    try:
        yield {"url": server.url, "tokens": tokens, "path": tokens_path, "screens": screens}
    finally:
        server.stop()
        store.close()


def test_sign_in_sets_a_session_cookie_only_scripts_cannot_read(stack: dict[str, Any]) -> None:
    browser = Browser(stack["url"])
    status, headers, _ = browser.sign_in(stack["tokens"]["plant"], "/screens/board/S1/L1")
    assert (status, headers["Location"]) == (303, "/screens/board/S1/L1")
    cookie = next(c for c in headers.get_all("Set-Cookie") if c.startswith(SESSION_COOKIE + "="))
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/", f"max-age={12 * 3600}"} <= flags
    assert "secure" not in flags  # plain HTTP here; under TLS the cookie is Secure
    assert stack["tokens"]["plant"] not in cookie
    assert browser.go("GET", "/screens/board/S1/L1")[0] == 200


def test_a_wrong_token_or_no_session_is_sent_to_sign_in(stack: dict[str, Any]) -> None:
    browser = Browser(stack["url"])
    status, _, page = browser.sign_in("lt_not-a-token")
    assert status == 401 and "not known here" in page
    status, headers, _ = browser.go("GET", "/screens/board/S1/L1")
    assert status == 303 and headers["Location"].startswith("/screens/sign-in?next=%2Fscreens%2Fboard")


def test_an_expired_session_is_refused(stack: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    browser = Browser(stack["url"])
    browser.sign_in(stack["tokens"]["plant"])
    assert browser.go("GET", "/screens/")[0] == 200
    later = time.time() + 12 * 3600 + 5
    monkeypatch.setattr(time, "time", lambda: later)  # itsdangerous stamps and checks with time.time
    status, headers, _ = browser.go("GET", "/screens/")
    assert status == 303 and headers["Location"].startswith("/screens/sign-in")


def test_revoking_the_token_ends_its_sessions_at_once(stack: dict[str, Any]) -> None:
    token = create_token(stack["path"], "short-lived", Scope(SITE))
    browser = Browser(stack["url"])
    browser.sign_in(token)
    assert browser.go("GET", "/screens/board/S1/L1")[0] == 200
    time.sleep(0.01)  # a new modification time for the tokens file
    assert revoke_token(stack["path"], "short-lived")
    status, headers, _ = browser.go("GET", "/screens/board/S1/L1")
    assert status == 303 and headers["Location"].startswith("/screens/sign-in")


def test_a_post_without_its_csrf_token_is_refused(stack: dict[str, Any]) -> None:
    browser = Browser(stack["url"])
    browser.sign_in(stack["tokens"]["plant"])
    assert browser.go("POST", "/screens/sign-out", {})[0] == 403
    assert browser.go("POST", "/screens/sign-out", {"csrf": "guessed"})[0] == 403
    assert browser.go("GET", "/screens/")[0] == 200  # still signed in
    # The sign-in form too: a page of another site cannot post a token into this browser.
    stranger = Browser(stack["url"])
    form = {"token": stack["tokens"]["plant"], "next": "/screens/"}
    assert stranger.go("POST", "/screens/sign-in", form)[0] == 403
    assert SESSION_COOKIE not in stranger.cookies
    # With its token, sign-out works.
    page = browser.go("GET", "/screens/")[2]
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf and browser.go("POST", "/screens/sign-out", {"csrf": csrf[1]})[0] == 303
    assert browser.go("GET", "/screens/")[0] == 303


def _numbers(page: str, attribute: str) -> dict[str, str]:
    return dict(re.findall(rf'data-{attribute}="([^"]+)">([^<]+)<', page))


def test_the_board_shows_the_lines_exact_counts(stack: dict[str, Any]) -> None:
    browser = Browser(stack["url"])
    browser.sign_in(stack["tokens"]["plant"])
    status, headers, page = browser.go("GET", "/screens/board/S1/L1")
    assert status == 200 and "htmx.min.js" in page and "every 2s" in page
    assert "script-src" not in headers["Content-Security-Policy"]  # default-src 'self': no CDN
    # The plant's stages in route order, each with its WIP.
    stages = re.findall(r'data-stage="([^"]+)"', page)
    assert stages == ["cut", "machine", "assemble", "qc", "pack"]
    assert _numbers(page, "wip") == {"cut": "3", "machine": "2", "assemble": "0", "qc": "0", "pack": "0"}
    assert _numbers(page, "waiting") == {"cut": "1"}
    assert re.search(r'class="stage ageing" data-stage="cut"', page)
    assert _numbers(page, "read-rate") == {"cut": "90.0"}
    passes = _numbers(page, "passes")
    assert passes["CUT-1"] == "30" and passes["MACH-1"] == "0"
    assert re.search(r'class="behind" data-station="MACH-1"', page)
    # Banners, as the alert rules see it: no passes in the last 15 complete minutes at either.
    behind = re.findall(r'data-alert="behind-target" data-station="([^"]+)"', page)
    assert behind == ["CUT-1", "MACH-1"] and 'data-alert="job-late"' not in page
    assert set(re.findall(r'data-violation="([^"]+)"', page)) == {"v-a1", "v-a2"}
    # The live fragment, as htmx fetches it, has the same figures.
    status, _, live = browser.go("GET", "/screens/board/S1/L1/live")
    assert status == 200 and "<html" not in live
    assert _numbers(live, "wip")["cut"] == "3"


def test_the_board_draws_each_stations_last_hour_per_five_minutes(stack: dict[str, Any]) -> None:
    browser = Browser(stack["url"])
    browser.sign_in(stack["tokens"]["plant"])
    for path in ("/screens/board/S1/L1", "/screens/board/S1/L1/live"):
        page = browser.go("GET", path)[2]
        found = re.findall(r'data-trend="([^"]+)"><title>passes per 5 min: ([\d ]+)</title>(.*?)</svg>', page)
        trends = {station: ([int(n) for n in counts.split()], svg) for station, counts, svg in found}
        assert {"CUT-1", "MACH-1", "PACK-1"} <= set(trends)  # every station of the plant
        cut, svg = trends["CUT-1"]
        # The 30 passes of the scenario's minute: the bucket still filling, or the one before it
        # if a 5-minute mark has passed since.
        assert len(cut) == 12 and sum(cut) == 30 and sum(cut[-2:]) == 30
        assert 'v-20h4v20z"' in svg and 'class="goal" d="M0 16.7H60"' in svg  # 5 per 5 min of 30
        assert trends["MACH-1"][0] == [0] * 12 and 'class="goal" d="M0 0.0H60"' in trends["MACH-1"][1]
        assert 'class="goal"' not in trends["PACK-1"][1]  # no target


def test_a_line_scoped_token_sees_only_its_line(stack: dict[str, Any]) -> None:
    browser = Browser(stack["url"])
    browser.sign_in(stack["tokens"]["line-a"])
    index = browser.go("GET", "/screens/")[2]
    assert "/screens/board/S1/L1" in index and "/screens/board/S1/L2" not in index
    assert "site S1 line L1" in index
    status, _, page = browser.go("GET", "/screens/board/S1/L2")
    assert status == 403 and "not line L2" in page
    assert browser.go("GET", "/screens/jobs/S1/L2")[0] == 403
    # Another line's item has no history here, as the API answers it.
    status, _, item = browser.go("GET", "/screens/item?key=gs1%3A01%2Fb%2F21%2F0")
    assert status == 200 and "No pass in your scope." in item and "data-pass=" not in item
    assert "gs1:01/b/21/0" not in browser.go("GET", "/screens/board/S1/L1")[2]


def test_the_traveler_qr_code_opens_the_job_card_at_the_public_address(stack: dict[str, Any]) -> None:
    browser = Browser(stack["url"])
    browser.sign_in(stack["tokens"]["plant"])
    status, _, card = browser.go("GET", "/screens/jobs/S1/L1/J-1")
    assert status == 200 and "0 of 10 complete" in card
    status, _, page = browser.go("GET", "/screens/jobs/S1/L1/J-1/traveler")
    url = f"{PUBLIC}/screens/jobs/S1/L1/J-1"
    assert status == 200 and url in page
    expected = segno.make_qr(url, error="m", boost_error=False)
    assert expected.svg_inline(scale=4, border=2, omitsize=False) in page
    jobs = browser.go("GET", "/screens/jobs/S1/L1")[2]
    assert 'data-job="J-1"' in jobs


def test_a_digital_link_path_lands_on_the_item_page(stack: dict[str, Any]) -> None:
    browser = Browser(stack["url"])
    status, headers, _ = browser.go("GET", "/01/00614141000012/21/7")
    assert status == 303  # a phone not signed in is asked to, then sent back
    browser.sign_in(stack["tokens"]["plant"], parse_qs(urlsplit(headers["Location"]).query)["next"][0])
    status, _, page = browser.go("GET", "/01/00614141000012/21/7")
    assert status == 200 and ITEM in page
    assert re.findall(r"data-outcome>([^<]+)<", page) == ["movement", "out of sequence"]
    assert browser.go("GET", "/01/00614141000013/21/7")[0] == 400  # a wrong check digit


def test_exceptions_split_skipped_stages_into_probable_skips_and_missed_reads(stack: dict[str, Any]) -> None:
    browser = Browser(stack["url"])
    browser.sign_in(stack["tokens"]["plant"])
    status, _, page = browser.go("GET", "/screens/exceptions/S1/L3")
    assert status == 200
    groups = dict(re.findall(r'<table data-group="(\w+)">(.*?)</table>', page, re.S))
    rows = {g: set(re.findall(r'data-violation="c(\d+)-1"', groups[g])) for g in groups}
    assert rows["missed"] == {str(n) for n in range(25, 31)}  # two minutes: through machine, unread
    assert rows["skipped"] == {str(n) for n in range(31, 37)}  # one minute: a leg's time
    assert rows["unscored"] == rows["other"] == set()
    assert 'data-portal="machine">machine read rate 62.5 %' in groups["missed"]
    # On L1 a skipped stage would be unscored (too few passes); its violations are other types.
    page = browser.go("GET", "/screens/exceptions/S1/L1?older_than_s=600")[2]
    assert set(re.findall(r'data-violation="([^"]+)"', page)) == {"v-a1", "v-a2"}
    assert re.findall(r'data-waiting-item="([^"]+)"', page) == ["gs1:01/a/21/3"]


def test_recall_shows_the_scope_and_downloads_it_as_csv(stack: dict[str, Any]) -> None:
    browser = Browser(stack["url"])
    browser.sign_in(stack["tokens"]["plant"])
    status, _, page = browser.go("GET", "/screens/recall?" + urlencode({"item": PACKED}))
    assert status == 200 and re.findall(r'data-recall="([^"]+)"', page) == [PACKED, CASE]
    assert re.findall(r'data-count="(\w+)">', page) == ["assembled", "complete"]
    assert 'action="/screens/act/recall-hold"' in page
    assert re.findall(r'data-shipment="([^"]+)"', page) == ["desadv:D-1"]
    status, headers, text = browser.go("GET", "/screens/recall.csv?" + urlencode({"item": PACKED}))
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert text.splitlines() == [
        "item,depth,via,product,job,stage,status,shipments,destinations",
        f"{PACKED},0,,PART,J-3,assemble,assembled,,",
        f"{CASE},1,,PART,,pack,complete,desadv:D-1,location:urn:epc:id:sgln:4012345.00001.0",
    ]
    # Dispatch lists the case with its contents; operators, op-1's passes per stage.
    page = browser.go("GET", "/screens/dispatch/S1/L3")[2]
    assert f'data-carrier="{CASE}"' in page and f'data-content="{PACKED}"' in page
    page = browser.go("GET", "/screens/operators/S1/L3")[2]
    assert re.findall(
        r'data-operator-stage="(\w+)"><td>op-1</td><td>\w+</td><td class="num">(\d+)<', page
    ) == [("assemble", "37"), ("cut", "37"), ("machine", "25")]


def test_the_item_page_shows_holds_that_reach_it_through_its_parts(stack: dict[str, Any]) -> None:
    """Line L4, 2 h ago: assembly ASSY holds sub-assembly SUB (from +5 min) and BOLT, and SUB
    holds lot LOT (from +10 min). LOT was held an hour before (in force); SUB was held and
    released before it went in (never held ASSY), and held again from +20 to +30 min."""
    base = datetime.now(UTC) - timedelta(hours=2)
    assy, sub, bolt, lot = "gs1:01/h/21/A", "gs1:01/h/21/S", "gs1:01/h/21/B", "gs1:01/h/10/LOT-1"
    at = {assy: 0, sub: 5, bolt: 5, lot: 10}
    held = {assy, sub, lot}
    store = stack["screens"].store
    _put(
        store,
        "item_state",
        *(_state(i, "L4", "assemble", base) | {"on_hold": int(i in held)} for i in at),
    )
    _put(
        store,
        "genealogy",
        *(
            dict(node=assy, direction="down", other=i, depth=2 if i == lot else 1, present=1, version=1)
            | dict(site=SITE, line="L4", station="ASSY-4", time=_us(base + timedelta(minutes=at[i])))
            for i in (sub, bolt, lot)
        ),
    )
    holds = [("H-LOT", lot, "placed", -60), ("H-OLD", sub, "placed", -90), ("H-OLD", sub, "released", -80)]
    holds += [("H-QA", sub, "placed", 20), ("H-QA", sub, "released", 30), ("H-OWN", assy, "placed", 50)]
    _put(
        store,
        "holds",
        *(
            dict(hold_id=h, item=i, site=SITE, line="L4", hold_type="quality", owner="QA", reason="check")
            | dict(event=event, time=_us(base + timedelta(minutes=m)), via="")
            for h, i, event, m in holds
        ),
    )
    browser = Browser(stack["url"])
    browser.sign_in(stack["tokens"]["plant"])
    status, _, page = browser.go("GET", "/screens/item?" + urlencode({"key": assy}))
    assert status == 200
    assert re.findall(r' data-hold="([^"]+)"', page) == ["H-OWN"]  # placed on the item itself
    # Through its parts, distinct from its own: in force first; H-OLD ended before SUB went in.
    rows = re.findall(r'data-part-hold="([^"]+)" data-part="([^"]+)">(.*?)</tr>', page, re.S)
    assert [(h, part) for h, part, _ in rows] == [("H-LOT", lot), ("H-QA", sub)]
    moment = {m: (base + timedelta(minutes=m)).strftime("%Y-%m-%d %H:%M") for m in (-60, 10, 20, 30)}
    lot_row, sub_row = rows[0][2], rows[1][2]
    assert "depth 2" in lot_row and re.findall(r"<td>([\d: -]+)</td>", lot_row) == [moment[-60], moment[10]]
    assert 'data-part-released="H-LOT">in force<' in lot_row
    assert re.findall(r"<td>([\d: -]+)</td>", sub_row) == [moment[20], moment[20]]
    assert f'data-part-released="H-QA">{moment[30]}<' in sub_row
    assert set(re.findall(r'data-held-part="([^"]+)"', page)) == {sub, lot}  # not BOLT


def test_item_labels_carry_the_digital_link_at_the_resolver(stack: dict[str, Any]) -> None:
    browser = Browser(stack["url"])
    browser.sign_in(stack["tokens"]["plant"])
    assert 'href="/screens/jobs/S1/L1/J-1/labels"' in browser.go("GET", "/screens/jobs/S1/L1/J-1")[2]
    status, _, page = browser.go("GET", "/screens/jobs/S1/L1/J-1/labels")
    url = f"{RESOLVER}/01/00614141000012/21/7"
    assert status == 200 and re.findall(r'data-link="([^"]+)"', page) == [url]
    assert label_qr(url).svg_inline(scale=3, border=2, omitsize=False) in page
    assert "(01) 00614141000012 (21) 7" in page and ITEM in page and PUBLIC not in page
    item = browser.go("GET", "/screens/item?" + urlencode({"key": ITEM}))[2]
    assert 'href="/screens/label?key=urn%3Aepc%3Aid%3Asgtin%3A0614141.000001.7"' in item
    status, _, one = browser.go("GET", "/screens/label?" + urlencode({"key": ITEM}))
    assert status == 200 and re.findall(r'data-link="([^"]+)"', one) == [url]


def test_an_item_with_no_gtin_and_serial_gets_its_key_and_no_code(stack: dict[str, Any]) -> None:
    browser = Browser(stack["url"])
    browser.sign_in(stack["tokens"]["plant"])
    status, _, page = browser.go("GET", "/screens/jobs/S1/L3/J-3/labels")
    assert status == 200 and f'class="label no-qr" data-label="{PACKED}"' in page
    assert "<svg" not in page and "data-link=" not in page and "data-no-qr-note" in page


def test_labels_show_only_the_tokens_scope(stack: dict[str, Any]) -> None:
    browser = Browser(stack["url"])
    browser.sign_in(stack["tokens"]["line-a"])
    assert browser.go("GET", "/screens/jobs/S1/L3/J-3/labels")[0] == 403
    status, _, page = browser.go("GET", "/screens/label?" + urlencode({"key": PACKED}))
    assert status == 404 and PACKED in page and "data-label=" not in page
    assert browser.go("GET", "/screens/label?" + urlencode({"key": ITEM}))[0] == 200


# Every screen the scenario has something on; the weight a tablet on the plant's Wi-Fi loads.
WEIGHED = {
    "lines": "/screens/",
    "line board": "/screens/board/S1/L1",
    "board update": "/screens/board/S1/L1/live",
    "jobs": "/screens/jobs/S1/L1",
    "job card": "/screens/jobs/S1/L1/J-1",
    "traveler": "/screens/jobs/S1/L1/J-1/traveler",
    "labels": "/screens/jobs/S1/L1/J-1/labels",
    "item": "/screens/item?" + urlencode({"key": ITEM}),
    "exceptions": "/screens/exceptions/S1/L3",
    "recall": "/screens/recall?" + urlencode({"item": PACKED}),
    "dispatch": "/screens/dispatch/S1/L3",
    "operators": "/screens/operators/S1/L3",
}
PAGE_BUDGET_BYTES = 100_000  # HTML + CSS + JS, uncompressed, of any screen


def test_page_weight(stack: dict[str, Any]) -> None:
    """Bytes of each screen's HTML and of the CSS and JS it loads (printed with ``-s``; the
    figures in docs/screens.md come from here)."""
    browser = Browser(stack["url"])
    browser.sign_in(stack["tokens"]["plant"])
    print(f"\n{'screen':<14}{'html':>8}{'css':>8}{'js':>8}{'total':>8}")
    for name, path in WEIGHED.items():
        status, _, page = browser.go("GET", path)
        assert status == 200, name
        css = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page)
        js = re.findall(r'<script src="([^"]+)"', page)
        sizes = [len(page.encode())]
        sizes += [sum(len(browser.go("GET", url)[2].encode()) for url in urls) for urls in (css, js)]
        print(f"{name:<14}{sizes[0]:>8}{sizes[1]:>8}{sizes[2]:>8}{sum(sizes):>8}")
        assert sum(sizes) < PAGE_BUDGET_BYTES, name
