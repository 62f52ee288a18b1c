"""Training samples of ``weakpose train flows-ws`` (Zanfir et al. §2.3, Table 2).

Every sample is one frame of the CMU training subjects (1, 3, 5, 6, 7, 8) seen by one camera of
the benchmark's h36m rig, after turning the body about the vertical through its pelvis by a
uniform random angle (as :class:`weakpose.data.sampling.ViewSampler` does). A sample carries

* what every phase may use: the 2D keypoints, their confidences and the intrinsics (and,
  with L_BA, a part mask rendered for the image,
  :class:`weakpose.methods.flows.ws_rendering.MaskPool`);
* the 3D ground truth that only the fully supervised loss L_fs (Eq. 8–10) reads, and only on
  the supervised partition: the camera-frame joints, the body model's pose vector θ̂ (local
  rotations of the CMU converter), the camera-frame root orientation and the subject's shape β̂.

Supervised partition (the paper's "partitions of 20 %, 40 %, … of the training set"; how the
paper drew them is not said): whole clips of the training subjects in a fixed random order
(``seed``) until the clips hold ``fraction`` of the frames. Whole clips rather than random
frames, because neighbouring frames of a clip are near duplicates: a random 20 % of frames
would contain nearly every pose of the training set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from weakpose.camera import load_rig
from weakpose.data.mocap import TRAIN_SUBJECTS
from weakpose.data.paths import h36m_rig
from weakpose.data.sampling import observe
from weakpose.errors import InputError
from weakpose.methods.flows.body.cmu import PoseData, pose_data
from weakpose.methods.flows.body.model import BodyModel
from weakpose.methods.flows.body.pose import matrices_to_vector


@dataclass
class PoseBatch:
    keypoints_2d: np.ndarray   # [B, 17, 2] px
    confidence: np.ndarray     # [B, 17]
    intrinsics: np.ndarray     # [B, 3, 3]
    joints_cam: np.ndarray     # [B, 17, 3] mm camera frame         (L_fs only)
    theta: np.ndarray          # [B, P, 3, 3] local rotations θ̂    (L_fs only)
    global_rot: np.ndarray     # [B, 3, 3] camera-frame root orientation (L_fs only)
    beta: np.ndarray           # [B, K] subject shape β̂            (L_fs only)
    frame: np.ndarray          # [B] frame index
    pool: np.ndarray | None = None  # [B] row of the mask pool (when drawn from it)

    def index(self, rows: np.ndarray) -> PoseBatch:
        return PoseBatch(*(getattr(self, f)[rows] for f in ("keypoints_2d", "confidence", "intrinsics", "joints_cam",
                                                             "theta", "global_rot", "beta", "frame")),
                         pool=None if self.pool is None else self.pool[rows])


def subject_betas(body: BodyModel, offsets: np.ndarray) -> np.ndarray:
    """Shape β̂ [n, K] of skeletons with rest offsets [n, S, 3]: least-squares coordinates of
    their bone lengths in the body model's (whitened) length basis."""
    basis = body.length_basis.double().numpy()  # [K, S]
    resid = np.linalg.norm(offsets, axis=-1) - body.mean_lengths.double().numpy()[None]
    if basis.shape[0] == 0:
        return np.zeros((len(offsets), 0), np.float32)
    sol, *_ = np.linalg.lstsq(basis.T, resid.T, rcond=None)
    return sol.T.astype(np.float32)


def supervised_clips(seq_id: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean [N] frame mask of the supervised partition (whole clips, see the module doc)."""
    if not 0.0 <= fraction <= 1.0:
        raise InputError(f"config: key 'supervised_fraction': must be in [0, 1], got {fraction}")
    if fraction >= 1.0:
        return np.ones(len(seq_id), bool)
    clips, counts = np.unique(seq_id, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(clips))
    target = fraction * len(seq_id)
    chosen, total = [], 0
    for i in order:
        if total >= target:
            break
        chosen.append(clips[i])
        total += counts[i]
    return np.isin(seq_id, np.asarray(chosen, seq_id.dtype))


def _yaw(angle: np.ndarray) -> np.ndarray:
    """Rotations [B, 3, 3] about the world's vertical (y) axis, as ViewSampler's augmentation."""
    c, s = np.cos(angle), np.sin(angle)
    R = np.zeros((len(angle), 3, 3))
    R[:, 0, 0], R[:, 0, 2], R[:, 1, 1], R[:, 2, 0], R[:, 2, 2] = c, s, 1.0, -s, c
    return R


class PoseSampler:
    """Random (frame, rig camera, yaw) samples of the training subjects with their 3D state."""

    def __init__(self, data: PoseData, body: BodyModel, rig_path: Path, supervised_fraction: float,
                 seed: int = 0) -> None:
        self.data = data
        cams = load_rig(rig_path)
        self.K = np.stack([c.K for c in cams])
        self.R = np.stack([c.R for c in cams])
        self.t = np.stack([c.t for c in cams])
        self.size = np.stack([np.asarray(c.image_size, np.float64) for c in cams])
        self.betas = subject_betas(body, data.offsets)[data.subject_index]
        self.supervised = supervised_clips(data.seq_id, supervised_fraction, seed)
        self.sup_frames = np.flatnonzero(self.supervised)
        # pelvis above the world origin (DESIGN.md §5), as the benchmark and ViewSampler
        self.world = data.positions.astype(np.float64).copy()
        self.world[..., [0, 2]] -= data.positions[:, :1, [0, 2]]

    @classmethod
    def from_rotations(cls, rot, body: BodyModel, data_root: Path, supervised_fraction: float,
                       seed: int = 0) -> PoseSampler:
        return cls(pose_data(rot, TRAIN_SUBJECTS), body, h36m_rig(data_root), supervised_fraction, seed)

    def __len__(self) -> int:
        return len(self.world)

    def sample(self, rng: np.random.Generator, batch_size: int, supervised: bool = False,
               noise_fraction: float = 0.0, frames: np.ndarray | None = None,
               truncate_fraction: float = 0.0) -> PoseBatch:
        """``supervised``: draw only from the supervised partition (else from all frames);
        ``truncate_fraction``: share of bodies cut by the image border (:func:`weakpose.data.sampling.observe`)."""
        if frames is None:
            if supervised:
                if len(self.sup_frames) == 0:
                    raise InputError("config: key 'supervised_fraction': the supervised partition is empty")
                frames = self.sup_frames[rng.integers(0, len(self.sup_frames), batch_size)]
            else:
                frames = rng.integers(0, len(self.world), batch_size)
        B = len(frames)
        Y = _yaw(rng.uniform(0.0, 2 * np.pi, B))
        X = np.einsum("bij,bkj->bki", Y, self.world[frames])
        cam = rng.integers(0, len(self.K), B)
        K, R, t = self.K[cam], self.R[cam], self.t[cam]
        cam3d, kp, conf = observe(X, K, R, t, noise_fraction, rng, self.size[cam], truncate_fraction)
        g = R @ Y @ self.data.global_rot[frames].astype(np.float64)
        return PoseBatch(kp.astype(np.float32), conf.astype(np.float32), K.astype(np.float32), cam3d.astype(np.float32),
                         self.data.local[frames], g.astype(np.float32), self.betas[frames], frames)


def theta_vectors(batch: PoseBatch, rep: str) -> torch.Tensor:
    """θ̂ [B, D] of a batch in the prior's representation."""
    return matrices_to_vector(torch.from_numpy(np.ascontiguousarray(batch.theta)), rep)
