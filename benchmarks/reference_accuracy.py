"""Accuracy of a trained model (or of the depth-less baseline) on the three CMU-WS test files
(PA-refl: PA-MPJPE with reflections, as the papers; PA-MPJPE is without).

    python benchmarks/reference_accuracy.py --run runs/reference [--json results.json]
    python benchmarks/reference_accuracy.py --depthless
"""

from __future__ import annotations

import argparse
import json
import time

from weakpose.data.contracts import load_benchmark
from weakpose.data.paths import BENCHMARK_FILES, benchmark_file, data_root
from weakpose.inference_api import load_predictor
from weakpose.metrics import evaluate_predictions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--run", help="run folder or checkpoint")
    ap.add_argument("--depthless", action="store_true", help="score the depth-less baseline instead")
    ap.add_argument("--data", default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    root = data_root(args.data)
    if args.depthless:
        from weakpose.baselines import depthless_poses
        from weakpose.data.statistics import training_bone_lengths

        mu = training_bone_lengths(root)

        class predictor:  # noqa: N801 - same interface as a model predictor
            predict = staticmethod(lambda inputs: {"positions_3d": depthless_poses(inputs, mu)})
    else:
        predictor = load_predictor(args.run)
    rows = {}
    print(f"{'file':16s} {'MPJPE':>8s} {'N-MPJPE':>8s} {'PA-MPJPE':>9s} {'PA-refl':>8s} {'PCK150':>7s} {'AUC':>6s} {'s':>6s}")
    for name in BENCHMARK_FILES:
        bench = load_benchmark(benchmark_file(root, name))
        t = time.perf_counter()
        pred = predictor.predict(bench.inputs)
        dt = time.perf_counter() - t
        r = evaluate_predictions(pred["positions_3d"], bench.positions_3d, bench.action, pred.get("hypotheses"))
        rows[name] = r
        print(f"{name:16s} {r['mpjpe']:8.1f} {r['n_mpjpe']:8.1f} {r['pa_mpjpe']:9.1f} {r['pa_mpjpe_refl']:8.1f} {r['pck150']:7.1f} {r['auc']:6.1f} {dt:6.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
