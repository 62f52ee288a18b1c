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


#: Truncation by the image border, as in photos and video (issue 18): the share of each way a
#: body is cut when a sample is truncated.
TRUNCATION_MODES = {"lower_body": 0.4, "one_side": 0.3, "below_elbows": 0.3}
#: A truncated sample keeps at least this many joints (else it is left whole).
MIN_SEEN_JOINTS = 5
_ELBOWS, _HIPS, _THORAX = (12, 15), (1, 4), 8
_TORSO = (0, 1, 4, 7, 8, 9, 10, 11, 14)   # pelvis, hips, spine, thorax, neck, head, shoulders
_UPPER = (8, 9, 10)                         # thorax, neck, head: always in the picture


def border_truncation(keypoints_2d: np.ndarray, confidence: np.ndarray, image_size: np.ndarray,
                      rng: np.random.Generator, fraction: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut bodies with the image border, like real footage, on a random ``fraction`` of samples.

    ``keypoints_2d`` [B, 17, 2] px in images of ``image_size`` [B, 2] (width, height) or [2].
    A truncated sample's picture is cut by a new border inside the camera image:

    * ``lower_body``: the bottom border at a uniform height between the thorax and the lower
      hip (everything from the hips down is missing, like a portrait);
    * ``one_side``: a vertical border at a uniform position between the torso (hips, shoulders,
      head) and the outermost joint on a random side: the limb ends reaching out on that side
      are missing;
    * ``below_elbows``: the bottom border up to 10 % of the body's 2D size below the lower elbow
      (hanging forearms, hands and everything below are missing).

    A bottom border stays below the thorax, neck and head. Joints outside the (new or
    original) image become missing as in :func:`detector_noise`:
    coordinates (0, 0), confidence 0. A sample that would keep fewer than
    :data:`MIN_SEEN_JOINTS` joints stays whole. Returns ``(keypoints, confidence, truncated)``
    with ``truncated`` [B, 17] marking the joints this cut (or the original border) removed.
    """
    kp = np.array(keypoints_2d, np.float64)
    conf = np.array(confidence, np.float32)
    B = len(kp)
    size = np.broadcast_to(np.asarray(image_size, np.float64), (B, 2))
    lo = np.full((B, 2), -0.5)                                 # pixel centres: pixel i covers [i - ½, i + ½)
    hi = size - 0.5
    cut = rng.random(B) < fraction
    modes = rng.choice(len(TRUNCATION_MODES), B, p=list(TRUNCATION_MODES.values()))
    u = rng.random(B)
    side = rng.random(B) < 0.5
    span = bbox_span(kp)
    y, x = kp[..., 1], kp[..., 0]
    lower = cut & (modes == 0)
    hips = y[:, list(_HIPS)].max(1)
    hi[lower, 1] = np.minimum(hi[lower, 1], y[lower, _THORAX] + u[lower] * (hips[lower] - y[lower, _THORAX]))
    sides = cut & (modes == 1)
    right = sides & side                                        # cut at the image's right border
    left = sides & ~side
    torso = x[:, list(_TORSO)]
    hi[right, 0] = np.minimum(hi[right, 0], torso[right].max(1) + u[right] * (x[right].max(1) - torso[right].max(1)))
    lo[left, 0] = np.maximum(lo[left, 0], torso[left].min(1) - u[left] * (torso[left].min(1) - x[left].min(1)))
    elbows = cut & (modes == 2)
    hi[elbows, 1] = np.minimum(hi[elbows, 1], y[elbows][:, list(_ELBOWS)].max(1) + 0.1 * u[elbows] * span[elbows])
    # a bottom border never cuts the thorax, neck or head (bent-over poses, raised arms)
    bottom = lower | elbows
    hi[bottom, 1] = np.maximum(hi[bottom, 1],
                               np.minimum(y[bottom][:, list(_UPPER)].max(1) + 1.0, size[bottom, 1] - 0.5))
    outside = ((kp < lo[:, None]) | (kp > hi[:, None])).any(-1)
    keep_whole = (~outside & (conf > 0)).sum(-1) < MIN_SEEN_JOINTS
    outside[keep_whole] = False
    kp[outside] = 0.0
    conf[outside] = 0.0
    return kp.astype(np.float32), conf, outside
