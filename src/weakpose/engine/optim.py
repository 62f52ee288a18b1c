"""The optimiser most methods train with: Adam and a cosine learning-rate decay over the run."""

from __future__ import annotations

from typing import Iterable

import torch


def adam_with_cosine(parameters: Iterable[torch.nn.Parameter], lr: float, lr_final: float, steps: int,
                     **adam_options) -> tuple[torch.optim.Adam, torch.optim.lr_scheduler.CosineAnnealingLR]:
    """Adam at ``lr`` decaying along a cosine to ``lr_final`` at step ``steps``."""
    opt = torch.optim.Adam(parameters, lr=lr, **adam_options)
    return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1), eta_min=lr_final)
