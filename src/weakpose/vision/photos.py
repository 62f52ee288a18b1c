"""Photos on disk and in memory: reading, and person crops cut from photos of any size
(:func:`weakpose.vision.crops.warp_images` per photo). An uncalibrated photo's camera is the
one default camera, :func:`weakpose.camera.image_intrinsics`.

Used by prediction on photos (:mod:`weakpose.inference.prediction`) and by training the image
methods from image files (:mod:`weakpose.data.image_files`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from weakpose.errors import InputError
from weakpose.vision.crops import apply_affine, warp_images


def read_image(path: str | Path) -> np.ndarray:
    """An image file as RGB uint8 [H, W, 3] (Pillow)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError):
        raise InputError(f"{path}: not an image file") from None


def as_rgb_image(image, name: str = "image") -> np.ndarray:
    """A path (read with :func:`read_image`) or an array [H, W, 3] (uint8, or float in [0, 1])
    as RGB uint8 [H, W, 3]."""
    if isinstance(image, (str, Path)):
        return read_image(image)
    a = np.asarray(image)
    if a.ndim != 3 or a.shape[2] != 3:
        raise InputError(f"{name}: shape {a.shape}, expected an RGB image [H, W, 3]")
    if a.dtype == np.uint8:
        return a
    if a.dtype.kind != "f" or not np.isfinite(a).all() or a.min() < 0 or a.max() > 1:
        raise InputError(f"{name}: dtype {a.dtype}: expected uint8, or float values in [0, 1]")
    return (a * 255 + 0.5).astype(np.uint8)


def _window(img: np.ndarray, T: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The integer-aligned part of ``img`` that crop ``T`` samples (outside the photo: 0) and
    the crop's affine from that window's pixels."""
    corners = np.array([[0, 0], [size - 1, 0], [0, size - 1], [size - 1, size - 1]], np.float64)
    src = apply_affine(corners, np.linalg.inv(T))
    x0, y0 = np.floor(src.min(0)).astype(int) - 1
    x1, y1 = np.ceil(src.max(0)).astype(int) + 2
    H, W = img.shape[:2]
    win = np.zeros((y1 - y0, x1 - x0, 3), np.float32)
    ys, xs = slice(max(y0, 0), min(y1, H)), slice(max(x0, 0), min(x1, W))
    if ys.start < ys.stop and xs.start < xs.stop:
        win[ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0] = img[ys, xs]
    shift = np.eye(3)
    shift[:2, 2] = (x0, y0)
    return win, T @ shift


def cut_crops(images: Sequence[np.ndarray], T: np.ndarray, size: int) -> torch.Tensor:
    """``size`` x ``size`` crops [N, S, S, 3] uint8 of RGB uint8 photos (any sizes) through
    the affines ``T`` [N, 3, 3] (full-image px -> crop px); outside the photo is black.

    Only the integer-aligned window of the photo that a crop samples is resampled, so a crop
    does not depend on where the person is in the photo (the same person shifted by whole
    pixels gives the identical crop) and large photos cost no more than small ones."""
    T = np.asarray(T, np.float64).reshape(-1, 3, 3)
    if len(images) != len(T):
        raise ValueError(f"{len(images)} images for {len(T)} crops")
    out = torch.empty((len(T), size, size, 3), dtype=torch.uint8)
    for i, (img, t) in enumerate(zip(images, T)):
        win, tw = _window(np.asarray(img), t, size)
        out[i] = warp_images(torch.from_numpy(win)[None], tw[None], size).clamp(0, 255).add(0.5).to(torch.uint8)[0]
    return out
