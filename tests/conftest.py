"""Shared pytest fixtures. Tests need no GPU and no ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# the data folder: TPF_DATA where set (as tpf's own data: paths), else beside the repository
SHARED_DATA = Path(os.environ.get("TPF_DATA", "").strip() or REPO_ROOT.parent / "shared" / "data")


@pytest.fixture
def shared_data() -> Path:
    """The reference data folder beside the repository; skips the test where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data folder {SHARED_DATA} is absent")
    return SHARED_DATA
