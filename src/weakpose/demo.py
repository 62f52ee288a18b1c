"""``weakpose demo``: train a demo-sized supervised reference lifter on the CMU-WS training
subjects, evaluate it on the three benchmark test files, print the tables and draw test poses."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from weakpose.data.contracts import load_benchmark
from weakpose.data.paths import BENCHMARK_FILES, benchmark_file, data_root
from weakpose.engine.checkpoint import FINAL_MODEL
from weakpose.errors import InputError

#: The demo's settings on top of the supervised defaults: same network, fewer steps.
DEMO_OVERRIDES = ("steps=3000", "eval_every=1000", "checkpoint_every=1000", "monitor_samples=1024")


def run_demo(args: argparse.Namespace) -> int:
    from weakpose.atomic import write_text_atomic
    from weakpose.inference_api import load_predictor
    from weakpose.metrics import evaluate_predictions, format_table
    from weakpose.training import train
    from weakpose.visualize import pose_figure

    root = data_root(args.data)
    out = Path(args.out)
    run = out / "supervised"
    overrides = list(DEMO_OVERRIDES) + ([f"steps={args.steps}"] if args.steps is not None else [])
    if (run / FINAL_MODEL).exists():
        print(f"using the trained model in {run} (delete the folder to retrain)")
    else:
        try:
            train("supervised", run, overrides=overrides, data=root, progress=not args.no_progress)
        except InputError as e:
            if "already holds a run" not in str(e):
                raise
            train("supervised", run, overrides=overrides, resume=True, data=root, progress=not args.no_progress)
    predictor = load_predictor(run)
    results = {}
    for name in BENCHMARK_FILES:
        bench = load_benchmark(benchmark_file(root, name))
        pred = predictor.predict(bench.inputs)["positions_3d"]
        results[name] = evaluate_predictions(pred, bench.positions_3d, bench.action)
        print(format_table(results[name], f"\nCMU-WS {name} ({len(pred)} samples), supervised reference (demo size)"))
        if name == "h36mrig_gt2d":
            idx = np.linspace(0, len(pred) - 1, 4).astype(int)
            fig = pose_figure(out / "demo_poses.png", bench.inputs.keypoints_2d[idx], bench.inputs.confidence[idx],
                              pred[idx], bench.positions_3d[idx],
                              [f"{bench.action[i]} (sample {i})" for i in idx])
    write_text_atomic(out / "demo_results.json", json.dumps(results, indent=2))
    summary = ", ".join(f"{k}: MPJPE {v['mpjpe']:.1f} / PA {v['pa_mpjpe']:.1f} mm" for k, v in results.items())
    print(f"\n{summary}\nwrote {fig} and {out / 'demo_results.json'}")
    return 0
