"""``linetrace reader run``'s gate: the tokens file is read, and its absence warned about, only
when the plant file has readers that take HTTP posts."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from ingest.settings import Settings
from readers.config import ReaderSpec
from readers.run import reader_gate

LLRP = ReaderSpec("R-CUT-1", "llrp", "S1", "L1", {"host": "10.0.0.21"})
ZEBRA = ReaderSpec("ZEBRA-3", "zebra", "S1", "L1", {"listen": "0.0.0.0:8090"})
HANDHELD = ReaderSpec("HANDHELD-1", "barcode_http", "S1", "L1", {"listen": "0.0.0.0:9101"})


def test_without_a_tokens_file_every_post_gets_401_and_the_start_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(api_tokens_file=str(tmp_path / "absent.yaml"))
    with caplog.at_level(logging.WARNING):
        quiet = reader_gate(settings, [LLRP], CollectorRegistry())
    assert caplog.records == []
    assert quiet.authenticate("R-CUT-1", "", "Bearer lt_any").status == 401

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        gate = reader_gate(settings, [LLRP, ZEBRA, HANDHELD], CollectorRegistry())
    assert [r.getMessage() for r in caplog.records] == [
        f"no tokens in {tmp_path / 'absent.yaml'}: every POST to ZEBRA-3, HANDHELD-1 gets 401"
        " (linetrace token create)"
    ]
    assert gate.authenticate("ZEBRA-3", "", "Bearer lt_any").status == 401
