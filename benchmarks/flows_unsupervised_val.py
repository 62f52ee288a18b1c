"""Validation error of `flows-ws` runs on the training subjects' frames whose 3D the run never
read: frames outside its supervised clips (``supervised_fraction``, seed of the run), each seen
by a random camera of the h36m rig at a random yaw, exact 2D. Training subjects only, never the
test subjects; for choosing FS -> WS settings (docs/flows.md, issue 16 aim 2), where the
default training monitor is biased towards FS (a fifth of its frames lie in the supervised
clips).

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/flows_unsupervised_val.py RUN [RUN ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from weakpose.data.paths import data_root
from weakpose.engine.checkpoint import load_checkpoint
from weakpose.engine.config import config_from_dict
from weakpose.methods.base import batched
from weakpose.methods.flows.pose_shape_net import decode
from weakpose.methods.flows.ws import METHOD, FlowsWSConfig
from weakpose.metrics import mpjpe, pa_mpjpe

FRAMES = 4096
SEED = 2026


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    out = {}
    methods: dict[tuple[float, int], object] = {}
    for run in args.runs:
        payload = load_checkpoint(run / "model.pt")
        cfg = payload["config"]
        key = (cfg["supervised_fraction"], cfg["seed"])
        if key not in methods:  # the partition of this fraction and seed (an FS run's; init runs share it)
            base = {**cfg, "init": "", "restarts": 1, "prior": cfg["prior"] or _prior_of(cfg["init"])}
            methods[key] = METHOD(config_from_dict(FlowsWSConfig, base), data_root())
        m = methods[key]
        m.nets["net"].load_state_dict(payload["modules"]["net"])
        m.nets["net"].eval()
        held = np.flatnonzero(~m.sampler.supervised)
        rng = np.random.default_rng(SEED)
        batch = m.sampler.sample(rng, FRAMES, frames=np.sort(rng.choice(held, FRAMES, replace=False)))

        def lift(kp, conf, K, m=m):
            return decode(m.space, m.nets["body"], m.nets["net"](kp, conf, K)).joints

        pred = batched(lift, [torch.from_numpy(a) for a in (batch.keypoints_2d, batch.confidence,
                                                             batch.intrinsics)], 1024).numpy()
        gt = batch.joints_cam - batch.joints_cam[:, :1]
        out[str(run)] = {"mpjpe": float(mpjpe(pred, gt).mean()), "pa_mpjpe": float(pa_mpjpe(pred, gt).mean())}
        print(f"{run}: held-out training frames ({FRAMES}) MPJPE {out[str(run)]['mpjpe']:.1f} "
              f"PA-MPJPE {out[str(run)]['pa_mpjpe']:.1f}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


def _prior_of(init: str) -> str:
    """The prior run an ``init`` chain started from."""
    cfg = load_checkpoint(Path(init) / "model.pt")["config"]
    return cfg["prior"] or _prior_of(cfg["init"])


if __name__ == "__main__":
    main()
