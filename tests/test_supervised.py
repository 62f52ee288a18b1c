"""End-to-end: the supervised reference learns depth on real motion in a short CPU run."""

import numpy as np

from weakpose.data.contracts import Keypoints2D, load_benchmark
from weakpose.inference_api import load_predictor
from weakpose.metrics import mpjpe
from weakpose.training import train


def test_short_training_reduces_error(tmp_path, gt2d_file):
    train("supervised", tmp_path / "run", overrides=["width=256", "blocks=1", "dropout=0", "steps=300",
                                                     "batch_size=128", "eval_every=0", "monitor_samples=256"],
          progress=False)
    bench = load_benchmark(gt2d_file)
    idx = np.arange(0, len(bench.positions_3d), 16)
    inp = Keypoints2D(bench.inputs.keypoints_2d[idx], bench.inputs.confidence[idx], bench.inputs.intrinsics[idx])
    err = mpjpe(load_predictor(tmp_path / "run").predict(inp)["positions_3d"], bench.positions_3d[idx]).mean()
    zero = mpjpe(np.zeros_like(bench.positions_3d[idx]), bench.positions_3d[idx]).mean()
    # predicting the root for every joint scores ~420 mm; 300 steps must get below 160 mm
    assert err < 160.0, err
    assert err < 0.4 * zero
