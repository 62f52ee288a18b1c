"""L_KA of the ground truth on flows-ws training samples: the floor of the weakly supervised loss.

    PYTHONPATH=src python benchmarks/flows_ka_floor.py [--prior runs/prior] [--samples 2048]

Prints L_KA (px²) of the true joints and of the body model's FK of the true pose (θ̂, β̂, R̂),
each with the weak-perspective translation flows-ws uses and with the true pelvis position, and
the FK's mean joint error (mm) against the true joints.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from weakpose.camera import project
from weakpose.data.paths import data_root
from weakpose.methods.flows.fitting.camera_init import weak_perspective_translation
from weakpose.methods.flows.fitting.losses import keypoint_alignment
from weakpose.methods.flows.prior import cmu_rotations, load_prior_run
from weakpose.methods.flows.ws_data import PoseSampler


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prior", default="runs/prior")
    ap.add_argument("--samples", type=int, default=2048)
    args = ap.parse_args()
    torch.set_num_threads(1)
    bundle, _ = load_prior_run(args.prior)
    body = bundle.body
    sampler = PoseSampler.from_rotations(cmu_rotations(data_root()), body, data_root(), 1.0)
    b = sampler.sample(np.random.default_rng(0), args.samples)
    kp, K = torch.from_numpy(b.keypoints_2d), torch.from_numpy(b.intrinsics)
    gt = torch.from_numpy(b.joints_cam)
    with torch.no_grad():
        out = body(torch.from_numpy(b.theta), torch.from_numpy(b.beta), global_rot=torch.from_numpy(b.global_rot))
    rel = out.joints - out.joints[:, :1]
    for name, J in (("true joints", gt - gt[:, :1]), ("body model FK of the truth", rel)):
        t = weak_perspective_translation(J, kp, K)
        ka_wp = keypoint_alignment(project(J + t[:, None], K), kp)
        ka_true = keypoint_alignment(project(J + gt[:, :1], K), kp)
        print(f"{name}: L_KA with weak-perspective t: mean {ka_wp.mean():.2f} median {ka_wp.median():.2f} px^2; "
              f"with the true pelvis position: mean {ka_true.mean():.2f} px^2")
    print(
        "FK of the truth vs true joints, mean joint error: "
        f"{float((rel - (gt - gt[:, :1])).norm(dim=-1).mean()):.1f} mm"
    )


if __name__ == "__main__":
    main()
