"""The screens in a real browser: Debian's Chromium, headless, driven by Playwright (the
browser comes from the chromium package; nothing is downloaded), against one local stack
(broker, worker, sink, chDB). Sign-in with a token, a hand-built line's exact counts on the
board, a new pass on the board without reload, a hold placed from the item page, the
traveler's QR code read from a screenshot, a line-scoped token, a form without its CSRF token.

With LINETRACE_SCREENSHOTS=docs/screens the screenshots of each screen land there (the
README shows them); otherwise in the test's temporary directory."""

from __future__ import annotations

import io
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from ingest.cli.stack import stack_settings
from ingest.epc import item_key
from ingest.plant import parse_plant
from ingest.settings import Settings
from ingest.timefmt import now_us
from ingest.tokenfile import create_token
from ingest.tokens import Scope
from ingest.wire import encode_report
from tests.integration.brokers import Broker
from tests.integration.clock import clear_of_the_hour
from tests.integration.conftest import Pipeline
from tests.integration.scenario import LINE, SITE, Line, part
from tests.integration.test_api_access import LINE_B, _plant

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package; `make setup` installs it
BOARD = f"/screens/board/{SITE}/{LINE}"
TV = ViewportSize(width=1920, height=1080)
TABLET = ViewportSize(width=1280, height=900)


@dataclass
class Floor:
    pipeline: Pipeline
    browser: Browser
    page: Page  # signed in with the stack's plant-wide token
    shots: Path

    def url(self, path: str) -> str:
        return self.pipeline.api + path

    def shoot(self, name: str) -> None:
        self.page.screenshot(path=self.shots / f"{name}.png", full_page=name != "board")

    def send(self, line: Line) -> None:
        for r in line.reports:
            self.pipeline.send(self.pipeline.topics.reads, encode_report(r), r.reader_id.encode())
        self.pipeline.flush()

    def passes(self, serial: int) -> int:
        return len(self.pipeline.query("history", item=item_key(part(serial))))


def _sign_in(page: Page, base: str, token: str) -> None:
    page.goto(base + "/screens/sign-in")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/screens/")


@pytest.fixture(scope="module")
def floor(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Floor]:
    tmp = tmp_path_factory.mktemp("browser")
    run = uuid.uuid4().hex[:8]
    settings = stack_settings(broker.tuned(Settings()), tmp, "tests").with_(
        topic_prefix=f"t{run}", worker_id=f"w{run}", partitions=2, reorder_window_s=0.5
    )
    shots = Path(os.environ.get("LINETRACE_SCREENSHOTS") or tmp / "screens")
    shots.mkdir(parents=True, exist_ok=True)
    clear_of_the_hour(240.0)  # the board counts this hour's passes, sent during the module
    pipeline = Pipeline(settings, parse_plant(_plant()), tmp).start()
    try:
        # A test dependency `make setup` installs: missing, these tests fail rather than skip.
        assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run make setup (Debian's chromium)"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            page = browser.new_page(viewport=TV)
            _sign_in(page, pipeline.api, settings.api_token)
            yield Floor(pipeline, browser, page, shots)
            browser.close()
    finally:
        pipeline.stop()


def test_board_shows_the_lines_exact_counts_and_a_new_pass_without_reload(floor: Floor) -> None:
    """Parts 1-3 at stage a (A1), parts 4-5 through a and on to b (B1): a holds 3, b holds 2;
    A1 passed 5 this hour, B1 2."""
    page = floor.page
    expect(page.locator(".scope")).to_contain_text("tests")
    line = Line(now_us() - 4_000_000)
    line.at("RA", 0, [part(n) for n in range(1, 6)])
    line.at("RB", 2, [part(4), part(5)])
    floor.send(line)
    floor.pipeline.wait_until(lambda: floor.passes(5) == 2 and floor.passes(1) == 1, what="the line's passes")
    page.goto(floor.url(BOARD))
    counts = {"wip=a": 3, "wip=b": 2, "passes=A1": 5, "passes=B1": 2}
    for name, count in counts.items():
        expect(page.locator(f"[data-{name}]")).to_have_text(str(count))
    page.evaluate("window.notReloaded = true")
    floor.shoot("board")

    more = Line(now_us())
    more.at("RA", 0, [part(6)])
    floor.send(more)
    floor.pipeline.wait_until(lambda: floor.passes(6) == 1, timeout_s=30, what="the new pass stored")
    stored = time.monotonic()
    expect(page.locator("[data-wip=a]")).to_have_text("4", timeout=5_000)
    assert time.monotonic() - stored < 5 and page.evaluate("window.notReloaded") is True


def test_a_hold_placed_from_the_item_page_makes_the_next_read_on_hold(floor: Floor) -> None:
    page, key = floor.page, item_key(part(1))
    page.goto(floor.url(f"/screens/item?key={key}"))
    form = page.locator("form[data-action=hold]")
    form.locator("input[name=owner]").fill("QA")
    form.locator("input[name=hold_id]").fill("H-B1")
    form.locator("button").click()
    expect(form.locator(".outcome")).to_contain_text("Accepted: hold H-B1 placed on 1 item(s).")
    floor.pipeline.wait_until(lambda: [h["item"] for h in floor.pipeline.query("held")] == [key], what="hold")
    after = Line(now_us())
    after.at("RB", 0, [part(1)])
    floor.send(after)
    floor.pipeline.wait_until(lambda: floor.passes(1) == 2, what="the held item's next pass")
    page.reload()
    expect(page.locator("[data-outcome]")).to_have_text(["movement", "on hold"])
    floor.shoot("item")
    page.goto(floor.url(f"/screens/exceptions/{SITE}/{LINE}"))
    expect(page.locator("main")).to_contain_text(key)
    floor.shoot("exceptions")
    page.goto(floor.url(f"/screens/recall?item={key}"))
    floor.shoot("recall")


def test_the_travelers_qr_code_opens_the_job_card(floor: Floor) -> None:
    page = floor.page
    page.goto(floor.url(f"/screens/jobs/{SITE}/{LINE}"))
    form = page.locator("form[data-action=job]")
    form.locator("input[name=job]").fill("J-7")
    form.locator("input[name=quantity]").fill("12")
    form.locator("input[name=due]").fill("2030-01-02T08:00")
    form.locator("button").click()
    expect(form.locator(".outcome")).to_contain_text("Accepted")
    card = f"/screens/jobs/{SITE}/{LINE}/J-7"
    floor.pipeline.wait_until(lambda: bool(floor.pipeline.query("jobs")), what="the job")
    page.reload()
    floor.shoot("jobs")
    page.goto(floor.url(card))
    floor.shoot("job-card")
    page.goto(floor.url(card + "/traveler"))
    floor.shoot("traveler")
    shot = Image.open(io.BytesIO(page.locator("figure.qr").screenshot()))
    codes = zxingcpp.read_barcodes(shot)
    assert [c.text for c in codes] == [floor.url(card)]
    page.goto(codes[0].text)
    expect(page.locator("h1")).to_contain_text("J-7")


def test_a_line_scoped_token_neither_sees_nor_acts_on_another_line(floor: Floor) -> None:
    tokens = Path(floor.pipeline.settings.api_tokens_file)
    page = floor.browser.new_page(viewport=TABLET)
    _sign_in(page, floor.pipeline.api, create_token(tokens, "wall-b", Scope(SITE, LINE_B)))
    expect(page.locator(".scope")).to_contain_text(LINE_B)
    csrf = page.locator("input[name=csrf]").first.get_attribute("value") or ""
    response = page.goto(floor.url(BOARD))
    assert response is not None and response.status == 403
    page.goto(floor.url(f"/screens/board/{SITE}/{LINE_B}"))
    expect(page.locator("[data-wip=a]")).to_have_text("0")
    form: dict[str, str | float | bool] = {"site": SITE, "line": LINE, "items": item_key(part(2))}
    form |= {"hold_type": "qc", "owner": "x", "csrf": csrf}
    answer = page.request.post(floor.url("/screens/act/hold"), form=form)
    assert answer.status == 403 and f"not site {SITE} line {LINE}" in answer.text()
    page.close()


def test_a_form_without_its_csrf_token_is_refused(floor: Floor) -> None:
    page = floor.page
    page.goto(floor.url(f"/screens/item?key={item_key(part(2))}"))
    form = page.locator("form[data-action=hold]")
    form.locator("input[name=owner]").fill("QA")
    form.locator("input[name=hold_id]").fill("H-NO-CSRF")
    form.locator("input[name=csrf]").evaluate("input => input.remove()")
    with page.expect_response(lambda r: r.url.endswith("/screens/act/hold")) as posted:
        form.locator("button").click()
    assert posted.value.status == 403
    expect(form.locator(".outcome")).to_contain_text("CSRF token is missing or wrong")
    assert [h["item"] for h in floor.pipeline.query("held")] == [item_key(part(1))]  # H-B1 alone
