"""Deep NRSfM teacher (Wang, Kong & Lucey, ICCV 2019, §3): dictionaries learned from 2D alone.

Training data: the 2D keypoints of the CMU-WS training subjects (no 3D), normalised by
:mod:`weakpose.methods.nrsfm_codec`. Loss, Eq. 4 (per sample, averaged over the batch):

    ‖[D₁ φ̃₁]_{P×3} M̃ − W‖₂ + λ ‖φ̃₁‖₁,   λ = 0.01,

with missing joints masked out of the reprojection and the 2D translation eliminated (weak
perspective with translation). Because ``W`` has unit Frobenius norm this is the relative
Frobenius error of Kong & Lucey's public release plus the paper's sparsity term.

Outputs are up to scale and a depth reflection. The global reflection is fixed once, after
training, by an anatomical rule that uses no ground truth (knees bend forwards,
:func:`weakpose.methods.nrsfm_codec.knee_chirality`); the scale by the bone-length scale of
DESIGN.md §5 (``positions_3d``) and, for the "raw" result, by one global constant
(``positions_3d_raw``) fitted to the training subjects' mean bone lengths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from weakpose.data.contracts import InputError, Keypoints2D
from weakpose.geometry.scale import bone_length_scale
from weakpose.models.nrsfm import DeepNRSfM, NRSfMOutput, resolve_atoms
from weakpose.methods.nrsfm_codec import NormalisedKeypoints, knee_chirality, normalise_keypoints, reprojection_residual
from weakpose.skeleton import H36M17


def nrsfm_loss(out: NRSfMOutput, w: torch.Tensor, mask: torch.Tensor, sparsity: float = 0.01) -> dict[str, torch.Tensor]:
    """Eq. 4, averaged over the batch: {"loss", "reprojection", "sparsity"} (scalars)."""
    reproj = reprojection_residual(out.projection, w, mask).flatten(1).norm(dim=-1).mean()
    l1 = out.code.abs().sum(-1).mean()
    return {"loss": reproj + sparsity * l1, "reprojection": reproj, "sparsity": l1}


def parse_center(center: str | int) -> str | int:
    """Config value → gauge: "mean" or a joint index."""
    if isinstance(center, int):
        return center
    if center == "mean":
        return "mean"
    try:
        return int(center)
    except ValueError as exc:
        raise ValueError(f"center: expected a joint index or 'mean', got {center!r}") from exc


def global_scale(poses: torch.Tensor, mean_bone_lengths: np.ndarray) -> float:
    """One constant c with c·poses closest (least squares over all samples and bones) to the
    mean bone lengths: the 'raw' metric scale of an up-to-scale method."""
    lengths = H36M17.bone_lengths(poses.double())
    mu = torch.as_tensor(mean_bone_lengths, dtype=torch.float64)
    return float((lengths * mu).sum() / (lengths * lengths).sum().clamp_min(1e-12))


def decide_depth_sign(poses_cam: torch.Tensor) -> float:
    """+1 or −1: the global depth sign under which most reconstructions bend their knees
    forwards (no ground truth; Human3.6M-17 layout only)."""
    score = knee_chirality(poses_cam.double())
    return 1.0 if float((score > 0).double().mean()) >= 0.5 else -1.0


def to_millimetres(poses: torch.Tensor, mean_bone_lengths: np.ndarray, raw_scale: float) -> dict[str, np.ndarray]:
    """Root-relative normalised poses [N, 17, 3] → {"positions_3d" (bone-length scale),
    "positions_3d_raw" (global constant scale)} in mm."""
    poses = poses.double()
    poses = poses - poses[:, :1]
    s = bone_length_scale(poses, mean_bone_lengths)
    return {
        "positions_3d": (poses * s[:, None, None]).float().numpy(),
        "positions_3d_raw": (poses * raw_scale).float().numpy(),
    }


def normalise_file(kp: Keypoints2D, center: str | int, num_points: int) -> NormalisedKeypoints:
    """Normalise a validated single-view keypoint file; InputError for layouts we cannot use."""
    if kp.multiview:
        raise InputError(f"{kp.path}: key 'keypoints_2d': multi-view input [N, C, J, 2]; Deep NRSfM lifts single views")
    if kp.keypoints_2d.shape[1] != num_points:
        raise InputError(f"{kp.path}: key 'keypoints_2d': {kp.keypoints_2d.shape[1]} joints, the model has {num_points}")
    return normalise_keypoints(kp.keypoints_2d, kp.confidence, kp.intrinsics, center, source=str(kp.path))


@torch.no_grad()
def run_batched(fn, *tensors: torch.Tensor, batch_size: int = 4096):
    """Apply ``fn`` to slices of the tensors and concatenate the results (dicts or tensors)."""
    outs = [fn(*(t[i:i + batch_size] for t in tensors)) for i in range(0, len(tensors[0]), batch_size)]
    if isinstance(outs[0], dict):
        return {k: torch.cat([o[k] for o in outs]) for k in outs[0]}
    return torch.cat(outs)


@dataclass
class TeacherOutputs:
    """Teacher reconstructions in the camera frame (normalised units, depth sign applied)."""

    poses: torch.Tensor      # [N, P, 3]
    code: torch.Tensor       # [N, K₁]
    rotation: torch.Tensor   # [N, 3, 3] R of Eq. 5 with the depth sign folded into its last column


def teacher_outputs(model: DeepNRSfM, w: torch.Tensor, depth_sign: float, batch_size: int = 4096) -> TeacherOutputs:
    """Run the teacher on normalised 2D poses ``w`` [N, P, 2]."""
    from weakpose.models.nrsfm import camera_rotation

    def fn(x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = model(x)
        rot = camera_rotation(out.camera)
        rot = torch.cat([rot[..., :2], depth_sign * rot[..., 2:]], dim=-1)
        return {"poses": out.shape @ rot, "code": out.code, "rotation": rot}

    model.eval()
    res = run_batched(fn, w, batch_size=batch_size)
    return TeacherOutputs(poses=res["poses"], code=res["code"], rotation=res["rotation"])


def check_atoms(atoms: str) -> tuple[int, ...]:
    try:
        return resolve_atoms(atoms)
    except ValueError as exc:
        raise InputError(f"config: key 'atoms': {exc}") from exc
