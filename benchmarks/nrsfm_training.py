"""Deep NRSfM teacher: training throughput and wall time to convergence on this CPU.

    PYTHONPATH=src python benchmarks/nrsfm_training.py [--atoms paper6 release12] [--steps 100]
        [--run RUN_DIR ...]   # also report wall time to convergence from finished runs' metrics.jsonl

Throughput: optimisation steps (forward + backward + Adam) on training-subject 2D poses, batch
256, single thread by default (``--threads``). FLOPs are counted analytically (2 per multiply-add
of the dictionary products; a training step ≈ 3 forward passes) and compared with the ~330
GFLOP/s fp32 peak of the CPU. Convergence: the first logged step after which the running mean
(window of 10 log points) of the reprojection term of Eq. 4 stays within 5 % of its final value.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from weakpose.data.benchmark import make_split
from weakpose.data.mocap import TRAIN_SUBJECTS
from weakpose.data.paths import data_root
from weakpose.methods.nrsfm.codec import normalise_keypoints
from weakpose.methods.nrsfm.network import DeepNRSfM, resolve_atoms
from weakpose.methods.nrsfm.teacher import nrsfm_loss

PEAK_GFLOPS = 330.0


def forward_flops(num_points: int, atoms: tuple[int, ...]) -> int:
    """FLOPs of one sample's forward pass (2 per multiply-add)."""
    macs = num_points * 3 * 2 * atoms[0]                                  # Ψ₁ = D₁ᵀ W (3×2 blocks)
    macs += sum(6 * a * b for a, b in zip(atoms[:-1], atoms[1:]))         # encoder levels
    macs += 6 * atoms[-1] * atoms[-1] + 6 * atoms[-1]                     # code and camera heads
    macs += sum(a * b for a, b in zip(atoms[:-1], atoms[1:]))             # decoder levels
    macs += num_points * 3 * atoms[0] + num_points * 3 * 2                # s = D₁ φ₁, S M
    return 2 * macs


def throughput(atoms_name: str, steps: int, batch: int, w: torch.Tensor, mask: torch.Tensor) -> dict:
    atoms = resolve_atoms(atoms_name)
    torch.manual_seed(0)
    net = DeepNRSfM(17, atoms)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)

    def step() -> None:
        idx = torch.as_tensor(rng.integers(0, len(w), batch))
        loss = nrsfm_loss(net(w[idx]), w[idx], mask[idx])["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(10):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    dt = time.perf_counter() - t0
    sps = steps * batch / dt
    gflops = 3 * forward_flops(17, atoms) * sps / 1e9
    return {"atoms": atoms_name, "steps_per_s": steps / dt, "samples_per_s": sps, "gflops": gflops,
            "peak_fraction": gflops / PEAK_GFLOPS}


def convergence(run: Path, tolerance: float = 0.05, window: int = 10) -> dict:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    rows = [r for r in rows if "train/reprojection" in r]
    t = np.array([r["time"] for r in rows])
    steps = np.array([r["step"] for r in rows])
    rep = np.array([r["train/reprojection"] for r in rows])
    smooth = np.convolve(rep, np.ones(window) / window, mode="valid")
    final = smooth[-1]
    outside = np.nonzero(np.abs(smooth - final) > tolerance * final)[0]
    first = 0 if len(outside) == 0 else min(outside[-1] + 1, len(smooth) - 1)
    i = first + window - 1
    return {
        "run": str(run),
        "final_reprojection": float(final),
        "converged_step": int(steps[i]),
        "time_to_convergence_s": float(t[i] - t[0]),
        "total_time_s": float(t[-1] - t[0]),
        "total_steps": int(steps[-1]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--atoms", nargs="+", default=["paper6", "release12"])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--run", nargs="*", default=[], type=Path)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = make_split(data_root(), TRAIN_SUBJECTS, stride=4)
    nk = normalise_keypoints(data["keypoints_2d"], data["confidence"], data["intrinsics"], 0)
    print(f"threads={args.threads} batch={args.batch} steps={args.steps}")
    for name in args.atoms:
        r = throughput(name, args.steps, args.batch, nk.w, nk.mask)
        print(
            f"{name:>10}: {r['steps_per_s']:.1f} steps/s, {r['samples_per_s']:.0f} samples/s, "
            f"{r['gflops']:.2f} GFLOP/s = {100 * r['peak_fraction']:.2f}% of {PEAK_GFLOPS:.0f} GFLOP/s peak"
        )
    for run in args.run:
        c = convergence(run)
        print(
            f"{run}: reprojection {c['final_reprojection']:.4f}; within 5% of final at step {c['converged_step']} "
            f"after {c['time_to_convergence_s']:.0f} s (run: {c['total_steps']} steps, {c['total_time_s']:.0f} s)"
        )


if __name__ == "__main__":
    main()
