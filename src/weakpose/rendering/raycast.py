"""Tiled, z-buffered ray casting of capsules and ellipsoids (vectorised torch, CPU).

Every pixel's ray starts at the camera centre with direction ``d = A^-1 [u, v, 1]`` where
``A`` is the 3x3 pixel-from-camera matrix (the intrinsics ``K``, possibly composed with a
crop/rotation affine; its last row must be ``[0, 0, 1]``). Because ``d_z = 1``, the ray
parameter of a hit *is* the camera-frame depth ``z`` in mm. Pixel centres are at integer
coordinates (pixel ``(i, j)`` covers ``u in [i - 0.5, i + 0.5)``), as in OpenCV.

Work is limited to (tile, primitive) pairs whose projected 3D bounding box overlaps the
tile, so a 128x128 person image costs ~25k ray/primitive tests instead of ~300k.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from weakpose.rendering.body import Primitives

NEAR_MM = 10.0


@dataclass
class RayHits:
    """Nearest hit per pixel: ``depth`` [B, H, W] (inf where nothing is hit) and
    ``primitive`` [B, H, W] int64 (-1 for background); for the foreground pixels only, in
    the same order: their flat index ``index`` into B*H*W, ``hit_primitive`` and the unit
    outward surface ``hit_normal`` [F, 3] (camera frame)."""

    depth: torch.Tensor
    primitive: torch.Tensor
    index: torch.Tensor
    hit_primitive: torch.Tensor
    hit_normal: torch.Tensor


def _screen_boxes(prims: Primitives, A: torch.Tensor, H: int, W: int) -> torch.Tensor:
    """Conservative pixel boxes [B, P, 4] (u0, v0, u1, v1) of every primitive: the
    projection of the corners of its camera-frame axis-aligned bounding box."""
    lo_c = torch.minimum(prims.cap_a, prims.cap_b) - prims.cap_r[..., None]
    hi_c = torch.maximum(prims.cap_a, prims.cap_b) + prims.cap_r[..., None]
    half_e = ((prims.ell_axes * prims.ell_s[..., None, :]) ** 2).sum(-1).sqrt()
    lo = torch.cat([lo_c, prims.ell_c - half_e], dim=1)
    hi = torch.cat([hi_c, prims.ell_c + half_e], dim=1)
    # 8 corners [B, P, 8, 3]
    sel = torch.tensor([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)], dtype=torch.bool)
    corners = torch.where(sel, hi[:, :, None, :], lo[:, :, None, :])
    z = corners[..., 2]
    xy = corners[..., :2] / z.clamp_min(NEAR_MM)[..., None]
    uv = torch.einsum("bij,bpkj->bpki", A[:, :2, :2], xy) + A[:, None, None, :2, 2]
    box = torch.cat([uv.amin(2), uv.amax(2)], dim=-1)
    behind = (z < NEAR_MM).any(-1)  # crosses the near plane: treat as covering everything
    full = torch.tensor([-1.0, -1.0, W + 1.0, H + 1.0])
    return torch.where(behind[..., None], full, box)


def _capsule_t(rdx, rdy, a, b, r):
    """Nearest ray parameter of capsules (ray origin 0, direction (rdx, rdy, 1)).

    ``a``, ``b`` [N, 3] endpoints and ``r`` [N] radius of the pair's primitive; rays [N, T].
    Union of the two end spheres and the finite cylinder; inf where missed.
    """
    ax, ay, az = (a[:, i : i + 1] for i in range(3))
    bx, by, bz = (b[:, i : i + 1] for i in range(3))
    r2 = (r * r)[:, None]
    rdrd = rdx * rdx + rdy * rdy + 1.0
    rda = rdx * ax + rdy * ay + az
    rdb = rdx * bx + rdy * by + bz
    aa = (a * a).sum(-1, keepdim=True)
    bb = (b * b).sum(-1, keepdim=True)
    inf = torch.tensor(float("inf"))

    def sphere(rdc, cc):
        disc = rdc * rdc - rdrd * (cc - r2)
        t = (rdc - disc.clamp_min(0).sqrt()) / rdrd
        return torch.where(disc >= 0, t, inf)

    t = torch.minimum(sphere(rda, aa), sphere(rdb, bb))
    ba = b - a
    baba = (ba * ba).sum(-1, keepdim=True)
    baoa = -(ba * a).sum(-1, keepdim=True)
    bard = rdb - rda
    qa = baba * rdrd - bard * bard
    qb = -baba * rda - baoa * bard
    qc = baba * aa - baoa * baoa - r2 * baba
    h = qb * qb - qa * qc
    tc = (-qb - h.clamp_min(0).sqrt()) / qa.clamp_min(1e-9)
    y = baoa + tc * bard
    ok = (h >= 0) & (qa > 1e-9) & (y > 0) & (y < baba)
    return torch.minimum(t, torch.where(ok, tc, inf))


def _ellipsoid_t(rdx, rdy, c, m):
    """Nearest ray parameter of ellipsoids with centre ``c`` [N, 3] and unit-sphere map
    ``m`` [N, 3, 3] (``|m (p - c)| = 1`` on the surface); inf where missed."""
    o = -(m @ c[:, :, None])[..., 0]  # ray origin in the unit frame [N, 3]
    dx = m[:, 0, 0:1] * rdx + m[:, 0, 1:2] * rdy + m[:, 0, 2:3]
    dy = m[:, 1, 0:1] * rdx + m[:, 1, 1:2] * rdy + m[:, 1, 2:3]
    dz = m[:, 2, 0:1] * rdx + m[:, 2, 1:2] * rdy + m[:, 2, 2:3]
    qa = dx * dx + dy * dy + dz * dz
    qb = o[:, 0:1] * dx + o[:, 1:2] * dy + o[:, 2:3] * dz
    qc = (o * o).sum(-1, keepdim=True) - 1.0
    h = qb * qb - qa * qc
    t = (-qb - h.clamp_min(0).sqrt()) / qa
    return torch.where(h >= 0, t, torch.tensor(float("inf")))


def raycast(prims: Primitives, A: torch.Tensor, height: int, width: int, tile: int = 8) -> RayHits:
    """Render the nearest primitive per pixel for a batch of bodies.

    ``A`` [B, 3, 3] pixel-from-camera matrices (last row [0, 0, 1]).
    """
    if A.ndim != 3 or A.shape[1:] != (3, 3):
        raise ValueError(f"A must be [B, 3, 3], got {tuple(A.shape)}")
    if not torch.allclose(A[:, 2], torch.tensor([0.0, 0.0, 1.0]).expand_as(A[:, 2]), atol=1e-6):
        raise ValueError("intrinsics must have last row [0, 0, 1]")
    B, H, W, T = A.shape[0], int(height), int(width), int(tile)
    A = A.to(torch.float32)
    Ainv = torch.linalg.inv(A)
    n_cap = prims.cap_a.shape[1]
    n_ty, n_tx = -(-H // T), -(-W // T)

    box = _screen_boxes(prims, A, H, W)
    i0 = box[..., 0].floor().clamp(0, W - 1)
    i1 = box[..., 2].ceil().clamp(0, W - 1)
    j0 = box[..., 1].floor().clamp(0, H - 1)
    j1 = box[..., 3].ceil().clamp(0, H - 1)
    inside = (box[..., 2] >= -0.5) & (box[..., 0] <= W - 0.5) & (box[..., 3] >= -0.5) & (box[..., 1] <= H - 0.5)
    tx = torch.arange(n_tx, dtype=torch.float32) * T
    ty = torch.arange(n_ty, dtype=torch.float32) * T
    ox = (tx[None, None] + T - 1 >= i0[..., None]) & (tx[None, None] <= i1[..., None])
    oy = (ty[None, None] + T - 1 >= j0[..., None]) & (ty[None, None] <= j1[..., None])
    overlap = oy[..., :, None] & ox[..., None, :] & inside[..., None, None]
    # primitive-major order: capsule pairs form a prefix, ellipsoid pairs the rest
    pp, pb, pty, ptx = overlap.transpose(0, 1).nonzero(as_tuple=True)

    d = torch.arange(T * T)
    du, dv = (d % T).to(torch.float32)[None], (d // T).to(torch.float32)[None]
    u = (ptx * T).to(torch.float32)[:, None] + du  # [N, T*T]
    v = (pty * T).to(torch.float32)[:, None] + dv
    ai = Ainv[pb]
    rdx = ai[:, 0, 0:1] * u + ai[:, 0, 1:2] * v + ai[:, 0, 2:3]
    rdy = ai[:, 1, 0:1] * u + ai[:, 1, 1:2] * v + ai[:, 1, 2:3]

    nc = int((pp < n_cap).sum())
    parts = []
    if nc:
        cb, cp = pb[:nc], pp[:nc]
        parts.append(_capsule_t(rdx[:nc], rdy[:nc], prims.cap_a[cb, cp], prims.cap_b[cb, cp], prims.cap_r[cb, cp]))
    ell_m = prims.ell_m
    if nc < pp.numel():
        eb, ep = pb[nc:], pp[nc:] - n_cap
        parts.append(_ellipsoid_t(rdx[nc:], rdy[nc:], prims.ell_c[eb, ep], ell_m[eb, ep]))
    t = torch.cat(parts) if parts else torch.empty_like(u)

    hit = (t > NEAR_MM) & (t < 1e30)
    if W % T or H % T:
        hit &= (u < W) & (v < H)
    hit_flat = hit.view(-1).nonzero(as_tuple=True)[0]
    k_pair = hit_flat // (T * T)
    th = t.view(-1)[hit_flat]
    flat = (pb[k_pair] * H + v.view(-1)[hit_flat].long()) * W + u.view(-1)[hit_flat].long()
    depth = torch.full((B * H * W,), float("inf"))
    depth.scatter_reduce_(0, flat, th, reduce="amin")
    win = (th == depth[flat]).nonzero(as_tuple=True)[0]
    k_pair, hit_flat, flat, th = k_pair[win], hit_flat[win], flat[win], th[win]
    # ties (two primitives at exactly the same depth) keep one hit per pixel
    prim_id = torch.full((B * H * W,), -1, dtype=torch.long)
    wp = pp[k_pair]
    prim_id[flat] = wp
    keep = (prim_id[flat] == wp).nonzero(as_tuple=True)[0]
    if keep.numel() != flat.numel():
        k_pair, hit_flat, flat, th, wp = k_pair[keep], hit_flat[keep], flat[keep], th[keep], wp[keep]
        flat, first = _unique_first(flat)
        k_pair, hit_flat, th, wp = k_pair[first], hit_flat[first], th[first], wp[first]
    # surface normals of the winning hits
    wb = pb[k_pair]
    p = torch.stack([rdx.view(-1)[hit_flat] * th, rdy.view(-1)[hit_flat] * th, th], dim=-1)
    normal_w = torch.empty_like(p)
    wc = wp < n_cap
    ci = wc.nonzero(as_tuple=True)[0]
    ei = (~wc).nonzero(as_tuple=True)[0]
    if ci.numel():
        a = prims.cap_a[wb[ci], wp[ci]]
        ba = prims.cap_b[wb[ci], wp[ci]] - a
        s = (((p[ci] - a) * ba).sum(-1) / (ba * ba).sum(-1).clamp_min(1e-9)).clamp(0, 1)
        normal_w[ci] = p[ci] - (a + s[:, None] * ba)
    if ei.numel():
        m = ell_m[wb[ei], wp[ei] - n_cap]
        q = m @ (p[ei] - prims.ell_c[wb[ei], wp[ei] - n_cap])[:, :, None]
        normal_w[ei] = (m.transpose(-1, -2) @ q)[..., 0]
    normal_w = normal_w / normal_w.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    return RayHits(
        depth=depth.view(B, H, W), primitive=prim_id.view(B, H, W), index=flat, hit_primitive=wp, hit_normal=normal_w
    )


def _unique_first(flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unique values of ``flat`` and the position of one occurrence of each."""
    uniq, inv = torch.unique(flat, return_inverse=True)
    first = torch.full((uniq.numel(),), flat.numel(), dtype=torch.long)
    first.scatter_reduce_(0, inv, torch.arange(flat.numel()), reduce="amin")
    return uniq, first
