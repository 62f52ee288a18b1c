"""Following people through video detections by pose similarity: the OKS-like pose
similarity and the greedy frame-to-frame tracker of the pose-based tracking of Xiao et al.
(without optical flow). Shared by ``weakpose tracklets`` (Iqbal et al. 2020 §4.1,
:mod:`weakpose.methods.multiview.tracklets`) and the one-person video path of ``weakpose
predict --video`` / ``weakpose fit --video`` (:mod:`weakpose.inference.temporal`).
"""

from __future__ import annotations

import numpy as np


def pose_similarity(a: np.ndarray, ca: np.ndarray, b: np.ndarray, cb: np.ndarray, kappa: float = 0.1) -> float:
    """OKS-like similarity in [0, 1] of two 2D poses [J, 2] over joints seen in both:
    mean of exp(-d^2 / (2 (kappa s)^2)) with s the larger side of the union bounding box."""
    both = (ca > 0) & (cb > 0)
    if not both.any():
        return 0.0
    pts = np.concatenate([a[both], b[both]])
    s = max(float((pts.max(0) - pts.min(0)).max()), 1.0)
    d2 = ((a[both] - b[both]) ** 2).sum(-1)
    return float(np.exp(-d2 / (2 * (kappa * s) ** 2)).mean())


def track(frame_index: np.ndarray, keypoints: np.ndarray, confidence: np.ndarray,
          min_similarity: float = 0.3, max_gap: int = 2) -> np.ndarray:
    """Tracklet id per detection. Detections are rows (``frame_index`` [D], ``keypoints``
    [D, J, 2], ``confidence`` [D, J]); several rows may share a frame (several people).

    Frames are visited in order; each detection is matched greedily (highest similarity first)
    to the last pose of an active tracklet last seen at most ``max_gap`` frames earlier, or
    starts a new tracklet."""
    frame_index = np.asarray(frame_index)
    ids = -np.ones(len(frame_index), np.int64)
    last: dict[int, int] = {}  # tracklet id -> row of its latest detection
    next_id = 0
    for f in np.unique(frame_index):
        rows = np.flatnonzero(frame_index == f)
        active = [t for t, r in last.items() if 0 < f - frame_index[r] <= max_gap]
        pairs = sorted(((pose_similarity(keypoints[r], confidence[r], keypoints[last[t]], confidence[last[t]]), r, t)
                        for r in rows for t in active), reverse=True)
        used_r, used_t = set(), set()
        for sim, r, t in pairs:
            if sim < min_similarity or r in used_r or t in used_t:
                continue
            ids[r] = t
            used_r.add(r)
            used_t.add(t)
        for r in rows:
            if ids[r] < 0:
                ids[r] = next_id
                next_id += 1
        for r in rows:
            last[int(ids[r])] = int(r)
    return ids


__all__ = ["pose_similarity", "track"]
