"""Rendered video clips of CMU motion (for the video-path tests and ``benchmarks/video_throughput.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from weakpose.camera import image_intrinsics, look_at
from weakpose.data.mocap import TEST_SUBJECTS, center_horizontally, load_cmu
from weakpose.data.paths import data_root
from weakpose.rendering.scenes import render_scene


def write_walk_clip(path: str | Path, frames: int = 24, size: int = 320, fps: float = 30.0,
                    intruder: list[int] | None = None, seed: int = 3) -> np.ndarray:
    """Write an MJPG video of the first ``frames`` frames (30 fps mocap) of CMU test subject 2
    walking, seen by a still camera 5 m away (the one default camera of
    :func:`weakpose.camera.image_intrinsics`, what the detector assumes); the frames listed in
    ``intruder`` show another person instead, nearer and off to the side (for tracking tests).
    Returns the true 2D joints [frames, 17, 2] px."""
    mocap = load_cmu(data_root(), TEST_SUBJECTS)
    walk = center_horizontally(mocap.positions[:frames]).astype(np.float64)
    target = walk[:, 0].mean(0) + np.array([0.0, 150.0, 0.0])
    fwd = np.cross(walk[0, 4] - walk[0, 1], walk[0, 8] - walk[0, 0])
    heading = np.arctan2(fwd[0], fwd[2]) + np.deg2rad(30)
    eye = target + np.array([5000 * np.sin(heading), 300.0, 5000 * np.cos(heading)])
    R, t = look_at(eye[None], target[None])
    K = image_intrinsics(np.array([size, size])).astype(np.float64)   # the camera the detector assumes
    scene = render_scene(walk, K, R, t, np.array([[size, size]]), subject=mocap.subject[:frames], seed=seed)
    out = scene.render.numpy()
    rgb, j2d = out["rgb"][:, 0], out["joints_2d"][:, 0]
    if intruder is not None:
        ground = np.array([1.0, 0.0, 1.0])   # the other person stands 1 m to the camera's right and 1.5 m nearer
        other = walk[[0]] - walk[0, 0] * ground + target * ground + (1000.0 * R[0, 0] - 1500.0 * R[0, 2]) * ground
        rgb[intruder] = render_scene(other, K, R, t, np.array([[size, size]]), subject=mocap.subject[[-1]],
                                     seed=11).render.numpy()["rgb"][0, 0]
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (size, size))
    for im in rgb:
        writer.write(cv2.cvtColor((255 * im).round().astype(np.uint8), cv2.COLOR_RGB2BGR))
    writer.release()
    return j2d
