"""Shared helpers of the benchmark scripts (timing, machine description)."""

from __future__ import annotations

import os
import platform
import time

import torch

#: Measured float32 matmul peak of the 2-core development/CI machine (GFLOP/s), see docs/performance.md.
CPU_PEAK_GFLOPS = 330.0


def machine() -> str:
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}")


def best_time(fn, repeat: int = 5, warmup: int = 2) -> float:
    """Best wall time of ``fn()`` over ``repeat`` runs (seconds)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def matmul_peak(n: int = 2048) -> float:
    """float32 matmul GFLOP/s on this machine now (for the fraction-of-peak figures)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    t = best_time(lambda: a @ b, repeat=5)
    return 2 * n**3 / t / 1e9
