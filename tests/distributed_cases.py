"""Helpers of the per-method multi-process test (``test_methods_engine.py``).

Run as a script, it trains several ``weakpose train`` command lines one after the other in the
same torchrun processes, so that the test pays the start-up of two processes once:

    python -m torch.distributed.run --standalone --nproc_per_node=2 tests/distributed_cases.py CASES.json RESULT.json

``CASES.json`` maps a case name to its ``weakpose`` argument list; rank 0 writes the exit code
of each case to ``RESULT.json`` and, per run, the first synchronised gradient of every optimiser
(:func:`first_gradients`). The process group is created here, so the engine keeps it between
runs (``DistInfo.owns_group``).
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.distributed as dist

import weakpose.engine.optim as optim

GRADIENTS_FILE = "first_gradients.pt"


@contextmanager
def first_gradients(out: Path, enabled: bool = True):
    """Record, for every optimiser, the gradients of its first update after they are averaged
    over the processes (:func:`weakpose.engine.optim.optimizer_step`), in the order the
    optimisers first step, and save them to ``out/first_gradients.pt``."""
    seen: set[int] = set()
    record: list[list[torch.Tensor]] = []
    sync = optim.sync_gradients

    def recording(opt):
        sync(opt)
        if id(opt) not in seen:
            seen.add(id(opt))
            record.append([p.grad.clone() if p.grad is not None else torch.zeros(0)
                           for g in opt.param_groups for p in g["params"]])

    optim.sync_gradients = recording
    try:
        yield
    finally:
        optim.sync_gradients = sync
    if enabled and out.is_dir():
        torch.save(record, out / GRADIENTS_FILE)


if __name__ == "__main__":
    from weakpose.cli import main

    dist.init_process_group("gloo")
    codes = {}
    for case, argv in json.loads(Path(sys.argv[1]).read_text()).items():
        with first_gradients(Path(argv[argv.index("--out") + 1]), enabled=dist.get_rank() == 0):
            codes[case] = main(argv)
        dist.barrier()
    if dist.get_rank() == 0:
        Path(sys.argv[2]).write_text(json.dumps(codes))
    dist.destroy_process_group()
