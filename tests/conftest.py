"""Shared fixtures: a private compilation cache for the whole test session."""
import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory):
    if "IONC_CACHE_DIR" not in os.environ:
        os.environ["IONC_CACHE_DIR"] = str(tmp_path_factory.mktemp("ionc-cache"))
    yield
