from __future__ import annotations

from typing import Any

import pytest

from ingest.plant import Plant, parse_plant
from tests.unit.factories import plant_doc


@pytest.fixture
def doc() -> dict[str, Any]:
    """The test plant as a document, fresh per test so a test may break it."""
    return plant_doc()


@pytest.fixture(scope="session")
def plant() -> Plant:
    return parse_plant(plant_doc(), source="test-plant")
