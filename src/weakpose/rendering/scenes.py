"""Scenes from world poses and cameras: multi-view instants and single "wild" views.

Each person instant gets one appearance (clothes, skin, light fixed in the world) shared by
all its views, a body shape from its subject, and a fresh background per image. Images
are either full camera images (at the camera's or any other resolution) or person crops
(Iqbal et al. supp. §1, :mod:`weakpose.vision.crops`) rendered directly through
``crop @ K`` -- there is no resampling, so 2D labels in crops are exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from weakpose.camera import PerspectiveCamera, load_rig, sample_wild_cameras
from weakpose.data import mocap
from weakpose.data.paths import h36m_rig
from weakpose.rendering.appearance import sample_appearance, sample_backgrounds
from weakpose.rendering.body import BodyShape
from weakpose.rendering.renderer import RenderOutput, render_batch
from weakpose.vision.crops import crop_transform, person_box, sample_augmentation


@dataclass
class Scene:
    """Rendered images with their cameras; leading axes [N] (wild) or [N, C] (multi-view).

    ``render`` holds images whose ``intrinsics`` are the pixel-from-camera matrices used
    (``crop @ K``); ``K``, ``R``, ``t`` are the full cameras, ``crop`` the full-image -> image
    affine (identity for full images, a resolution change when rendered at another size),
    ``joints_world`` [N, 17, 3] mm, ``subject`` [N].
    """

    render: RenderOutput
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    crop: np.ndarray
    joints_world: np.ndarray
    subject: np.ndarray


def camera_arrays(cameras: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(K [C,3,3], R [C,3,3], t [C,3], image_size [C,2])`` from a list of
    :class:`~weakpose.camera.PerspectiveCamera` or a dict with those keys."""
    if isinstance(cameras, dict):
        return (np.asarray(cameras["K"], float), np.asarray(cameras["R"], float),
                np.asarray(cameras["t"], float), np.asarray(cameras["image_size"], int))
    cams: Sequence[PerspectiveCamera] = list(cameras)
    return (np.stack([c.K for c in cams]).astype(float), np.stack([c.R for c in cams]).astype(float),
            np.stack([c.t for c in cams]).astype(float), np.array([c.image_size for c in cams], int))


def resize_transform(image_size: np.ndarray, width: int, height: int) -> np.ndarray:
    """Affine [..., 3, 3] from an image of ``image_size`` (w, h) to ``width`` x ``height``
    pixels (pixel centres at integers: ``u' = (u + 0.5) sx - 0.5``)."""
    image_size = np.asarray(image_size, float)
    sx, sy = width / image_size[..., 0], height / image_size[..., 1]
    T = np.zeros(image_size.shape[:-1] + (3, 3))
    T[..., 0, 0], T[..., 1, 1], T[..., 2, 2] = sx, sy, 1.0
    T[..., 0, 2], T[..., 1, 2] = 0.5 * sx - 0.5, 0.5 * sy - 0.5
    return T


def _shapes(subjects: np.ndarray, shape_seed: int) -> torch.Tensor:
    cache = {int(s): BodyShape.for_subject(int(s), shape_seed).as_tensor() for s in np.unique(subjects)}
    return torch.stack([cache[int(s)] for s in subjects])


def render_scene(
    joints_world: np.ndarray,
    K: np.ndarray,
    R: np.ndarray,
    t: np.ndarray,
    image_size: np.ndarray,
    subject: np.ndarray | None = None,
    seed: int = 0,
    crop_size: int | None = None,
    width: int | None = None,
    height: int | None = None,
    augment: bool = False,
    coverage: float = 0.75,
    shape_seed: int = 0,
) -> Scene:
    """Render N instants seen by C cameras each: ``joints_world`` [N, 17, 3], cameras
    [N, C, ...] (or [C, ...], shared by all instants).

    With ``crop_size``: square person crops (Iqbal supp. §1), randomly scaled (+-20 %) and
    rotated (+-30 degrees) when ``augment``. Otherwise full images, resized to
    ``width`` x ``height`` when given (else at the cameras' own size; cameras of different
    sizes share the largest canvas). Deterministic for a given ``seed``.
    """
    X = np.asarray(joints_world, dtype=np.float64)
    if X.ndim != 3 or X.shape[1:] != (17, 3):
        raise ValueError(f"joints_world must be [N, 17, 3], got {X.shape}")
    N = len(X)
    K, R, t, image_size = (np.asarray(a) for a in (K, R, t, image_size))
    if K.ndim == 3:
        K, R, t, image_size = (np.broadcast_to(a, (N,) + a.shape) for a in (K, R, t, image_size))
    C = K.shape[1]
    subject = np.zeros(N, int) if subject is None else np.asarray(subject)
    rng = np.random.default_rng([int(seed), 1])
    g = torch.Generator().manual_seed(int(seed))

    Xc = np.einsum("ncij,nkj->ncki", R, X) + t[:, :, None, :]
    full_2d = np.einsum("ncij,nckj->ncki", K, Xc / Xc[..., 2:3])[..., :2]
    if crop_size is not None:
        box = person_box(full_2d)
        scale, rot = sample_augmentation(rng, N * C) if augment else (np.ones(N * C), np.zeros(N * C))
        T = crop_transform(box, crop_size, coverage, scale.reshape(N, C), rot.reshape(N, C))
        out_w = out_h = int(crop_size)
    else:
        if width is None or height is None:
            # native resolution; cameras of different sizes share the largest canvas (a
            # smaller camera's image is the top-left part of it, K unchanged)
            width, height = (int(v) for v in image_size.reshape(-1, 2).max(0))
            T = np.broadcast_to(np.eye(3), K.shape).copy()
        else:
            T = resize_transform(image_size, width, height)
        out_w, out_h = int(width), int(height)
    A = T @ K

    app = sample_appearance(N, g)  # light in the world frame (y up)
    idx = torch.arange(N).repeat_interleave(C)
    app = app.index(idx).rotate_light(torch.tensor(R.reshape(N * C, 3, 3), dtype=torch.float32))
    shapes = _shapes(subject, shape_seed).repeat_interleave(C, dim=0)
    bg = sample_backgrounds(N * C, out_h, out_w, g)
    out = render_batch(
        torch.as_tensor(Xc.reshape(N * C, 17, 3), dtype=torch.float32),
        torch.as_tensor(A.reshape(N * C, 3, 3), dtype=torch.float32),
        out_w, out_h, shapes=shapes, appearance=app, generator=g, backgrounds=bg,
    ).reshape(N, C)
    return Scene(render=out, K=K, R=R, t=t, crop=T, joints_world=X, subject=subject)


def render_views(joints_world: np.ndarray, cameras: Any, **kwargs) -> Scene:
    """One instant per row of ``joints_world`` [N, 17, 3] seen by every camera of a rig
    (list of PerspectiveCamera or dict of arrays); results have leading axes [N, C]."""
    K, R, t, size = camera_arrays(cameras)
    return render_scene(joints_world, K, R, t, size, **kwargs)


def render_wild(joints_world: np.ndarray, seed: int = 0, num_views: int = 1, **kwargs) -> Scene:
    """Each instant seen by ``num_views`` independent random "wild" cameras (DESIGN.md §5)
    aimed at its pelvis; leading axes [N, num_views]. Uncalibrated multi-view data is this
    with ``num_views > 1`` and the extrinsics ignored."""
    X = np.asarray(joints_world, dtype=np.float64)
    rng = np.random.default_rng([int(seed), 2])
    cams = sample_wild_cameras(rng, np.repeat(X[:, 0], num_views, axis=0))
    N = len(X)
    K, R, t, size = (cams[k].reshape(N, num_views, *cams[k].shape[1:]) for k in ("K", "R", "t", "image_size"))
    return render_scene(X, K, R, t, size, seed=seed, **kwargs)


class RenderedMotion:
    """Random rendered samples of CMU motion for training or testing on the fly.

    ``subjects`` defaults to the CMU-WS training subjects. ``rig`` is ``"h36m"`` (the
    benchmark's 4 calibrated cameras) or ``"wild"`` (random cameras per view). Frames are
    centred horizontally (pelvis above the world origin) as in the benchmark.
    """

    def __init__(
        self,
        data_root: Path,
        subjects: Sequence[int] = mocap.TRAIN_SUBJECTS,
        rig: str = "h36m",
        seed: int = 0,
        stride: int = 1,
    ):
        if rig not in ("h36m", "wild"):
            raise ValueError(f"rig must be 'h36m' or 'wild', got {rig!r}")
        m = mocap.load_cmu(Path(data_root), tuple(subjects))
        self.positions = mocap.center_horizontally(m.positions[::stride])
        self.subject = m.subject[::stride]
        self.action = m.action[::stride]
        self.rig = rig
        self.cameras = load_rig(h36m_rig(Path(data_root))) if rig == "h36m" else None
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.positions)

    def sample(
        self,
        n: int,
        num_views: int = 1,
        crop_size: int | None = 128,
        augment: bool = False,
        frames: np.ndarray | None = None,
    ) -> Scene:
        """``n`` random instants (or the given ``frames``), ``num_views`` views each."""
        frames = self.rng.integers(0, len(self), n) if frames is None else np.asarray(frames)
        seed = int(self.rng.integers(2**31))
        X = self.positions[frames]
        if self.rig == "h36m":
            K, R, t, size = camera_arrays(self.cameras)
            if num_views < len(K):
                pick = np.stack([self.rng.permutation(len(K))[:num_views] for _ in range(len(frames))])
                K, R, t, size = (a[pick] for a in (K, R, t, size))
            return render_scene(
                X, K, R, t, size, subject=self.subject[frames], seed=seed, crop_size=crop_size, augment=augment
            )
        return render_wild(
            X, seed=seed, num_views=num_views, subject=self.subject[frames], crop_size=crop_size, augment=augment
        )
