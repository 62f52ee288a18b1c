"""Render people from Human3.6M-17 poses: RGB, body-part mask, depth, 2D joints, visibility.

:func:`render_batch` is the core: camera-frame joints and a pixel-from-camera matrix per
image. :mod:`weakpose.rendering.scenes` builds multi-view and "wild" scenes from world poses
and cameras on top of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from weakpose.rendering import body as body_mod
from weakpose.rendering.appearance import Appearance, sample_appearance, sample_backgrounds
from weakpose.rendering.body import BodyShape, build_primitives, shapes_tensor
from weakpose.rendering.raycast import NEAR_MM, raycast

# Depth tolerance (mm, for BodyShape girth 1) of each joint's visibility test: roughly the
# distance from the joint to the body surface in front of it (the pelvis: half the hip width
# plus the thigh, so that it stays visible from the side).
_JOINT_DEPTH_TOLERANCE = torch.tensor(
    [180, 95, 65, 60, 95, 65, 60, 120, 115, 65, 100, 70, 55, 50, 70, 55, 50], dtype=torch.float32
)
VISIBILITY_MARGIN_MM = 15.0


@dataclass
class RenderOutput:
    """A batch of rendered images (torch tensors, CPU).

    * ``rgb`` [B, H, W, 3] float32 in [0, 1]
    * ``parts`` [B, H, W] uint8 body-part labels (:mod:`weakpose.rendering.labels`; 0 = background)
    * ``depth`` [B, H, W] float32 camera-frame z in mm of the visible surface, 0 for background
    * ``joints_2d`` [B, 17, 2] float32 pixel coordinates of the joints (``A @ x / z``)
    * ``visible`` [B, 17] bool: joint in front of the camera, inside the image and not hidden
      behind another part of the body (see :func:`joint_visibility`)
    * ``joints_cam`` [B, 17, 3] the camera-frame joints (mm) and ``intrinsics`` [B, 3, 3] the
      pixel-from-camera matrices used.
    """

    rgb: torch.Tensor
    parts: torch.Tensor
    depth: torch.Tensor
    joints_2d: torch.Tensor
    visible: torch.Tensor
    joints_cam: torch.Tensor
    intrinsics: torch.Tensor

    def numpy(self) -> dict[str, np.ndarray]:
        """The arrays as numpy: ``rgb`` becomes uint8 [B, H, W, 3]."""
        out = {
            k: getattr(self, k).numpy() for k in ("parts", "depth", "joints_2d", "visible", "joints_cam", "intrinsics")
        }
        out["rgb"] = (self.rgb * 255.0 + 0.5).clamp(0, 255).to(torch.uint8).numpy()
        return out

    def reshape(self, *lead: int) -> RenderOutput:
        """Split the batch axis, e.g. ``reshape(N, C)`` for multi-view batches."""
        return RenderOutput(
            *(getattr(self, k).reshape(*lead, *getattr(self, k).shape[1:]) for k in self.__dataclass_fields__)
        )


def project_joints(joints_cam: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """Pixel coordinates [B, J, 2] of camera-frame points under pixel-from-camera ``A``."""
    xy = joints_cam[..., :2] / joints_cam[..., 2:3].clamp_min(1e-6)
    return xy @ A[:, :2, :2].transpose(1, 2) + A[:, None, :2, 2]


def joint_visibility(
    joints_cam: torch.Tensor,
    joints_2d: torch.Tensor,
    depth_inf: torch.Tensor,
    primitive: torch.Tensor,
    shape: torch.Tensor,
) -> torch.Tensor:
    """A joint is visible when it is in front of the camera, its (rounded) pixel is inside
    the image, and that pixel shows background, one of the joint's own primitives
    (:data:`weakpose.rendering.body.JOINT_OWNERS`, e.g. the ankle's foot and shin) or a
    surface no nearer than the joint's depth minus its tolerance (the body's thickness around
    it, scaled by girth, + 15 mm)."""
    B, H, W = depth_inf.shape
    uv = joints_2d.round().long()
    z = joints_cam[..., 2]
    inside = (uv[..., 0] >= 0) & (uv[..., 0] < W) & (uv[..., 1] >= 0) & (uv[..., 1] < H) & (z > NEAR_MM)
    ui, vi = uv[..., 0].clamp(0, W - 1), uv[..., 1].clamp(0, H - 1)
    bidx = torch.arange(B)[:, None]
    surface = depth_inf[bidx, vi, ui]
    prim = primitive[bidx, vi, ui]
    own = (prim < 0) | body_mod.JOINT_OWNERS[torch.arange(17)[None].expand_as(prim), prim.clamp_min(0)]
    tol = _JOINT_DEPTH_TOLERANCE[None] * shape[:, :1] + VISIBILITY_MARGIN_MM
    return inside & (own | (surface >= z - tol))


def _as_batch_matrix(A, batch: int) -> torch.Tensor:
    A = torch.as_tensor(np.asarray(A, dtype=np.float32) if not isinstance(A, torch.Tensor) else A, dtype=torch.float32)
    if A.ndim == 2:
        A = A.expand(batch, 3, 3)
    if A.shape != (batch, 3, 3):
        raise ValueError(f"intrinsics must be [3, 3] or [{batch}, 3, 3], got {tuple(A.shape)}")
    return A


def render_batch(
    joints_cam,
    intrinsics,
    width: int,
    height: int,
    shapes: BodyShape | list[BodyShape] | torch.Tensor = BodyShape(),
    appearance: Appearance | None = None,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    backgrounds: torch.Tensor | None = None,
    tile: int | None = None,
) -> RenderOutput:
    """Render B people given in the camera frame.

    Args:
        joints_cam: [B, 17, 3] Human3.6M-17 joints, camera frame (OpenCV axes), mm.
        intrinsics: [3, 3] or [B, 3, 3] pixel-from-camera matrices (K, or a crop affine
            composed with K); last row must be [0, 0, 1].
        width, height: image size in pixels (any resolution).
        shapes: body proportions (one for all, or one per image, or a [B, 6] tensor).
        appearance: colours/light per image with the light in the camera frame; sampled
            when None (light from above the camera's "up" = -y).
        seed / generator: source of every random choice (a fresh generator seeded with
            ``seed`` when no generator is given; seed None means 0).
        backgrounds: optional [B, H, W, 3] backgrounds in [0, 1]; sampled when None.
        tile: ray-casting tile size in pixels (default 8 up to 256 px, else 16).
    """
    j = torch.as_tensor(
        np.asarray(joints_cam, dtype=np.float32) if not isinstance(joints_cam, torch.Tensor) else joints_cam,
        dtype=torch.float32,
    )
    if j.ndim != 3 or j.shape[1:] != (17, 3):
        raise ValueError(f"joints_cam must be [B, 17, 3], got {tuple(j.shape)}")
    if not torch.isfinite(j).all():
        raise ValueError("joints_cam contains non-finite values")
    width, height = int(width), int(height)
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    B = j.shape[0]
    A = _as_batch_matrix(intrinsics, B)
    shape = shapes_tensor(shapes, B)
    g = generator if generator is not None else torch.Generator().manual_seed(0 if seed is None else int(seed))
    if appearance is None:
        appearance = sample_appearance(B, g, up=(0.0, -1.0, 0.0))
    if len(appearance) != B:
        raise ValueError(f"appearance has {len(appearance)} entries for {B} images")
    if tile is None:
        tile = 8 if max(width, height) <= 256 else 16

    prims = build_primitives(j, shape)
    hits = raycast(prims, A, height, width, tile=tile)
    fg = hits.primitive >= 0
    parts = torch.zeros(B * height * width, dtype=torch.uint8)
    parts[hits.index] = body_mod.PRIMITIVE_LABELS.to(torch.uint8)[hits.hit_primitive]
    parts = parts.view(B, height, width)

    if backgrounds is None:
        backgrounds = sample_backgrounds(B, height, width, g)
    elif backgrounds.shape != (B, height, width, 3):
        raise ValueError(f"backgrounds must be [{B}, {height}, {width}, 3], got {tuple(backgrounds.shape)}")
    rgb = backgrounds.clone()
    if hits.index.numel():
        idx, p, n = hits.index, hits.hit_primitive, hits.hit_normal
        bi = idx // (height * width)
        slot = body_mod.PRIMITIVE_SLOTS[p]
        # hair on the top and back of the head
        head_axes = prims.ell_axes[:, body_mod.ELLIPSOID_IDS.index(body_mod.HEAD_PRIMITIVE)]
        on_head = (p == body_mod.HEAD_PRIMITIVE).nonzero(as_tuple=True)[0]
        if on_head.numel():
            hb, hn = bi[on_head], n[on_head]
            hair = ((hn * head_axes[hb, :, 1]).sum(-1) > 0.35) | ((hn * head_axes[hb, :, 2]).sum(-1) < -0.3)
            slot[on_head[hair]] = body_mod.HAIR
        albedo = appearance.palette[bi, slot]
        lam = (n * appearance.light[bi]).sum(-1).clamp_min(0)
        amb = appearance.ambient[bi]
        # a soft rim term darkens silhouettes so that limbs in front of the torso stay distinct
        rim = (-n[:, 2]).clamp(0, 1)
        shade = (amb + (1 - amb) * lam) * (0.75 + 0.25 * rim)
        rgb.view(-1, 3)[idx] = (albedo * shade[:, None]).clamp(0, 1)
    depth = torch.where(fg, hits.depth, torch.zeros_like(hits.depth))
    joints_2d = project_joints(j, A)
    visible = joint_visibility(j, joints_2d, hits.depth, hits.primitive, shape)
    return RenderOutput(
        rgb=rgb, parts=parts, depth=depth, joints_2d=joints_2d, visible=visible, joints_cam=j, intrinsics=A
    )
