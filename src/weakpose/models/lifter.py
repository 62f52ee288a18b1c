"""Residual MLP lifter of Martinez et al. (ICCV 2017, "A simple yet effective baseline")."""

from __future__ import annotations

import torch
from torch import nn


def _norm(kind: str, width: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm1d(width)
    if kind == "layer":
        return nn.LayerNorm(width)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"unknown norm {kind!r} (batch, layer, none)")


class ResidualBlock(nn.Module):
    """Two (Linear, norm, ReLU, Dropout) layers with a skip connection."""

    def __init__(self, width: int, dropout: float, norm: str = "batch"):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(width, width), _norm(norm, width), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(width, width), _norm(norm, width), nn.ReLU(), nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


class ResidualMLP(nn.Module):
    """``in_features -> width`` stem, ``blocks`` residual blocks, linear ``-> out_features``."""

    def __init__(self, in_features: int, out_features: int, width: int = 1024, blocks: int = 2,
                 dropout: float = 0.25, norm: str = "batch"):
        super().__init__()
        self.stem = nn.Sequential(nn.Linear(in_features, width), _norm(norm, width), nn.ReLU(), nn.Dropout(dropout))
        self.blocks = nn.Sequential(*[ResidualBlock(width, dropout, norm) for _ in range(blocks)])
        self.head = nn.Linear(width, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))

    def flops_per_sample(self) -> int:
        """Multiply-adds × 2 of the linear layers for one forward pass."""
        return sum(2 * m.in_features * m.out_features for m in self.modules() if isinstance(m, nn.Linear))
