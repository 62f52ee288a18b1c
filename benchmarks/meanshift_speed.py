"""Throughput of batched mean-shift mode selection (Li & Lee 2020, §3.4, Eq. 11).

Usage: PYTHONPATH=src python benchmarks/meanshift_speed.py [--hypotheses 100] [--batch 1024] [--threads 2]

Prints poses/s for H hypotheses of 17×3 joints per pose and the fraction of the CPU's ~330 GFLOP/s
fp32 peak that the arithmetic of the kernel-weighted means represents.
"""

from __future__ import annotations

import argparse
import time

import torch

from weakpose.methods.hypotheses.meanshift import mean_shift_mode

PEAK_GFLOPS = 330.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hypotheses", type=int, default=100)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    n, d = args.hypotheses, 17 * 3
    # two modes per pose, like a depth ambiguity: hypotheses spread around +/- a depth flip
    centre = torch.randn(args.batch, 1, 17, 3, generator=g)
    flip = torch.where(torch.rand(args.batch, n, 1, 1, generator=g) < 0.6, 1.0, -1.0)
    h = centre + 0.3 * flip * torch.tensor([0.0, 0.0, 1.0]) + 0.05 * torch.randn(args.batch, n, 17, 3, generator=g)
    mean_shift_mode(h[:8], num_seeds=args.seeds)  # warm-up
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        mean_shift_mode(h, num_seeds=args.seeds)
        times.append(time.perf_counter() - t0)
    best = min(times)
    rate = args.batch / best
    # flops: pairwise distances N×N×D×3 (bandwidth + density), per iteration S×N×D×2 (distances)
    # + S×N×D×2 (weighted mean); iterations counted at the maximum (30) as an upper bound
    flops = args.batch * (2 * 3 * n * n * d + 30 * 4 * args.seeds * n * d)
    print(
        f"mean-shift, {n} hypotheses of 17x3, {args.seeds} seeds, batch {args.batch}, {args.threads} threads: "
        f"{rate:,.0f} poses/s (best of {args.repeats}: {best * 1e3:.1f} ms); "
        f"<= {flops / best / 1e9:.1f} GFLOP/s = "
        f"{100 * flops / best / 1e9 / PEAK_GFLOPS:.1f}% of {PEAK_GFLOPS:.0f} GFLOP/s peak"
    )


if __name__ == "__main__":
    main()
