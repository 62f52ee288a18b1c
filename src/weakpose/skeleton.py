"""Skeletons and keypoint layouts.

The canonical skeleton is Human3.6M-17 in the order of VideoPose3D / mmpose (DESIGN.md §2),
with the joint semantics of the CMU data weakpose trains on: ``neck_nose`` is the middle of the
neck and ``head`` the base of the skull (``../shared/data/cmu/README.md``). Layout conversions
follow these semantics, so detections look like the training data to a lifter: from COCO and
MediaPipe, ``head`` is the mid-ear point and ``neck_nose`` the mean of mid-shoulder and mid-ear;
from MPII, ``head`` is the upper neck and ``neck_nose`` the mean of thorax and upper neck.
Other layouts (COCO-17, MPII-16, MediaPipe-33, the 16-joint order of Li & Lee's code) are
converted to it by explicit mappings: every Human3.6M joint is either one source joint or the
mean of several. Joints that have to be synthesised are listed in :data:`SYNTHESISED`; their
confidence is the minimum of the confidences they are made from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

Array = Any  # numpy.ndarray or torch.Tensor


@dataclass(frozen=True)
class Skeleton:
    """A kinematic tree: joint names, parent of every joint (-1 for the root), left/right pairs."""

    names: tuple[str, ...]
    parents: tuple[int, ...]
    left: tuple[int, ...]
    right: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.parents):
            raise ValueError("names and parents differ in length")
        if len(self.left) != len(self.right):
            raise ValueError("left and right joint lists differ in length")
        for j, p in enumerate(self.parents):
            if p >= j:
                raise ValueError("parents must precede their children")

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def bones(self) -> list[tuple[int, int]]:
        """(parent, child) for every non-root joint, in joint order."""
        return [(p, j) for j, p in enumerate(self.parents) if p >= 0]

    @property
    def num_bones(self) -> int:
        return len(self.bones)

    @property
    def flip_permutation(self) -> list[int]:
        """Joint index after a horizontal flip: left and right joints swap."""
        perm = list(range(self.num_joints))
        for l, r in zip(self.left, self.right):
            perm[l], perm[r] = r, l
        return perm

    def index(self, name: str) -> int:
        return self.names.index(name)

    def bone_vectors(self, x: Array) -> Array:
        """``[..., J, D]`` joint positions -> ``[..., B, D]`` child minus parent."""
        parents, children = zip(*self.bones)
        return x[..., list(children), :] - x[..., list(parents), :]

    def bone_lengths(self, x: Array) -> Array:
        """``[..., J, D]`` -> ``[..., B]`` Euclidean bone lengths."""
        v = self.bone_vectors(x)
        return (v * v).sum(-1) ** 0.5

    def flip(self, x: Array, center: float = 0.0) -> Array:
        """Mirror coordinate 0 about ``center`` and swap left/right joints.

        For camera-frame 3D poses ``center`` is 0; for 2D image keypoints pass the image centre
        column (``(width - 1) / 2`` for pixel centres at integers).
        """
        y = x[..., self.flip_permutation, :]
        y = y.clone() if hasattr(y, "clone") else y.copy()
        y[..., 0] = 2.0 * center - y[..., 0]
        return y


H36M17_NAMES = (
    "pelvis", "r_hip", "r_knee", "r_ankle", "l_hip", "l_knee", "l_ankle", "spine", "thorax",
    "neck_nose", "head", "l_shoulder", "l_elbow", "l_wrist", "r_shoulder", "r_elbow", "r_wrist",
)

H36M17 = Skeleton(
    names=H36M17_NAMES,
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
    left=(4, 5, 6, 11, 12, 13),
    right=(1, 2, 3, 14, 15, 16),
)

#: Limb-end joints that the benchmark's detector noise may drop (DESIGN.md §5).
LIMB_END_JOINTS = (2, 3, 5, 6, 12, 13, 15, 16)


@dataclass(frozen=True)
class KeypointLayout:
    """A keypoint order and how each Human3.6M-17 joint is made from it.

    ``to_h36m[j]`` lists the source joints whose mean gives Human3.6M joint ``j``.
    """

    name: str
    names: tuple[str, ...]
    to_h36m: tuple[tuple[int, ...], ...]

    @property
    def num_joints(self) -> int:
        return len(self.names)


COCO17_NAMES = (
    "nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow",
    "r_elbow", "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle",
)
MPII16_NAMES = (
    "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax", "upper_neck",
    "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist",
)
MEDIAPIPE33_NAMES = (
    "nose", "l_eye_inner", "l_eye", "l_eye_outer", "r_eye_inner", "r_eye", "r_eye_outer",
    "l_ear", "r_ear", "mouth_l", "mouth_r", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow",
    "l_wrist", "r_wrist", "l_pinky", "r_pinky", "l_index", "r_index", "l_thumb", "r_thumb",
    "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle", "l_heel", "r_heel",
    "l_foot_index", "r_foot_index",
)
#: Li & Lee's released code (data prepared as in RepNet, Wandt & Rosenhahn 2019) uses 16 of the
#: Human3.6M joints — all but ``spine`` — in the MPII order: its 2D loss weights (``ops.py``) are
#: 0 for joint 6 (pelvis, the root) and 0.1 for joints 8, 9 (neck, head).
LILEE16_NAMES = (
    "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax", "neck_nose",
    "head", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow", "l_wrist",
)


def _coco_like(idx: dict[str, int], ears: tuple[int, int]) -> tuple[tuple[int, ...], ...]:
    hips = (idx["l_hip"], idx["r_hip"])
    shoulders = (idx["l_shoulder"], idx["r_shoulder"])
    return (
        hips,                                   # pelvis: mid-hip (synthesised)
        (idx["r_hip"],), (idx["r_knee"],), (idx["r_ankle"],),
        (idx["l_hip"],), (idx["l_knee"],), (idx["l_ankle"],),
        hips + shoulders,                       # spine: mean of hips and shoulders (synthesised)
        shoulders,                              # thorax: mid-shoulder (synthesised)
        shoulders + ears,                       # neck_nose: mid-neck = mean of thorax and head (synthesised)
        ears,                                   # head: base of the skull ~ mid-ear (synthesised)
        (idx["l_shoulder"],), (idx["l_elbow"],), (idx["l_wrist"],),
        (idx["r_shoulder"],), (idx["r_elbow"],), (idx["r_wrist"],),
    )


def _build_layouts() -> dict[str, KeypointLayout]:
    coco = {n: i for i, n in enumerate(COCO17_NAMES)}
    mp = {n: i for i, n in enumerate(MEDIAPIPE33_NAMES)}
    mpii = {n: i for i, n in enumerate(MPII16_NAMES)}
    lilee = {n: i for i, n in enumerate(LILEE16_NAMES)}
    mpii_map = (
        (mpii["pelvis"],), (mpii["r_hip"],), (mpii["r_knee"],), (mpii["r_ankle"],),
        (mpii["l_hip"],), (mpii["l_knee"],), (mpii["l_ankle"],),
        (mpii["pelvis"], mpii["thorax"]),       # spine: mid pelvis-thorax (synthesised)
        (mpii["thorax"],),
        (mpii["thorax"], mpii["upper_neck"]),   # neck_nose: mid-neck (synthesised)
        (mpii["upper_neck"],),                  # head: base of the skull ~ MPII upper neck
        (mpii["l_shoulder"],), (mpii["l_elbow"],), (mpii["l_wrist"],),
        (mpii["r_shoulder"],), (mpii["r_elbow"],), (mpii["r_wrist"],),
    )
    lilee_map = tuple(
        (lilee["pelvis"], lilee["thorax"]) if n == "spine" else (lilee[n],) for n in H36M17_NAMES
    )
    return {
        "h36m17": KeypointLayout("h36m17", H36M17_NAMES, tuple((j,) for j in range(17))),
        "coco17": KeypointLayout(
            "coco17", COCO17_NAMES, _coco_like(coco, (coco["l_ear"], coco["r_ear"]))
        ),
        "mediapipe33": KeypointLayout(
            "mediapipe33", MEDIAPIPE33_NAMES, _coco_like(mp, (mp["l_ear"], mp["r_ear"]))
        ),
        "mpii16": KeypointLayout("mpii16", MPII16_NAMES, mpii_map),
        "lilee16": KeypointLayout("lilee16", LILEE16_NAMES, lilee_map),
    }


LAYOUTS: dict[str, KeypointLayout] = _build_layouts()

#: Human3.6M joints that are not observed in a layout but made from several of its joints.
SYNTHESISED: dict[str, tuple[str, ...]] = {
    name: tuple(H36M17_NAMES[j] for j, src in enumerate(layout.to_h36m) if len(src) > 1)
    for name, layout in LAYOUTS.items()
}


def _mapping_matrix(layout: KeypointLayout) -> np.ndarray:
    """[17, K] averaging matrix of a layout."""
    m = np.zeros((17, layout.num_joints))
    for j, src in enumerate(layout.to_h36m):
        m[j, list(src)] = 1.0 / len(src)
    return m


def layout_from_names(names) -> str | None:
    """The name of the layout in :data:`LAYOUTS` whose joint names are exactly ``names`` (in
    order), or ``None``."""
    names = tuple(str(n) for n in names)
    for name, layout in LAYOUTS.items():
        if layout.names == names:
            return name
    return None


def to_h36m17(keypoints: Array, confidence: Array | None, layout: str) -> tuple[Array, Array]:
    """Convert ``[..., K, D]`` keypoints of ``layout`` to Human3.6M-17 ``[..., 17, D]``.

    A synthesised joint is the mean of its source joints and its confidence is the minimum of
    theirs, so that a joint built from a missing one is missing too (confidence 0, coordinates 0).
    Works on numpy arrays and torch tensors.
    """
    if layout not in LAYOUTS:
        raise KeyError(f"unknown keypoint layout {layout!r}; known: {', '.join(LAYOUTS)}")
    spec = LAYOUTS[layout]
    if keypoints.shape[-2] != spec.num_joints:
        raise ValueError(
            f"layout {layout} has {spec.num_joints} joints, keypoints have {keypoints.shape[-2]}"
        )
    is_torch = not isinstance(keypoints, np.ndarray)
    m = _mapping_matrix(spec)
    if is_torch:
        import torch

        m_t = torch.as_tensor(m, dtype=keypoints.dtype, device=keypoints.device)
        out = torch.einsum("jk,...kd->...jd", m_t, keypoints)
    else:
        out = np.einsum("jk,...kd->...jd", m.astype(keypoints.dtype), keypoints)
    if confidence is None:
        conf = (out[..., 0] * 0 + 1)
    else:
        parts = [confidence[..., list(src)].min(-1) for src in spec.to_h36m]
        if is_torch:
            import torch

            conf = torch.stack([p.values if hasattr(p, "values") else p for p in parts], -1)
        else:
            conf = np.stack(parts, -1)
        out = out * (conf[..., None] > 0)
    return out, conf


def from_h36m17(keypoints: Array, layout: str) -> Array:
    """Select a layout's joints from Human3.6M-17 where the layout is a subset of it (``lilee16``)."""
    spec = LAYOUTS[layout]
    index = []
    for name in spec.names:
        if name not in H36M17_NAMES:
            raise ValueError(f"layout {layout} joint {name!r} is not a Human3.6M-17 joint")
        index.append(H36M17_NAMES.index(name))
    return keypoints[..., index, :]
