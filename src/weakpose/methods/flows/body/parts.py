"""Labelled surface points per body part, for the semantic body-part alignment loss L_BA
(Zanfir et al. Eq. 7: "the 3D vertex set of body part k").

weakpose's body model has no mesh. Its surface is the one the renderer draws
(:func:`weakpose.rendering.body.build_primitives`: capsules and ellipsoids built from the 17
joints), so the model's part points and the renderer's part masks describe the same body, as in
the paper, where masks are projections of the model's own mesh. Points are fixed parametric
samples of each primitive (rings on the capsules plus their two end poles, a Fibonacci lattice
on the ellipsoids) and are differentiable functions of the joints.

Part labels are the renderer's (:mod:`weakpose.rendering.labels`) minus one: index ``k`` here
is mask value ``k + 1`` (0 is background).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from weakpose.rendering import labels as render_labels
from weakpose.rendering.body import CAPSULE_IDS, ELLIPSOID_IDS, PRIMITIVE_LABELS, BodyShape, build_primitives

PART_NAMES: tuple[str, ...] = tuple(render_labels.PART_NAMES[1:])
MASK_LABEL_OFFSET = 1  # mask value = part index + 1

#: Point density of the surface that L_BA (Eq. 7) aligns with part masks. Eq. 7 matches every
#: mask pixel with its closest projected vertex, so the points must be about as dense as the
#: pixels, as a mesh's vertices are: the default surface (3 rings × 6 + 2 poles per capsule, 24
#: points per ellipsoid; 372 points, the vertex set of L_V) leaves pixels inside a projected
#: limb up to ~half a ring spacing (~17 px at 5 m) from any point, a measured forward-term floor
#: of 6.4 px at the true pose; this one (1,764 points) brings it to 2.3 px (docs/flows.md).
ALIGNMENT_DENSITY = {"rings": 9, "around": 10, "sphere_points": 128}


def _fibonacci_sphere(n: int) -> Tensor:
    i = torch.arange(n, dtype=torch.float64) + 0.5
    phi = torch.acos(1 - 2 * i / n)
    theta = math.pi * (1 + 5**0.5) * i
    return torch.stack(
        [torch.cos(theta) * torch.sin(phi), torch.cos(phi), torch.sin(theta) * torch.sin(phi)], -1
    ).float()


class PartSurface(torch.nn.Module):
    """Maps joints [B, 17, 3] to labelled surface points [B, N, 3]; ``labels`` [N] (part index)."""

    def __init__(self, rings: int = 3, around: int = 6, sphere_points: int = 24,
                 shape: BodyShape = BodyShape()) -> None:
        super().__init__()
        t = torch.linspace(0.0, 1.0, rings)
        ang = torch.arange(around) * (2 * math.pi / around)
        self.register_buffer("cap_t", t.repeat_interleave(around), persistent=False)
        self.register_buffer("cap_cos", torch.cos(ang).repeat(rings), persistent=False)
        self.register_buffer("cap_sin", torch.sin(ang).repeat(rings), persistent=False)
        self.register_buffer("sphere", _fibonacci_sphere(sphere_points), persistent=False)
        self.register_buffer("shape", shape.as_tensor(), persistent=False)
        per_cap = rings * around + 2
        labels = [int(PRIMITIVE_LABELS[i]) - MASK_LABEL_OFFSET for i in CAPSULE_IDS for _ in range(per_cap)]
        labels += [int(PRIMITIVE_LABELS[i]) - MASK_LABEL_OFFSET for i in ELLIPSOID_IDS for _ in range(sphere_points)]
        self.register_buffer("labels", torch.tensor(labels), persistent=False)

    def forward(self, joints: Tensor) -> Tensor:
        B = joints.shape[0]
        prims = build_primitives(joints, self.shape.expand(B, -1))
        dtype = joints.dtype
        a, b, r = prims.cap_a.to(dtype), prims.cap_b.to(dtype), prims.cap_r.to(dtype)  # [B, C, 3], [B, C]
        axis = b - a
        d = axis / axis.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        hint = torch.tensor([0.0, 0.0, 1.0], dtype=dtype).expand_as(d)
        alt = torch.tensor([1.0, 0.0, 0.0], dtype=dtype).expand_as(d)
        hint = torch.where(((hint * d).sum(-1, keepdim=True)).abs() > 0.9, alt, hint)
        u = hint - (hint * d).sum(-1, keepdim=True) * d
        u = u / u.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        w = torch.linalg.cross(d, u)
        t = self.cap_t.to(dtype)[None, None, :, None]
        ring = (a[:, :, None] + t * axis[:, :, None]
                + r[:, :, None, None] * (self.cap_cos.to(dtype)[None, None, :, None] * u[:, :, None]
                                         + self.cap_sin.to(dtype)[None, None, :, None] * w[:, :, None]))
        poles = torch.stack([a - r[..., None] * d, b + r[..., None] * d], 2)
        caps = torch.cat([ring, poles], 2).reshape(B, -1, 3)
        c, axes, s = prims.ell_c.to(dtype), prims.ell_axes.to(dtype), prims.ell_s.to(dtype)
        local = self.sphere.to(dtype)[None, None] * s[:, :, None, :]  # [B, E, P, 3]
        ell = c[:, :, None] + torch.einsum("beij,bepj->bepi", axes, local)
        return torch.cat([caps, ell.reshape(B, -1, 3)], 1)
