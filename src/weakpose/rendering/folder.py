"""Rendered images written as a folder of photos: ``DIR/image_NNNNN.png`` and ``DIR/2d.npz``, a
2D keypoint file with ``image_path`` that the image methods train from (``images=DIR/2d.npz``,
:mod:`weakpose.data.image_files`) and ``weakpose predict --input`` reads. Written by
``weakpose render --folder DIR``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from weakpose.data.contracts import save_npz_atomic
from weakpose.rendering.sheet import save_png
from weakpose.vision.crops import person_box


def write_image_folder(folder: str | Path, rgb: np.ndarray, keypoints_2d: np.ndarray, intrinsics: np.ndarray,
                       positions_3d: np.ndarray | None = None, subject: np.ndarray | None = None) -> int:
    """Write images [N, H, W, 3] (float in [0, 1] or uint8) as ``folder/image_NNNNN.png`` and
    ``folder/2d.npz`` (``image_path`` relative to the folder, ``keypoints_2d`` px,
    ``confidence`` = 1 inside the image, ``intrinsics``, ``box`` of the joints, optional
    ``positions_3d`` camera frame mm and ``subject``): a folder the image methods can train from.
    Returns the number of images."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8:
        rgb = (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
    H, W = rgb.shape[1:3]
    kp = np.asarray(keypoints_2d, np.float64)
    inside = (kp[..., 0] >= -0.5) & (kp[..., 0] <= W - 0.5) & (kp[..., 1] >= -0.5) & (kp[..., 1] <= H - 0.5)
    names = [f"image_{i:05d}.png" for i in range(len(rgb))]
    for name, im in zip(names, rgb):
        save_png(im, folder / name)
    arrays = {"image_path": np.array(names), "keypoints_2d": kp.astype(np.float32),
              "confidence": inside.astype(np.float32), "intrinsics": np.asarray(intrinsics, np.float32),
              "box": person_box(kp, inside).astype(np.float32),
              "image_size": np.tile(np.array([W, H], np.int32), (len(rgb), 1))}
    if positions_3d is not None:
        arrays["positions_3d"] = np.asarray(positions_3d, np.float32)
    if subject is not None:
        arrays["subject"] = np.asarray(subject)
    save_npz_atomic(folder / "2d.npz", **arrays)
    return len(rgb)
