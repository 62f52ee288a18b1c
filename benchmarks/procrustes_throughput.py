"""Batched similarity Procrustes (PA-MPJPE's alignment): poses/s at batch 16,384.

    python benchmarks/procrustes_throughput.py [--threads 2]
"""

from __future__ import annotations

import argparse

import torch
from _common import best_time, machine

from weakpose.geometry import procrustes_align
from weakpose.metrics import pa_mpjpe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16384)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {machine()}")
    for dtype in (torch.float32, torch.float64):
        x, y = torch.randn(args.batch, 17, 3, dtype=dtype), torch.randn(args.batch, 17, 3, dtype=dtype)
        with torch.inference_mode():
            t = best_time(lambda x=x, y=y: procrustes_align(x, y))
            t_metric = best_time(lambda x=x, y=y: pa_mpjpe(x, y))
        print(
            f"{str(dtype):14s} procrustes_align: {args.batch / t:10.0f} poses/s;  "
            f"pa_mpjpe: {args.batch / t_metric:10.0f} poses/s"
        )


if __name__ == "__main__":
    main()
