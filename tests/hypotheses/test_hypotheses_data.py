"""Template frame and 2D normalisation of Li & Lee 2020 (methods.hypotheses.data)."""

import numpy as np
import pytest
import torch

from weakpose.geometry.rotations import axis_angle_to_matrix
from weakpose.methods.hypotheses.data import (
    LIMB_JOINTS,
    TORSO,
    align_to_template,
    joint_weights,
    mask_random_limb_joints,
    normalise_2d,
    torso_template,
)


def _poses(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return 400 * torch.randn(n, 17, 3, generator=g, dtype=torch.float64)


def test_torso_template_dimensions():
    p = np.zeros((2, 17, 3))
    p[:, 1], p[:, 4] = [-100, 0, 0], [100, 0, 0]          # hips 200 mm apart
    p[:, 14], p[:, 11] = [-150, 500, 0], [150, 500, 0]    # shoulders 300 mm apart, 500 mm up
    t = torso_template(p)
    assert np.allclose(t, [[-0.1, 0, 0], [0.1, 0, 0], [0.15, -0.5, 0], [-0.15, -0.5, 0]], atol=1e-6)


def test_align_to_template_is_invariant_to_similarity_transforms():
    tpl = torch.tensor([[-0.1, 0, 0], [0.1, 0, 0], [0.15, -0.5, 0], [-0.15, -0.5, 0]], dtype=torch.float64)
    p = _poses()
    R = axis_angle_to_matrix(torch.tensor([[0.3, -1.2, 2.0]], dtype=torch.float64))[0]
    moved = 2.5 * p @ R.T + torch.tensor([10.0, -300, 4000], dtype=torch.float64)
    a, b = align_to_template(p, tpl), align_to_template(moved, tpl)
    assert torch.allclose(a, b, atol=1e-8)
    assert torch.allclose(a[:, 0], torch.zeros(6, 3, dtype=torch.float64))  # pelvis-centred
    # a pose whose torso *is* the template (up to rotation/scale/translation) lands on it exactly
    q = torch.zeros(1, 17, 3, dtype=torch.float64)
    q[0, list(TORSO)] = tpl
    q[0, 0] = tpl[:2].mean(0)
    q2 = 3.0 * q @ R.T + 7.0
    out = align_to_template(q2, tpl)
    assert torch.allclose(out[0, list(TORSO)], tpl - q[0, 0], atol=1e-8)


def test_normalise_2d_centres_scales_and_zeroes_missing_joints():
    kp = torch.zeros(1, 17, 2)
    kp[0, :, 0] = torch.arange(17.0) * 10 + 500
    kp[0, :, 1] = 300
    conf = torch.ones(1, 17)
    conf[0, 5] = 0
    kp[0, 5] = 0.0  # missing joint at (0, 0)
    x, vis = normalise_2d(kp, conf)
    assert vis[0, 5] == 0 and vis.sum() == 16
    assert torch.all(x[0, 5] == 0) and torch.all(x[0, 0] == 0)
    visible = x[0, vis[0] > 0]
    assert (visible ** 2).mean().item() == pytest.approx(1.0, rel=1e-5)
    # scaling and moving the input changes nothing
    x2, _ = normalise_2d(kp * 3 + 7 * conf[..., None], conf)
    assert torch.allclose(x, x2, atol=1e-5)
    conf[0, 0] = 0
    with pytest.raises(ValueError, match="pelvis"):
        normalise_2d(kp, conf)


def test_joint_weights_and_limb_masking():
    vis = torch.ones(3, 17)
    vis[0, 2] = 0
    w = joint_weights(vis, head_weight=0.1)
    assert w[0, 2] == 0 and w[1, 9] == pytest.approx(0.1) and w[1, 10] == pytest.approx(0.1) and w[1, 3] == 1
    x = torch.ones(500, 17, 2)
    xm, vm = mask_random_limb_joints(x, torch.ones(500, 17), 2, torch.Generator().manual_seed(0))
    assert torch.all((1 - vm).sum(1) == 2)
    hidden = torch.nonzero(vm == 0)[:, 1].unique().tolist()
    assert set(hidden) == set(LIMB_JOINTS)  # every limb joint gets hidden at some point, nothing else
    assert torch.all(xm[vm == 0] == 0)


