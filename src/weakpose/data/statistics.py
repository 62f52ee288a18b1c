"""Bone-length statistics of the training subjects (used for Iqbal's scale, L_B and lifting)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from weakpose.skeleton import H36M17, Skeleton


def mean_bone_lengths(positions: np.ndarray, skeleton: Skeleton = H36M17) -> np.ndarray:
    """Mean length (mm) of every bone over frames ``[F, J, 3]``, in ``skeleton.bones`` order."""
    return skeleton.bone_lengths(np.asarray(positions, np.float64)).mean(0)


def training_bone_lengths(root: Path, skeleton: Skeleton = H36M17) -> np.ndarray:
    """Mean bone lengths of the CMU-WS training subjects (the only 3D statistic the weakly
    supervised methods may use, DESIGN.md §5)."""
    from weakpose.data.mocap import TRAIN_SUBJECTS, load_cmu

    return mean_bone_lengths(load_cmu(root, TRAIN_SUBJECTS).positions, skeleton)
