import numpy as np
import torch
from scipy.spatial.transform import Rotation

from geometry_helpers import random_rotation
from weakpose.camera import project
from weakpose.geometry import (
    axis_angle_to_matrix,
    bone_length_scale,
    euler_to_matrix,
    matrix_to_axis_angle,
    matrix_to_rot6d,
    procrustes,
    procrustes_align,
    reconstruct_from_2p5d,
    rot6d_to_matrix,
)
from weakpose.skeleton import H36M17


def test_procrustes_recovers_similarity(rng):
    X = torch.as_tensor(rng.normal(size=(8, 17, 3)))
    R = random_rotation(rng, 8)
    Y = 1.7 * X @ R.transpose(-1, -2) + torch.tensor([10.0, -3.0, 2.0], dtype=X.dtype)
    R2, s, t = procrustes(X, Y)
    assert torch.allclose(R2, R, atol=1e-10) and torch.allclose(s, torch.full_like(s, 1.7))
    assert torch.allclose(procrustes_align(X, Y), Y, atol=1e-9)
    R3, s3, _ = procrustes(X, Y, scale=False)
    assert torch.allclose(R3, R, atol=1e-10) and (s3 == 1).all()


def test_procrustes_reflections(rng):
    X = torch.as_tensor(rng.normal(size=(4, 17, 3)))
    Y = X * torch.tensor([-1.0, 1.0, 1.0], dtype=X.dtype)      # mirror image
    assert (procrustes_align(X, Y) - Y).norm(dim=-1).mean() > 0.1
    assert torch.allclose(procrustes_align(X, Y, reflection=True), Y, atol=1e-9)
    R, _, _ = procrustes(X, Y)
    assert torch.allclose(torch.linalg.det(R), torch.ones(4, dtype=X.dtype))


def test_procrustes_weights_ignore_outlier(rng):
    X = torch.as_tensor(rng.normal(size=(1, 17, 3)))
    R = random_rotation(rng)
    Y = X @ R.transpose(-1, -2)
    Y[0, 5] += 100.0
    w = torch.ones(1, 17, dtype=X.dtype)
    w[0, 5] = 0.0
    R2, s, _ = procrustes(X, Y, w)
    assert torch.allclose(R2, R, atol=1e-9) and torch.allclose(s, torch.ones_like(s))


def test_procrustes_gradients(rng):
    X = torch.as_tensor(rng.normal(size=(2, 6, 3)), dtype=torch.float64).requires_grad_()
    Y = torch.as_tensor(rng.normal(size=(2, 6, 3)), dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: procrustes_align(x, Y), (X,))
    with torch.no_grad():
        R, _, _ = procrustes(X, Y)
    assert not R.requires_grad


def test_rotation_round_trips(rng):
    R = random_rotation(rng, 50)
    assert torch.allclose(axis_angle_to_matrix(matrix_to_axis_angle(R)), R, atol=1e-10)
    assert torch.allclose(rot6d_to_matrix(matrix_to_rot6d(R)), R, atol=1e-10)
    aa = torch.as_tensor(Rotation.from_matrix(R.numpy()).as_rotvec())
    assert torch.allclose(matrix_to_axis_angle(R), aa, atol=1e-8)
    near_pi = torch.tensor([[np.pi - 1e-7, 0, 0]], dtype=torch.float64)
    assert torch.allclose(axis_angle_to_matrix(matrix_to_axis_angle(axis_angle_to_matrix(near_pi))),
                          axis_angle_to_matrix(near_pi), atol=1e-6)


def test_axis_angle_gradient_at_identity():
    aa = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    axis_angle_to_matrix(aa).sum().backward()
    assert torch.isfinite(aa.grad).all()


def test_euler_zyx_matches_scipy(rng):
    ang = rng.uniform(-180, 180, size=(20, 3))
    ours = euler_to_matrix(torch.as_tensor(ang), "ZYX")
    ref = Rotation.from_euler("ZYX", ang, degrees=True).as_matrix()   # intrinsic Z, Y', X''
    assert np.allclose(ours.numpy(), ref, atol=1e-10)


def _pose_2p5d(rng, n=5):
    X = torch.as_tensor(rng.normal(size=(n, 17, 3)) * 250 + [0, 0, 4500])
    K = torch.tensor([[1145.0, 0, 512], [0, 1144, 515], [0, 0, 1]], dtype=torch.float64)
    uv = project(X, K)
    s = (X[:, 0] - X[:, 8]).norm(dim=-1)                   # scale pair pelvis-thorax
    z_rel = (X[..., 2] - X[:, :1, 2]) / s[:, None]
    return X, K, uv, s, z_rel


def test_reconstruction_from_2p5d_is_exact(rng):
    X, K, uv, s, z_rel = _pose_2p5d(rng)
    P, z_root = reconstruct_from_2p5d(uv, z_rel, K)
    assert torch.allclose(P * s[:, None, None], X, atol=1e-6)
    assert torch.allclose(z_root * s, X[:, 0, 2])
    assert torch.allclose((P[:, 0] - P[:, 8]).norm(dim=-1), torch.ones(5, dtype=P.dtype))


def test_reconstruction_degenerate_is_finite(rng):
    X, K, uv, s, z_rel = _pose_2p5d(rng, 2)
    uv[:, 8] = uv[:, 0]                                   # pair projects to one pixel
    z_rel = z_rel.clone()
    z_rel[:, 8] = 5.0                                     # longer than the unit scale bone allows
    P, z = reconstruct_from_2p5d(uv.requires_grad_(), z_rel, K)
    P.sum().backward()
    assert torch.isfinite(P).all() and torch.isfinite(uv.grad).all()


def test_bone_length_scale(rng):
    pose = rng.normal(size=(3, 17, 3)) * 200
    mu = H36M17.bone_lengths(pose).mean(0)
    lengths = H36M17.bone_lengths(pose)
    exact = (lengths * mu).sum(-1) / (lengths ** 2).sum(-1)
    assert np.allclose(bone_length_scale(pose, mu), exact)
    same = np.repeat(pose[:1], 2, 0) * np.array([[[0.5]], [[2.0]]])
    s = bone_length_scale(same, H36M17.bone_lengths(pose[0]))
    assert np.allclose(s, [2.0, 0.5])
    assert torch.allclose(bone_length_scale(torch.as_tensor(same), torch.as_tensor(H36M17.bone_lengths(pose[0]))),
                          torch.tensor([2.0, 0.5], dtype=torch.float64))


def test_bone_scale_weights_skip_missing_bones(rng):
    pose = rng.normal(size=(2, 17, 3)) * 200
    mu = H36M17.bone_lengths(pose[0])
    broken = pose.copy()
    broken[:, 3] = 1e4                                    # a wild r_ankle
    conf = np.ones((2, 17))
    conf[:, 3] = 0
    from weakpose.geometry import observed_bone_weights

    w = observed_bone_weights(conf)
    assert w.shape == (2, 16) and w[0, 2] == 0 and w.sum() == 30
    assert np.allclose(bone_length_scale(broken[:1] * 0.5, mu, weights=w[:1]), [2.0])
