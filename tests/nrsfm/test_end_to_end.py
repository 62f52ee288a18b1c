"""`weakpose train nrsfm`, `weakpose train distill`, predict: a small run where the distilled
student's error on its training 2D drops below its teacher's."""

import numpy as np
import pytest
import torch

from weakpose.data.contracts import InputError, Keypoints2D
from weakpose.data.paths import data_root
from weakpose.engine.checkpoint import load_checkpoint
from weakpose.engine.trainer import train
from weakpose.methods.nrsfm import depth_error, training_keypoints
from weakpose.methods.registry import get_method
from weakpose.metrics import pa_mpjpe

TINY = ["stride=16", "eval_every=0", "checkpoint_every=100000", "monitor_samples=64", "calibration_samples=1024"]


def _predictor(run):
    ckpt = load_checkpoint(run)
    return get_method(ckpt["method"]).load_predictor(ckpt)


def test_student_beats_its_teacher_on_the_training_subjects(tmp_path):
    torch.set_num_threads(1)
    teacher_dir, student_dir = tmp_path / "teacher", tmp_path / "student"
    train("nrsfm", teacher_dir, overrides=TINY + ["steps=250", "atoms=64,32,16", "lr=3e-3"], progress=False)
    train("distill", student_dir, overrides=TINY + [f"teacher={teacher_dir}", "steps=200", "width=128", "lr=2e-3"],
          progress=False)
    data = training_keypoints(data_root(), "h36m", "gt", 0, 16)
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
