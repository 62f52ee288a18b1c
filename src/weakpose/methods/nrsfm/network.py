"""Deep NRSfM: an unrolled multi-layer block-sparse coding network (Wang, Kong & Lucey 2019, §3;
Kong & Lucey 2019).

Shape model (Eq. 3): a 3D shape ``S`` [P, 3] (row ``p`` = joint ``p``) is

    s = D₁ φ₁,   φ₁ = D₂ φ₂,   …,   φ_{n-1} = D_n φ_n,   φ_i ≥ 0 and sparse,

and its weak-perspective image is ``W = S M`` with ``M`` [3, 2] orthonormal (Eq. 1). Writing
the camera into the code gives the *block* code Ψ₁ = φ₁ ⊗ M: one 3×2 block per atom, so that
``W = Σ_k D₁⁽ᵏ⁾ Ψ₁⁽ᵏ⁾`` with ``D₁⁽ᵏ⁾`` [P, 3] the k-th atom and ``Ψ_{i-1} = (D_i ⊗ I₃) Ψ_i``.

Encoder (one ISTA step per level, started from zero, as in Papyan et al.):

    Ψ₁ = ReLU(D₁ᵀ W + b₁),    Ψ_i = ReLU((D_iᵀ ⊗ I₃) Ψ_{i-1} + b_i),   i = 2..n,

where the bias + ReLU is the non-negative soft threshold (one scalar threshold per atom, applied
to every entry of its block, as in Kong & Lucey's public release).

Code and camera estimation from the last block code Ψ_n [K_n, 3, 2] (public release): the code
φ_n = a linear map of the flattened Ψ_n; the camera is a learned combination Σ_k c_k Ψ_n⁽ᵏ⁾ of
the blocks, projected to the nearest orthonormal matrix by SVD
(:func:`weakpose.camera.nearest_orthonormal_2x3`, applied to the transpose since the paper's
``M`` is 3×2).

Decoder with the *same* (tied) dictionaries and **no biases**: φ_n = ReLU(code head) and
φ_{i-1} = ReLU(D_i φ_i) for i = n..2 (every code non-negative as Eq. 3 asks, the last one
included; without a bias φ_{i-1} = D_i φ_i holds exactly wherever D_i φ_i ≥ 0), and
``s = D̄₁ φ₁`` without a bias, so that ``s = D φ`` holds exactly as the distillation of §4
assumes.

Atom scale (Eq. 4): every atom is used with **unit norm** — the k-th atom of D̄₁ (a P×3 shape,
after the gauge) has unit Frobenius norm and every column of D_i (i ≥ 2) unit L2 norm; the
parameters are free and are normalised in the forward pass (weight normalisation without a
gain). Without it, multiplying D₁ by c and the codes by 1/c gives the same shapes and cameras
with ‖φ₁‖₁/c: λ‖φ₁‖₁ of Eq. 4 (and β‖φ̃‖₁ of Eq. 14) would have no fixed meaning and the
sparsity prior could be scaled away. ``D̄₁`` is ``D₁`` with a gauge fixed
(see :class:`DeepNRSfM`): the shapes are root-relative (or centred), which also makes the
depth dictionary ``B_z`` of Eq. 7 full row rank on the remaining joints.

Choices the paper leaves open (its architecture details are in a supplement we do not have)
follow Kong & Lucey's public TensorFlow release: 3×2 blocks, per-atom encoder biases, a linear
code head (followed by the ReLU of Eq. 3's φ_n ≥ 0), a camera head that mixes blocks, and Xavier-uniform dictionaries.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from weakpose.camera import complete_rotation, nearest_orthonormal_2x3

BLOCK_ROWS, BLOCK_COLS = 3, 2
#: Floor of an atom's norm in the unit-norm normalisation (only a zero atom ever reaches it).
ATOM_NORM_EPS = 1e-8

#: Kong & Lucey's public release: 12 dictionaries, atoms linearly spaced from 125 down to 10.
RELEASE_12_LEVELS: tuple[int, ...] = tuple(int(k) for k in np.linspace(125, 10, 12).astype(np.int64))
#: The paper's Human3.6M setting (§5.1): 6 levels.
PAPER_6_LEVELS: tuple[int, ...] = (256, 128, 64, 32, 16, 8)

ATOM_PRESETS: dict[str, tuple[int, ...]] = {"release12": RELEASE_12_LEVELS, "paper6": PAPER_6_LEVELS}


def resolve_atoms(atoms: str | list[int] | tuple[int, ...]) -> tuple[int, ...]:
    """Dictionary sizes K₁ > … > K_n from a preset name or an explicit list ("256,128,64")."""
    if isinstance(atoms, str):
        if atoms in ATOM_PRESETS:
            return ATOM_PRESETS[atoms]
        try:
            atoms = [int(a) for a in atoms.replace(" ", "").split(",") if a]
        except ValueError as exc:
            raise ValueError(
                f"atoms: expected a preset {sorted(ATOM_PRESETS)} or a list of integers, got {atoms!r}"
            ) from exc
    atoms = tuple(int(a) for a in atoms)
    if len(atoms) < 1 or any(a < 1 for a in atoms):
        raise ValueError(f"atoms: need at least one positive dictionary size, got {atoms}")
    return atoms


def gauge_matrix(num_points: int, center: str | int) -> torch.Tensor:
    """[P, P] linear map that fixes the translation gauge of a shape: ``S ↦ G S``.

    ``center`` is a joint index (subtract that joint: root-relative shapes) or ``"mean"``
    (subtract the centroid). ``G`` is idempotent and ``G 1 = 0``.
    """
    eye = torch.eye(num_points)
    if center == "mean":
        return eye - torch.full((num_points, num_points), 1.0 / num_points)
    root = int(center)
    if not 0 <= root < num_points:
        raise ValueError(f"center: joint index {root} outside 0..{num_points - 1}")
    g = eye.clone()
    g[:, root] -= 1.0
    return g


def reduced_gauge_basis(num_points: int, center: str | int) -> torch.Tensor:
    """[P-1, P] matrix with orthonormal rows spanning the shapes' gauge-fixed space.

    For a root joint it selects the other joints; for ``"mean"`` it is an orthonormal basis of
    the vectors that sum to zero. Used by the distillation (Eq. 12–13) so that the depth
    constraint only involves the P-1 degrees of freedom the dictionary can produce.
    """
    if center == "mean":
        g = gauge_matrix(num_points, "mean").double()
        eigval, eigvec = torch.linalg.eigh(g)
        return eigvec[:, eigval > 0.5].T.float().contiguous()
    root = int(center)
    keep = [p for p in range(num_points) if p != root]
    return torch.eye(num_points)[keep]


def orthonormal_camera(m: torch.Tensor, ridge: float = 1e-4) -> torch.Tensor:
    """Nearest matrix with orthonormal columns to a 3×2 camera ``m`` [..., 3, 2]: the paper's
    ``M`` is 3×2, the foundation's 2×3, so this is
    :func:`weakpose.camera.nearest_orthonormal_2x3` on ``mᵀ`` (its backward stays finite for
    rank-one cameras, which the 12-level network produced early in training)."""
    return nearest_orthonormal_2x3(m.transpose(-1, -2), ridge).transpose(-1, -2)


@dataclass
class NRSfMOutput:
    """Everything one forward pass of :class:`DeepNRSfM` produces (batch size B)."""

    shape: torch.Tensor       # [B, P, 3] S in the object frame, gauge-fixed
    camera: torch.Tensor      # [B, 3, 2] orthonormal M
    code: torch.Tensor        # [B, K₁] φ₁ ≥ 0 (the code s = D̄₁ φ₁ of Eq. 3/4)
    projection: torch.Tensor  # [B, P, 2] S M

    def camera_frame(self, depth_sign: float = 1.0) -> torch.Tensor:
        """[B, P, 3] the shape rotated into the camera frame (Eq. 5), depth times ``depth_sign``."""
        out = self.shape @ complete_rotation(self.camera.mT).mT   # Eq. 5: R = [m₁, m₂, m₁ × m₂]
        if depth_sign != 1.0:
            out = torch.cat([out[..., :2], depth_sign * out[..., 2:]], dim=-1)
        return out


class DeepNRSfM(nn.Module):
    """Unrolled multi-layer block-sparse coding network with tied encoder/decoder dictionaries.

    Args:
        num_points: P, the number of landmarks.
        atoms: dictionary sizes K₁ … K_n (``resolve_atoms`` accepts presets).
        center: translation gauge of the shapes: a joint index (root-relative) or ``"mean"``.
            The shape dictionary used to decode is ``D̄₁ = G D₁`` with ``G = gauge_matrix``.

    Input ``W`` [B, P, 2] must be centred the same way (missing joints set to zero; the encoder
    is linear in ``W`` before its first threshold, so zeros contribute nothing).
    """

    def __init__(self, num_points: int, atoms: str | tuple[int, ...] = PAPER_6_LEVELS, center: str | int = 0) -> None:
        super().__init__()
        atoms = resolve_atoms(atoms)
        self.num_points = int(num_points)
        self.atoms = atoms
        self.center = center
        self.register_buffer("gauge", gauge_matrix(self.num_points, center))
        # D₁ as [P, 3, K₁]: column k reshaped is atom k (a P×3 shape).
        self.dict1 = nn.Parameter(torch.empty(self.num_points, BLOCK_ROWS, atoms[0]))
        # D_i as [K_{i-1}, K_i] for i = 2..n.
        self.dicts = nn.ParameterList([nn.Parameter(torch.empty(atoms[i - 1], atoms[i])) for i in range(1, len(atoms))])
        self.enc_bias = nn.ParameterList([nn.Parameter(torch.zeros(k)) for k in atoms])
        k_n = atoms[-1]
        self.code_head = nn.Linear(k_n * BLOCK_ROWS * BLOCK_COLS, k_n, bias=False)
        self.camera_head = nn.Parameter(torch.empty(k_n))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        p, k1 = self.num_points, self.atoms[0]
        bound = float(np.sqrt(6.0 / (p * BLOCK_ROWS + k1)))
        nn.init.uniform_(self.dict1, -bound, bound)
        for d in self.dicts:
            nn.init.xavier_uniform_(d)
        nn.init.xavier_uniform_(self.code_head.weight)
        nn.init.uniform_(self.camera_head, -1.0, 1.0)
        for b in self.enc_bias:
            nn.init.zeros_(b)

    # -- dictionaries -------------------------------------------------------------------------
    def shape_dictionary(self) -> torch.Tensor:
        """[P, 3, K₁] the gauge-fixed shape dictionary D̄₁ (what ``s = D̄₁ φ₁`` uses), every atom
        of unit Frobenius norm (Eq. 4's λ‖φ₁‖₁ then has a fixed scale)."""
        d = torch.einsum("qp,pck->qck", self.gauge, self.dict1)
        return d / d.flatten(0, 1).norm(dim=0).clamp_min(ATOM_NORM_EPS)

    def dictionary(self, level: int) -> torch.Tensor:
        """[K_{i-1}, K_i] the dictionary D_i of ``φ_{i-1} = D_i φ_i`` (``level`` = i ≥ 2), unit-norm columns."""
        d = self.dicts[level - 2]
        return d / d.norm(dim=0).clamp_min(ATOM_NORM_EPS)

    # -- network pieces -----------------------------------------------------------------------
    def encode(self, w: torch.Tensor) -> list[torch.Tensor]:
        """Block codes Ψ₁ … Ψ_n, each [B, K_i, 3, 2] (one ISTA step per level)."""
        if w.ndim != 3 or w.shape[1:] != (self.num_points, BLOCK_COLS):
            raise ValueError(f"expected W of shape [B, {self.num_points}, 2], got {tuple(w.shape)}")
        # Ψ₁[b,k] = D₁⁽ᵏ⁾ᵀ W  (3×2), with D̄₁ = G D₁ and W centred: D̄₁ᵀW = D₁ᵀGᵀW.
        psi = torch.einsum("pck,bpd->bkcd", self.shape_dictionary(), w)
        psi = torch.relu(psi + self.enc_bias[0][:, None, None])
        codes = [psi]
        for i in range(1, len(self.atoms)):
            psi = torch.einsum("jk,bjcd->bkcd", self.dictionary(i + 1), psi)
            psi = torch.relu(psi + self.enc_bias[i][:, None, None])
            codes.append(psi)
        return codes

    def estimate(self, psi_n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Code φ_n ≥ 0 [B, K_n] and orthonormal camera M [B, 3, 2] from the last block code."""
        phi_n = torch.relu(self.code_head(psi_n.flatten(1)))
        m = torch.einsum("k,bkcd->bcd", self.camera_head, psi_n)
        return phi_n, orthonormal_camera(m)

    def decode(self, phi_n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(shape S [B, P, 3], φ₁ [B, K₁]) from φ_n with the tied dictionaries (Eq. 3, no biases)."""
        phi = phi_n
        for level in range(len(self.atoms), 1, -1):
            phi = torch.relu(phi @ self.dictionary(level).T)
        shape = torch.einsum("pck,bk->bpc", self.shape_dictionary(), phi)
        return shape, phi

    def forward(self, w: torch.Tensor) -> NRSfMOutput:
        codes = self.encode(w)
        phi_n, m = self.estimate(codes[-1])
        shape, phi1 = self.decode(phi_n)
        return NRSfMOutput(shape=shape, camera=m, code=phi1, projection=shape @ m)
