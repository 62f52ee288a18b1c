"""`weakpose train nrsfm`, `weakpose train distill`, predict: a small run where the distilled
student's error on its training 2D drops below its teacher's."""

import numpy as np
import pytest
import torch

from weakpose.data.contracts import Keypoints2D
from weakpose.data.paths import data_root
from weakpose.data.statistics import training_bone_lengths
from weakpose.engine.checkpoint import load_checkpoint
from weakpose.errors import InputError
from weakpose.methods.nrsfm.teacher import training_keypoints
from weakpose.methods.registry import get_method
from weakpose.metrics import depth_error, pa_mpjpe
from weakpose.skeleton import H36M17
from weakpose.training import train

TINY = ["stride=24", "eval_every=0", "checkpoint_every=100000", "monitor_samples=64", "calibration_samples=1024"]


def _predictor(run):
    ckpt = load_checkpoint(run)
    return get_method(ckpt["method"]).load_predictor(ckpt)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_teacher):
    torch.set_num_threads(1)
    teacher_dir, student_dir = tiny_teacher, tmp_path_factory.mktemp("nrsfm_runs") / "student"
    train("distill", student_dir, overrides=TINY + [f"teacher={teacher_dir}", "steps=150", "width=128", "lr=2e-3"],
          progress=False)
    return teacher_dir, student_dir


def test_student_beats_its_teacher_on_the_training_subjects(runs):
    teacher_dir, student_dir = runs
    data = training_keypoints(data_root(), "h36m", "gt", 0, 24)
    inputs = Keypoints2D(data["keypoints_2d"], data["confidence"], data["intrinsics"])
    gt = data["positions_3d"]
    teacher = _predictor(teacher_dir).predict(inputs)
    student = _predictor(student_dir).predict(inputs)
    for out in (teacher, student):
        assert out["positions_3d"].shape == gt.shape and out["positions_3d_raw"].shape == gt.shape
        assert np.allclose(out["positions_3d"][:, 0], 0.0)
    t_pa, s_pa = pa_mpjpe(teacher["positions_3d"], gt).mean(), pa_mpjpe(student["positions_3d"], gt).mean()
    t_dz, s_dz = depth_error(teacher["positions_3d"], gt).mean(), depth_error(student["positions_3d"], gt).mean()
    assert s_pa < t_pa - 2.0, (t_pa, s_pa)
    assert s_dz < t_dz, (t_dz, s_dz)


def test_distill_requires_a_teacher_run(tmp_path):
    with pytest.raises(InputError, match="teacher"):
        train("distill", tmp_path / "s", overrides=["steps=1"], progress=False)
    with pytest.raises(InputError, match="atoms"):
        train("nrsfm", tmp_path / "t", overrides=["steps=1", "atoms=huge"], progress=False)


def test_cli_predict_on_detections_with_missing_joints(runs, tmp_path):
    from weakpose.cli import main
    from weakpose.data.contracts import load_benchmark, save_npz_atomic

    bench = load_benchmark(data_root() / "benchmark" / "cmu_test_h36mrig_det2d.npz")
    missing = np.nonzero((bench.inputs.confidence == 0).any(-1))[0][:20]
    sel = np.concatenate([missing, np.arange(20)])
    small = tmp_path / "det2d_small.npz"
    save_npz_atomic(small, keypoints_2d=bench.inputs.keypoints_2d[sel], confidence=bench.inputs.confidence[sel],
                    intrinsics=bench.inputs.intrinsics[sel], frame_index=np.arange(len(sel)))
    for run in runs:
        out = tmp_path / f"{run.name}.npz"
        assert main(["predict", "--checkpoint", str(run), "--input", str(small), "--output", str(out)]) == 0
        pred = np.load(out)
        assert pred["positions_3d"].shape == (40, 17, 3) and np.isfinite(pred["positions_3d"]).all()
        assert np.allclose(pred["positions_3d"][:, 0], 0.0)
        assert np.array_equal(pred["frame_index"], np.arange(40))
        # metric scale: s = argmin Σ_b (s ℓ_b − μ_b)², so the scaled lengths ℓ' satisfy Σ ℓ'μ = Σ ℓ'²
        lengths = H36M17.bone_lengths(pred["positions_3d"].astype(np.float64))
        mu = training_bone_lengths(data_root())
        assert np.allclose((lengths * mu).sum(-1), (lengths ** 2).sum(-1), rtol=1e-4)
