import pytest

from weakpose.baselines import depthless_poses
from weakpose.data.contracts import load_benchmark
from weakpose.data.statistics import training_bone_lengths
from weakpose.metrics import evaluate_predictions


def test_depthless_baseline_matches_design(root, gt2d_file):
    """DESIGN.md §5: the depth-less prediction scores 127.5 / 93.2 mm on gt2d."""
    bench = load_benchmark(gt2d_file)
    res = evaluate_predictions(depthless_poses(bench.inputs, training_bone_lengths(root)), bench.positions_3d)
    assert res["mpjpe"] == pytest.approx(127.5, abs=0.05)
    assert res["pa_mpjpe"] == pytest.approx(93.2, abs=0.05)
