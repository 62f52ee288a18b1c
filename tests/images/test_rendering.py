import numpy as np
import pytest
import torch

from weakpose.camera import project
from weakpose.rendering import PART_NAMES, BodyShape, render_batch
from weakpose.rendering import labels as L
from weakpose.rendering.body import Primitives
from weakpose.rendering.raycast import raycast

from ._poses import a_pose, camera, to_camera


def _single_sphere(center, r, ell=None):
    c = torch.tensor([center], dtype=torch.float32)[None]
    prims = Primitives(
        cap_a=c, cap_b=c.clone(), cap_r=torch.tensor([[r]], dtype=torch.float32),
        ell_c=torch.zeros(1, 0, 3), ell_axes=torch.zeros(1, 0, 3, 3), ell_s=torch.ones(1, 0, 3),
    )
    return prims


K64 = torch.tensor([[[100.0, 0, 32], [0, 100.0, 32], [0, 0, 1]]])


def test_sphere_depth_and_normal_are_exact():
    hits = raycast(_single_sphere((0.0, 0.0, 1000.0), 100.0), K64, 64, 64, tile=8)
    assert hits.depth[0, 32, 32] == pytest.approx(900.0, abs=1e-3)
    # pixel (37, 32): ray (0.05, 0, 1); |t d - c|^2 = r^2
    d = np.array([0.05, 0.0, 1.0])
    a, b, c = d @ d, -2 * 1000.0, 1000.0**2 - 100.0**2
    t = (-b - np.sqrt(b * b - 4 * a * c)) / (2 * a)
    assert hits.depth[0, 32, 37].item() == pytest.approx(t, rel=1e-5)
    # silhouette radius ~ f r / sqrt(z^2 - r^2) = 10.05 px
    assert torch.isfinite(hits.depth[0, 32, 32 + 10]) and not torch.isfinite(hits.depth[0, 32, 32 + 11])
    i = (hits.index == 32 * 64 + 37).nonzero()[0, 0]
    p = t * d
    n = (p - np.array([0, 0, 1000.0])) / 100.0
    np.testing.assert_allclose(hits.hit_normal[i].numpy(), n, atol=1e-4)


def test_ellipsoid_depth_is_exact():
    R = torch.eye(3)[None, None]
    prims = Primitives(
        cap_a=torch.zeros(1, 0, 3), cap_b=torch.zeros(1, 0, 3), cap_r=torch.zeros(1, 0),
        ell_c=torch.tensor([[[0.0, 0.0, 2000.0]]]), ell_axes=R, ell_s=torch.tensor([[[200.0, 100.0, 50.0]]]),
    )
    hits = raycast(prims, K64, 64, 64)
    assert hits.depth[0, 32, 32] == pytest.approx(1950.0, abs=1e-2)
    # horizontal half-width ~ 100 * 200 / 2000 = 10 px, vertical ~ 5 px
    assert torch.isfinite(hits.depth[0, 32, 41]) and not torch.isfinite(hits.depth[0, 32, 43])
    assert torch.isfinite(hits.depth[0, 36, 32]) and not torch.isfinite(hits.depth[0, 38, 32])


def test_z_buffer_keeps_the_nearest_primitive():
    a = torch.tensor([[[0.0, 0.0, 1000.0], [30.0, 0.0, 800.0]]])
    prims = Primitives(cap_a=a, cap_b=a.clone(), cap_r=torch.tensor([[100.0, 50.0]]),
                       ell_c=torch.zeros(1, 0, 3), ell_axes=torch.zeros(1, 0, 3, 3), ell_s=torch.ones(1, 0, 3))
    hits = raycast(prims, K64, 64, 64)
    prim = hits.primitive[0]
    u_small = 32 + round(100 * 30 / 800)
    assert prim[32, u_small] == 1 and prim[32, 32 - 8] == 0 and prim[0, 0] == -1
    assert hits.depth[0, 32, u_small] == pytest.approx(750.0, abs=0.5)


def test_front_view_labels_sides_and_depth():
    K, R, t = camera(0.0)
    X = to_camera(a_pose(), R, t)[None]
    out = render_batch(X, K, 256, 256, seed=0)
    parts = out.parts[0].numpy()
    present = set(np.unique(parts))
    assert present == set(range(len(PART_NAMES)))
    # facing the camera: the person's left appears on the image's right
    ys, xs = np.nonzero(parts == L.L_UPPER_ARM)
    yr, xr = np.nonzero(parts == L.R_UPPER_ARM)
    assert xs.mean() > 128 > xr.mean()
    assert np.nonzero(parts == L.HEAD)[0].mean() < np.nonzero(parts == L.L_LOWER_LEG)[0].mean()
    # joints project exactly like weakpose.camera.project, all visible from the front
    np.testing.assert_allclose(out.joints_2d[0].numpy(), project(X[0], K), atol=1e-3)
    assert out.visible.all()
    # depth: body surface in front of the camera-frame joints, background 0
    fg = parts > 0
    assert (out.depth[0].numpy()[~fg] == 0).all()
    assert 3700 < out.depth[0].numpy()[fg].min() < out.depth[0].numpy()[fg].max() < 4300
    # background only outside, RGB in range
    assert out.rgb.min() >= 0 and out.rgb.max() <= 1


def test_side_view_hides_far_arm_and_out_of_image_joints():
    K, R, t = camera(90.0)  # camera on the person's left (+x)
    X = to_camera(a_pose(), R, t)[None]
    out = render_batch(X, K, 256, 256, seed=0)
    vis = out.visible[0]
    assert vis[[11, 12, 13]].all()        # near (left) arm visible
    assert not vis[[14, 15]].any()        # far shoulder and elbow hidden behind the torso
    # a small image window that cuts off the legs: their joints are not visible
    K2 = K.copy()
    K2[1, 2] -= 100
    out2 = render_batch(X, K2, 256, 64, seed=0)
    v2 = out2.joints_2d[0, :, 1]
    assert (v2[[2, 3, 5, 6]] > 64).all() and not out2.visible[0, [2, 3, 5, 6]].any()
    # the left hand hangs in front of the pelvis in this view: pelvis hidden, wrist visible
    assert 0 <= v2[0] < 64 and not out2.visible[0, 0]
    assert 0 <= v2[13] < 64 and out2.visible[0, 13]


def test_same_seed_same_images_other_seed_differs_and_shape_changes_width():
    K, R, t = camera(30.0)
    X = to_camera(a_pose(), R, t)[None].repeat(2, 0)
    a = render_batch(X, K, 96, 96, seed=5)
    b = render_batch(X, K, 96, 96, seed=5)
    c = render_batch(X, K, 96, 96, seed=6)
    assert torch.equal(a.rgb, b.rgb) and torch.equal(a.parts, b.parts)
    assert not torch.equal(a.rgb, c.rgb)
    assert torch.equal(a.parts, c.parts)  # geometry does not depend on the seed
    thick = render_batch(X, K, 96, 96, shapes=BodyShape(girth=1.3), seed=5)
    assert (thick.parts > 0).sum() > 1.2 * (a.parts > 0).sum()


def test_any_resolution_matches_scaled_intrinsics():
    K, R, t = camera(0.0)
    X = to_camera(a_pose(), R, t)[None]
    big = render_batch(X, K, 256, 256, seed=1)
    S = np.diag([0.5, 0.5, 1.0])
    S[:2, 2] = 0.5 * 0.5 - 0.5
    small = render_batch(X, S @ K, 128, 128, seed=1)
    np.testing.assert_allclose(small.joints_2d.numpy(), (big.joints_2d.numpy() + 0.5) * 0.5 - 0.5, atol=1e-3)
    frac_big = (big.parts > 0).float().mean()
    frac_small = (small.parts > 0).float().mean()
    assert abs(frac_big - frac_small) < 0.1 * frac_big


def test_bad_inputs_raise():
    K, R, t = camera(0.0)
    X = to_camera(a_pose(), R, t)[None]
    with pytest.raises(ValueError, match="17, 3"):
        render_batch(X[:, :16], K, 64, 64)
    with pytest.raises(ValueError, match="last row"):
        render_batch(X, K * 2, 64, 64)
    with pytest.raises(ValueError, match="non-finite"):
        render_batch(X * np.nan, K, 64, 64)
    with pytest.raises(ValueError, match="positive"):
        render_batch(X, K, 0, 64)
