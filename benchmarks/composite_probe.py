"""Short probes of ``weakpose train composite`` settings, scored on training-subject validation
views (the method's monitor; never the test files). Used to pick the defaults in docs/composite.md.

    PYTHONPATH=src python benchmarks/composite_probe.py '[["mc", {"w_mc": 1}], ["flow", {"w_flow": 0.02}]]'
    PYTHONPATH=src python benchmarks/composite_probe.py flow   # NLL of the fitted flow prior on known poses

Each row starts with every weak term off except the ones it sets (the 2D term stays on), at the
size below (400 steps, width 256), seed 0.
"""

from __future__ import annotations

import json
import sys
import time

import torch

from weakpose.data.paths import data_root
from weakpose.methods.composite.config import CompositeConfig
from weakpose.methods.composite.method import CompositeMethod

PROBE = {"stride": 4, "teacher_steps": 600, "flow_fit_steps": 800, "width": 256, "blocks": 2, "batch_size": 64,
         "mv_batch_size": 16, "steps": 400, "w_mc": 0, "w_mmd": 0, "w_flow": 0, "w_distill": 0, "monitor_samples": 512}


def flow_check() -> None:
    """Median NLL per dimension of the fitted bone-direction flow on the training poses, the
    ground truth of 256 validation views, their depth mirror images and their depth-less poses."""
    import numpy as np

    from weakpose.baselines import depthless_poses
    from weakpose.methods.composite.objective import flow_features, to_template

    cfg = CompositeConfig(stride=8, flow_fit_steps=800, w_mc=0, w_mmd=0, w_distill=0, multiview_2d="",
                          monitor_samples=256)
    m = CompositeMethod(cfg, data_root())
    fitted = m.run_phases_before_training()["flow_prior"]["train/flow_nll_per_dim"]
    m.prepare_lifter_training()
    inputs, gt = m.monitor_set()

    def nll(poses) -> float:
        x = flow_features(to_template(torch.as_tensor(poses, dtype=torch.float32), m.objective.template))
        return float((-m.nets["flow"].log_prob(x) / x.shape[1]).median())

    print(f"last fitting batch {fitted:.2f}; training poses {nll(m.sources.unpaired_3d[::500]):.2f}; "
          f"validation ground truth {nll(gt):.2f}; its depth mirror {nll(gt * np.array([1, 1, -1], np.float32)):.2f}; "
          f"depth-less {nll(depthless_poses(inputs, m.mean_bones_mm)):.2f}")


def main() -> None:
    if sys.argv[1] == "flow":
        return flow_check()
    for name, overrides in json.loads(sys.argv[1]):
        torch.manual_seed(0)
        cfg = CompositeConfig(**(PROBE | overrides))
        t = time.time()
        m = CompositeMethod(cfg, data_root())
        m.run_phases_before_training()
        t1 = time.time()
        for step in range(cfg.steps):
            logs = m.train_step(step)
            if (step + 1) % 200 == 0:
                print(name, step + 1, {k: round(v, 3) for k, v in logs.items()}, m.evaluate(), flush=True)
        print("RESULT", name, overrides, m.evaluate(), f"init {t1 - t:.0f}s train {time.time() - t1:.0f}s", flush=True)


if __name__ == "__main__":
    main()
