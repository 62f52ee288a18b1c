"""Peak memory and speed of training from a large user 2D file (issue 13: a 1 M-sample file
trains without per-step copies of the whole set).

    python benchmarks/train_from_file_memory.py [--samples 1000000] [--method nrsfm] [--steps 200]

Writes a ``--samples`` 2D file (CMU-WS training subjects, wild cameras, detector noise, tiled
with a per-copy pixel jitter) to a temporary folder, then trains ``--method`` from it in a fresh
process and prints: file size, the process's resident memory after importing torch, its peak
resident memory during training, and training steps/s. The file is memory-mapped
(:mod:`weakpose.data.npz_mmap`) and validated in chunks; the method keeps one float32 copy of
what it trains on (for nrsfm: normalised 2D and masks, 204 bytes per sample).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = r"""
import json, resource, sys, time
import torch
from weakpose.training import train
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
base = rss()
method, path, steps, out = sys.argv[1:5]
t0 = time.time()
train(method, out, None, [f"steps={steps}", "eval_every=0", "monitor_samples=256", "checkpoint_every=100000"],
      progress=False, data_files={"train_2d": [path]})
took = time.time() - t0
log = [json.loads(l) for l in open(out + "/metrics.jsonl") if '"train/' in l]
span = log[-1]["time"] - log[0]["time"]
print(json.dumps({"rss_after_imports_mb": round(base), "peak_rss_mb": round(rss()),
                  "steps_per_s": round((log[-1]["step"] - log[0]["step"]) / span, 1), "wall_s": round(took, 1)}))
"""


def write_file(path: Path, samples: int) -> None:
    from weakpose.data.benchmark import make_split
    from weakpose.data.contracts import save_npz_atomic
    from weakpose.data.paths import data_root

    s = make_split(data_root(), (1, 3, 5, 6, 7, 8), "wild", "detector", seed=1)
    reps = -(-samples // len(s["keypoints_2d"]))
    rng = np.random.default_rng(0)
    kp = np.concatenate([s["keypoints_2d"] + rng.normal(0, 1, (1, 1, 2)).astype(np.float32) for _ in range(reps)])[
        :samples
    ]
    conf = np.tile(s["confidence"], (reps, 1))[:samples]
    K = np.tile(s["intrinsics"], (reps, 1, 1))[:samples]
    save_npz_atomic(path, keypoints_2d=kp, confidence=conf, intrinsics=K)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=1_000_000)
    ap.add_argument("--method", default="nrsfm", help="a method that accepts --train-2d (nrsfm, hypotheses)")
    ap.add_argument("--steps", type=int, default=200)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big_2d.npz"
        write_file(path, a.samples)
        res = subprocess.run(
            [sys.executable, "-c", CHILD, a.method, str(path), str(a.steps), str(Path(tmp) / "run")],
            check=True,
            capture_output=True,
            text=True,
        )
        out = json.loads(res.stdout.strip().splitlines()[-1])
        out = {"method": a.method, "samples": a.samples, "file_mb": round(path.stat().st_size / 2**20), **out}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
