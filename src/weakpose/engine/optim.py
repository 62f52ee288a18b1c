"""The optimiser most methods train with (Adam and a cosine learning-rate decay over the run) and
the update step they share."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from weakpose.engine.distributed import average_scalars, sync_gradients


def adam_with_cosine(parameters: Iterable[torch.nn.Parameter], lr: float, lr_final: float, steps: int,
                     **adam_options) -> tuple[torch.optim.Adam, torch.optim.lr_scheduler.CosineAnnealingLR]:
    """Adam at ``lr`` decaying along a cosine to ``lr_final`` at step ``steps``."""
    opt = torch.optim.Adam(parameters, lr=lr, **adam_options)
    return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1), eta_min=lr_final)


def optimizer_step(terms: dict[str, torch.Tensor], total: str, opt: torch.optim.Optimizer,
                   sched: torch.optim.lr_scheduler.LRScheduler | None,
                   clip: tuple[Iterable[torch.nn.Parameter], float] | None = None) -> dict[str, float]:
    """One update on ``terms[total]`` (averaged over the batch if per sample): backward, the
    gradients averaged over the processes when training with torchrun
    (:func:`weakpose.engine.distributed.sync_gradients`), optional gradient-norm clipping
    ``(parameters, max_norm)``, optimiser and scheduler steps. Returns the
    logged scalars ``train/<term>`` (means over the global batch, all processes) and ``train/lr``
    (the rate after the step)."""
    loss = terms[total]
    opt.zero_grad(set_to_none=True)
    (loss.mean() if loss.dim() else loss).backward()
    sync_gradients(opt)
    if clip is not None:
        torch.nn.utils.clip_grad_norm_(clip[0], clip[1])
    opt.step()
    if sched is not None:
        sched.step()
    out = average_scalars({f"train/{k}": float(v.detach().float().mean()) for k, v in terms.items()})
    out["train/lr"] = sched.get_last_lr()[0] if sched is not None else opt.param_groups[0]["lr"]
    return out
