"""L_KA of the ground truth on flows-ws training samples: the floor of the weakly supervised loss.

    PYTHONPATH=src python benchmarks/flows_ka_floor.py   # needs runs/prior (weakpose train prior)

Prints L_KA (px²) of the true joints and of the body model's FK of the true pose (θ̂, β̂, R̂) with
the weak-perspective translation flows-ws uses, and the FK's mean joint error (mm).
"""
import torch, numpy as np
from weakpose.data.paths import data_root
from weakpose.methods.prior import cmu_rotations, load_prior_run
from weakpose.methods.flows_ws_data import PoseSampler
from weakpose.fitting.camera_init import weak_perspective_translation
from weakpose.fitting.losses import keypoint_alignment
from weakpose.camera import project
bundle, _ = load_prior_run("runs/prior"); body = bundle.body
s = PoseSampler.from_rotations(cmu_rotations(data_root()), body, data_root(), 1.0)
b = s.sample(np.random.default_rng(0), 2048)
kp, K = torch.from_numpy(b.keypoints_2d), torch.from_numpy(b.intrinsics)
gt = torch.from_numpy(b.joints_cam)
out = body(torch.from_numpy(b.theta), torch.from_numpy(b.beta), global_rot=torch.from_numpy(b.global_rot))
rel = out.joints - out.joints[:, :1]
for name, J in (("true joints", gt - gt[:, :1]), ("body model FK of the truth", rel)):
    t = weak_perspective_translation(J, kp, K)
    ka_wp = keypoint_alignment(project(J + t[:, None], K), kp)
    ka_true_t = keypoint_alignment(project(J + gt[:, :1], K), kp)
    print(f"{name}: L_KA with weak-perspective t: mean {ka_wp.mean():.2f} median {ka_wp.median():.2f} px^2; with the true pelvis position: mean {ka_true_t.mean():.2f} px^2")
print("FK of the truth vs true joints, mean joint error mm:", float((rel - (gt - gt[:, :1])).norm(dim=-1).mean()))
