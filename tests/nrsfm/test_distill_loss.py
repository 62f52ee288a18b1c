"""Distillation loss (Eq. 5–7, 12–14), the teacher loss (Eq. 4) and the 2D normalisation."""

import numpy as np
import pytest
import torch

from weakpose.camera import complete_rotation
from weakpose.errors import InputError
from weakpose.methods.nrsfm.codec import knee_chirality, normalise_keypoints, reprojection_residual
from weakpose.methods.nrsfm.distill_loss import distillation_loss, projected_code, rotated_dictionary
from weakpose.methods.nrsfm.network import (
    NRSfMOutput,
    gauge_matrix,
    orthonormal_camera,
    reduced_gauge_basis,
)
from weakpose.methods.nrsfm.teacher import nrsfm_loss


def _random_problem(batch=8, p=17, k=64, seed=0, center=0):
    g = torch.Generator().manual_seed(seed)
    d = torch.einsum(
        "qp,pck->qck", gauge_matrix(p, center).double(), torch.randn(p, 3, k, generator=g, dtype=torch.float64)
    )
    r = complete_rotation(orthonormal_camera(torch.randn(batch, 3, 2, generator=g, dtype=torch.float64)).mT).mT
    phi = torch.rand(batch, k, generator=g, dtype=torch.float64)
    z = torch.randn(batch, p, generator=g, dtype=torch.float64)
    z = (gauge_matrix(p, center).double() @ z.T).T
    return d, r, phi, z


def test_rotated_dictionary_rotates_every_atom():
    d, r, phi, _ = _random_problem()
    b_xy, b_z = rotated_dictionary(d, r)
    shape = torch.einsum("pck,bk->bpc", d, phi)            # object-frame shapes S
    cam = shape @ r                                         # Eq. 5: camera-frame S R
    assert torch.allclose(torch.einsum("bpdk,bk->bpd", b_xy, phi), cam[..., :2])
    assert torch.allclose(torch.einsum("bpk,bk->bp", b_z, phi), cam[..., 2])


@pytest.mark.parametrize("center", [0, "mean"])
def test_right_inverse_matches_the_depth_exactly(center):
    d, r, phi, z = _random_problem(center=center)
    _, b_z = rotated_dictionary(d, r)
    q = reduced_gauge_basis(17, center)
    phi_t = projected_code(phi, b_z, z, basis=q)
    assert torch.allclose(torch.einsum("bpk,bk->bp", b_z, phi_t), z, atol=1e-10)
    # Eq. 12: the change is the smallest one — it lies in the row space of B_z
    change = phi_t - phi
    proj = torch.linalg.pinv(b_z) @ b_z
    assert torch.allclose((proj @ change[..., None])[..., 0], change, atol=1e-9)
    # without a gauge, a full-rank B_z gives the same exactness
    g = torch.Generator().manual_seed(3)
    bz_full = torch.randn(4, 6, 20, generator=g, dtype=torch.float64)
    z_full = torch.randn(4, 6, generator=g, dtype=torch.float64)
    phi_full = projected_code(torch.zeros(4, 20, dtype=torch.float64), bz_full, z_full)
    assert torch.allclose(torch.einsum("bpk,bk->bp", bz_full, phi_full), z_full, atol=1e-10)


def test_projected_code_is_differentiable_and_errors():
    d, r, phi, z = _random_problem(batch=2, p=5, k=12)
    _, b_z = rotated_dictionary(d, r)
    q = reduced_gauge_basis(5, 0).double()
    z = z.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda zz: projected_code(phi, b_z, zz, basis=q), (z,))
    with pytest.raises(FloatingPointError):  # the root row of B_z is zero: singular without the gauge
        projected_code(phi, b_z, z.detach())
    damped = projected_code(phi, b_z, z.detach(), damping=1e-8)
    assert torch.isfinite(damped).all()
    with pytest.raises(ValueError):
        projected_code(phi, torch.randn(2, 5, 3, dtype=torch.float64), z.detach())  # not overcomplete


def test_distillation_loss_hand_made():
    # two joints, two atoms; B_xy picks the atoms as x coordinates of joint 1
    b_xy = torch.zeros(1, 2, 2, 2)
    b_xy[0, 1, 0, 0] = 1.0
    b_xy[0, 1, 1, 1] = 1.0
    phi = torch.tensor([[0.5, -0.25]])
    w = torch.tensor([[[0.0, 0.0], [1.0, 0.0]]])
    mask = torch.ones(1, 2)
    # projection: joint0 (0,0), joint1 (0.5, -0.25); diff = [(0,0), (-0.5,-0.25)]
    # best translation = mean diff = (-0.25, -0.125); residual = [(0.25,0.125), (-0.25,-0.125)]
    reproj = np.sqrt(2 * (0.25 ** 2 + 0.125 ** 2))
    loss = distillation_loss(phi, b_xy, w, mask, weight=0.3)
    assert loss.shape == (1,)
    assert loss.item() == pytest.approx(reproj + 0.3 * 0.75, rel=1e-6)
    # a masked joint contributes nothing (one visible joint: any translation fits it)
    loss_masked = distillation_loss(phi, b_xy, w, torch.tensor([[1.0, 0.0]]), weight=0.3)
    assert loss_masked.item() == pytest.approx(0.3 * 0.75, rel=1e-6)


def test_nrsfm_loss_hand_made():
    shape = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [-1.0, 0.0, 1.0]]])
    cam = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]])
    code = torch.tensor([[0.5, 0.0, 1.5]])
    out = NRSfMOutput(shape=shape, camera=cam, code=code, projection=shape @ cam)
    w = torch.tensor([[[0.0, 0.0], [1.0, 2.0], [-1.0, 1.0]]])  # joint 2 is off by (0, -1)
    # residual after the best translation (0, -1/3): (0, 1/3), (0, 1/3), (0, -2/3)
    expected_reproj = np.sqrt(1 / 9 + 1 / 9 + 4 / 9)
    terms = nrsfm_loss(out, w, torch.ones(1, 3), sparsity=0.01)
    assert terms["reprojection"].item() == pytest.approx(expected_reproj, rel=1e-6)
    assert terms["loss"].item() == pytest.approx(expected_reproj + 0.01 * 2.0, rel=1e-6)
    # mask the wrong joint: perfect fit
    terms = nrsfm_loss(out, w, torch.tensor([[1.0, 1.0, 0.0]]), sparsity=0.01)
    assert terms["reprojection"].item() == pytest.approx(0.0, abs=1e-7)


def test_reprojection_residual_is_translation_invariant():
    g = torch.Generator().manual_seed(0)
    a, w = torch.randn(3, 6, 2, generator=g), torch.randn(3, 6, 2, generator=g)
    mask = (torch.rand(3, 6, generator=g) > 0.3).float()
    r1 = reprojection_residual(a, w, mask)
    r2 = reprojection_residual(a + torch.tensor([2.0, -1.0]), w, mask)
    assert torch.allclose(r1, r2, atol=1e-6)
    assert torch.equal(r1[mask == 0], torch.zeros_like(r1[mask == 0]))


def test_normalise_keypoints():
    kp = np.array([[[100.0, 200.0], [110.0, 200.0], [100.0, 230.0], [0.0, 0.0]]])
    conf = np.array([[1.0, 1.0, 1.0, 0.0]])
    k = np.array([[10.0, 0, 100.0], [0, 10.0, 200.0], [0, 0, 1]])
    nk = normalise_keypoints(kp, conf, k, center=0)
    # normalised coordinates: (0,0), (1,0), (0,3); Frobenius norm sqrt(10)
    expected = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 3.0], [0.0, 0.0]]) / np.sqrt(10)
    assert np.allclose(nk.w[0].numpy(), expected, atol=1e-6)
    assert nk.scale.item() == pytest.approx(np.sqrt(10), rel=1e-6)
    assert nk.mask.tolist() == [[1.0, 1.0, 1.0, 0.0]]
    nm = normalise_keypoints(kp, conf, None, center="mean")
    assert np.allclose(nm.w[0, :3].sum(0).numpy(), 0.0, atol=1e-6)
    with pytest.raises(InputError, match="keypoints_2d"):
        normalise_keypoints(kp[0], conf, k)
    with pytest.raises(InputError, match="fewer than 2"):
        normalise_keypoints(kp, np.array([[1.0, 0, 0, 0]]), k)
    with pytest.raises(InputError, match="intrinsics"):
        normalise_keypoints(kp, conf, np.zeros((2, 2)))


def test_knee_chirality_separates_a_body_from_its_mirror():
    # a standing person facing -z (towards a camera at the origin looking down +z), y down
    pose = np.zeros((17, 3))
    pose[1], pose[4] = [-100, 0, 0], [100, 0, 0]        # r_hip on the image left (person faces camera)
    pose[2], pose[5] = [-100, 400, -30], [100, 400, -30]  # knees bent forwards (towards the camera)
    pose[3], pose[6] = [-100, 800, 0], [100, 800, 0]
    pose[8] = [0, -500, 0]                              # thorax above the pelvis (y down)
    x = torch.tensor(pose)[None]
    mirrored = x * torch.tensor([1.0, 1.0, -1.0])
    assert knee_chirality(x).item() > 0
    assert knee_chirality(mirrored).item() < 0


def test_fast_operator_equals_the_explicit_rotated_dictionary():
    from weakpose.methods.nrsfm.distill_loss import DistillationOperator

    d, r, phi, z = _random_problem(batch=6, k=40)
    g = torch.Generator().manual_seed(5)
    w = torch.randn(6, 17, 2, generator=g, dtype=torch.float64)
    mask = (torch.rand(6, 17, generator=g) > 0.2).double()
    q = reduced_gauge_basis(17, 0).double()
    op = DistillationOperator(d, q)
    z = z.clone().requires_grad_(True)
    fast = op.loss(op.project(phi, r, z), r, w, mask, 0.3)
    b_xy, b_z = rotated_dictionary(d, r)
    slow = distillation_loss(projected_code(phi, b_z, z, basis=q), b_xy, w, mask, 0.3)
    assert torch.allclose(fast, slow, atol=1e-10)
    g_fast, = torch.autograd.grad(fast.sum(), z)
    g_slow, = torch.autograd.grad(slow.sum(), z)
    assert torch.allclose(g_fast, g_slow, atol=1e-9)
    # Eq. 13 exactly through the fast path too
    assert torch.allclose(torch.einsum("bpk,bk->bp", b_z, op.project(phi, r, z.detach())), z.detach(), atol=1e-10)
    with pytest.raises(ValueError):
        DistillationOperator(d[:, :, :10], q)  # 10 atoms < 16 depths


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_teacher_batch_folds_the_teachers_depth_sign(sign):
    """The student learns the teacher's depths *with the run's global depth sign* (distill.py):
    depths and rotation must be those of the teacher's camera frame with z times the sign."""
    from weakpose.methods.nrsfm.distill import FrozenTeacher
    from weakpose.methods.nrsfm.network import DeepNRSfM

    torch.manual_seed(0)
    net = DeepNRSfM(17, (12, 6), center=0)
    teacher = FrozenTeacher("run", net, sign, 0, None)   # only the network and its sign are needed here
    w = torch.randn(6, 17, 2)
    t = teacher.batch(w)
    out = net(w)
    expected = out.camera_frame(sign)
    assert torch.allclose(t["depth"], expected[..., 2], atol=1e-5)
    assert torch.allclose(out.shape @ t["rotation"], expected, atol=1e-5)
    assert torch.allclose(torch.linalg.det(t["rotation"]), torch.full((6,), sign), atol=1e-4)
    assert torch.allclose(t["rotation"][..., :2], complete_rotation(out.camera.mT).mT[..., :2])
