from __future__ import annotations

from pathlib import Path

import pytest

from weakpose.data.paths import data_root
from weakpose.errors import InputError


@pytest.fixture(scope="session")
def cmu_root() -> Path:
    try:
        root = data_root() / "cmu"
    except InputError as e:
        pytest.skip(str(e))
    if not (root / "cmu_h36m17.npz").exists():
        pytest.skip(f"CMU data not found at {root}")
    return root
