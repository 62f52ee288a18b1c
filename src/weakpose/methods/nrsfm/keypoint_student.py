"""Keypoint-input student for the distillation of Wang, Kong & Lucey (2019, §4.4).

The paper's student is an image network (integral regression); its loss (Eq. 15) only needs
the network to output per-landmark (x, y, z). This student takes the normalised 2D pose and the
visibility mask and outputs the same three numbers per landmark with the foundation's residual
MLP (Martinez et al.).
"""

from __future__ import annotations

import torch
from torch import nn

from weakpose.models.lifter import ResidualMLP


class KeypointStudent(nn.Module):
    """2D landmarks [B, P, 2] + mask [B, P] → per-landmark (x, y, z) [B, P, 3]."""

    def __init__(self, num_points: int, width: int = 512, blocks: int = 2, dropout: float = 0.25) -> None:
        super().__init__()
        self.num_points = int(num_points)
        self.mlp = ResidualMLP(3 * self.num_points, 3 * self.num_points, width, blocks, dropout)

    def forward(self, w: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if w.ndim != 3 or w.shape[1:] != (self.num_points, 2) or mask.shape != w.shape[:2]:
            raise ValueError(
                f"expected w [B, {self.num_points}, 2] and mask [B, {self.num_points}], got {tuple(w.shape)}, "
                f"{tuple(mask.shape)}"
            )
        x = torch.cat([w * mask[..., None], mask[..., None]], dim=-1).flatten(1)
        return self.mlp(x).view(-1, self.num_points, 3)
