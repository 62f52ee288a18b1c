"""Deep NRSfM is object agnostic: train it on a 12-joint layout without a root joint."""

import numpy as np
import torch

from weakpose.camera import complete_rotation
from weakpose.data.benchmark import make_split
from weakpose.data.mocap import TRAIN_SUBJECTS
from weakpose.data.paths import data_root
from weakpose.methods.nrsfm.codec import normalise_keypoints
from weakpose.methods.nrsfm.distill_loss import projected_code, rotated_dictionary
from weakpose.methods.nrsfm.network import DeepNRSfM, reduced_gauge_basis
from weakpose.methods.nrsfm.teacher import nrsfm_loss

LIMBS12 = [1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16]  # hips, knees, ankles, shoulders, elbows, wrists


def test_teacher_learns_a_12_joint_layout_and_distills():
    torch.manual_seed(0)
    data = make_split(data_root(), TRAIN_SUBJECTS, stride=10)
    kp = data["keypoints_2d"][:, LIMBS12]
    nk = normalise_keypoints(kp, None, data["intrinsics"], center="mean")
    net = DeepNRSfM(12, (48, 24, 12), center="mean")
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    with torch.no_grad():
        start = nrsfm_loss(net(nk.w[:2048]), nk.w[:2048], nk.mask[:2048])["reprojection"].item()
    for _ in range(200):
        idx = torch.as_tensor(rng.integers(0, len(nk.w), 128))
        loss = nrsfm_loss(net(nk.w[idx]), nk.w[idx], nk.mask[idx])["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        out = net(nk.w[:2048])
        end = nrsfm_loss(out, nk.w[:2048], nk.mask[:2048])["reprojection"].item()
    assert out.shape.shape == (2048, 12, 3)
    assert torch.allclose(out.shape.mean(1), torch.zeros(2048, 3), atol=1e-5)  # centred gauge
    assert end < 0.35 * start, (start, end)
    # the distillation operator works on this layout: any centred depth is matched exactly
    _, b_z = rotated_dictionary(net.shape_dictionary().double(), complete_rotation(out.camera[:16].mT).mT.double())
    z = torch.randn(16, 12, dtype=torch.float64)
    z = z - z.mean(1, keepdim=True)
    phi = projected_code(out.code[:16].double(), b_z, z, basis=reduced_gauge_basis(12, "mean"))
    assert torch.allclose(torch.einsum("bpk,bk->bp", b_z, phi), z, atol=1e-8)
