import os

os.environ.setdefault("MKL_CBWR", "AUTO")  # bit-reproducible MKL before torch loads (see weakpose/__init__.py)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from weakpose.data.paths import data_root  # noqa: E402

# one thread: the test networks are small, and several OpenMP threads spin badly when the CPU is shared
THREADS = os.environ.get("WEAKPOSE_TEST_THREADS", "1")
torch.set_num_threads(int(THREADS))
# `weakpose` commands run in-process (main()) and in subprocesses take their thread count from here
os.environ["OMP_NUM_THREADS"] = THREADS


REQUIRE_EXTRAS = os.environ.get("WEAKPOSE_REQUIRE_EXTRAS") == "1"
"""Set by .ci/run: CI installs every extra, so a skip for a missing module is a failure there."""


def _missing_module_skip(report) -> bool:
    return REQUIRE_EXTRAS and report.skipped and "could not import" in str(report.longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if _missing_module_skip(report):
        report.outcome = "failed"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if _missing_module_skip(report):
        report.outcome = "failed"


@pytest.fixture(scope="session")
def root():
    return data_root()


@pytest.fixture(scope="session")
def gt2d_file(root):
    return root / "benchmark" / "cmu_test_h36mrig_gt2d.npz"


@pytest.fixture
def rng():
    return np.random.default_rng(0)
