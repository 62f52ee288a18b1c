"""Training images from files on disk: a 2D keypoint file (DESIGN.md §4) with ``image_path``
per sample and optionally ``box`` [N, 4] (x0, y0, x1, y1) px, as ``weakpose data convert-coco``
and ``convert-mpii`` write it.

Image paths that are relative are taken from the 2D file's folder, else from the current
folder. Keypoints in another layout (``joint_names`` of COCO-17, MPII-16, MediaPipe-33) are
converted to Human3.6M-17 by the 2D file validation; a joint with confidence 0 is unlabelled.
Without ``box``, the person box is that of the labelled joints
(:func:`weakpose.vision.crops.person_box`, the rule of the rendered crops); without
``intrinsics``, each photo gets the one default camera of
:func:`weakpose.camera.image_intrinsics`.

:class:`ImageFiles` cuts person crops as the rendered training crops are made (the box's larger
side covers 75 % of the crop; augmentation: scale U(0.8, 1.2), rotation U(-30°, 30°)) with the
crop's pixel-from-camera matrix ``T K``. Decoded photos are kept in a bounded cache, so a large
file streams from disk.

Used by the image methods' ``images=FILE.npz`` config key (multiview ``variant=image``: the
2D-labelled images; distill ``variant=image``: the student's training images).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from weakpose.camera import image_intrinsics
from weakpose.data.contracts import Keypoints2D, load_keypoints_2d
from weakpose.errors import InputError


def image_paths(inputs: Keypoints2D) -> list[Path]:
    """The ``image_path`` of every sample; a relative path is taken from the 2D file's folder,
    else from the current folder."""
    paths = inputs.extras.get("image_path")
    if paths is None or paths.shape != (inputs.num_samples,) or paths.dtype.kind not in "US":
        raise InputError(f"{inputs.path}: key 'image_path': images are needed: the 2D file needs one image path "
                         f"per sample (as `weakpose data convert-coco/convert-mpii` write)")
    base = Path(inputs.path).parent if inputs.path is not None else Path(".")
    out = []
    for p in paths:
        p = Path(str(p))
        out.append(p if p.is_absolute() or not (base / p).exists() else base / p)
    return out


def check_boxes(box, n: int, source) -> np.ndarray:
    """A ``box`` array [n, 4] (x0, y0, x1, y1) px: shape, finite values, positive sides."""
    box = np.asarray(box)
    if box.dtype.kind not in "fiu" or box.shape != (n, 4):
        raise InputError(f"{source}: key 'box': shape {box.shape} ({box.dtype}), expected [{n}, 4] (x0, y0, x1, y1) px")
    box = box.astype(np.float64)
    if not np.isfinite(box).all():
        raise InputError(f"{source}: key 'box': contains NaN or inf")
    bad = (box[:, 2] <= box[:, 0]) | (box[:, 3] <= box[:, 1])
    if bad.any():
        raise InputError(f"{source}: key 'box': sample {int(np.argmax(bad))} has x1 <= x0 or y1 <= y0")
    return box


def person_boxes(inputs: Keypoints2D) -> np.ndarray:
    """[N, 4] (x0, y0, x1, y1) px: the file's ``box``, else the box of the labelled 2D joints."""
    from weakpose.vision.crops import person_box

    box = inputs.extras.get("box")
    if box is None:
        return person_box(inputs.keypoints_2d.astype(np.float64), inputs.confidence)
    return check_boxes(box, inputs.num_samples, inputs.path)


def load_images(paths: Sequence[Path]) -> list[np.ndarray]:
    """Read photos as RGB uint8 (each file once)."""
    from weakpose.vision.photos import read_image

    cache: dict[Path, np.ndarray] = {}
    for p in paths:
        if p not in cache:
            cache[p] = read_image(p)
    return [cache[p] for p in paths]


@dataclass
class ImageCrops:
    """Person crops cut from image files, with their labels in crop pixels."""

    rgb: torch.Tensor                # [B, S, S, 3] float in [0, 1]
    keypoints: torch.Tensor          # [B, 17, 2] crop px
    weight: torch.Tensor             # [B, 17] 1 = labelled and inside the crop
    confidence: torch.Tensor         # [B, 17] the file's confidence
    pixel_from_camera: torch.Tensor  # [B, 3, 3] T K: crop px from the camera frame
    intrinsics: torch.Tensor         # [B, 3, 3] K: the photo's camera
    keypoints_full: torch.Tensor     # [B, 17, 2] the 2D labels in photo px
    crop: np.ndarray                 # [B, 3, 3] T: full-image px -> crop px
    index: np.ndarray                # [B] rows of the file


class ImageFiles:
    """The samples of a 2D file with ``image_path`` (see the module docstring)."""

    def __init__(self, path: str | Path, cache_images: int = 512) -> None:
        self.path = Path(path)
        inputs = load_keypoints_2d(self.path)
        if inputs.multiview:
            raise InputError(f"{self.path}: key 'keypoints_2d': multi-view [N, C, J, 2]; "
                             "image files are single views [N, J, 2]")
        self.paths = image_paths(inputs)
        missing = [p for p in dict.fromkeys(self.paths) if not p.is_file()]
        if missing:
            raise InputError(f"{self.path}: key 'image_path': {len(missing)} image file(s) not found, "
                             f"e.g. {missing[0]}")
        self.boxes = person_boxes(inputs)
        self.keypoints = inputs.keypoints_2d.astype(np.float64)
        self.confidence = inputs.confidence.astype(np.float32)
        self.intrinsics = None if inputs.intrinsics is None else inputs.intrinsics.astype(np.float64)
        self._cache: OrderedDict[Path, np.ndarray] = OrderedDict()
        self._cache_images = max(1, int(cache_images))
        self.reads = 0  # image files decoded so far (a file read again after leaving the cache counts again)

    def __len__(self) -> int:
        return len(self.paths)

    def image(self, i: int) -> np.ndarray:
        """Photo of sample ``i`` (RGB uint8), from the bounded cache."""
        from weakpose.vision.photos import read_image

        p = self.paths[i]
        if p in self._cache:
            self._cache.move_to_end(p)
            return self._cache[p]
        img = read_image(p)
        self.reads += 1
        self._cache[p] = img
        if len(self._cache) > self._cache_images:
            self._cache.popitem(last=False)
        return img

    def camera(self, i: int, image: np.ndarray) -> np.ndarray:
        if self.intrinsics is not None:
            return self.intrinsics[i]
        return image_intrinsics(np.array([[image.shape[1], image.shape[0]]]))[0].astype(np.float64)

    def crops(self, rows: np.ndarray, crop_size: int, rng: np.random.Generator | None = None) -> ImageCrops:
        """Crops of the given rows; random scale/rotation augmentation when ``rng`` is given."""
        from weakpose.vision.crops import (
            apply_affine,
            crop_transform,
            sample_augmentation,
        )
        from weakpose.vision.photos import cut_crops

        rows = np.asarray(rows, int)
        scale, rot = sample_augmentation(rng, len(rows)) if rng is not None else (1.0, 0.0)
        T = crop_transform(self.boxes[rows], crop_size, scale=scale, rotation_deg=rot)
        images = [self.image(int(i)) for i in rows]
        K = np.stack([self.camera(int(i), im) for i, im in zip(rows, images)])
        rgb = cut_crops(images, T, crop_size).to(torch.float32) / 255.0
        kp = apply_affine(self.keypoints[rows], T)
        inside = ((kp >= -0.5) & (kp <= crop_size - 0.5)).all(-1)
        conf = self.confidence[rows]
        return ImageCrops(rgb, torch.from_numpy(kp.astype(np.float32)),
                          torch.from_numpy((inside & (conf > 0)).astype(np.float32)), torch.from_numpy(conf),
                          torch.from_numpy((T @ K).astype(np.float32)), torch.from_numpy(K.astype(np.float32)),
                          torch.from_numpy(self.keypoints[rows].astype(np.float32)), T, rows)

    def sample(self, rng: np.random.Generator, n: int, crop_size: int, augment: bool = True) -> ImageCrops:
        """``n`` random samples (drawn with ``rng``)."""
        return self.crops(rng.integers(0, len(self), n), crop_size, rng if augment else None)
