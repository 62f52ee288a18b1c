"""Inference speed of the residual-MLP lifter (Martinez et al.): batch-1 latency and
poses/s at batch 4096, as a fraction of the CPU's float32 matmul peak.

    python benchmarks/lifter_throughput.py [--width 1024] [--blocks 2] [--threads 2]
"""

from __future__ import annotations

import argparse

import torch
from _common import CPU_PEAK_GFLOPS, best_time, machine, matmul_peak

from weakpose.codec import feature_size
from weakpose.methods.supervised import LifterPredictor
from weakpose.models.lifter import ResidualMLP


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--blocks", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    net = ResidualMLP(feature_size(), 51, args.width, args.blocks).eval()
    flops = net.flops_per_sample()
    peak = matmul_peak()
    print(f"machine: {machine()}; matmul peak now {peak:.0f} GFLOP/s (nominal {CPU_PEAK_GFLOPS:.0f})")
    print(
        f"lifter width {args.width}, {args.blocks} blocks: "
        f"{sum(p.numel() for p in net.parameters()) / 1e6:.2f} M params, "
        f"{flops / 1e6:.2f} MFLOP per pose"
    )
    kp, conf, K = torch.rand(4096, 17, 2) * 1000, torch.ones(4096, 17), torch.eye(3).expand(4096, 3, 3).clone()
    K[:, 0, 0] = K[:, 1, 1] = 1145.0
    predictor = LifterPredictor(net)
    kp, conf, K = kp.numpy(), conf.numpy(), K.numpy()
    with torch.inference_mode():
        for batch in (1, 64, 4096):

            def run(batch=batch):  # the prediction path: codec + network in chunks of predictor.batch_size
                for i in range(0, batch, predictor.batch_size):
                    j = slice(i, min(batch, i + predictor.batch_size))
                    predictor.lift(kp[j], conf[j], K[j])

            t = best_time(run, repeat=20 if batch < 4096 else 5)
            rate = batch / t
            gflops = rate * flops / 1e9
            print(
                f"batch {batch:5d}: {t * 1e3:8.3f} ms  {rate:10.0f} poses/s  {gflops:6.1f} GFLOP/s "
                f"({100 * gflops / CPU_PEAK_GFLOPS:.0f}% of {CPU_PEAK_GFLOPS:.0f} nominal, "
                f"{100 * gflops / peak:.0f}% of measured peak)"
            )


if __name__ == "__main__":
    main()
