"""Optional SMPL adapter: use an SMPL model (``smplx`` package + the user's licensed model
files) instead of weakpose's kinematic body model.

Only the import guard is tested in weakpose (SMPL files cannot be shipped). The adapter
returns the 17 Human3.6M joints through the user's joint regressor (``J_regressor_h36m.npy``,
as distributed with SPIN / VIBE) and labelled vertices from a per-vertex part-label file.

It is **not** a drop-in replacement for :class:`weakpose.methods.flows.body.model.BodyModel`:
SMPL takes axis-angle ``body_pose`` [B, 69] and ``betas`` [B, 10] and returns a tuple, while the
fitting code, the priors and ``flows-ws`` drive ``BodyModel`` with local rotation matrices of the
CMU segments and read a ``BodyOutput`` (joints, surface points). Using SMPL there needs a pose
space and priors trained on SMPL parameters, which weakpose does not provide.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from weakpose.methods.flows.body.parts import PART_NAMES


class SMPLUnavailable(ImportError):
    """Raised when the optional ``smplx`` dependency is missing."""


def require_smplx():
    """Import ``smplx`` or raise :class:`SMPLUnavailable` with an install hint."""
    try:
        import smplx  # type: ignore[import-not-found]
    except ImportError as e:
        raise SMPLUnavailable(
            "the SMPL adapter needs the optional 'smplx' package (pip install smplx==0.1.28) and "
            "SMPL model files from https://smpl.is.tue.mpg.de (licence required)"
        ) from e
    return smplx


class SMPLAdapter(torch.nn.Module):
    """SMPL body: ``forward(body_pose_aa [B, 69], betas [B, 10], global_orient [B, 3], transl [B, 3])``
    -> (joints17 [B, 17, 3] mm, vertices [B, 6890, 3] mm); ``vertex_labels`` [6890] index into
    :data:`PART_NAMES` (−1 for vertices in no part)."""

    def __init__(self, model_dir: str | Path, h36m_regressor: str | Path, vertex_labels: str | Path,
                 gender: str = "neutral") -> None:
        smplx = require_smplx()
        super().__init__()
        self.smpl = smplx.create(str(model_dir), model_type="smpl", gender=gender)
        self.register_buffer("regressor", torch.from_numpy(np.load(h36m_regressor)).float())
        labels = np.load(vertex_labels)
        if labels.shape != (self.smpl.get_num_verts(),) or labels.max() >= len(PART_NAMES):
            raise ValueError(f"{vertex_labels}: expected one label in [-1, {len(PART_NAMES)}) per vertex")
        self.register_buffer("vertex_labels", torch.from_numpy(labels.astype(np.int64)))

    def forward(self, body_pose: torch.Tensor, betas: torch.Tensor, global_orient: torch.Tensor,
                transl: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.smpl(body_pose=body_pose, betas=betas, global_orient=global_orient, transl=transl)
        verts = out.vertices * 1000.0
        return torch.einsum("jv,bvd->bjd", self.regressor, verts), verts
