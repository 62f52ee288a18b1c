"""Two DDP processes (torchrun, gloo) keep identical weights and match one process with the
same global batch."""

import os
import subprocess
import sys

import torch

from weakpose.engine.checkpoint import load_checkpoint

# layer norm and no dropout: the per-sample computation does not depend on how the global batch
# is split, so 2 processes must equal 1 up to float rounding
ARGS = ["width=64", "blocks=1", "norm=layer", "dropout=0", "steps=8", "batch_size=32", "eval_every=0",
        "monitor_samples=64", "checkpoint_every=8"]


def test_ddp_matches_single_process(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # see conftest: no thread oversubscription
    single = subprocess.run(
        [
            sys.executable,
            "-m",
            "weakpose.cli",
            "train",
            "supervised",
            "--out",
            str(tmp_path / "one"),
            "--no-progress",
            *ARGS,
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert single.returncode == 0, single.stderr
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          "-m", "weakpose.cli", "train", "supervised", "--out", str(tmp_path / "two"),
                          "--no-progress", *ARGS], env=env, capture_output=True, text=True)
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    a = load_checkpoint(tmp_path / "one")["modules"]["lifter"]
    b = load_checkpoint(tmp_path / "two")["modules"]["lifter"]
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), k
