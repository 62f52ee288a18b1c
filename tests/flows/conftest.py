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


TINY_PRIOR = ["representations=aa", "flow_steps=2", "flow_hidden=32", "prelu_steps=2", "gmm_modes=2",
              "gmm_iterations=3", "vae_latent=8", "num_betas=2", "batch_size=128", "steps=60", "eval_every=0"]
"""A `weakpose train prior` run at test size: 60 maximum-likelihood steps (Eq. 1) lift the flow's
held-out log-likelihood from the standardising Gaussian it starts as (tests/flows/test_prior_training.py)."""


@pytest.fixture(scope="session")
def cmu_rotations_once():
    """(data root, CMU joint rotations): the BVH conversion (~7 s) once per test session."""
    from weakpose.data.paths import data_root
    from weakpose.methods.flows.prior import cmu_rotations

    root = data_root()
    if not (root / "cmu" / "bvh").is_dir() or not (root / "benchmark" / "cmu_test_h36mrig_gt2d.npz").exists():
        pytest.skip("CMU data not available")
    return root, cmu_rotations(root)


@pytest.fixture(scope="session")
def trained_prior_run(tmp_path_factory, cmu_rotations_once):
    """A tiny TRAINED prior run (`weakpose train prior` with :data:`TINY_PRIOR`; its body model is
    the CMU training subjects' shape space), shared by the flows-ws tests."""
    import weakpose.methods.flows.prior as prior_module
    from weakpose.training import train

    root, rotations = cmu_rotations_once
    run = tmp_path_factory.mktemp("trained_prior") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(prior_module, "cmu_rotations", lambda data_root: rotations)
        torch.manual_seed(0)
        train("prior", run, overrides=TINY_PRIOR, data=root, progress=False)
    return run
