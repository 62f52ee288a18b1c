"""Losses of Li & Lee 2020 (weakpose.methods.hypotheses.losses) against hand computations."""

import itertools
import math

import pytest
import torch

from weakpose.methods.hypotheses import losses as L

CHAIN = [(0, 1), (1, 2), (0, 3)]  # a tiny 4-joint skeleton for hand-made KCS cases


def test_kcs_matrix_hand_case():
    pose = torch.tensor([[0.0, 0, 0], [1, 0, 0], [1, 2, 0], [0, 0, 3]])
    psi = L.kcs_matrix(pose, CHAIN)
    # bones: (1,0,0), (0,2,0), (0,0,3) -> orthogonal, squared lengths on the diagonal
    assert torch.allclose(psi, torch.diag(torch.tensor([1.0, 4.0, 9.0])))
    pose2 = torch.tensor([[0.0, 0, 0], [1, 0, 0], [2, 1, 0], [-1, 0, 0]])
    psi2 = L.kcs_matrix(pose2[None], CHAIN)[0]
    expected = torch.tensor([[1.0, 1, -1], [1, 2, -1], [-1, -1, 1]])
    assert torch.allclose(psi2, expected)


def test_kcs_matrix_rotation_invariant_and_symmetric():
    g = torch.Generator().manual_seed(0)
    pose = torch.randn(5, 4, 3, generator=g)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=g))
    psi = L.kcs_matrix(pose, CHAIN)
    psi_rot = L.kcs_matrix(pose @ q.T, CHAIN)
    assert torch.allclose(psi, psi_rot, atol=1e-5)
    assert torch.allclose(psi, psi.transpose(-1, -2))
    with pytest.raises(ValueError):
        L.kcs_matrix(torch.zeros(4, 2), CHAIN)


def _k(a, b, alphas, dw):
    d2 = float(((a - b) ** 2).sum())
    return sum((1 + d2 / (2 * al)) ** (-al) for al in alphas) + dw * float((a * b).sum())


def test_kernel_matches_formula():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(3, 4, generator=g), torch.randn(2, 4, generator=g)
    k = L.rq_dot_kernel(a, b, (0.1, 1.0, 10.0), dot_weight=2.0)
    for i, j in itertools.product(range(3), range(2)):
        assert k[i, j].item() == pytest.approx(_k(a[i], b[j], (0.1, 1.0, 10.0), 2.0), rel=1e-5)


def test_mmd2_unbiased_against_direct_double_sum():
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(6, 3, generator=g).double(), (torch.randn(5, 3, generator=g) + 0.5).double()
    al, dw = (0.1, 1.0, 10.0), 1.0
    m, n = len(x), len(y)
    direct = (sum(_k(x[i], x[j], al, dw) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
              + sum(_k(y[i], y[j], al, dw) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
              - 2 * sum(_k(x[i], y[j], al, dw) for i in range(m) for j in range(n)) / (m * n))
    assert L.mmd2_loss(x, y, al, dw).item() == pytest.approx(direct, rel=1e-9)


def test_mmd2_unbiased_near_zero_same_distribution_and_positive_otherwise():
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(400, 2, generator=g), torch.randn(400, 2, generator=g)
    same = L.mmd2_loss(x, y, dot_weight=0.0).item()
    diff = L.mmd2_loss(x, y + 2.0, dot_weight=0.0).item()
    assert abs(same) < 0.01 and diff > 0.5
    with pytest.raises(ValueError):
        L.mmd2_unbiased(torch.ones(1, 1), torch.ones(2, 2), torch.ones(1, 2))


def test_gradient_penalty_of_linear_critic():
    # critic features = identity on the pose, kernel = dot only: the witness is
    # f(p) = <p, mean(real) - mean(fake)>, so its gradient norm is |mean(real) - mean(fake)|.
    real = torch.zeros(8, 2, 3)
    fake = torch.zeros(8, 2, 3)
    fake[..., 0] = 0.5  # mean difference: 2 coordinates (x of 2 joints) of 0.5 -> norm sqrt(0.5)
    gp = L.witness_gradient_penalty(lambda p: p.reshape(p.shape[0], -1), real, fake, alphas=(), dot_weight=1.0)
    expected = (math.sqrt(2 * 0.25) - 1.0) ** 2
    assert gp.item() == pytest.approx(expected, rel=1e-4)


def test_gradient_penalty_reaches_critic_parameters():
    lin = torch.nn.Linear(6, 4)
    real, fake = torch.randn(5, 2, 3), torch.randn(5, 2, 3)
    gp = L.witness_gradient_penalty(lambda p: lin(p.reshape(p.shape[0], -1)), real, fake)
    gp.backward()
    assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0


def test_camera_loss_zero_for_scaled_orthonormal_and_positive_otherwise():
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(4)))
    M = 3.7 * q[:2]
    assert L.camera_loss(M[None]).item() == pytest.approx(0.0, abs=1e-5)
    # rows of unequal norm: M M^T = diag(4, 1), tr = 5 -> |8/5 - 1| + |2/5 - 1| = 1.2
    M2 = torch.tensor([[[2.0, 0, 0], [0, 1, 0]]])
    assert L.camera_loss(M2).item() == pytest.approx(1.2, rel=1e-6)
    # non-orthogonal rows: M M^T = [[1,1],[1,2]], tr = 3 -> |2/3-1| + |4/3-1| + 2*2/3 = 2
    M3 = torch.tensor([[[1.0, 0, 0], [1, 1, 0]]])
    assert L.camera_loss(M3).item() == pytest.approx(2.0, rel=1e-6)
    with pytest.raises(ValueError):
        L.camera_loss(torch.zeros(3, 3))


def test_reprojection_loss_weights_and_missing_joints():
    M = torch.tensor([[[1.0, 0, 0], [0, 1, 0]]])
    y = torch.tensor([[[0.0, 0, 5], [1, 1, 0], [2, 0, 0]]])
    x = torch.tensor([[[0.0, 0], [1, 2], [100, 100]]])  # joint 2 is "missing"
    w = torch.tensor([[1.0, 0.5, 0.0]])
    # only joint 1 contributes: 0.5 * (0 + 1) over 2J = 6
    assert L.reprojection_loss(M, y, x, w).item() == pytest.approx(0.5 / 6)
    y.requires_grad_(True)
    L.reprojection_loss(M, y, x, w).backward()
    assert torch.all(y.grad[0, 2] == 0)  # a missing joint gives no gradient
    with pytest.raises(ValueError):
        L.reprojection_loss(M, y, x, torch.ones(1, 2))


def test_diversity_loss_ratio_and_cap():
    z1, z2 = torch.zeros(2, 4), torch.ones(2, 4)  # mean |z1 - z2| = 1
    y1 = torch.zeros(2, 3, 3)
    y2 = torch.zeros(2, 3, 3)
    y2[0] += 0.3   # ratio 0.3
    y2[1] += 5.0   # ratio 5 -> capped at tau
    assert L.diversity_loss(y1, y2, z1, z2, tau=1.0).item() == pytest.approx((0.3 + 1.0) / 2)
    y2.requires_grad_(True)
    L.diversity_loss(y1, y2, z1, z2, tau=1.0).backward()
    assert torch.all(y2.grad[1] == 0) and torch.all(y2.grad[0] > 0)


def test_latent_reconstruction_loss():
    z = torch.tensor([[1.0, -1.0], [0.0, 2.0]])
    assert L.latent_reconstruction_loss(z, torch.zeros(2, 2)).item() == pytest.approx(1.0)
    assert L.latent_reconstruction_loss(z, z).item() == 0.0
    with pytest.raises(ValueError):
        L.latent_reconstruction_loss(z, torch.zeros(2, 3))


def test_mirrored_real_is_the_mirror_image_in_the_template_frame():
    """Whichever axis is negated, the re-aligned result is one pose: a scaled isometric copy of the
    aligned pose with the opposite handedness (signed volumes of joint triples change sign)."""
    from weakpose.methods.hypotheses.data import TORSO, align_to_template

    g = torch.Generator().manual_seed(0)
    poses = torch.randn(6, 17, 3, generator=g, dtype=torch.float64)
    template = align_to_template(poses[:1], poses[0, list(TORSO)])[0, list(TORSO)]
    m_z = L.mirrored_real(poses, template)
    m_x = align_to_template(poses * poses.new_tensor([-1.0, 1.0, 1.0]), template)  # another mirror
    assert torch.allclose(m_z, m_x, atol=1e-9)
    aligned = align_to_template(poses, template)
    d_m, d_a = torch.cdist(m_z, m_z), torch.cdist(aligned, aligned)
    scale = d_m.mean((1, 2)) / d_a.mean((1, 2))  # the similarity fit's scale may differ
    assert torch.allclose(d_m, scale[:, None, None] * d_a, atol=1e-9)

    def volume(p):
        return torch.linalg.det(p[:, [1, 4, 7]] - p[:, :1])

    assert (volume(aligned).abs() > 1e-3).all()
    assert torch.allclose(volume(m_z), -scale ** 3 * volume(aligned), atol=1e-9)


def test_chirality_features_hand_case_and_reflection():
    # pelvis at 0, hips on x, thorax up (-y); a right knee straight forward (+z) of the hip
    pose = torch.zeros(17, 3)
    pose[1] = torch.tensor([-1.0, 0.0, 0.0])  # r_hip
    pose[4] = torch.tensor([1.0, 0.0, 0.0])   # l_hip
    pose[8] = torch.tensor([0.0, -2.0, 0.0])  # thorax
    pose[2] = torch.tensor([-1.0, 0.0, 0.5])  # r_knee: thigh along +z
    f = L.chirality_features(pose, [((4, 1), (8, 0), (2, 1))])
    # det[(2,0,0), (0,-2,0), (0,0,0.5)] / (2 * 2 * 0.5) = -1
    assert f.shape == (1,) and float(f[0]) == pytest.approx(-1.0, abs=1e-5)
    rng = torch.Generator().manual_seed(0)
    poses = torch.randn(5, 17, 3, generator=rng)
    q, _ = torch.linalg.qr(torch.randn(3, 3, generator=rng))
    q = q * torch.sign(torch.det(q))  # a rotation
    base = L.chirality_features(poses)
    assert base.shape == (5, len(L.CHIRALITY_TRIPLES))
    assert torch.allclose(L.chirality_features(2.0 * poses @ q.T + 1.0), base, atol=1e-4)  # similarity-invariant
    assert torch.allclose(L.chirality_features(poses * torch.tensor([1.0, 1.0, -1.0])), -base, atol=1e-6)


def test_camera_elevation_loss_sees_the_depth_mirror():
    """A camera 10° above an upright torso (y down) has d = sin 10°: no penalty at margin 0.1;
    its depth mirror (y·F, M·F) reprojects identically but looks from 10° below: d = −sin 10°."""
    pose = torch.zeros(1, 17, 3)
    pose[0, [1, 4], 0] = torch.tensor([-0.1, 0.1])   # hips
    pose[0, [11, 14], 0] = torch.tensor([0.2, -0.2])  # shoulders
    pose[0, [11, 14], 1] = -0.5
    pose[0, 2] = torch.tensor([-0.1, 0.4, 0.1])      # a knee off the torso plane
    phi = math.radians(10.0)
    M = 2.0 * torch.tensor([[[1.0, 0.0, 0.0], [0.0, math.cos(phi), -math.sin(phi)]]])
    F = torch.tensor([1.0, 1.0, -1.0])
    assert torch.allclose(M @ pose[0].T, (M * F) @ (pose[0] * F).T)  # the same 2D
    assert float(L.camera_elevation_loss(M, pose, margin=0.1)) == pytest.approx(0.0)
    assert float(L.camera_elevation_loss(M, pose, margin=0.3)) == pytest.approx(0.3 - math.sin(phi), abs=1e-6)
    assert float(L.camera_elevation_loss(M * F, pose * F, margin=0.1)) == pytest.approx(0.1 + math.sin(phi), abs=1e-6)
