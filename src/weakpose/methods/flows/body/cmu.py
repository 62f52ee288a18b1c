"""Build the body model and its pose data from the CMU converter's rotation output
(:func:`weakpose.data.converters.cmu.load_cmu_rotations`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from weakpose.data.converters.cmu import CMURotations, convert_cmu, load_cmu_rotations, save_cmu
from weakpose.errors import InputError
from weakpose.methods.flows.body import cmu_tree
from weakpose.methods.flows.body.model import BodyModel

# the rotation file names end sites "<parent>_End"
_BVH_NAME = {"HeadTop": "Head_End"}


def segment_offsets(rot: CMURotations) -> np.ndarray:
    """[S_subjects, S_segments, 3] mm rest offsets of every subject in ``cmu_tree`` order."""
    idx = []
    for name in cmu_tree.SEGMENT_NAMES:
        bvh = _BVH_NAME.get(name, name)
        if bvh not in rot.joint_names:
            raise InputError(f"CMU rotations: joint {bvh!r} missing from 'bvh_joint_names'")
        idx.append(rot.joint_names.index(bvh))
    parents = [rot.joint_names[p] if p >= 0 else None for p in rot.parents[idx]]
    for (name, parent), got in zip(cmu_tree.SEGMENTS, parents):
        want = _BVH_NAME.get(parent, parent) if parent else None
        if want != got:
            raise InputError(f"CMU rotations: parent of {name!r} is {got!r}, expected {want!r}")
    return rot.offsets[:, idx].astype(np.float64)


@dataclass
class PoseData:
    """Per-frame kinematic state of CMU frames in the body model's terms."""

    local: np.ndarray          # [N, P, 3, 3] posed-segment local rotations
    global_rot: np.ndarray     # [N, 3, 3] root (Hips) world orientation
    root: np.ndarray           # [N, 3] Hips position, world mm
    subject: np.ndarray        # [N]
    seq_id: np.ndarray         # [N]
    positions: np.ndarray      # [N, 17, 3] reference joints, world mm
    offsets: np.ndarray        # [N_subjects, S, 3] per-subject rest offsets (mm)
    subject_index: np.ndarray  # [N] row in ``offsets``


def pose_data(rot: CMURotations, subjects: tuple[int, ...] | list[int] | None = None) -> PoseData:
    """Local rotations of :data:`cmu_tree.POSED_SEGMENTS` for the frames of ``subjects``."""
    keep = np.ones(len(rot.subject), bool) if subjects is None else np.isin(rot.subject, np.asarray(subjects))
    if not keep.any():
        raise InputError(f"CMU rotations: no frame of subjects {subjects}")
    col = {name: k for k, name in enumerate(rot.rot_joint_names)}
    missing = [n for n in ("Hips", *cmu_tree.POSED_SEGMENTS) if n not in col]
    if missing:
        raise InputError(f"CMU rotations: no rotation channels for {missing}")
    local = rot.local[keep][:, [col[n] for n in cmu_tree.POSED_SEGMENTS]]
    return PoseData(
        local=local.astype(np.float32),
        global_rot=rot.local[keep][:, col["Hips"]].astype(np.float32),
        root=rot.root_translation[keep].astype(np.float32),
        subject=rot.subject[keep],
        seq_id=rot.seq_id[keep],
        positions=rot.positions[keep].astype(np.float32),
        offsets=segment_offsets(rot),
        subject_index=rot.subject_index[keep],
    )


def shape_space(offsets: np.ndarray, num_betas: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Mean rest offsets [S, 3] and whitened bone-length basis [K, S] from per-subject offsets.

    Lengths ℓ = |o_s| per subject; PCA of ℓ; basis rows are ``sqrt(λ_k) v_k`` so that
    ``ℓ = ℓ̄ + βᵀB`` with ``β ~ N(0, I)``. Directions are the mean unit directions.
    """
    lengths = np.linalg.norm(offsets, axis=-1)  # [n, S]
    mean_len = lengths.mean(0)
    dirs = np.where(lengths[..., None] > 1e-9, offsets / np.maximum(lengths[..., None], 1e-9), 0.0).mean(0)
    norm = np.linalg.norm(dirs, axis=-1, keepdims=True)
    dirs = np.where(norm > 1e-9, dirs / np.maximum(norm, 1e-9), 0.0)
    k = min(num_betas, max(len(offsets) - 1, 0))
    if k == 0:
        return dirs * mean_len[:, None], np.zeros((0, offsets.shape[1]))
    centred = lengths - mean_len
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    var = s**2 / max(len(offsets) - 1, 1)
    basis = np.sqrt(var[:k, None]) * vt[:k]
    return dirs * mean_len[:, None], basis


def body_model_from_rotations(rot: CMURotations, subjects: tuple[int, ...] | list[int],
                              num_betas: int = 4) -> BodyModel:
    """Body model whose rest skeleton and shape space come from ``subjects``' BVH skeletons."""
    offsets = segment_offsets(rot)
    rows = [int(np.flatnonzero(rot.subjects == s)[0]) for s in subjects if s in rot.subjects]
    if not rows:
        raise InputError(f"CMU rotations: none of subjects {list(subjects)} present")
    mean, basis = shape_space(offsets[rows], num_betas)
    return BodyModel(mean, basis)


def load_or_convert_rotations(data_root: Path, cache: Path) -> CMURotations:
    """The CMU rotation output, converted from the BVH files into ``cache`` on first use."""
    cache = Path(cache)
    if not cache.exists():
        arrays = convert_cmu(Path(data_root) / "cmu" / "bvh", Path(data_root) / "cmu" / "index.tsv", rotations=True)
        cache.parent.mkdir(parents=True, exist_ok=True)
        save_cmu(cache, arrays)
    return load_cmu_rotations(cache)
