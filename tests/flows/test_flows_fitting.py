"""Body-part alignment (Eq. 7) on hand-made masks, camera initialisation, batched L-BFGS and
latent-space fitting (Eq. 6) recovering a known pose from its exact 2D projection."""

import math

import numpy as np
import pytest
import torch

from weakpose.camera import project
from weakpose.methods.flows.body.pose import vector_to_matrices
from weakpose.methods.flows.fitting.camera_init import initial_global_rotations, weak_perspective_translation
from weakpose.methods.flows.fitting.fit import FitConfig, Fitter, root_relative
from weakpose.methods.flows.fitting.lbfgs import batched_lbfgs
from weakpose.methods.flows.fitting.losses import (
    body_part_alignment,
    keypoint_alignment,
    mask_to_pixels,
    temporal_smoothness,
)
from weakpose.methods.flows.fitting.pose_space import PoseSpace
from weakpose.methods.flows.priors.flow import FlowConfig, NormalizingFlow
from weakpose.methods.flows.priors.gmm import GMMPrior
from weakpose.metrics import mpjpe


def test_ba_loss_value_and_gradient_on_hand_made_masks():
    # part 0 has two projected points, part 1 one; the mask has two part-0 pixels and one part-1 pixel
    points = torch.tensor([[[0.0, 0.0], [4.0, 0.0], [10.0, 10.0]]], dtype=torch.float64, requires_grad=True)
    point_labels = torch.tensor([0, 0, 1])
    pixels = torch.tensor([[[0.0, 3.0], [5.0, 0.0], [10.0, 13.0], [99.0, 99.0]]], dtype=torch.float64)
    pixel_labels = torch.tensor([[0, 0, 1, -1]])  # the last pixel is padding
    fwd, bwd = body_part_alignment(points, point_labels, pixels, pixel_labels, eps=0.0)
    # forward: each pixel to its closest same-part point: 3 (to (0,0)), 1 (to (4,0)), 3 -> mean 7/3
    assert torch.allclose(fwd, torch.tensor([7.0 / 3.0], dtype=torch.float64))
    # backward: (0,0) -> 3, (4,0) -> 1, (10,10) -> 3  -> mean 7/3
    assert torch.allclose(bwd, torch.tensor([7.0 / 3.0], dtype=torch.float64))
    (fwd + bwd).sum().backward()
    g = points.grad[0]
    # d/dp of |p - q| is (p - q)/|p - q|; each point appears once in each term, each term /3
    expected = torch.tensor([[0.0, -2.0], [-2.0, 0.0], [0.0, -2.0]], dtype=torch.float64) / 3.0
    assert torch.allclose(g, expected)


def test_ba_loss_ignores_parts_missing_from_the_mask_and_matches_gradcheck():
    points = torch.randn(2, 6, 2, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    pixels = torch.randn(2, 5, 2, dtype=torch.float64) * 2
    pix_labels = torch.tensor([[0, 0, 1, -1, -1], [1, 1, 1, 0, -1]])
    fwd, bwd = body_part_alignment(points, labels, pixels, pix_labels)
    # sample 0 has no part-2 pixels: only the 4 points of parts 0 and 1 enter the backward mean
    d = torch.cdist(points[0:1, :4].detach(), pixels[0:1, :3])[0]
    manual = torch.stack([d[0, :2].min(), d[1, :2].min(), d[2, 2], d[3, 2]]).mean()
    assert torch.allclose(bwd[0], manual, atol=1e-5)
    assert torch.autograd.gradcheck(lambda p: sum(body_part_alignment(p, labels, pixels, pix_labels)).sum(), (points,))


def test_mask_to_pixels_keeps_small_parts_and_labels():
    mask = np.zeros((20, 30), np.uint8)
    mask[2:18, 3:25] = 2   # torso: part index 1
    mask[0, 0] = 5         # a one-pixel part (index 4)
    xy, lab = mask_to_pixels(mask, num_parts=10, max_pixels=50, rng=np.random.default_rng(0))
    assert (lab >= 0).sum() == 50 and set(lab[lab >= 0].tolist()) == {1, 4}
    assert np.allclose(xy[lab == 4], [[0.0, 0.0]])  # pixel (row 0, col 0) is centred at u = v = 0
    assert ((xy[lab == 1, 0] >= 3) & (xy[lab == 1, 0] <= 24) & (xy[lab == 1, 1] >= 2) & (xy[lab == 1, 1] <= 17)).all()
    small = np.zeros((4, 4), np.uint8)
    small[1, 1:3] = 1
    xy, lab = mask_to_pixels(small, 10, 8, np.random.default_rng(0))
    assert lab.tolist() == [0, 0] + [-1] * 6


def test_keypoint_alignment_and_smoothness_values():
    a = torch.zeros(1, 3, 2)
    b = torch.tensor([[[3.0, 4.0], [0.0, 1.0], [9.0, 9.0]]])
    conf = torch.tensor([[1.0, 1.0, 0.0]])
    assert torch.allclose(keypoint_alignment(a, b, conf), torch.tensor([13.0]))  # (25 + 1) / 2
    z = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [1.0, 2.0]]])
    assert torch.allclose(temporal_smoothness(z), torch.tensor([5.0]))


def test_weak_perspective_translation_recovers_a_distant_translation():
    gen = torch.Generator().manual_seed(0)
    pts = torch.randn(3, 17, 3, generator=gen) * 150
    t_true = torch.tensor([[100.0, -50.0, 8000.0], [0.0, 0.0, 6000.0], [-300.0, 200.0, 9000.0]])
    K = torch.tensor([[1000.0, 0, 500], [0, 1000.0, 500], [0, 0, 1]]).expand(3, 3, 3)
    uv = project(pts + t_true[:, None], K)
    t = weak_perspective_translation(pts, uv, K)
    assert ((t - t_true).norm(dim=-1) / t_true.norm(dim=-1) < 0.03).all()


def test_initial_rotations_are_upright_and_distinct():
    R = initial_global_rotations(4)
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3).expand(4, 3, 3), atol=1e-6)
    up = R @ torch.tensor([0.0, 1.0, 0.0])
    assert torch.allclose(up, torch.tensor([0.0, -1.0, 0.0]).expand(4, 3), atol=1e-6)  # body up = image up
    fwd = R @ torch.tensor([0.0, 0.0, 1.0])
    assert torch.allclose(fwd[0], torch.tensor([0.0, 0.0, -1.0]), atol=1e-6)  # first start faces the camera


def test_batched_lbfgs_solves_independent_quadratics_with_different_curvatures():
    scales = torch.tensor([[1.0, 100.0], [1e-2, 1.0], [10.0, 10.0]])
    target = torch.tensor([[1.0, -2.0], [3.0, 0.5], [-1.0, 1.0]])
    x, f, _ = batched_lbfgs(lambda x: (scales * (x - target) ** 2).sum(1) + 0.1 * (x[:, 0] * x[:, 1]) ** 2,
                            torch.zeros(3, 2, dtype=torch.float64), max_iter=100)
    ref = []
    for i in range(3):
        xi = torch.zeros(1, 2, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS(
            [xi], max_iter=200, line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=1e-14
        )

        def closure(opt=opt, i=i, xi=xi):
            opt.zero_grad()
            v = (scales[i] * (xi[0] - target[i]) ** 2).sum() + 0.1 * (xi[0, 0] * xi[0, 1]) ** 2
            v.backward()
            return v

        opt.step(closure)
        ref.append(xi.detach()[0])
    assert torch.allclose(x, torch.stack(ref), atol=1e-4)


def _toy_flow(body, rep, seed=0):
    """A flow over plausible poses without training: standardisation of random small rotations
    (a linear Gaussian flow, since couplings start at the identity)."""
    gen = torch.Generator().manual_seed(seed)
    k = 3 if rep == "aa" else 6
    aa = torch.randn(500, body.num_pose_joints, 3, generator=gen) * 0.35
    from weakpose.geometry.rotations import axis_angle_to_matrix
    from weakpose.methods.flows.body.pose import matrices_to_vector

    data = matrices_to_vector(axis_angle_to_matrix(aa), rep)
    flow = NormalizingFlow(FlowConfig(dim=body.num_pose_joints * k, steps=2, hidden=16, seed=seed))
    flow.standardize.set_statistics(data)
    for p in flow.parameters():
        p.requires_grad_(False)
    return flow


def test_latent_fitting_recovers_a_known_pose_from_its_exact_projection(body):
    """Poses drawn near the prior's mode, turned and moved in front of a camera, are recovered
    from their exact 2D projections by latent-space fitting (Eq. 6) from z = 0 and the four
    standard starts. (Far from the mode the 2D-ambiguous depth flips make MPJPE meaningless.)"""
    flow = _toy_flow(body, "aa")
    space = PoseSpace(flow, "aa", latent=True)
    gen = torch.Generator().manual_seed(1)
    z_true = torch.randn(2, flow.dim, generator=gen) * 0.3
    theta = flow.inverse(z_true)
    R = initial_global_rotations(4)[[0, 1]] @ vector_to_matrices(torch.tensor([[0.0, 0.4, 0.0]] * 2), "aa")[:, 0]
    t = torch.tensor([[100.0, 200.0, 5000.0], [-300.0, 100.0, 4500.0]])
    out = body(vector_to_matrices(theta, "aa"), global_rot=R)
    joints = out.joints - out.joints[:, :1] + t[:, None]
    K = torch.tensor([[1150.0, 0, 512], [0, 1150.0, 515], [0, 0, 1]]).expand(2, 3, 3).contiguous()
    kp = project(joints, K)
    start = Fitter(body, space, FitConfig(stage2_iters=0)).fit(kp, K)
    res = Fitter(body, space, FitConfig(sigma_kp=0.3, stage1_iters=30, stage2_iters=150)).fit(kp, K)
    err = mpjpe(root_relative(res.joints_cam), root_relative(joints))
    err0 = mpjpe(root_relative(start.joints_cam), root_relative(joints))
    assert (err < 35.0).all() and (err < 0.5 * err0).all(), (err, err0)
    assert (keypoint_alignment(project(res.joints_cam, K), kp) < 1.0).all()
    assert ((res.transl - t).norm(dim=-1) < 100.0).all()


def test_pose_space_rules():
    gmm = GMMPrior(6, 2)
    with pytest.raises(ValueError):
        PoseSpace(gmm, "6d", latent=True)
    flow = NormalizingFlow(FlowConfig(dim=12, steps=1, hidden=8))
    space = PoseSpace(flow, "6d", latent=False)
    x = space.init(2)
    assert torch.allclose(vector_to_matrices(x, "6d"), torch.eye(3).expand(2, 2, 3, 3))
    z = torch.zeros(2, 12)
    assert torch.allclose(PoseSpace(flow, "6d", latent=True).energy(z), torch.full((2,), 6 * math.log(2 * math.pi)))


def test_ambient_controls_start_at_the_flow_mode_and_add_the_jacobian(body):
    """Issue 16 controls: start="mode" starts the ambient fit at f⁻¹(0) (the latent fit's start);
    energy="density" is −log p(θ) = ψ(f(θ)) − log|det ∂f/∂θ| (Eq. 2–3)."""
    flow = _toy_flow(body, "aa")
    with torch.no_grad():
        flow.standardize.mean.add_(0.1)                   # a mode away from the identity rotations
    plain = PoseSpace(flow, "aa", latent=False)
    mode = PoseSpace(flow, "aa", latent=False, start="mode", energy="density")
    assert torch.allclose(plain.init(2), torch.zeros(2, flow.dim))
    theta0 = mode.init(2)
    assert torch.allclose(theta0, flow.inverse(torch.zeros(2, flow.dim)), atol=1e-6)
    assert torch.allclose(theta0, flow.standardize.mean.expand(2, -1), atol=1e-5)
    assert torch.allclose(mode.energy(theta0), -flow.log_prob(theta0), atol=1e-4)
    assert torch.allclose(plain.energy(theta0), flow.nll_latent(flow(theta0)[0]), atol=1e-4)
    with pytest.raises(ValueError):
        PoseSpace(flow, "aa", latent=True, start="mode")
