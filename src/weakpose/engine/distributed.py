"""Multi-process data-parallel training with ``torchrun``.

``torchrun --nproc_per_node=N -m weakpose.cli train METHOD ...`` starts N processes; each reads
``RANK``/``WORLD_SIZE`` from the environment and joins a process group (gloo on CPU, NCCL on
GPU). The same mechanism serves every method that can be split this way:

* every rank draws the same **global** batch from the same seeded generators and trains on its
  ``rank::world_size`` share (:func:`shard`; the batch sizes must divide evenly,
  :func:`check_even_split`);
* before every optimiser step the gradients are averaged over the ranks
  (:func:`sync_gradients`, called by :func:`weakpose.engine.optim.optimizer_step` before any
  clipping, and by a pre-step hook on every optimiser of the method, :func:`attach_gradient_sync`);
* batch normalisation uses the statistics of the global batch (:func:`synchronise_batch_norm`),
  so that the per-sample computation does not depend on the split;
* the networks start from rank 0's weights (:func:`broadcast_modules`).

With equal shards the averaged gradient is the gradient of the global batch's mean loss, so N
processes reproduce one process up to float rounding (``tests/test_methods_engine.py``).
A method whose step is not a gradient step on a mean over independent samples refuses
``torchrun`` (``Method.single_process_reason``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from weakpose.errors import InputError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    owns_group: bool = False  # the process group was created by init_from_env (cleanup ends it)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def world_size_from_env() -> int:
    """Processes torchrun started (1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_from_env(device: str = "cpu") -> DistInfo:
    """Join the process group described by torchrun's environment variables (if any)."""
    if world_size_from_env() <= 1:
        return DistInfo()
    owns = not dist.is_initialized()
    if owns:
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend=backend)
    return DistInfo(dist.get_rank(), dist.get_world_size(), owns)


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def check_even_split(sizes: dict[str, int], info: DistInfo) -> None:
    """One-line error unless every sharded batch size splits evenly over the processes (the
    averaged gradient equals the global batch's only for equal shares)."""
    for key, n in sizes.items():
        if info.enabled and n % info.world_size:
            raise InputError(f"config: key '{key}': {n} does not split evenly over {info.world_size} processes "
                             f"(use a multiple of {info.world_size})")


def shard(batch: Any, info: DistInfo) -> Any:
    """This rank's ``rank::world_size`` share of a global batch: arrays and tensors are sliced
    along their first axis, dataclasses, dicts, tuples and lists element-wise; ``None`` and
    scalars pass unchanged."""
    if not info.enabled or batch is None:
        return batch
    if isinstance(batch, (np.ndarray, torch.Tensor)):
        return batch[info.rank :: info.world_size]
    if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        return dataclasses.replace(batch, **{f.name: shard(getattr(batch, f.name), info)
                                             for f in dataclasses.fields(batch) if f.init})
    if isinstance(batch, dict):
        return {k: shard(v, info) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(shard(v, info) for v in batch)
    return batch


def sync_gradients(optimizer: torch.optim.Optimizer) -> None:
    """Average the gradients of ``optimizer``'s parameters over the processes (no-op in one
    process). Parameters without a gradient on every rank keep none."""
    if not _active():
        return
    params = [p for g in optimizer.param_groups for p in g["params"] if p.requires_grad]
    if params:
        device = params[0].device
        has = torch.tensor([float(p.grad is not None) for p in params], device=device)
        dist.all_reduce(has)
        used = [p for p, h in zip(params, has.tolist()) if h > 0]
        for p in used:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        if used:
            flat = torch.cat([p.grad.reshape(-1) for p in used])
            dist.all_reduce(flat)
            flat /= dist.get_world_size()
            offset = 0
            for p in used:
                n = p.grad.numel()
                p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
                offset += n
    optimizer._weakpose_synced = True


def average_scalars(values: dict[str, float]) -> dict[str, float]:
    """The mean over the processes of each logged scalar (as is in one process): a batch mean
    of this process's share becomes the global batch's mean (shares are equal, see
    :func:`check_even_split`), so the logs of a torchrun run read like a one-process run's."""
    if not _active() or not values:
        return values
    t = torch.tensor(list(values.values()), dtype=torch.float64)
    dist.all_reduce(t)
    return dict(zip(values, (t / dist.get_world_size()).tolist()))


def attach_gradient_sync(optimizer: torch.optim.Optimizer) -> None:
    """Make every ``optimizer.step()`` average the gradients first unless
    :func:`sync_gradients` already did for this step."""

    def pre_step(opt, args, kwargs):
        if not getattr(opt, "_weakpose_synced", False):
            sync_gradients(opt)
        opt._weakpose_synced = False

    optimizer.register_step_pre_hook(pre_step)


def broadcast_modules(modules: Iterable[nn.Module], info: DistInfo) -> None:
    """Copy rank 0's parameters and buffers to every rank."""
    if not info.enabled:
        return
    with torch.no_grad():
        for m in modules:
            for t in list(m.parameters()) + list(m.buffers()):
                dist.broadcast(t.data, src=0)


class _SumOverProcesses(torch.autograd.Function):
    """All-reduce (sum) whose gradient is the all-reduced gradient (every rank's loss depends on
    every rank's share through the sum)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch normalisation with the mean and variance of the global batch (all ranks' shares),
    computed in two passes (mean, then squared deviations) with autograd through the sums, so
    the gradient is the one-process gradient. Evaluation mode uses the running statistics.
    (PyTorch's ``SyncBatchNorm`` needs a GPU.)"""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and _active()):
            return super().forward(x)
        C = x.shape[1]
        dims = [0] + list(range(2, x.dim()))
        shape = [1, C] + [1] * (x.dim() - 2)
        first = _SumOverProcesses.apply(torch.cat([x.sum(dims), x.new_tensor([float(x.numel() // C)])]))
        n = first[-1]
        mean = first[:C] / n
        centred = x - mean.view(shape)
        var = _SumOverProcesses.apply((centred * centred).sum(dims)) / n
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(m * mean.detach())
                self.running_var.mul_(1 - m).add_(m * var.detach() * n / (n - 1).clamp_min(1))
        y = centred / torch.sqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def synchronise_batch_norm(module: nn.Module, info: DistInfo) -> None:
    """Turn every batch-norm layer of ``module`` into a :class:`GlobalBatchNorm` in place (same
    parameter and buffer objects, so optimisers and state dicts are unaffected)."""
    if not info.enabled:
        return
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and not isinstance(m, GlobalBatchNorm):
            kind = type(m)
            if kind not in _GLOBAL_KINDS:
                _GLOBAL_KINDS[kind] = type(f"Global{kind.__name__}", (GlobalBatchNorm, kind), {})
            m.__class__ = _GLOBAL_KINDS[kind]


_GLOBAL_KINDS: dict[type, type] = {}


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    """End the process group if :func:`init_from_env` created it (a caller that created it,
    e.g. to train several runs in the same processes, keeps it)."""
    if info.enabled and info.owns_group and dist.is_initialized():
        dist.destroy_process_group()
