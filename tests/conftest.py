import os

os.environ.setdefault("MKL_CBWR", "AUTO")  # bit-reproducible MKL before torch loads (see weakpose/__init__.py)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from weakpose.data.paths import data_root  # noqa: E402

# one thread: the test networks are small, and several OpenMP threads spin badly when the CPU is shared
torch.set_num_threads(int(os.environ.get("WEAKPOSE_TEST_THREADS", "1")))


@pytest.fixture(scope="session")
def root():
    return data_root()


@pytest.fixture(scope="session")
def gt2d_file(root):
    return root / "benchmark" / "cmu_test_h36mrig_gt2d.npz"


@pytest.fixture
def rng():
    return np.random.default_rng(0)
