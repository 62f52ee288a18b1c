"""Time in video prediction: following one person through the detections, and smoothing.

**Tracking.** MediaPipe Pose in video mode already follows the person it found (it crops each
frame around the previous pose). What it does not do is notice when it has jumped to somebody
else; :func:`follow_one_person` links the per-frame detections by pose similarity (the
OKS-like tracker of ``weakpose tracklets``, :func:`weakpose.vision.tracking.track`)
and keeps the longest track; detections of other tracks are dropped (their frames are then
reported like frames without a person).

**Smoothing.** The one-euro filter (Casiez, Roussel & Vogel, CHI 2012): a first-order low-pass
filter whose cut-off rises with the speed, ``f_c = min_cutoff + beta · |ẋ|``, so a still pose
loses its jitter and a fast motion keeps its timing. It runs per coordinate on the 2D
keypoints (before lifting) and on the lifted root-relative 3D joints, with coordinates
measured in body sizes (2D: the track's median bounding-box side; 3D: :data:`BODY_SIZE_MM`) so
one ``(min_cutoff, beta)`` pair suits both. A joint that is missing in a frame, or a gap in
the track longer than ``max_gap_s``, restarts the filter.

**The video's 2D.** :func:`video_keypoints` detects, follows and smooths: the one 2D input of
``weakpose predict --video`` (lifted by :func:`weakpose.inference.prediction.prediction_arrays`)
and ``weakpose fit --video``. This module sits below ``methods`` (the fitting command imports it)
and imports only ``inference.detect`` and ``vision.tracking`` below it.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from weakpose.errors import InputError
from weakpose.vision.tracking import track

#: Body size (mm) that scales 3D coordinates for the one-euro filter.
BODY_SIZE_MM = 1700.0


@dataclass(frozen=True)
class OneEuro:
    """Parameters of the one-euro filter (coordinates in body sizes, time in seconds)."""

    min_cutoff: float = 1.0   # Hz: cut-off at rest (lower = smoother, more lag when slow)
    beta: float = 1.0         # Hz per (body size / s): how fast the cut-off rises with speed
    d_cutoff: float = 1.0     # Hz: cut-off of the speed estimate
    max_gap_s: float = 0.5    # a longer gap in time restarts the filter


def _alpha(cutoff: np.ndarray, dt: np.ndarray) -> np.ndarray:
    tau = 1.0 / (2 * np.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


def one_euro(x: np.ndarray, t: np.ndarray, valid: np.ndarray | None = None, params: OneEuro = OneEuro()) -> np.ndarray:
    """Filter a sequence ``x`` [T, ...] sampled at times ``t`` [T] (s, increasing).

    ``valid`` [T, ...] (broadcast over trailing axes) marks usable values; an invalid value is
    passed through unchanged and the filter restarts after it."""
    x = np.asarray(x, np.float64)
    t = np.asarray(t, np.float64)
    if len(x) != len(t):
        raise ValueError(f"{len(x)} values but {len(t)} times")
    valid = np.ones(x.shape, bool) if valid is None else np.broadcast_to(
        np.asarray(valid, bool).reshape(np.shape(valid) + (1,) * (x.ndim - np.ndim(valid))), x.shape)
    out = x.copy()
    prev = np.zeros(x.shape[1:])
    dprev = np.zeros(x.shape[1:])
    live = np.zeros(x.shape[1:], bool)       # the filter has a previous value for this coordinate
    for i in range(len(x)):
        dt = t[i] - t[i - 1] if i else np.inf
        if not dt > 0:
            raise ValueError("times must increase")
        ok = valid[i]
        cont = ok & live & (dt <= params.max_gap_s)
        if cont.any():
            dx = (x[i] - prev) / dt
            dhat = dprev + _alpha(np.full_like(dx, params.d_cutoff), dt) * (dx - dprev)
            a = _alpha(params.min_cutoff + params.beta * np.abs(dhat), dt)
            filt = prev + a * (x[i] - prev)
            out[i] = np.where(cont, filt, x[i])
            dprev = np.where(cont, dhat, 0.0)
        else:
            dprev = np.zeros_like(dprev)
        prev = np.where(ok, out[i], prev)
        live = ok
    return out


def smooth_keypoints_2d(keypoints: np.ndarray, confidence: np.ndarray, t: np.ndarray,
                        params: OneEuro = OneEuro()) -> np.ndarray:
    """One-euro filtered 2D keypoints [T, J, 2] px; joints with confidence 0 are left alone."""
    seen = confidence > 0
    spans = [np.ptp(k[s], 0).max() for k, s in zip(keypoints, seen) if s.sum() >= 2]
    size = float(np.median(spans)) if spans else 1.0
    return (one_euro(keypoints / max(size, 1.0), t, seen, params) * max(size, 1.0)).astype(np.float32)


def smooth_positions_3d(positions: np.ndarray, t: np.ndarray, params: OneEuro = OneEuro()) -> np.ndarray:
    """One-euro filtered root-relative 3D joints [T, J, 3] mm."""
    return (one_euro(positions / BODY_SIZE_MM, t, None, params) * BODY_SIZE_MM).astype(np.float32)


def follow_one_person(frame_index: np.ndarray, keypoints: np.ndarray, confidence: np.ndarray,
                      fps: float = 30.0, max_gap_s: float = 1.0) -> np.ndarray:
    """Rows of the detections [D] that belong to the longest track (bool mask); a track may
    skip up to ``max_gap_s`` seconds (the person hidden, or somebody else detected meanwhile)."""
    ids = track(frame_index, keypoints, confidence, max_gap=max(1, round(max_gap_s * fps)))
    if len(ids) == 0:
        return np.zeros(0, bool)
    best = np.bincount(ids).argmax()
    return ids == best


def temporal_options(args: argparse.Namespace):
    """The one-euro parameters of ``--smooth``/``--smooth-min-cutoff``/``--smooth-beta`` (None: off)."""
    if getattr(args, "smooth", "one-euro") == "none":
        return None
    default = OneEuro()
    params = OneEuro(min_cutoff=getattr(args, "smooth_min_cutoff", None) or default.min_cutoff,
                     beta=default.beta if getattr(args, "smooth_beta", None) is None else args.smooth_beta)
    if params.min_cutoff <= 0 or params.beta < 0:
        raise InputError("command line: --smooth-min-cutoff must be > 0 and --smooth-beta >= 0")
    return params


def track_and_smooth_2d(arrays: dict[str, np.ndarray], smoothing) -> dict[str, np.ndarray]:
    """Video detections -> the one tracked person (:func:`~weakpose.inference.temporal.follow_one_person`),
    with ``timestamp`` (s) per frame and, unless ``smoothing`` is None, one-euro filtered
    ``keypoints_2d`` (the detector's are kept as ``keypoints_2d_detected``)."""
    n = len(arrays["keypoints_2d"])
    fps = float(arrays.get("fps", 30.0))
    keep = follow_one_person(arrays["frame_index"], arrays["keypoints_2d"], arrays["confidence"], fps)
    out = {k: (v[keep] if np.ndim(v) and len(v) == n and k != "frames_without_person" else v)
           for k, v in arrays.items()}
    if (~keep).any():
        dropped = arrays["frame_index"][~keep]
        print(f"tracking: {len(dropped)} frame(s) showed somebody else than the tracked person; "
              "no pose written for them")
        out["frames_without_person"] = np.sort(np.concatenate([arrays["frames_without_person"], dropped]))
        out["frames_other_person"] = dropped.astype(np.int64)
    out["timestamp"] = (out["frame_index"] / fps).astype(np.float64)
    if smoothing is not None:
        out["keypoints_2d_detected"] = out["keypoints_2d"]
        out["keypoints_2d"] = smooth_keypoints_2d(out["keypoints_2d"], out["confidence"], out["timestamp"], smoothing)
        out["smoothing"] = np.array(f"one-euro min_cutoff={smoothing.min_cutoff} Hz beta={smoothing.beta} "
                                    "(2D before lifting, 3D after)")
    return out


def video_keypoints(video: str | Path, min_confidence: float = 0.5, max_frames: int | None = None, smoothing=None,
                    keep_frames: bool = False):
    """Detect (with a progress bar), follow one person and optionally smooth: the 2D keypoint
    arrays of a video (see :func:`track_and_smooth_2d`); with ``keep_frames`` also the frames."""
    from weakpose.inference.detect import detect_video, report_missing

    found = detect_video(video, min_confidence, max_frames, keep_frames=keep_frames, progress=True)
    run, frames = found if keep_frames else (found, [])
    report_missing(run)
    arrays = track_and_smooth_2d(run.keypoint_arrays(), smoothing)
    return (arrays, run, frames) if keep_frames else arrays


__all__ = ["OneEuro", "one_euro", "smooth_keypoints_2d", "smooth_positions_3d", "follow_one_person", "BODY_SIZE_MM",
           "temporal_options", "track_and_smooth_2d", "video_keypoints"]
