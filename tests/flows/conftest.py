import numpy as np
import pytest
import torch

from weakpose.methods.flows.body import cmu_tree
from weakpose.methods.flows.body.cmu import shape_space
from weakpose.methods.flows.body.model import BodyModel

from .flows_helpers import synthetic_offsets

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def body() -> BodyModel:
    subjects = np.stack([synthetic_offsets(s) for s in (0.92, 0.97, 1.0, 1.04, 1.08)])
    subjects[1, cmu_tree.SEGMENT_NAMES.index("LeftForeArm")] *= 1.1
    mean, basis = shape_space(subjects, num_betas=2)
    return BodyModel(mean, basis)
