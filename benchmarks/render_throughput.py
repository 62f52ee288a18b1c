"""Renderer throughput: rendered person crops per second (RGB + part mask + depth + 2D + visibility).

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/render_throughput.py [--size 128] [--batch 64 256] [--seconds 5]

Prints images/s of wall time and per CPU-second (the machine is shared, so the CPU-time
figure is the stable one), single-threaded, for CMU training-subject poses seen by the
Human3.6M-like rig, cropped as in Iqbal et al. (75 % coverage). Also times full 1000x1000
camera images. Ray casting is memory-bound elementwise torch work, so a FLOP fraction of the
CPU peak is not meaningful here and is not printed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from weakpose.data.paths import data_root
from weakpose.rendering.scenes import RenderedMotion


def _time(fn, seconds: float) -> tuple[float, float, int]:
    fn()  # warm-up
    n = 0
    t0, c0 = time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        n += fn()
    return n / (time.perf_counter() - t0), n / (time.process_time() - c0), n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    src = RenderedMotion(data_root(args.data), rig="h36m", seed=0)
    print(f"threads={args.threads}  poses={len(src)} (CMU training subjects)")
    for b in args.batch:
        n_inst = max(1, b // 4)

        def step(n_inst=n_inst):
            return src.sample(n_inst, num_views=4, crop_size=args.size, augment=True).render.rgb.shape[:2].numel()

        wall, cpu, n = _time(step, args.seconds)
        print(
            f"{args.size}x{args.size} crops, batch {n_inst}x4 views: {wall:7.1f} images/s wall, "
            f"{cpu:7.1f} images/CPU-s ({n} images)"
        )
    wild = RenderedMotion(data_root(args.data), rig="wild", seed=1)

    def full():
        return wild.sample(4, num_views=1, crop_size=None).render.rgb.shape[:2].numel()

    wall, cpu, n = _time(full, args.seconds)
    print(f"1000x1000 wild camera images, batch 4: {wall:7.1f} images/s wall, {cpu:7.1f} images/CPU-s ({n} images)")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
