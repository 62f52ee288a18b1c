"""Fixtures of the Li & Lee tests."""

import numpy as np
import pytest

from weakpose.data.mocap import TRAIN_SUBJECTS, load_cmu
from weakpose.methods.hypotheses.core import TrainingData


@pytest.fixture(scope="module")
def data(root):
    """100 training-subject mocap frames as both the 2D (their x, y) and the unpaired 3D set."""
    pos = load_cmu(root, TRAIN_SUBJECTS).positions[:400:4]
    return TrainingData(pos[:, :, :2].copy(), np.ones(pos.shape[:2], np.float32), pos)
