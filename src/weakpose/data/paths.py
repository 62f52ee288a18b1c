"""Where the shared data lives (DESIGN.md §4): ``--data``, ``$WEAKPOSE_DATA``, ``../shared/data``."""

from __future__ import annotations

import os
from pathlib import Path

#: The repository root (``src/weakpose/data/paths.py`` -> three levels up from ``src``).
_REPO_ROOT = Path(__file__).resolve().parents[3]


def data_root(explicit: str | Path | None = None) -> Path:
    """The data folder: an explicit path, else ``$WEAKPOSE_DATA``, else ``../shared/data``
    beside the repository (or beside the current directory)."""
    from weakpose.errors import InputError

    if explicit is not None:
        candidates = [Path(explicit)]
    elif os.environ.get("WEAKPOSE_DATA"):
        candidates = [Path(os.environ["WEAKPOSE_DATA"])]
    else:
        candidates = [_REPO_ROOT.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for c in candidates:
        if (c / "cmu").is_dir() or (c / "benchmark").is_dir():
            return c
    raise InputError(
        f"{candidates[0]}: data folder not found (pass --data DIR or set WEAKPOSE_DATA; it must "
        "contain cmu/ and benchmark/)"
    )


def cmu_npz(root: Path) -> Path:
    return root / "cmu" / "cmu_h36m17.npz"


def h36m_rig(root: Path) -> Path:
    return root / "benchmark" / "rig_h36m.json"


def benchmark_file(root: Path, name: str) -> Path:
    """``name`` is e.g. ``h36mrig_gt2d`` for ``cmu_test_h36mrig_gt2d.npz``."""
    return root / "benchmark" / f"cmu_test_{name}.npz"


BENCHMARK_FILES = ("h36mrig_gt2d", "h36mrig_det2d", "wild_det2d")
