"""Detector-like 2D noise of the CMU-WS benchmark (DESIGN.md §5, ``det2d``)."""

from __future__ import annotations

import numpy as np

from weakpose.skeleton import LIMB_END_JOINTS

#: Parameters of the benchmark's detector noise model (protocol v1).
DETECTOR_NOISE = dict(
    sigma=0.012, outlier_prob=0.02, outlier_range=(0.05, 0.2), confidence_scale=0.1,
    confidence_sigma=0.05, confidence_range=(0.3, 1.0), missing_prob=0.03,
    missing_joints=LIMB_END_JOINTS,
)


def bbox_span(keypoints_2d: np.ndarray) -> np.ndarray:
    """Larger side of the 2D bounding box of each pose: ``[..., J, 2]`` -> ``[...]``."""
    return (keypoints_2d.max(-2) - keypoints_2d.min(-2)).max(-1)


def detector_noise(keypoints_2d: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Apply the benchmark's detector noise to exact 2D joints ``[..., J, 2]`` (pixels).

    Per sample, with ``span`` the larger side of the ground-truth 2D box:
    1. Gaussian noise σ = 0.012·span per axis; 2. outliers (p = 0.02) moved by U(0.05, 0.2)·span
    in a uniform direction; 3. ``confidence = clip(1 − e/(0.1·span) + N(0, 0.05), 0.3, 1)``;
    4. limb-end joints missing with p = 0.03: coordinates (0, 0), confidence 0.
    Returns ``(noisy [..., J, 2], confidence [..., J])`` as float32.
    """
    p = DETECTOR_NOISE
    kp = np.asarray(keypoints_2d, np.float64)
    span = bbox_span(kp)[..., None]                                       # [..., 1]
    noisy = kp + rng.normal(0.0, 1.0, kp.shape) * (p["sigma"] * span)[..., None]
    outlier = rng.random(kp.shape[:-1]) < p["outlier_prob"]
    dist = rng.uniform(*p["outlier_range"], kp.shape[:-1]) * span
    angle = rng.uniform(0.0, 2 * np.pi, kp.shape[:-1])
    shift = np.stack([np.cos(angle), np.sin(angle)], -1) * (dist * outlier)[..., None]
    noisy = noisy + shift
    err = np.linalg.norm(noisy - kp, axis=-1)
    conf = 1.0 - err / (p["confidence_scale"] * span) + rng.normal(0.0, p["confidence_sigma"], err.shape)
    conf = np.clip(conf, *p["confidence_range"])
    missing = np.zeros(kp.shape[:-1], bool)
    limb = list(p["missing_joints"])
    missing[..., limb] = rng.random(missing[..., limb].shape) < p["missing_prob"]
    noisy[missing] = 0.0
    conf[missing] = 0.0
    return noisy.astype(np.float32), conf.astype(np.float32)
