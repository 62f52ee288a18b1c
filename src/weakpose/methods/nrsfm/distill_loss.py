"""The knowledge-distillation loss of Wang, Kong & Lucey (ICCV 2019, §4), batched.

Given the teacher's shape dictionary ``D`` [P, 3, K] (``s = D φ``), a per-sample camera
rotation ``R`` (Eq. 5), the teacher's code ``φ_nrsfm`` and the 2D pose ``w``:

* Eq. 6–7: the rotated dictionary ``B = [d¹ R; …; dᴾ R]`` split into ``B_xy`` (the image
  coordinates of every atom) and ``B_z`` (their depths);
* Eq. 12–13: the projection of ``φ_nrsfm`` onto the codes whose depth equals the student's
  hypothesis ``z′``: ``φ̃ = φ_nrsfm + B_z†(z′ − B_z φ_nrsfm)`` with the right inverse
  ``B_z† = B_zᵀ(B_z B_zᵀ)⁻¹``;
* Eq. 14: ``L̃(z′) = ‖B_xy φ̃ − w‖₂ + β ‖φ̃‖₁`` (L2 reprojection, L1 regulariser, β = 0.3).

Gauge: the teacher's shapes are root-relative (or centred), so one row (or the sum of rows) of
``B_z`` is zero and ``B_z B_zᵀ`` is singular. The depth constraint is therefore imposed on the
P−1 gauge-free coordinates ``Q z`` (``Q`` from :func:`weakpose.methods.nrsfm.network.reduced_gauge_basis`):
``φ̃ = φ + (Q B_z)ᵀ((Q B_z)(Q B_z)ᵀ)⁻¹ Q(z′ − B_z φ)``, which makes ``Q B_z φ̃ = Q z′`` exactly —
i.e. ``B_z φ̃ = z′`` up to the gauge (a root-relative ``z′`` is matched exactly).

Numerics: the P′×P′ Gram matrix is factorised by Cholesky in float64 (it is small: P′ = 16 for
the human skeleton against K = 125–256 atoms); an optional relative Tikhonov ``damping`` keeps a
degenerate sample (e.g. a camera that sees an atom edge-on) from producing huge codes. Every step
is a differentiable torch operation, so gradients reach ``z′`` (and ``D`` if it is not frozen).
"""

from __future__ import annotations

import torch

from weakpose.methods.nrsfm.codec import reprojection_residual


def rotated_dictionary(dictionary: torch.Tensor, rotation: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 6–7: (B_xy [B, P, 2, K], B_z [B, P, K]) from D [P, 3, K] and R [B, 3, 3]."""
    if dictionary.ndim != 3 or dictionary.shape[1] != 3:
        raise ValueError(f"dictionary: expected [P, 3, K], got {tuple(dictionary.shape)}")
    if rotation.shape[-2:] != (3, 3):
        raise ValueError(f"rotation: expected [B, 3, 3], got {tuple(rotation.shape)}")
    b = torch.einsum("pck,bce->bpek", dictionary, rotation)
    return b[:, :, :2], b[:, :, 2]


def projected_code(
    code: torch.Tensor,
    b_z: torch.Tensor,
    depth: torch.Tensor,
    basis: torch.Tensor | None = None,
    damping: float = 0.0,
) -> torch.Tensor:
    """Eq. 12–13: the code [B, K] closest to ``code`` whose depth ``B_z φ`` equals ``depth``.

    Args:
        code: φ_nrsfm [B, K].
        b_z: B_z [B, P, K].
        depth: the hypothesis z′ [B, P].
        basis: optional [P′, P] orthonormal rows; the constraint becomes ``basis B_z φ = basis z′``
            (use it to remove the translation gauge, see the module docstring).
        damping: relative Tikhonov term ``δ·mean(diag G)`` added to the Gram matrix ``G``;
            0 gives the exact right inverse.
    """
    if code.ndim != 2 or b_z.ndim != 3 or depth.ndim != 2:
        raise ValueError("projected_code: expected code [B, K], b_z [B, P, K], depth [B, P]")
    if b_z.shape[0] != code.shape[0] or b_z.shape[2] != code.shape[1] or depth.shape != b_z.shape[:2]:
        raise ValueError(
            f"projected_code: inconsistent shapes {tuple(code.shape)}, {tuple(b_z.shape)}, {tuple(depth.shape)}"
        )
    dtype = code.dtype
    phi, bz, z = code.double(), b_z.double(), depth.double()
    delta = z - torch.einsum("bpk,bk->bp", bz, phi)
    if basis is not None:
        q = basis.to(device=bz.device, dtype=torch.float64)
        bz = torch.einsum("qp,bpk->bqk", q, bz)
        delta = delta @ q.T
    gram = bz @ bz.transpose(1, 2)
    if bz.shape[1] > bz.shape[2]:
        raise ValueError(
            f"projected_code: B_z has {bz.shape[1]} constraints for only {bz.shape[2]} atoms (not overcomplete)"
        )
    if damping > 0:
        ridge = damping * gram.diagonal(dim1=1, dim2=2).mean(-1).clamp_min(1e-30)
        gram = gram + ridge[:, None, None] * torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
    chol, info = torch.linalg.cholesky_ex(gram)
    if bool((info != 0).any()):
        raise FloatingPointError("projected_code: B_z B_zᵀ is singular for some samples; use damping > 0")
    y = torch.cholesky_solve(delta[..., None], chol)[..., 0]
    return (phi + torch.einsum("bqk,bq->bk", bz, y)).to(dtype)


def distillation_loss(
    code_tilde: torch.Tensor,
    b_xy: torch.Tensor,
    w: torch.Tensor,
    mask: torch.Tensor,
    weight: float = 0.3,
) -> torch.Tensor:
    """Eq. 14 per sample [B]: ‖B_xy φ̃ − w‖₂ (masked, translation-aligned) + weight·‖φ̃‖₁."""
    proj = torch.einsum("bpdk,bk->bpd", b_xy, code_tilde)
    residual = reprojection_residual(proj, w, mask)
    return residual.flatten(1).norm(dim=-1) + weight * code_tilde.abs().sum(-1)


class DistillationOperator:
    """Eq. 12–14 for a fixed dictionary, without forming the rotated dictionaries.

    ``B_z = D r₃`` per sample (``r₃`` = last column of ``R``), so with ``D̃ = Q D`` the Gram matrix
    is ``G = Σ_{c,c'} r₃c r₃c' H_{c c'}`` where ``H[q,c,q',c'] = Σ_k D̃[q,c,k] D̃[q',c',k]`` is
    computed once, and ``B̃_zᵀ y = Σ_{q,c} y_q r₃c D̃[q,c,:]``. The per-sample cost drops from
    O(P²K) with [B, P, 3, K] temporaries to O(P K) — the same result as
    :func:`rotated_dictionary` + :func:`projected_code` + :func:`distillation_loss`
    (checked in the tests), an order of magnitude faster on a CPU.
    """

    def __init__(self, dictionary: torch.Tensor, basis: torch.Tensor, damping: float = 0.0) -> None:
        if dictionary.ndim != 3 or dictionary.shape[1] != 3:
            raise ValueError(f"dictionary: expected [P, 3, K], got {tuple(dictionary.shape)}")
        if basis.shape[1] != dictionary.shape[0]:
            raise ValueError(f"basis: expected [P', {dictionary.shape[0]}], got {tuple(basis.shape)}")
        if basis.shape[0] > dictionary.shape[2]:
            raise ValueError(
                f"dictionary: {dictionary.shape[2]} atoms cannot match {basis.shape[0]} depths (not overcomplete)"
            )
        self.dictionary = dictionary.detach()
        self.basis = basis.to(dictionary)
        self.damping = damping
        d_tilde = torch.einsum("qp,pck->qck", self.basis.double(), self.dictionary.double())   # [P', 3, K]
        self.d_tilde = d_tilde
        self.gram_terms = torch.einsum("qck,rdk->qcrd", d_tilde, d_tilde)                      # [P', 3, P', 3]

    def project(self, code: torch.Tensor, rotation: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """Eq. 13: φ̃ [B, K] for the hypotheses ``depth`` [B, P] (``rotation`` [B, 3, 3])."""
        dtype = code.dtype
        r3 = rotation[..., 2].double()                                                        # [B, 3]
        shape = torch.einsum("pck,bk->bpc", self.dictionary.double(), code.double())          # S = D φ
        delta = (depth.double() - torch.einsum("bpc,bc->bp", shape, r3)) @ self.basis.double().T
        gram = torch.einsum("bc,qcrd,bd->bqr", r3, self.gram_terms, r3)
        if self.damping > 0:
            ridge = self.damping * gram.diagonal(dim1=1, dim2=2).mean(-1).clamp_min(1e-30)
            gram = gram + ridge[:, None, None] * torch.eye(gram.shape[-1], dtype=gram.dtype, device=gram.device)
        chol, info = torch.linalg.cholesky_ex(gram)
        if bool((info != 0).any()):
            raise FloatingPointError("DistillationOperator: B_z B_zᵀ is singular for some samples; use damping > 0")
        y = torch.cholesky_solve(delta[..., None], chol)[..., 0]                              # [B, P']
        step = torch.einsum("bq,bc,qck->bk", y, r3, self.d_tilde)
        return (code.double() + step).to(dtype)

    def loss(self, code_tilde: torch.Tensor, rotation: torch.Tensor, w: torch.Tensor, mask: torch.Tensor,
             weight: float = 0.3) -> torch.Tensor:
        """Eq. 14 per sample [B] for a projected code (``B_xy φ̃ = (D φ̃) R[:, :, :2]``)."""
        shape = torch.einsum("pck,bk->bpc", self.dictionary.to(code_tilde.dtype), code_tilde)
        proj = shape @ rotation[..., :2].to(code_tilde.dtype)
        residual = reprojection_residual(proj, w, mask)
        return residual.flatten(1).norm(dim=-1) + weight * code_tilde.abs().sum(-1)
