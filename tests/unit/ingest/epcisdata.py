"""Where the EPCIS 2.0 conformance data lives: beside the repository, never copied into it."""

from __future__ import annotations

from pathlib import Path

import pytest

EPCIS_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "epcis"


def epcis_data(*parts: str) -> Path:
    """A path under the conformance data set; the test is skipped, saying why, when it is absent."""
    path = EPCIS_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"EPCIS conformance data not found at {path} (see docs/epcis.md, Conformance data)")
    return path
