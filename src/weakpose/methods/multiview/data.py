"""Multi-view training samples for the multi-view method (Iqbal et al. 2020, §3.3 and supp.).

Samples come from :func:`weakpose.data.benchmark.make_split` with ``multiview=True`` on the
CMU-WS training subjects: the h36m rig (4 calibrated views whose extrinsics the weakly supervised
modes do not use) and "wild" multi-view (``num_views`` random wild cameras looking at the same
instant). Each batch mixes both (``wild_fraction``), keeps at most ``views`` views per sample
(a random subset per sample, as the supplementary's "random four when more"), and simulates the
benchmark's detector noise on a ``noise_fraction`` of the views (DESIGN.md §5 allows methods to
simulate it on training subjects); the exact projections stay available as the 2D labels.

3D ground truth (``positions_3d``) is only kept when ``keep_3d`` (the fully supervised mode) and
camera rotations only when ``keep_rotations`` ("WS + R"): the weak modes never hold them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from weakpose.data.benchmark import make_split
from weakpose.data.mocap import TRAIN_SUBJECTS
from weakpose.data.noise import DETECTOR_NOISE, detector_noise


@dataclass
class MultiViewBatch:
    keypoints_2d: np.ndarray        # [B, C, J, 2] px network input (noisy where simulated)
    confidence: np.ndarray          # [B, C, J]
    labels_2d: np.ndarray           # [B, C, J, 2] px exact projections (2D labels)
    intrinsics: np.ndarray          # [B, C, 3, 3]
    rotations: np.ndarray | None    # [B, C, 3, 3] world->camera (WS + R only)
    positions_3d: np.ndarray | None  # [B, C, J, 3] camera frame mm (FS only)
    #: [B, C, J] confidence of the 2D labels, phi of Eq. 8/11; None = exact labels (phi = 1).
    #: Detections (tracklets, --train-multiview) carry the detector's confidence: 0 = missing.
    label_confidence: np.ndarray | None = None


def detections_batch(kp: np.ndarray, conf: np.ndarray, K: np.ndarray) -> MultiViewBatch:
    """Multi-view samples of detected 2D (tracklets, ``--train-multiview`` files): the detections
    are input and 2D label at once, and their confidence is the labels' phi."""
    return MultiViewBatch(kp, conf, kp, K, None, None, label_confidence=conf)


def as_detections(batch: MultiViewBatch) -> MultiViewBatch:
    """The paper's default multi-view data (Iqbal et al. §3.3, ``labels = "detector"``): the
    samples' 2D are the detector-like input itself, so the input is also the 2D label and its
    confidence is phi of Eq. 8/11 (0 = missing: that joint contributes to no loss term). The 3D
    / rotations a supervision mode kept stay."""
    return MultiViewBatch(batch.keypoints_2d, batch.confidence, batch.keypoints_2d, batch.intrinsics,
                          batch.rotations, batch.positions_3d, label_confidence=batch.confidence)


def mask_detected_joints(batch: MultiViewBatch, rng: np.random.Generator,
                         prob: float = DETECTOR_NOISE["missing_prob"]) -> MultiViewBatch:
    """Hide detected limb-end joints from the network's input with probability ``prob`` each
    (as the detector drops them: coordinates (0, 0), confidence 0), keeping them in the 2D labels.

    With detections as labels a joint the detector missed has no 2D target, so without this the
    network's 2D estimate never learns to place a missing joint (measured: 103 px on the det2d
    test file's missing joints, against 39 px when trained on exact labels); a hidden detected
    joint gives it the detection as target (L_2D), and its depth still enters L_MC / L_B from
    the label."""
    limb = list(DETECTOR_NOISE["missing_joints"])
    hide = np.zeros(batch.confidence.shape, bool)
    hide[..., limb] = rng.random(hide[..., limb].shape) < prob
    hide &= batch.confidence > 0
    kp, conf = batch.keypoints_2d.copy(), batch.confidence.copy()
    kp[hide], conf[hide] = 0.0, 0.0
    return MultiViewBatch(kp, conf, batch.labels_2d, batch.intrinsics, batch.rotations, batch.positions_3d,
                          label_confidence=batch.label_confidence)


def concatenate_batches(a: MultiViewBatch | None, b: MultiViewBatch) -> MultiViewBatch:
    """Samples of two batches in one (label confidence 1 where a batch has exact labels)."""
    if a is None:
        return b
    phi = lambda x: np.ones(x.confidence.shape, np.float32) if x.label_confidence is None else x.label_confidence  # noqa: E731
    cat = lambda u, v: None if u is None or v is None else np.concatenate([u, v.astype(u.dtype)])  # noqa: E731
    return MultiViewBatch(cat(a.keypoints_2d, b.keypoints_2d), cat(a.confidence, b.confidence),
                          cat(a.labels_2d, b.labels_2d), cat(a.intrinsics, b.intrinsics), None, None,
                          label_confidence=cat(phi(a), phi(b)))


class MultiViewSampler:
    """Random multi-view samples of the training subjects."""

    def __init__(self, root: Path, subjects=TRAIN_SUBJECTS, stride: int = 1, wild_views: int = 4,
                 seed: int = 0, keep_3d: bool = False, keep_rotations: bool = False):
        self.sets = []
        for rig in ("h36m", "wild"):
            s = make_split(root, tuple(subjects), rig=rig, noise="gt", seed=seed, multiview=True,
                           stride=stride, num_views=wild_views)
            entry = {k: s[k] for k in ("keypoints_2d", "intrinsics")}
            entry["rotations"] = s["rotations"] if keep_rotations else None
            entry["positions_3d"] = s["positions_3d"] if keep_3d else None
            self.sets.append(entry)
            del s  # positions_3d / extrinsics of the weak modes are dropped here
        self.keep_3d, self.keep_rotations = keep_3d, keep_rotations

    def __len__(self) -> int:
        return len(self.sets[0]["keypoints_2d"])

    def sample(self, rng: np.random.Generator, batch_size: int, views: int = 4,
               wild_fraction: float = 0.5, noise_fraction: float = 0.5) -> MultiViewBatch:
        parts = []
        n_wild = int(rng.binomial(batch_size, wild_fraction))
        for entry, n in zip(self.sets, (batch_size - n_wild, n_wild)):
            if n == 0:
                continue
            F, C = entry["keypoints_2d"].shape[:2]
            if views > C:
                raise ValueError(f"views={views} but the multi-view data has only {C} views")
            frame = rng.integers(0, F, n)
            pick = np.argsort(rng.random((n, C)), axis=1)[:, :views]       # random views per sample
            parts.append({k: None if v is None else v[frame[:, None], pick] for k, v in entry.items()})
        cat = lambda k: None if parts[0][k] is None else np.concatenate([p[k] for p in parts])  # noqa: E731
        labels = cat("keypoints_2d").astype(np.float32)
        kp = labels.copy()
        conf = np.ones(kp.shape[:-1], np.float32)
        noisy = rng.random(kp.shape[:2]) < noise_fraction
        if noisy.any():
            kp[noisy], conf[noisy] = detector_noise(labels[noisy], rng)
        return MultiViewBatch(kp, conf, labels, cat("intrinsics").astype(np.float32),
                              cat("rotations"), cat("positions_3d"))
