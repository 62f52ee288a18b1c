"""Speed of batched latent-space fitting (Zanfir et al. Eq. 6, KA + prior, 4 starts per frame).

    PYTHONPATH=src python benchmarks/fitting_speed.py --prior runs/prior --frames 256 --chunk 256 --threads 2

Prints ms per frame, objective evaluations per second and the achieved fraction of the CPU's
~330 GFLOP/s fp32 peak (FLOPs of one evaluation counted by torch's FLOP counter).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from weakpose.data.contracts import load_benchmark
from weakpose.data.paths import benchmark_file, data_root
from weakpose.methods.flows.fitting.fit import FitConfig, Fitter, root_relative
from weakpose.methods.flows.fitting.pose_space import PoseSpace
from weakpose.methods.flows.prior import load_prior_run
from weakpose.metrics import mpjpe

PEAK_GFLOPS = 330.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prior", required=True)
    ap.add_argument("--frames", type=int, default=256)
    ap.add_argument("--chunk", type=int, default=256)
    ap.add_argument("--iterations", type=int, default=150)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--kind", default="nf")
    ap.add_argument("--rep", default="aa")
    ap.add_argument(
        "--stage2-starts", type=int, default=4, help="starts continued after stage 1 (4 = the paper's protocol)"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    bundle, _ = load_prior_run(args.prior)
    bench = load_benchmark(benchmark_file(data_root(), "h36mrig_gt2d"))
    idx = np.linspace(0, len(bench.positions_3d) - 1, args.frames).round().astype(int)
    kp = torch.from_numpy(bench.inputs.keypoints_2d[idx])
    K = torch.from_numpy(bench.inputs.intrinsics[idx])
    space = PoseSpace(bundle.get(args.kind, args.rep), args.rep, latent=True)
    fitter = Fitter(
        bundle.body, space, FitConfig(stage2_iters=args.iterations, chunk=args.chunk, stage2_starts=args.stage2_starts)
    )

    # count objective evaluations and FLOPs of one evaluation (forward + backward)
    calls = {"n": 0, "rows": 0}
    original = fitter._terms

    def counted(*a, **k):
        calls["n"] += 1
        calls["rows"] += a[0].shape[0]
        return original(*a, **k)

    fitter._terms = counted
    B = min(args.chunk, args.frames) * fitter.cfg.inits
    var = space.init(B).requires_grad_(True)
    with FlopCounterMode(display=False) as fc:
        loss, _ = original(
            var,
            torch.zeros(B, bundle.body.num_betas),
            torch.zeros(B, 3),
            torch.tensor([[0.0, 0.0, 15.0]]).repeat(B, 1),
            torch.eye(3).expand(B, 3, 3),
            kp[:1].expand(B, -1, -1),
            None,
            K[:1].expand(B, -1, -1),
            None,
        )
        loss.sum().backward()
    flops_per_row = fc.get_total_flops() / B

    t0 = time.time()
    res = fitter.fit(kp, K)
    sec = time.time() - t0
    err = float(mpjpe(root_relative(res.joints_cam), bench.positions_3d[idx]).mean())
    gflops = flops_per_row * calls["rows"] / sec / 1e9
    print(
        f"{args.frames} frames, chunk {args.chunk}, {args.threads} threads, {args.stage2_starts} stage-2 starts: "
        f"{1000 * sec / args.frames:.1f} ms/frame, "
        f"{calls['n']} batched evaluations ({calls['rows'] / sec:.0f} row-evaluations/s), "
        f"{gflops:.2f} GFLOP/s = {100 * gflops / PEAK_GFLOPS:.2f}% of {PEAK_GFLOPS:.0f} GFLOP/s peak "
        f"(matmul FLOPs only); MPJPE {err:.1f} mm"
    )


if __name__ == "__main__":
    main()
