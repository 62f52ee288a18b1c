import numpy as np
import pytest
import torch

from weakpose.camera import load_rig, project
from weakpose.data.paths import data_root, h36m_rig
from weakpose.rendering.scenes import RenderedMotion, render_views, render_wild
from weakpose.rendering.sheet import contact_sheet, save_png
from weakpose.vision.crops import apply_affine, invert_affine

from ._poses import a_pose


@pytest.fixture(scope="module")
def rig():
    return load_rig(h36m_rig(data_root()))


def test_multiview_full_images_match_camera_projection(rig):
    X = a_pose()[None]
    scene = render_views(X, rig, seed=0, width=250, height=250)
    assert scene.render.rgb.shape == (1, 4, 250, 250, 3)
    for c, cam in enumerate(rig):
        uv_full = project(cam.world_to_camera(X[0]), cam.K)
        uv_img = apply_affine(uv_full, scene.crop[0, c])
        np.testing.assert_allclose(scene.render.joints_2d[0, c].numpy(), uv_img, atol=1e-2)
        # 1000 px -> 250 px is a factor 0.25 with pixel centres at integers
        np.testing.assert_allclose(
            uv_img, (uv_full + 0.5) * np.array([250 / cam.image_size[0], 250 / cam.image_size[1]]) - 0.5, atol=1e-6
        )
    assert scene.render.visible[0].float().mean() > 0.7


def test_crops_round_trip_to_full_image_and_person_coverage(rig):
    X = a_pose()[None].repeat(3, 0)
    scene = render_views(X, rig, seed=1, crop_size=96, augment=True)
    j2d = scene.render.joints_2d.numpy().astype(np.float64)
    back = apply_affine(j2d, invert_affine(scene.crop))
    for c, cam in enumerate(rig):
        np.testing.assert_allclose(back[:, c], project(cam.world_to_camera(X), cam.K), atol=2e-2)
    # without augmentation the silhouette's larger side covers roughly 75 % of the crop
    plain = render_views(X[:1], rig, seed=1, crop_size=96)
    for c in range(4):
        ys, xs = np.nonzero(plain.render.parts[0, c].numpy())
        extent = max(ys.max() - ys.min(), xs.max() - xs.min()) + 1
        assert 0.65 * 96 < extent < 0.85 * 96


def test_views_share_appearance_and_seed_is_deterministic(rig):
    X = a_pose()[None]
    a = render_views(X, rig, seed=3, crop_size=64)
    b = render_views(X, rig, seed=3, crop_size=64)
    assert torch.equal(a.render.rgb, b.render.rgb)
    # same clothes in every view: the chromaticity of the median torso colour agrees (the
    # brightness differs with the light direction)
    for seed in range(3):
        s = render_views(X, rig, seed=seed, crop_size=64).render
        med = [s.rgb[0, c][s.parts[0, c] == 2].median(0).values for c in range(4)]
        chroma = [m / m.sum() for m in med]
        assert all(torch.dist(chroma[0], ch) < 0.05 for ch in chroma[1:])


def test_wild_views_and_training_stream():
    X = a_pose()[None].repeat(2, 0)
    w = render_wild(X, seed=0, num_views=3, crop_size=64)
    assert w.render.parts.shape == (2, 3, 64, 64)
    assert (w.render.parts > 0).float().mean() > 0.05
    src = RenderedMotion(data_root(), subjects=(7,), rig="h36m", seed=0, stride=10)
    s1 = src.sample(2, num_views=2, crop_size=48)
    assert s1.render.rgb.shape == (2, 2, 48, 48, 3) and (s1.subject == 7).all()
    again = RenderedMotion(data_root(), subjects=(7,), rig="h36m", seed=0, stride=10).sample(
        2, num_views=2, crop_size=48
    )
    assert torch.equal(s1.render.rgb, again.render.rgb)  # deterministic by seed
    with pytest.raises(ValueError):
        RenderedMotion(data_root(), subjects=(7,), rig="orbit")


def test_contact_sheet_png(tmp_path):
    X = a_pose()[None]
    w = render_wild(X, seed=0, num_views=2, crop_size=32)
    sheet = contact_sheet(w.render, columns=2)
    assert sheet.shape == (2 + 34, 2 + 2 * 66, 3) and sheet.dtype == np.uint8
    p = save_png(sheet, tmp_path / "s.png")
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_native_resolution_rig_with_mixed_image_sizes_shares_appearance(rig):
    sizes = {tuple(c.image_size) for c in rig}
    scene = render_views(a_pose()[None], rig, seed=2)
    W, H = max(s[0] for s in sizes), max(s[1] for s in sizes)
    assert scene.render.rgb.shape == (1, 4, H, W, 3)
    np.testing.assert_array_equal(scene.crop[0, 0], np.eye(3))
    for c, cam in enumerate(rig):
        np.testing.assert_allclose(
            scene.render.joints_2d[0, c].numpy(), project(cam.world_to_camera(a_pose()), cam.K), atol=1e-2
        )


def test_render_command_writes_sheet_and_npz(tmp_path):
    from weakpose.cli import main

    out = tmp_path / "r.npz"
    assert main(["render", "--subjects", "7", "--num", "1", "--views", "2", "--size", "32",
                 "--sheet", str(tmp_path / "s.png"), "--output", str(out)]) == 0
    z = np.load(out)
    assert z["images"].shape == (1, 2, 32, 32, 3) and z["parts"].shape == (1, 2, 32, 32)
    assert (tmp_path / "s.png").exists()
    assert main(["render", "--num", "1"]) == 2
