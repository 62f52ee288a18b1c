from __future__ import annotations

from pathlib import Path

import pytest


def _cmu_root() -> Path:
    try:
        from weakpose.data.paths import data_root  # type: ignore[import-not-found]

        return Path(data_root()) / "cmu"
    except ImportError:
        return Path(__file__).resolve().parents[3] / "shared" / "data" / "cmu"


@pytest.fixture(scope="session")
def cmu_root() -> Path:
    root = _cmu_root()
    if not (root / "cmu_h36m17.npz").exists():
        pytest.skip(f"CMU data not found at {root}")
    return root
