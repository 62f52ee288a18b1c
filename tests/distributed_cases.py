"""Helpers of the per-method multi-process test (``test_methods_engine.py``).

Run as a script, it trains several ``weakpose train`` command lines one after the other in the
same torchrun processes, so that the test pays the start-up of two processes once:

    python -m torch.distributed.run --standalone --nproc_per_node=2 tests/distributed_cases.py CASES.json RESULT.json

``CASES.json`` maps a case name to its ``weakpose`` argument list (run in that order, so a case
may ``--resume`` an earlier one's ``--out``); rank 0 writes to ``RESULT.json`` the exit code of
each case (``codes``) and the largest difference of any other rank's final weights to rank 0's
(``rank_differences``, :func:`rank_difference`; ``None`` for a run that refused before building
its method), and, per run, the first synchronised gradient of every optimiser
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
import weakpose.training as training

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


@contextmanager
def trained_methods(methods: list):
    """Append every method the engine sets up for multi-process training to ``methods``."""
    setup = training._setup_processes

    def recording(method, info):
        methods.append(method)
        setup(method, info)

    training._setup_processes = recording
    try:
        yield
    finally:
        training._setup_processes = setup


def rank_difference(method) -> float:
    """The largest absolute difference between this rank's floating-point weights and buffers
    (every network of ``method``) and rank 0's, over all ranks (0.0: every rank holds rank 0's
    network, as it must after the processes chose anything together, e.g. a restart)."""
    tensors = [t.detach().reshape(-1).double() for net in method.nets.values()
               for t in net.state_dict().values() if t.is_floating_point()]
    mine = torch.cat(tensors) if tensors else torch.zeros(0, dtype=torch.float64)
    main = mine.clone()
    dist.broadcast(main, src=0)
    worst = (mine - main).abs().max() if mine.numel() else torch.zeros((), dtype=torch.float64)
    dist.all_reduce(worst, op=dist.ReduceOp.MAX)
    return float(worst)


if __name__ == "__main__":
    from weakpose.cli import main

    dist.init_process_group("gloo")
    codes, differences = {}, {}
    for case, argv in json.loads(Path(sys.argv[1]).read_text()).items():
        methods: list = []
        with first_gradients(Path(argv[argv.index("--out") + 1]), enabled=dist.get_rank() == 0), \
                trained_methods(methods):
            codes[case] = main(argv)
        differences[case] = rank_difference(methods[-1]) if methods else None
        dist.barrier()
    if dist.get_rank() == 0:
        Path(sys.argv[2]).write_text(json.dumps({"codes": codes, "rank_differences": differences}))
    dist.destroy_process_group()
