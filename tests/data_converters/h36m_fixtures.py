"""Tiny synthetic Human3.6M files in the exact formats of the original release and VideoPose3D."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def random_world_poses(rng: np.random.Generator, T: int) -> np.ndarray:
    """[T, 32, 3] mm around a person standing near the world origin (z-up, like Human3.6M)."""
    base = rng.normal(0.0, 250.0, (32, 3)) + np.array([0.0, 0.0, 900.0])
    drift = np.cumsum(rng.normal(0.0, 5.0, (T, 1, 3)), axis=0)
    return base[None] + drift + rng.normal(0.0, 10.0, (T, 32, 3))


def write_pose_cdf(path: Path, pose: np.ndarray) -> None:
    """Write ``Pose`` [1, T, D] float32 as the release does."""
    from cdflib.cdfwrite import CDF

    path.parent.mkdir(parents=True, exist_ok=True)
    data = pose.reshape(1, pose.shape[0], -1).astype(np.float32)
    f = CDF(str(path), delete=True)
    f.write_var(
        {"Variable": "Pose", "Data_Type": CDF.CDF_FLOAT, "Num_Elements": 1, "Rec_Vary": True,
         "Dim_Sizes": list(data.shape[1:])},
        var_data=data,
    )  # fmt: skip
    f.close()


def write_pickled_npz(path: Path, **dicts) -> None:
    arrays = {k: np.array(v, dtype=object) if isinstance(v, dict) else v for k, v in dicts.items()}
    # np.array(dict, dtype=object) gives a 0-d object array holding the dict, as VideoPose3D writes
    np.savez_compressed(path, **arrays)
