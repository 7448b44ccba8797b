"""The docs render as written: no code block swallows the sections after it (an unclosed or
mis-indented fence turns the rest of a page into code)."""

from __future__ import annotations

from pathlib import Path

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_no_code_block_holds_a_heading(page: Path) -> None:
    tokens = MarkdownIt("commonmark").enable("table").parse(page.read_text())
    swallowed = [
        (t.map[0] + 1 if t.map else 0, line)
        for t in tokens
        if t.type in ("fence", "code_block")
        for line in t.content.splitlines()
        if line.startswith("## ")
    ]
    assert swallowed == [], f"{page.name}: headings inside code blocks (block start, heading)"
    headings = [t for t in tokens if t.type == "heading_open"]
    assert len(headings) >= 1
