"""The in-process stage bench prints its figures only for a complete and correct run."""

from __future__ import annotations

import json

import pytest

from ingest.settings import Settings
from loadtest import stagebench


def test_a_small_run_prints_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    stagebench.main(["--reads", "2000"])
    out = json.loads(capsys.readouterr().out)
    assert out["reads"] == 1920  # whole items: 15 of 128 reads each
    assert out["passes"] == 15 * 8
    assert set(out["cpu_us_per_read"]) == {"stage1", "stage2", "trace", "total"}
    assert all(v >= 0 for v in out["cpu_us_per_read"].values())


def test_passes_split_by_a_short_dedup_window_fail_the_check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Cycles are 0.5 s apart: with a 0.1 s window each cycle of a tag opens a pass of its own.
    monkeypatch.setattr(stagebench, "Settings", lambda: Settings(dedup_window_s=0.1))
    with pytest.raises(SystemExit) as exited:
        stagebench.main(["--reads", "2000"])
    assert exited.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "passes found by stage 1: 480, expected 120" in captured.err
