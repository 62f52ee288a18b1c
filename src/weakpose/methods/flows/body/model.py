"""weakpose's kinematic body model M(θ, β): rotations, bone-length shape, forward kinematics
to the 17 Human3.6M joints and labelled surface points per body part.

* Pose θ: local rotations of :data:`~weakpose.methods.flows.body.cmu_tree.POSED_SEGMENTS` (13 joints),
  as angle-axis (39 numbers) or the 6D representation (78 numbers), see
  :mod:`weakpose.methods.flows.body.pose`. The global rotation and translation are separate.
* Shape β (Zanfir et al. use GHUM's β; weakpose's choice): a linear, whitened model of bone
  lengths, ``ℓ(β) = ℓ̄ + Bᵀβ`` from a PCA of the training subjects' rest skeletons, with a
  standard normal prior so that ‖β‖² (Eq. 11) is its negative log-density up to a constant.
  Rest bone *directions* are the training subjects' mean.
* Forward kinematics: :mod:`weakpose.methods.flows.body.cmu_tree`.
* Surface: labelled points on the renderer's body primitives (:mod:`weakpose.methods.flows.body.parts`):
  ``surface`` (the vertex set of L_V) and the denser ``alignment_surface`` that L_BA projects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from weakpose.methods.flows.body import cmu_tree
from weakpose.methods.flows.body.parts import ALIGNMENT_DENSITY, PartSurface


@dataclass
class BodyOutput:
    joints: Tensor        # [B, 17, 3] mm
    segments: Tensor      # [B, S, 3] segment positions (BVH joints)
    world_rot: Tensor     # [B, S, 3, 3]


def _regressor() -> np.ndarray:
    reg = np.zeros((17, len(cmu_tree.SEGMENT_NAMES)), np.float32)
    for j, names in enumerate(cmu_tree.H36M_FROM_SEGMENTS):
        for n in names:
            reg[j, cmu_tree.SEGMENT_NAMES.index(n)] = 1.0 / len(names)
    return reg


class BodyModel(nn.Module):
    """Forward kinematics with a bone-length shape space.

    Parameters
    ----------
    rest_offsets:
        [S, 3] mean rest offsets (mm) in the tree order of ``cmu_tree.SEGMENTS``.
    length_basis:
        [K, S] whitened principal directions of the bone lengths (mm per unit β).
    """

    def __init__(self, rest_offsets: np.ndarray | Tensor, length_basis: np.ndarray | Tensor | None = None) -> None:
        super().__init__()
        offsets = torch.as_tensor(np.asarray(rest_offsets), dtype=torch.float32)
        S = len(cmu_tree.SEGMENT_NAMES)
        if offsets.shape != (S, 3):
            raise ValueError(f"rest_offsets must be [{S}, 3], got {tuple(offsets.shape)}")
        lengths = offsets.norm(dim=-1)
        dirs = torch.where(
            lengths[:, None] > 1e-6, offsets / lengths.clamp_min(1e-6)[:, None], torch.zeros_like(offsets)
        )
        basis = (
            torch.zeros(0, S)
            if length_basis is None
            else torch.as_tensor(np.asarray(length_basis), dtype=torch.float32)
        )
        if basis.ndim != 2 or basis.shape[1] != S:
            raise ValueError(f"length_basis must be [K, {S}], got {tuple(basis.shape)}")
        self.parents = list(cmu_tree.SEGMENT_PARENTS)
        self.posed_index = [cmu_tree.SEGMENT_NAMES.index(n) for n in cmu_tree.POSED_SEGMENTS]
        self.register_buffer("rest_dirs", dirs)
        self.register_buffer("mean_lengths", lengths)
        self.register_buffer("length_basis", basis)
        self.register_buffer("regressor", torch.from_numpy(_regressor()))
        self.surface = PartSurface()
        self.alignment_surface = PartSurface(**ALIGNMENT_DENSITY)

    # ------------------------------------------------------------------ sizes
    @property
    def num_pose_joints(self) -> int:
        return len(self.posed_index)

    @property
    def num_betas(self) -> int:
        return self.length_basis.shape[0]

    def offsets(self, beta: Tensor | None = None) -> Tensor:
        """Rest offsets [B, S, 3] (or [S, 3] without β)."""
        if beta is None or self.num_betas == 0:
            return self.rest_dirs * self.mean_lengths[:, None]
        lengths = self.mean_lengths + beta @ self.length_basis
        return self.rest_dirs * lengths[..., None]

    # ------------------------------------------------------------------ kinematics
    def forward(self, local_rot: Tensor, beta: Tensor | None = None, global_rot: Tensor | None = None,
                transl: Tensor | None = None, offsets: Tensor | None = None) -> BodyOutput:
        """Forward kinematics. ``local_rot`` [B, P, 3, 3] for the posed segments; ``global_rot``
        [B, 3, 3] is the root (``Hips``) rotation, ``transl`` [B, 3] its position; ``offsets``
        [B, S, 3] overrides the shape model (e.g. a subject's own skeleton)."""
        B = local_rot.shape[0]
        if local_rot.shape[1:] != (self.num_pose_joints, 3, 3):
            raise ValueError(f"local_rot must be [B, {self.num_pose_joints}, 3, 3], got {tuple(local_rot.shape)}")
        dtype = local_rot.dtype
        if offsets is None:
            offsets = self.offsets(beta)
        offsets = offsets.to(dtype).expand(B, -1, -1)
        eye = torch.eye(3, dtype=dtype, device=local_rot.device)
        rot_of = {s: local_rot[:, i] for i, s in enumerate(self.posed_index)}
        G: list[Tensor] = []
        P: list[Tensor] = []
        for s, parent in enumerate(self.parents):
            if parent < 0:
                g = global_rot.to(dtype) if global_rot is not None else eye.expand(B, 3, 3)
                p = transl.to(dtype) if transl is not None else torch.zeros(B, 3, dtype=dtype, device=local_rot.device)
            else:
                p = P[parent] + (G[parent] @ offsets[:, s, :, None])[..., 0]
                g = G[parent] @ rot_of[s] if s in rot_of else G[parent]
            G.append(g)
            P.append(p)
        segments = torch.stack(P, 1)
        joints = torch.einsum("js,bsd->bjd", self.regressor.to(dtype), segments)
        return BodyOutput(joints=joints, segments=segments, world_rot=torch.stack(G, 1))

    # ------------------------------------------------------------------ surface
    @property
    def surface_labels(self) -> Tensor:
        """[N] part index (:data:`~weakpose.methods.flows.body.parts.PART_NAMES`) of each surface point."""
        return self.surface.labels

    def surface_points(self, out: BodyOutput) -> Tensor:
        """Labelled surface points [B, N, 3] of posed bodies
        (:class:`~weakpose.methods.flows.body.parts.PartSurface`)."""
        return self.surface(out.joints)

    def alignment_points(self, joints: Tensor) -> tuple[Tensor, Tensor]:
        """The dense labelled surface of L_BA (Eq. 7): points [B, N, 3] of ``joints`` [B, 17, 3]
        (same frame) and their part indices [N]
        (:data:`~weakpose.methods.flows.body.parts.ALIGNMENT_DENSITY`)."""
        return self.alignment_surface(joints), self.alignment_surface.labels
