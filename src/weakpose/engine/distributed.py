"""Multi-process data-parallel training with ``torchrun`` and PyTorch DDP.

``torchrun --nproc_per_node=N -m weakpose.cli train METHOD ...`` starts N processes; each reads
``RANK``/``WORLD_SIZE`` from the environment and joins a process group (gloo on CPU, NCCL on
GPU). Every rank draws the same global batch from the same seeded generator and trains on its
``rank::world_size`` slice; DDP averages the gradients, so N processes reproduce one process
with the same global batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_from_env(device: str = "cpu") -> DistInfo:
    """Join the process group described by torchrun's environment variables (if any)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend=backend)
    return DistInfo(dist.get_rank(), dist.get_world_size())


def shard(batch_indices, info: DistInfo):
    """This rank's slice of a global batch."""
    return batch_indices[info.rank :: info.world_size] if info.enabled else batch_indices


def wrap(module: torch.nn.Module, info: DistInfo) -> torch.nn.Module:
    """``module`` wrapped in DDP when distributed (the wrapper shares its parameters)."""
    if not info.enabled:
        return module
    return torch.nn.parallel.DistributedDataParallel(module)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
