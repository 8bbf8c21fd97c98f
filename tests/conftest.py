"""Shared fixtures. Data-dependent tests read ../shared/data (present in CI) and skip with a
clear reason when it is absent."""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# The native kernel library is built into a fresh cache for each test session (so the build path
# itself runs in every CI run, and a read-only or stale home cache cannot change the results).
# Set before negsample is imported; subprocesses inherit it.
if "NEGSAMPLE_CACHE_DIR" not in os.environ:
    os.environ["NEGSAMPLE_CACHE_DIR"] = tempfile.mkdtemp(prefix="negsample-test-cache-")
    atexit.register(shutil.rmtree, os.environ["NEGSAMPLE_CACHE_DIR"], ignore_errors=True)

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("NEGSAMPLE_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data; skips the test when it is not there."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set NEGSAMPLE_SHARED_DATA)")
    return SHARED_DATA


def requires_module(name: str):
    """Skip marker for an optional extra (torch, faiss, sklearn...). The test setup installs all."""
    import importlib.util

    return pytest.mark.skipif(importlib.util.find_spec(name) is None,
                              reason=f"optional dependency {name!r} is not installed")
