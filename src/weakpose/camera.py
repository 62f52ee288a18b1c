"""Cameras: perspective (K, R, t) and weak-perspective 2×3 models, rigs and random cameras.

Conventions (DESIGN.md §3): OpenCV camera frame (x right, y down, z forward), extrinsics
``x_cam = R @ x_world + t``, intrinsics ``K`` in pixels, world y-up. Functions accept numpy
arrays or torch tensors and broadcast over leading dimensions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

Array = Any  # numpy.ndarray or torch.Tensor


DEFAULT_FOCAL_FACTOR = 1.15   # focal length / larger image side of an uncalibrated camera (the h36m rig's ratio)
DEFAULT_FOCAL_PX = 1000.0      # focal length when not even the image size is known


def default_intrinsics(keypoints_2d: np.ndarray, confidence: np.ndarray,
                       image_size: np.ndarray | None = None) -> np.ndarray:
    """The one camera assumed for inputs without ``intrinsics`` (photos, video, user files).

    With ``image_size`` [N, 2] or [2] (w, h): focal length :data:`DEFAULT_FOCAL_FACTOR` × the
    larger side and the principal point at the image centre ((w - 1) / 2, (h - 1) / 2). Without
    it: :data:`DEFAULT_FOCAL_PX` and the principal point at the centre of the box of the joints
    with ``confidence > 0``. Returns float32 ``K`` [N, 3, 3] for keypoints [N, J, 2].
    Root-relative poses depend on the principal point only weakly.
    """
    keypoints_2d = np.asarray(keypoints_2d, np.float32)
    N = len(keypoints_2d)
    if image_size is not None:
        return image_intrinsics(np.broadcast_to(np.asarray(image_size, np.float32), (N, 2)))
    K = np.tile(np.eye(3, dtype=np.float32), (N, 1, 1))
    seen = (np.asarray(confidence) > 0)[..., None]
    lo = np.where(seen, keypoints_2d, np.inf).min(1)
    hi = np.where(seen, keypoints_2d, -np.inf).max(1)
    centre = (lo + hi) / 2
    K[:, 0, 0] = K[:, 1, 1] = DEFAULT_FOCAL_PX
    K[:, :2, 2] = np.where(np.isfinite(centre), centre, 0.0)   # no joint seen: the origin
    return K


def image_intrinsics(image_size: np.ndarray) -> np.ndarray:
    """The default camera (:func:`default_intrinsics`) of uncalibrated images of known size, for
    when no keypoints exist yet (photos handed to an image model): ``image_size`` [N, 2] or [2]
    (w, h) -> float32 ``K`` [N, 3, 3] (focal length :data:`DEFAULT_FOCAL_FACTOR` × the larger
    side, principal point at the image centre)."""
    size = np.asarray(image_size, np.float32).reshape(-1, 2)
    K = np.tile(np.eye(3, dtype=np.float32), (len(size), 1, 1))
    K[:, 0, 0] = K[:, 1, 1] = DEFAULT_FOCAL_FACTOR * size.max(-1)
    K[:, :2, 2] = (size - 1) / 2
    return K


def _t(x: Array) -> Array:
    """Swap the last two axes (numpy and torch)."""
    return x.swapaxes(-1, -2)


def project(points_cam: Array, K: Array) -> Array:
    """Perspective projection ``[..., J, 3]`` camera-frame points -> ``[..., J, 2]`` pixels.

    ``K`` is ``[..., 3, 3]`` with the same leading dimensions as ``points_cam`` (minus J).
    """
    h = points_cam @ _t(K)
    return h[..., :2] / h[..., 2:3]


def backproject(uv: Array, depth: Array, K: Array) -> Array:
    """Pixels ``[..., J, 2]`` at depths ``[..., J]`` -> camera-frame points ``[..., J, 3]``.

    ``K`` is any pixel-from-camera matrix ``[..., 3, 3]`` whose last row is ``[0, 0, 1]``
    (intrinsics with skew, and also ``crop @ K`` of a rotated person crop): the ray of a pixel is
    ``K⁻¹ [u, v, 1]``, whose z is 1, scaled by the depth.
    """
    if isinstance(uv, np.ndarray):
        rays = np.concatenate([uv, np.ones_like(uv[..., :1])], -1) @ _t(np.linalg.inv(K))
    else:
        import torch

        rays = torch.cat([uv, torch.ones_like(uv[..., :1])], -1) @ _t(torch.linalg.inv(K))
    return rays * depth[..., None]


def normalized_coordinates(uv: Array, K: Array) -> Array:
    """Pixels -> normalised image coordinates ``K^-1 [u, v, 1]`` (first two components)."""
    ones = uv[..., :1] * 0 + 1
    return backproject(uv, ones[..., 0], K)[..., :2]


def weak_perspective_project(M: Array, X: Array) -> Array:
    """Weak-perspective (scaled orthographic) projection by a 2×3 camera: ``[..., J, 2] = X Mᵀ``."""
    return X @ _t(M)


def _ridge_polar_2x3(M: Array, ridge: float) -> Array:
    """``(M Mᵀ + εI)^{-1/2} M`` for torch ``M`` [..., 2, 3], ε = ``ridge``·tr(M Mᵀ), with the
    closed-form inverse square root of a 2×2 SPD matrix: ``√A = (A + sI)/t``, ``s = √det A``,
    ``t = √(tr A + 2s)``."""
    import torch

    a = M @ M.transpose(-1, -2)
    eps = ridge * a.diagonal(dim1=-2, dim2=-1).sum(-1).clamp_min(1e-12)
    a = a + eps[..., None, None] * torch.eye(2, dtype=M.dtype, device=M.device)
    s = torch.sqrt((a[..., 0, 0] * a[..., 1, 1] - a[..., 0, 1] * a[..., 1, 0]).clamp_min(1e-30))
    t = torch.sqrt(a[..., 0, 0] + a[..., 1, 1] + 2 * s)
    b00, b11, b01 = a[..., 0, 0] + s, a[..., 1, 1] + s, a[..., 0, 1]
    adj = torch.stack([torch.stack([b11, -b01], -1), torch.stack([-b01, b00], -1)], -2)
    return (adj / (s * t)[..., None, None]) @ M


def nearest_orthonormal_2x3(M: Array, ridge: float = 1e-4) -> Array:
    """The 2×3 matrix with orthonormal rows closest to ``M`` in Frobenius norm (via SVD).

    ``M = U S Vᵀ`` gives ``U Vᵀ``. For torch tensors that require gradients the backward pass
    is that of the ridge-regularised polar factor ``(M Mᵀ + εI)^{-1/2} M`` (ε = ``ridge``·tr MMᵀ):
    equal to the SVD's gradient for well-conditioned ``M``, but finite when ``M`` is (nearly)
    rank one, where the thin SVD's backward has 1/σ_min terms and gives NaNs.
    """
    if isinstance(M, np.ndarray):
        U, _, Vh = np.linalg.svd(M, full_matrices=False)
        return U @ Vh
    import torch

    U, _, Vh = torch.linalg.svd(M.detach(), full_matrices=False)
    exact = U @ Vh
    if not M.requires_grad:
        return exact
    smooth = _ridge_polar_2x3(M, ridge)
    return smooth + (exact - smooth).detach()


def rotation_from_2x3(M: Array) -> Array:
    """Rotation [..., 3, 3] whose first two rows are the nearest orthonormal rows r₁, r₂ of a
    (scaled) orthographic camera ``M`` [..., 2, 3] and whose third is r₃ = r₁ × r₂ (right-handed,
    z forward as in the OpenCV camera frame): ``x_cam = R x`` maps the camera's object frame
    into the camera frame, and ``M x`` ∝ the first two coordinates of ``x_cam``."""
    return complete_rotation(nearest_orthonormal_2x3(M))


def complete_rotation(r: Array) -> Array:
    """The rotation [..., 3, 3] with rows r₁, r₂, r₁ × r₂ from two orthonormal rows ``r``
    [..., 2, 3] (no projection: :func:`rotation_from_2x3` projects a general camera first).
    For cameras stored as orthonormal columns ``m`` [..., 3, 2] (Wang et al. Eq. 5,
    ``R = [m₁, m₂, m₁ × m₂]``) use ``complete_rotation(m.mT).mT``."""
    if isinstance(r, np.ndarray):
        return np.concatenate([r, np.cross(r[..., 0, :], r[..., 1, :])[..., None, :]], axis=-2)
    import torch

    r3 = torch.linalg.cross(r[..., 0, :], r[..., 1, :], dim=-1)
    return torch.cat([r, r3[..., None, :]], dim=-2)


@dataclass
class PerspectiveCamera:
    """A pinhole camera: intrinsics ``K`` (3×3, px), rotation ``R`` and translation ``t`` (mm)."""

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    image_size: tuple[int, int]  # (width, height)

    def world_to_camera(self, x_world: np.ndarray) -> np.ndarray:
        return x_world @ self.R.T + self.t

    def camera_to_world(self, x_cam: np.ndarray) -> np.ndarray:
        return (x_cam - self.t) @ self.R

    def project_world(self, x_world: np.ndarray) -> np.ndarray:
        return project(self.world_to_camera(x_world), self.K)

    @property
    def center(self) -> np.ndarray:
        """Camera centre in world coordinates."""
        return -self.R.T @ self.t


SUBJECT_VOLUME_MM = np.array([[x, y, z] for x in (-1000.0, 1000.0) for y in (0.0, 2000.0) for z in (-1000.0, 1000.0)])
"""Corners of the space a benchmark subject occupies (world mm, y up, centred on the origin as
:func:`weakpose.data.benchmark.center_horizontally` places it); every rig camera must see it
in front of itself."""

MIN_DEPTH_MM = 100.0


def load_rig(path: str | Path) -> list[PerspectiveCamera]:
    """Cameras of a rig JSON file (``cameras``: list of ``K``, ``R``, ``t``, ``image_size``).

    Validated: at least one camera; finite values; ``K`` with positive focal lengths; ``R`` a
    rotation; positive image size; the subject volume (:data:`SUBJECT_VOLUME_MM`) at least
    :data:`MIN_DEPTH_MM` in front of every camera. Problems raise a one-line ``InputError``.
    """
    from weakpose.errors import InputError

    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected a rig JSON file")
    try:
        spec = json.loads(path.read_text())
        if not isinstance(spec, dict) or not isinstance(spec.get("cameras"), list) or not spec["cameras"]:
            raise InputError(f"{path}: key 'cameras': expected a non-empty list of cameras")
        cams = []
        for i, c in enumerate(spec["cameras"]):
            K, R, t = (np.asarray(c[k], dtype=np.float64) for k in ("K", "R", "t"))
            if K.shape != (3, 3) or R.shape != (3, 3) or t.shape != (3,):
                raise InputError(f"{path}: camera {i}: K, R must be 3x3 and t length 3")
            if not (np.isfinite(K).all() and np.isfinite(R).all() and np.isfinite(t).all()):
                raise InputError(f"{path}: camera {i}: K, R, t contain NaN or inf")
            if K[0, 0] <= 0 or K[1, 1] <= 0:
                raise InputError(f"{path}: camera {i}: key 'K': focal lengths must be positive, "
                                 f"got {K[0, 0]:g}, {K[1, 1]:g}")
            if abs(np.linalg.det(R) - 1.0) > 1e-4 or not np.allclose(R @ R.T, np.eye(3), atol=1e-4):
                raise InputError(f"{path}: camera {i}: R is not a rotation (det {np.linalg.det(R):.4f})")
            size = tuple(int(v) for v in c["image_size"])
            if len(size) != 2 or min(size) <= 0:
                raise InputError(f"{path}: camera {i}: key 'image_size': expected [width, height] > 0, "
                                 f"got {list(size)}")
            cam = PerspectiveCamera(K, R, t, size)
            depth = cam.world_to_camera(SUBJECT_VOLUME_MM)[:, 2].min()
            if depth < MIN_DEPTH_MM:
                raise InputError(f"{path}: camera {i}: the subject (within 1 m of the world origin, 0-2 m high) "
                                 "is not in "
                                 f"front of the camera (depth down to {depth:.0f} mm)")
            cams.append(cam)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except InputError:
        raise
    except (KeyError, TypeError, ValueError, OSError, AttributeError, OverflowError) as e:
        raise InputError(f"{path}: not a rig file ({type(e).__name__}: {e})") from None
    return cams


def look_at(eye: np.ndarray, target: np.ndarray, roll_deg: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Extrinsics of an OpenCV camera at ``eye`` looking at ``target`` in a y-up world.

    The camera's x axis is horizontal before the roll (rotation about its optical axis).
    Batched over leading dimensions of ``eye``/``target`` (and ``roll_deg``).
    """
    eye, target = np.asarray(eye, float), np.asarray(target, float)
    z = target - eye
    z = z / np.linalg.norm(z, axis=-1, keepdims=True)
    up = np.broadcast_to(np.array([0.0, 1.0, 0.0]), z.shape)
    x = np.cross(z, up)
    x = x / np.linalg.norm(x, axis=-1, keepdims=True)
    y = np.cross(z, x)
    R = np.stack([x, y, z], -2)
    roll = np.deg2rad(np.asarray(roll_deg, float))
    c, s = np.cos(roll), np.sin(roll)
    zero, one = np.zeros_like(c), np.ones_like(c)
    Rz = np.stack([np.stack([c, -s, zero], -1), np.stack([s, c, zero], -1),
                   np.stack([zero, zero, one], -1)], -2)
    R = Rz @ R
    t = -(R @ eye[..., None])[..., 0]
    return R, t


#: Distribution of the benchmark's "wild" cameras (DESIGN.md §5).
WILD_CAMERA = dict(
    distance_mm=(3000.0, 7000.0), azimuth_deg=(0.0, 360.0), elevation_deg=(-5.0, 35.0),
    roll_deg=(-5.0, 5.0), focal_px=(800.0, 1600.0), principal_point=(500.0, 500.0),
    principal_point_sigma=10.0, target_sigma_mm=100.0, image_size=(1000, 1000),
)


def sample_wild_cameras(rng: np.random.Generator, targets: np.ndarray) -> dict[str, np.ndarray]:
    """One random "wild" camera per target point (world mm, usually the pelvis), DESIGN.md §5.

    Aimed at the target plus N(0, 100 mm) jitter per axis, from distance U(3, 7) m, azimuth
    U(0°, 360°), elevation U(−5°, 35°), roll U(−5°, 5°); focal length U(800, 1600) px (square
    pixels), principal point (500, 500) + N(0, 10) px, 1000×1000 image.
    Returns ``K`` [N,3,3], ``R`` [N,3,3], ``t`` [N,3], ``image_size`` [N,2].
    """
    w = WILD_CAMERA
    targets = np.asarray(targets, float).reshape(-1, 3)
    n = len(targets)
    aim = targets + rng.normal(0.0, w["target_sigma_mm"], (n, 3))
    dist = rng.uniform(*w["distance_mm"], n)
    az = np.deg2rad(rng.uniform(*w["azimuth_deg"], n))
    el = np.deg2rad(rng.uniform(*w["elevation_deg"], n))
    roll = rng.uniform(*w["roll_deg"], n)
    f = rng.uniform(*w["focal_px"], n)
    pp = np.asarray(w["principal_point"]) + rng.normal(0.0, w["principal_point_sigma"], (n, 2))
    direction = np.stack([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)], -1)
    eye = aim + dist[:, None] * direction
    R, t = look_at(eye, aim, roll)
    K = np.zeros((n, 3, 3))
    K[:, 0, 0] = K[:, 1, 1] = f
    K[:, 0, 2], K[:, 1, 2] = pp[:, 0], pp[:, 1]
    K[:, 2, 2] = 1.0
    size = np.broadcast_to(np.asarray(w["image_size"], np.int32), (n, 2)).copy()
    return {"K": K, "R": R, "t": t, "image_size": size}
