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
from weakpose.metrics import METRIC_NAMES, evaluate_predictions


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
    heads = ("MPJPE", "N-MPJPE", "PA-MPJPE", "PA-refl", "PCK150", "AUC", "s")
    print(f"{'file':16s}" + "".join(f"{h:>9s}" for h in heads))
    for name in BENCHMARK_FILES:
        bench = load_benchmark(benchmark_file(root, name))
        t = time.perf_counter()
        pred = predictor.predict(bench.inputs)
        dt = time.perf_counter() - t
        r = evaluate_predictions(pred["positions_3d"], bench.positions_3d, bench.action, pred.get("hypotheses"))
        rows[name] = r
        print(f"{name:16s}" + "".join(f"{r[k]:9.1f}" for k in METRIC_NAMES) + f"{dt:9.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
