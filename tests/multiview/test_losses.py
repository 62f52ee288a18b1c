"""Losses of the multi-view method (Iqbal et al. 2020, Eq. 6, 8, 10, 11) on hand-made cases."""

from __future__ import annotations

import pytest
import torch

from weakpose.geometry import axis_angle_to_matrix, reconstruct_from_2p5d
from weakpose.methods.multiview.losses import (
    known_rotation_alignment,
    loss_bone,
    loss_fs,
    loss_mc,
    ordered_view_pairs,
    pairwise_alignment,
)
from weakpose.skeleton import H36M17

J = 17


@pytest.fixture(autouse=True)
def _double_precision():
    """Exact comparisons in float64, restored afterwards for the other test modules."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _pose(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(J, 3, generator=g) * 0.4


def _rot(axis_angle) -> torch.Tensor:
    return axis_angle_to_matrix(torch.tensor(axis_angle, dtype=torch.float64))


def test_ordered_pairs_cover_all_ordered_pairs_once():
    c, c2 = ordered_view_pairs(4)
    pairs = set(zip(c.tolist(), c2.tolist()))
    assert len(pairs) == 12 == len(c)
    assert all(a != b for a, b in pairs)
    with pytest.raises(ValueError):
        ordered_view_pairs(1)


def test_mc_is_zero_for_rigidly_moved_views():
    X = _pose()
    R1, R2 = _rot([0.3, -1.2, 0.2]), _rot([0.0, 2.5, -0.4])
    views = torch.stack([X, X @ R1.T + torch.tensor([0.1, 0.2, 4.0]), X @ R2.T + torch.tensor([-1.0, 0.0, 6.0])])
    phi = torch.rand(1, 3, J, generator=torch.Generator().manual_seed(1)) * 0.9 + 0.1
    assert loss_mc(views[None], phi).item() == pytest.approx(0.0, abs=1e-9)


def test_mc_value_for_scaled_copy_with_procrustes():
    # View 2 = 2 x view 1 of a centred pose: the rigid Procrustes fit is the identity (no scale),
    # so each of the two ordered pairs contributes sum_j |x_j|_1.
    X = _pose()
    X = X - X.mean(0)
    views = torch.stack([X, 2 * X])[None]
    phi = torch.ones(1, 2, J)
    R, t = pairwise_alignment(views, phi)
    assert torch.allclose(R, torch.eye(3).expand(1, 2, 3, 3), atol=1e-9)
    assert torch.allclose(t, torch.zeros(1, 2, 3), atol=1e-9)
    expected = 2 * X.abs().sum()
    assert loss_mc(views, phi).item() == pytest.approx(expected.item(), rel=1e-9)


def test_mc_value_with_known_rotation_and_one_wrong_joint():
    # WS + R with identical cameras: joint 0 of view 2 is off by d = (0.3, 0, 0). The translation
    # is the centroid offset -d/J, so the L1 sum over joints is 0.3 (1 - 1/J) + (J - 1) 0.3 / J.
    X = _pose()
    Y = X.clone()
    Y[0, 0] += 0.3
    views = torch.stack([X, Y])[None]
    phi = torch.ones(1, 2, J)
    rot = torch.eye(3).expand(1, 2, 3, 3)
    expected = 2 * (0.3 * (1 - 1 / J) + (J - 1) * 0.3 / J)     # two ordered pairs
    assert loss_mc(views, phi, rot).item() == pytest.approx(expected, rel=1e-9)


def test_mc_known_rotations_map_camera_frames():
    # Two cameras of one world pose: x_c = R_c x_w + t_c. With their true rotations the loss is 0.
    Xw = _pose(3)
    Rs = torch.stack([_rot([0.1, 0.4, 0.0]), _rot([-0.2, -1.9, 0.1])])
    ts = torch.tensor([[0.0, 0.1, 5.0], [0.3, 0.0, 4.0]])
    views = torch.einsum("cij,kj->cki", Rs, Xw) + ts[:, None]
    phi = torch.ones(1, 2, J)
    assert loss_mc(views[None], phi, Rs[None]).item() == pytest.approx(0.0, abs=1e-9)
    # ... and with wrong rotations it is not.
    assert loss_mc(views[None], phi, torch.eye(3).expand(1, 2, 3, 3)).item() > 0.05


def test_mc_confidence_weights_ignore_unconfident_joint():
    X = _pose()
    R = _rot([0.2, 1.0, 0.0])
    Y = X @ R.T + 1.0
    Y[5] += torch.tensor([0.5, -0.4, 0.3])        # wrong joint...
    phi = torch.ones(1, 2, J)
    phi[0, 1, 5] = 0.0                            # ... seen with zero confidence in view 2
    assert loss_mc(torch.stack([X, Y])[None], phi).item() == pytest.approx(0.0, abs=1e-9)
    phi[0, 1, 5] = 1.0
    assert loss_mc(torch.stack([X, Y])[None], phi).item() > 1e-3


def test_mc_no_gradient_through_procrustes():
    X = _pose()
    Y = X @ _rot([0.4, -0.7, 0.2]).T + torch.tensor([0.0, 0.0, 3.0])
    Y = Y + 0.05 * torch.randn(J, 3, generator=torch.Generator().manual_seed(5))
    views = torch.stack([X, Y])[None].requires_grad_(True)
    phi = torch.rand(1, 2, J, generator=torch.Generator().manual_seed(2)) + 0.5
    R, t = pairwise_alignment(views, phi)
    assert not R.requires_grad and not t.requires_grad
    loss_mc(views, phi).backward()
    # Analytic gradient with R, t held constant: for pair (c <- c'), d/dp_c = w sign(r),
    # d/dp_c' = -R^T w sign(r), r = p_c - (R p_c' + t); loss = sum_pairs sum_j w |r|_1 / (J P).
    v = views.detach()
    expected = torch.zeros_like(v)
    c, c2 = ordered_view_pairs(2)
    for p, (a, b) in enumerate(zip(c.tolist(), c2.tolist())):
        w = (phi[0, a] * phi[0, b])[:, None]
        r = v[0, a] - (v[0, b] @ R[0, p].T + t[0, p])
        g = w * torch.sign(r)
        expected[0, a] += g
        expected[0, b] -= g @ R[0, p]
    assert torch.allclose(views.grad, expected, atol=1e-12)
    # The same loss with a differentiable fit has a different gradient: the test above would
    # fail if the rotation were back-propagated.
    from weakpose.geometry import procrustes
    views2 = views.detach().clone().requires_grad_(True)
    total = 0.0
    for a, b in zip(c.tolist(), c2.tolist()):
        w = phi[0, a] * phi[0, b]
        Rg, _, tg = procrustes(views2[0, b][None], views2[0, a][None], weights=w[None], scale=False)
        r = views2[0, a] - (views2[0, b] @ Rg[0].T + tg[0])
        total = total + (w * r.abs().sum(-1)).sum()
    total.backward()
    assert not torch.allclose(views2.grad, expected, atol=1e-6)


def test_mc_gradient_reaches_relative_depths_through_reconstruction():
    K = torch.tensor([[1000.0, 0, 500], [0, 1000.0, 500], [0, 0, 1]])
    g = torch.Generator().manual_seed(0)
    uv = 500 + 100 * torch.randn(2, J, 2, generator=g)
    z_rel = (0.2 * torch.randn(2, J, generator=g)).requires_grad_(True)
    pts, _ = reconstruct_from_2p5d(uv, z_rel - z_rel[:, :1], K.expand(2, 3, 3))
    loss_mc(pts[None], torch.ones(1, 2, J)).backward()
    assert torch.isfinite(z_rel.grad).all()
    assert z_rel.grad[:, 1:].abs().sum() > 0


def test_mc_bad_shapes():
    with pytest.raises(ValueError):
        loss_mc(torch.zeros(2, J, 3), torch.ones(2, J))
    with pytest.raises(ValueError):
        loss_mc(torch.zeros(1, 2, J, 3), torch.ones(1, 3, J))
    with pytest.raises(ValueError):
        known_rotation_alignment(torch.zeros(1, 2, J, 3), torch.ones(1, 2, J), torch.zeros(1, 3, 3, 3))


def _tpose_with_bone_lengths(lengths: torch.Tensor) -> torch.Tensor:
    """A pose whose every bone points along +x and has the given length."""
    X = torch.zeros(J, 3)
    for b, (p, ch) in enumerate(H36M17.bones):
        X[ch] = X[p] + torch.tensor([1.0, 0.0, 0.0]) * lengths[b]
    return X


def test_bone_loss_values_and_gradient():
    mu = torch.linspace(0.2, 0.6, H36M17.num_bones)
    X = _tpose_with_bone_lengths(mu)
    phi = torch.ones(J)
    assert loss_bone(X[None], phi[None], mu).item() == pytest.approx(0.0, abs=1e-12)
    # One bone 0.1 too short: (0.1)^2 (sum over the limbs).
    short = mu.clone()
    short[3] -= 0.1
    Y = _tpose_with_bone_lengths(short).requires_grad_(True)
    loss = loss_bone(Y[None], phi[None], mu)
    assert loss.item() == pytest.approx(0.01, rel=1e-6)
    loss.backward()
    p, ch = H36M17.bones[3]
    # Gradient descent lengthens the bone: it moves the child along +x relative to the parent.
    assert Y.grad[ch, 0] < 0 and Y.grad[p, 0] > 0
    # Confidence weighting phi_j phi_j': the child joint unconfident -> no loss.
    phi2 = phi.clone()
    phi2[ch] = 0.0
    assert loss_bone(Y.detach()[None], phi2[None], mu).item() == pytest.approx(0.0, abs=1e-12)
    phi2[ch] = 0.5
    assert loss_bone(Y.detach()[None], phi2[None], mu).item() == pytest.approx(0.5 * 0.01, rel=1e-6)
    with pytest.raises(ValueError):
        loss_bone(X[None], phi[None], mu[:-1])


def test_fs_loss_is_mse_of_relative_depths():
    z = torch.tensor([[0.0, 0.5, -0.5]], requires_grad=True)
    z_gt = torch.tensor([[0.0, 0.0, 0.0]])
    loss = loss_fs(z, z_gt)
    assert loss.item() == pytest.approx(0.25 + 0.25)
    loss.backward()
    assert torch.allclose(z.grad, 2 * z.detach())
    # Two samples: summed within, averaged over samples.
    z2 = torch.tensor([[0.0, 1.0], [0.0, 3.0]])
    assert loss_fs(z2, torch.zeros(2, 2)).item() == pytest.approx((1.0 + 9.0) / 2)
    with pytest.raises(ValueError):
        loss_fs(z, z_gt[:, :2])
