import numpy as np
import pytest
import torch

from weakpose.camera import (
    backproject,
    load_rig,
    look_at,
    nearest_orthonormal_2x3,
    project,
    rotation_from_2x3,
    sample_wild_cameras,
    weak_perspective_project,
)
from weakpose.errors import InputError
from weakpose.geometry.rotations import axis_angle_to_matrix


def test_project_hand_made():
    K = np.array([[1000.0, 0, 500], [0, 1000, 400], [0, 0, 1]])
    uv = project(np.array([[100.0, 200.0, 1000.0]]), K)
    assert np.allclose(uv, [[600.0, 600.0]])
    assert torch.allclose(project(torch.tensor([[100.0, 200.0, 1000.0]]), torch.as_tensor(K, dtype=torch.float32)),
                          torch.tensor([[600.0, 600.0]]))


def test_backproject_round_trip(rng):
    K = np.array([[1100.0, 2.0, 510], [0, 1150, 490], [0, 0, 1]])
    X = rng.normal(size=(5, 17, 3)) * 300 + [0, 0, 4000]
    back = backproject(project(X, K), X[..., 2], K)
    assert np.allclose(back, X, atol=1e-6)


def test_rig_matches_look_at(root):
    for cam in load_rig(root / "benchmark" / "rig_h36m.json"):
        R, t = look_at(cam.center, np.array([0.0, 1000.0, 0.0]))
        assert np.allclose(R, cam.R, atol=1e-6) and np.allclose(t, cam.t, atol=1e-3)
        assert np.allclose(cam.camera_to_world(cam.world_to_camera(np.ones((2, 3)))), 1.0)


def test_bad_rig_file(tmp_path):
    p = tmp_path / "rig.json"
    p.write_text(
        '{"cameras": [{"K": [[1,0,0],[0,1,0],[0,0,1]], "R": [[2,0,0],[0,1,0],[0,0,1]], "t": [0,0,0], '
        '"image_size": [10,10]}]}'
    )
    with pytest.raises(InputError, match="not a rotation"):
        load_rig(p)
    with pytest.raises(InputError, match="file not found"):
        load_rig(tmp_path / "missing.json")


def test_wild_cameras_follow_protocol(rng):
    targets = np.tile([0.0, 900.0, 0.0], (4000, 1))
    cams = sample_wild_cameras(rng, targets)
    centers = -np.einsum("nji,nj->ni", cams["R"], cams["t"])
    dist = np.linalg.norm(centers - targets, axis=1)
    assert 2500 < dist.min() and dist.max() < 7500   # U(3, 7) m from the aim point, 100 mm jitter
    f = cams["K"][:, 0, 0]
    assert f.min() >= 800 and f.max() <= 1600 and np.allclose(cams["K"][:, 1, 1], f)
    assert np.allclose(np.linalg.det(cams["R"]), 1.0)
    uv = project((np.einsum("nij,nj->ni", cams["R"], targets) + cams["t"])[:, None], cams["K"])[:, 0]
    assert np.abs(uv - 500).mean() < 60          # aimed at the target up to 100 mm jitter
    elev = np.degrees(np.arcsin((centers - targets)[:, 1] / dist))
    assert -10 < elev.min() and elev.max() < 40   # U(-5, 35) deg about the jittered aim point


def test_nearest_orthonormal(rng):
    M = torch.as_tensor(rng.normal(size=(6, 2, 3)))
    Q = nearest_orthonormal_2x3(M)
    assert torch.allclose(Q @ Q.transpose(-1, -2), torch.eye(2, dtype=Q.dtype).expand(6, 2, 2), atol=1e-10)
    assert torch.allclose(nearest_orthonormal_2x3(Q), Q, atol=1e-10)
    # closer to M than any random orthonormal 2x3
    for _ in range(20):
        R = torch.linalg.qr(torch.as_tensor(rng.normal(size=(3, 3))))[0][:2]
        assert ((Q - M) ** 2).sum((-1, -2)).le(((R - M) ** 2).sum((-1, -2)) + 1e-12).all()
    X = torch.as_tensor(rng.normal(size=(6, 17, 3)))
    assert torch.allclose(weak_perspective_project(Q, X), X @ Q.transpose(-1, -2))


def test_rotation_from_scaled_orthographic_camera():
    R = axis_angle_to_matrix(torch.tensor([[0.4, 2.0, -0.3], [1.0, 0.0, 0.2]], dtype=torch.float64))
    Rhat = rotation_from_2x3(3.0 * R[:, :2])
    assert torch.allclose(Rhat, R, atol=1e-10)
    assert torch.allclose(torch.linalg.det(Rhat), torch.ones(2, dtype=torch.float64), atol=1e-10)
    assert np.allclose(rotation_from_2x3(3.0 * R[:, :2].numpy()), R.numpy(), atol=1e-10)


def test_nearest_orthonormal_gradient_is_the_svd_gradient_and_finite_at_rank_one():
    g = torch.Generator().manual_seed(2)
    weights = torch.randn(8, 2, 3, generator=g, dtype=torch.float64)
    M = torch.randn(8, 2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    (nearest_orthonormal_2x3(M, ridge=1e-10) * weights).sum().backward()
    M_svd = M.detach().clone().requires_grad_(True)
    U, _, Vh = torch.linalg.svd(M_svd, full_matrices=False)
    ((U @ Vh) * weights).sum().backward()
    assert torch.allclose(M.grad, M_svd.grad, atol=1e-6)
    rank_one = torch.randn(8, 1, 3, generator=g, dtype=torch.float64) * torch.tensor(
        [[1.0], [0.5]], dtype=torch.float64
    )
    rank_one.requires_grad_(True)
    Q = nearest_orthonormal_2x3(rank_one)
    assert torch.allclose(Q @ Q.transpose(-1, -2), torch.eye(2, dtype=torch.float64).expand(8, 2, 2), atol=1e-10)
    (Q * weights).sum().backward()
    assert torch.isfinite(rank_one.grad).all()


def test_backproject_through_a_rotated_crop_matrix(rng):
    """``crop @ K`` of a rotated person crop is not upper triangular; back-projection inverts it."""
    K = np.array([[1100.0, 0.0, 500.0], [0.0, 1050.0, 480.0], [0.0, 0.0, 1.0]])
    c, s = np.cos(0.4), np.sin(0.4)
    crop = np.array([[0.3 * c, -0.3 * s, -40.0], [0.3 * s, 0.3 * c, 25.0], [0.0, 0.0, 1.0]])
    A = crop @ K
    X = rng.normal(size=(5, 17, 3)) * 300 + np.array([0.0, 0.0, 4000.0])
    np.testing.assert_allclose(backproject(project(X, A), X[..., 2], A), X, rtol=1e-9, atol=1e-6)
    At = torch.as_tensor(A)
    Xt = torch.as_tensor(X)
    assert torch.allclose(backproject(project(Xt, At), Xt[..., 2], At), Xt, atol=1e-6)


def test_default_intrinsics_one_policy():
    """Inputs without calibration: 1.15 x the larger image side and the image centre when the
    size is known; else 1000 px and the centre of the seen joints' box (unseen joints ignored)."""
    from weakpose.camera import default_intrinsics

    kp = np.array([[[100.0, 50.0], [300.0, 250.0], [900.0, 900.0]]], np.float32)
    conf = np.array([[1.0, 1.0, 0.0]], np.float32)
    K = default_intrinsics(kp, conf, np.array([1000, 800]))
    assert K.shape == (1, 3, 3) and K.dtype == np.float32
    assert np.allclose(K[0], [[1150, 0, 499.5], [0, 1150, 399.5], [0, 0, 1]])
    K = default_intrinsics(kp, conf)
    assert np.allclose(K[0], [[1000, 0, 200], [0, 1000, 150], [0, 0, 1]])


def test_image_intrinsics_is_the_default_camera_of_photos():
    """Photos handed to an image model (no keypoints yet) get the same camera as the default
    for keypoints with a known image size: one policy, per photo size."""
    from weakpose.camera import default_intrinsics, image_intrinsics

    sizes = np.array([[1000, 800], [640, 1280]])
    K = image_intrinsics(sizes)
    assert K.shape == (2, 3, 3) and K.dtype == np.float32
    kp, conf = np.zeros((2, 17, 2), np.float32), np.ones((2, 17), np.float32)
    np.testing.assert_array_equal(K, default_intrinsics(kp, conf, sizes))
    assert np.allclose(K[1], [[1.15 * 1280, 0, 319.5], [0, 1.15 * 1280, 639.5], [0, 0, 1]])
    np.testing.assert_array_equal(image_intrinsics(np.array([1000, 800])), K[:1])
