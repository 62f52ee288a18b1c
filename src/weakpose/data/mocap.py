"""The CMU motion capture set in Human3.6M-17 order and the CMU-WS subject split (DESIGN.md §5)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from weakpose.data.contracts import _load_npz
from weakpose.data.paths import cmu_npz
from weakpose.errors import InputError

TRAIN_SUBJECTS: tuple[int, ...] = (1, 3, 5, 6, 7, 8)
TEST_SUBJECTS: tuple[int, ...] = (2, 9)


@dataclass
class Mocap:
    """Frames of real motion: ``positions`` [F, 17, 3] world mm (y-up), per-frame labels."""

    positions: np.ndarray
    subject: np.ndarray
    seq_id: np.ndarray
    action: np.ndarray          # action name per frame
    sequence: np.ndarray        # clip name per frame (e.g. '02_01', '01_03#0')
    frame_in_seq: np.ndarray    # index of the frame within its clip

    def __len__(self) -> int:
        return len(self.positions)


def load_cmu(root: Path, subjects: tuple[int, ...] | list[int]) -> Mocap:
    """Frames of the given subjects from ``cmu/cmu_h36m17.npz`` (in file order)."""
    path = cmu_npz(root)
    z = _load_npz(path)
    for key in ("positions", "subject", "seq_id", "action_id", "action_names", "seq_names", "seq_start"):
        if key not in z:
            raise InputError(f"{path}: key '{key}': missing")
    keep = np.isin(z["subject"], np.asarray(subjects))
    if not keep.any():
        raise InputError(f"{path}: key 'subject': none of subjects {list(subjects)} present")
    seq_id = z["seq_id"][keep]
    frame_in_seq = np.flatnonzero(keep) - z["seq_start"][seq_id]
    return Mocap(
        positions=z["positions"][keep].astype(np.float32),
        subject=z["subject"][keep],
        seq_id=seq_id,
        action=z["action_names"][z["action_id"][keep]],
        sequence=z["seq_names"][seq_id],
        frame_in_seq=frame_in_seq,
    )


def center_horizontally(positions: np.ndarray, root: int = 0) -> np.ndarray:
    """Move each frame horizontally (x, z) so its pelvis is above the world origin (§5)."""
    out = positions.copy()
    out[..., [0, 2]] -= positions[..., root : root + 1, [0, 2]]
    return out
