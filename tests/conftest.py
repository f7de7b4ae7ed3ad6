"""Shared test fixtures: fresh random inputs (never zeros) and a private compile cache."""

import os

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng()


def pytest_configure(config: pytest.Config) -> None:
    # A session-wide cache keeps repeated compiles of identical sources cheap
    # without touching the user's cache directory.
    if "FLOWC_CACHE_DIR" not in os.environ:
        import tempfile

        os.environ["FLOWC_CACHE_DIR"] = tempfile.mkdtemp(prefix="flowc-test-cache-")
