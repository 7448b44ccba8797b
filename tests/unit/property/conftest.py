"""Hypothesis settings for the property tests: a few hundred examples each, no deadline.

``pytest --hypothesis-profile=thorough`` runs many more examples; the default keeps the
whole property suite to seconds on a small CI machine.
"""

from __future__ import annotations

import pytest
from hypothesis import settings

settings.register_profile("linetrace", max_examples=200, deadline=None, print_blob=True)
settings.register_profile("thorough", max_examples=5000, deadline=None, print_blob=True)


def pytest_configure(config: pytest.Config) -> None:
    # A conftest below the root is loaded after the hypothesis plugin has applied
    # --hypothesis-profile; load ours only when none was asked for.
    if not config.getoption("hypothesis_profile", default=None):
        settings.load_profile("linetrace")
