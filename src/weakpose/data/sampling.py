"""On-the-fly training samples from the training subjects' motion: random frames seen by the
benchmark rig or by random wild cameras, optionally with the benchmark's detector noise.

Methods draw their batches here with their own generator, so runs are reproducible and
resumable. Only the supervised reference may read ``positions_3d`` of a batch (DESIGN.md §5).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from weakpose.camera import load_rig, project, sample_wild_cameras
from weakpose.data.mocap import TRAIN_SUBJECTS, center_horizontally, load_cmu
from weakpose.data.noise import border_truncation, detector_noise
from weakpose.data.paths import h36m_rig
from weakpose.errors import InputError
from weakpose.skeleton import H36M17


def observe(X: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray, noise_fraction: float,
            rng: np.random.Generator, image_size: np.ndarray | None = None,
            truncate_fraction: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World poses [B, 17, 3] mm seen by cameras ``K, R, t`` [B, ...]: camera-frame joints, their
    exact projections (px) and confidences 1, with simulated detector noise
    (:func:`weakpose.data.noise.detector_noise`) on a random ``noise_fraction`` of the samples
    and bodies cut by the border of images of ``image_size`` [B, 2]
    (:func:`weakpose.data.noise.border_truncation`) on a random ``truncate_fraction``."""
    cam3d = np.einsum("bij,bkj->bki", R, X) + t[:, None, :]
    kp = project(cam3d, K)
    conf = np.ones(kp.shape[:-1])
    noisy = rng.random(len(X)) < noise_fraction
    if noisy.any():
        kp[noisy], conf[noisy] = detector_noise(kp[noisy], rng)
    if truncate_fraction > 0:
        if image_size is None:
            raise ValueError("truncation needs the cameras' image_size")
        kp, conf, _ = border_truncation(kp, conf, image_size, rng, truncate_fraction)
    return cam3d, kp, conf


@dataclass
class Batch:
    keypoints_2d: np.ndarray   # [B, J, 2] px (float32)
    confidence: np.ndarray     # [B, J]
    intrinsics: np.ndarray     # [B, 3, 3]
    positions_3d: np.ndarray   # [B, J, 3] camera frame mm (supervised reference only)
    frame: np.ndarray          # [B] index into the sampler's frames


class ViewSampler:
    """Random (frame, camera) samples of the given subjects."""

    def __init__(self, root: Path, subjects=TRAIN_SUBJECTS):
        mocap = load_cmu(root, subjects)
        self.world = center_horizontally(mocap.positions).astype(np.float64)
        self.mocap = mocap
        cams = load_rig(h36m_rig(root))
        self.rig_K = np.stack([c.K for c in cams])
        self.rig_R = np.stack([c.R for c in cams])
        self.rig_t = np.stack([c.t for c in cams])
        self.rig_size = np.stack([np.asarray(c.image_size, np.float64) for c in cams])

    def __len__(self) -> int:
        return len(self.world)

    def sample(self, rng: np.random.Generator, batch_size: int, wild_fraction: float = 0.0,
               noise_fraction: float = 0.0, augment: bool = False, truncate_fraction: float = 0.0) -> Batch:
        """``augment``: mirror half of the poses (x → −x with left/right swapped) and turn every
        pose about the vertical through its pelvis by a uniform random angle, so the fixed rig
        sees each motion from all directions. ``truncate_fraction``: share of samples whose body
        is cut by the image border of their camera (:func:`~weakpose.data.noise.border_truncation`)."""
        frame = rng.integers(0, len(self.world), batch_size)
        X = self.world[frame]
        if augment:
            mirror = rng.random(batch_size) < 0.5
            X[mirror] = H36M17.flip(X[mirror])
            yaw = rng.uniform(0.0, 2 * np.pi, batch_size)
            c, s = np.cos(yaw), np.sin(yaw)
            x, z = X[..., 0].copy(), X[..., 2].copy()
            X[..., 0] = c[:, None] * x + s[:, None] * z
            X[..., 2] = -s[:, None] * x + c[:, None] * z
        cam = rng.integers(0, len(self.rig_K), batch_size)
        K, R, t = self.rig_K[cam].copy(), self.rig_R[cam].copy(), self.rig_t[cam].copy()
        size = self.rig_size[cam].copy()
        wild = rng.random(batch_size) < wild_fraction
        if wild.any():
            w = sample_wild_cameras(rng, X[wild, 0])
            K[wild], R[wild], t[wild], size[wild] = w["K"], w["R"], w["t"], w["image_size"]
        cam3d, kp, conf = observe(X, K, R, t, noise_fraction, rng, size, truncate_fraction)
        return Batch(kp.astype(np.float32), conf.astype(np.float32), K.astype(np.float32),
                     cam3d.astype(np.float32), frame)


class PairedFileSampler:
    """Random samples of a ``--train-paired`` file (2D with paired ``positions_3d``), drawn as
    they are: the file already fixes cameras, noise and poses, so :class:`ViewSampler`'s
    ``wild_fraction``, ``noise_fraction`` and ``augment`` do not apply. Files without intrinsics
    are lifted from pixel coordinates (:func:`weakpose.codec.encode_2d` without K)."""

    def __init__(self, paired) -> None:
        self.inputs, self.positions_3d = paired.inputs, paired.positions_3d
        if self.inputs.intrinsics is None:
            raise InputError(f"{paired.path}: key 'intrinsics': missing (the supervised lifter reads "
                                "normalised camera coordinates)")

    def __len__(self) -> int:
        return len(self.positions_3d)

    def sample(self, rng: np.random.Generator, batch_size: int, *unused, **unused_kw) -> Batch:
        rows = np.sort(rng.integers(0, len(self), batch_size))
        inp = self.inputs
        return Batch(np.asarray(inp.keypoints_2d[rows], np.float32), np.asarray(inp.confidence[rows], np.float32),
                     np.asarray(inp.intrinsics[rows], np.float32), np.asarray(self.positions_3d[rows], np.float32),
                     rows)
