"""A tiny Deep NRSfM teacher run shared by the end-to-end tests of the keypoint and image students."""

import pytest
import torch

from weakpose.training import train

TINY = ["stride=24", "eval_every=0", "checkpoint_every=100000", "monitor_samples=64", "calibration_samples=1024"]


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory):
    torch.set_num_threads(1)
    teacher_dir = tmp_path_factory.mktemp("nrsfm_teacher") / "teacher"
    train("nrsfm", teacher_dir, overrides=TINY + ["steps=200", "atoms=64,32,16", "lr=3e-3"], progress=False)
    return teacher_dir
