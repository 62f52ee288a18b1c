import numpy as np
import pytest
import torch

from weakpose.errors import InputError
from weakpose.models.heatmap_net import build_heatmap_net, normalize_images
from weakpose.models.weights import load_weights
from weakpose.vision.crops import (
    apply_affine,
    color_augment,
    crop_transform,
    invert_affine,
    person_box,
    rotation_degrees,
    warp_images,
)
from weakpose.vision.heatmaps import (
    cell_to_pixel,
    decode_heatmaps,
    expected_value,
    gaussian_heatmaps,
    heatmap_loss,
    pixel_to_cell,
    soft_argmax,
    spatial_softmax,
)


# ---------------------------------------------------------------- crops
def test_crop_transform_centre_coverage_and_rotation():
    box = np.array([100.0, 200.0, 300.0, 600.0])  # 200 x 400, centre (200, 400)
    T = crop_transform(box, 128)
    np.testing.assert_allclose(apply_affine(np.array([[200.0, 400.0]]), T), [[63.5, 63.5]])
    # the larger side (400 px) covers 75 % of the crop
    top, bottom = apply_affine(np.array([[200.0, 200.0], [200.0, 600.0]]), T)
    assert bottom[1] - top[1] == pytest.approx(0.75 * 128)
    R = crop_transform(box, 128, scale=1.2, rotation_deg=30.0)
    assert rotation_degrees(R) == pytest.approx(30.0)
    # a point right of the centre moves up on screen (counter-clockwise with y down)
    p = apply_affine(np.array([[250.0, 400.0]]), R)[0]
    assert p[0] > 63.5 and p[1] < 63.5
    assert np.linalg.norm(p - 63.5) == pytest.approx(50 * 0.75 * 128 * 1.2 / 400)


def test_crop_round_trip_is_exact():
    rng = np.random.default_rng(0)
    boxes = np.concatenate([rng.uniform(0, 500, (20, 2)), rng.uniform(600, 900, (20, 2))], -1)
    T = crop_transform(boxes, 96, scale=rng.uniform(0.8, 1.2, 20), rotation_deg=rng.uniform(-30, 30, 20))
    pts = rng.uniform(0, 1000, (20, 17, 2))
    back = apply_affine(apply_affine(pts, T), invert_affine(T))
    np.testing.assert_allclose(back, pts, atol=1e-9)


def test_warp_images_agrees_with_apply_affine():
    H, W = 120, 160
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    p = np.array([97.3, 41.8])
    blob = np.exp(-((xx - p[0]) ** 2 + (yy - p[1]) ** 2) / (2 * 3.0**2))
    img = torch.tensor(np.repeat(blob[None, :, :, None], 3, -1))
    T = crop_transform(np.array([[60.0, 10.0, 140.0, 90.0]]), 64, scale=1.1, rotation_deg=25.0)
    crop = warp_images(img, T, 64)[0, :, :, 0].numpy()
    cy, cx = np.mgrid[0:64, 0:64]
    w = crop / crop.sum()
    centroid = np.array([(w * cx).sum(), (w * cy).sum()])
    np.testing.assert_allclose(centroid, apply_affine(p[None], T[0])[0], atol=0.05)


def test_person_box_uses_valid_joints_and_rejects_empty():
    j = np.zeros((17, 2))
    j[:, 0] = np.linspace(10, 50, 17)
    j[:, 1] = np.linspace(100, 300, 17)
    j[9], j[10] = (30, 120), (30, 110)  # neck, head -> head top (30, 92)
    box = person_box(j, padding=0.0)
    np.testing.assert_allclose(box, [10, 92, 50, 300])
    valid = np.ones(17)
    valid[16] = 0  # the joint at x = 50, y = 300 is missing
    assert person_box(j, valid, padding=0.0)[2] < 50
    with pytest.raises(ValueError):
        person_box(j, np.zeros(17))
    tb = person_box(torch.tensor(j), padding=0.0)
    np.testing.assert_allclose(tb.numpy(), box)


def test_color_augment_keeps_range_and_is_seeded():
    img = torch.rand(4, 8, 8, 3)
    a = color_augment(img, torch.Generator().manual_seed(1))
    b = color_augment(img, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.min() >= 0 and a.max() <= 1 and not torch.equal(a, img)


# ---------------------------------------------------------------- heatmaps
def test_cell_pixel_conventions():
    assert cell_to_pixel(torch.tensor(0.0), 4) == 1.5  # cell 0 covers pixels 0..3
    assert pixel_to_cell(torch.tensor(9.5), 4) == 2.0


def test_soft_argmax_hand_made_and_gradient():
    hb = torch.zeros(1, 1, 8, 8)
    hb[0, 0, 2, 1] = 0.5
    hb[0, 0, 2, 3] = 0.5
    np.testing.assert_allclose(soft_argmax(hb, 4)[0, 0].numpy(), [2 * 4 + 1.5, 2 * 4 + 1.5])
    h = torch.randn(2, 3, 8, 8, requires_grad=True)
    uv = soft_argmax(spatial_softmax(h, 50.0), 4)
    uv.sum().backward()
    assert torch.isfinite(h.grad).all() and h.grad.abs().sum() > 0
    assert torch.allclose(spatial_softmax(h, 50.0).sum(dim=(-1, -2)), torch.ones(2, 3))
    z = expected_value(torch.full((1, 1, 2, 2), 0.25), torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]]))
    assert z.item() == pytest.approx(2.5)


def test_gaussian_targets_decode_back_to_the_joints():
    # joint 0 exactly on a cell centre (cell (5, 7) -> pixel (21.5, 29.5)), joint 1 off-grid
    j = torch.tensor([[[21.5, 29.5], [40.0, 12.25], [5.5, 55.0]]])
    hm = gaussian_heatmaps(j, 16, 16, stride=4, sigma=1.5, valid=torch.tensor([[1, 1, 0]]))
    assert hm.shape == (1, 3, 16, 16) and hm[0, 2].abs().max() == 0
    assert hm[0, 0, 7, 5] == 1.0 and hm[0, 1].max() < 1.0
    uv, conf = decode_heatmaps(hm[:, :2], lam=50.0, stride=4)
    np.testing.assert_allclose(uv[0, 0].numpy(), [21.5, 29.5], atol=1e-3)
    # lambda = 50 on peak-1 maps is nearly an argmax: off-grid joints are read to within
    # half a cell (stride / 2 px) per axis
    assert (uv[0, 1] - j[0, 1]).abs().max() <= 2.0
    assert conf[0, 0] > 0.999 and conf[0, 1] > 0.8
    flat = decode_heatmaps(torch.zeros(1, 1, 16, 16))
    np.testing.assert_allclose(flat[0][0, 0].numpy(), [31.5, 31.5])  # centre of the 64 px input
    assert flat[1].item() == 0.0
    with pytest.raises(ValueError):
        gaussian_heatmaps(j[0], 16, 16)


def test_heatmap_loss_weights_joints():
    t = torch.zeros(1, 2, 4, 4)
    p = t.clone()
    p[0, 1] = 1.0
    assert heatmap_loss(p, t).item() == pytest.approx(16.0)     # summed over cells and joints
    assert heatmap_loss(p, t, torch.tensor([[1.0, 0.0]])).item() == 0.0


# ---------------------------------------------------------------- networks
def test_hrnet_w32_and_resnet50_match_the_published_sizes():
    w32 = build_heatmap_net("hrnet-w32", 17)
    assert sum(p.numel() for p in w32.parameters()) == 28_536_113  # "28.5M" in Sun et al. 2019
    r50 = build_heatmap_net("resnet50", 17)
    assert sum(p.numel() for p in r50.parameters()) == 33_999_697  # SimpleBaseline-50, "34.0M"
    with torch.no_grad():
        assert w32.eval()(torch.zeros(1, 3, 64, 32)).shape == (1, 17, 16, 8)  # sides divisible by 32


@pytest.mark.parametrize("name", ["hrnet-tiny", "resnet-tiny", "resnet18"])
def test_small_networks_shapes_and_depth_maps(name):
    net = build_heatmap_net(name, 17, depth_maps=True)
    hm, dm = net(torch.randn(2, 3, 64, 64))
    assert hm.shape == dm.shape == (2, 17, 16, 16)
    with pytest.raises(ValueError):
        build_heatmap_net("vgg16")


def test_normalize_images_layout():
    x = torch.rand(2, 5, 7, 3)
    y = normalize_images(x)
    assert y.shape == (2, 3, 5, 7)
    assert torch.allclose(y[:, 0], (x[..., 0] - 0.485) / 0.229)


def test_load_weights_reports_missing_unexpected_and_mismatched(tmp_path):
    src = build_heatmap_net("resnet-tiny", 16)
    target = build_heatmap_net("resnet-tiny", 17)
    sd = {"module." + k: v for k, v in src.net.state_dict().items() if not k.startswith("deconv_layers.0")}
    sd["module.fc.weight"] = torch.zeros(10, 5)
    torch.save({"state_dict": sd, "epoch": 3}, tmp_path / "w.pth")
    rep = load_weights(target, tmp_path / "w.pth")
    assert rep.unexpected == ["module.fc.weight"]  # named as in the file
    assert sorted(k for k, *_ in rep.mismatched) == ["net.final_layer.bias", "net.final_layer.weight"]
    assert "net.deconv_layers.0.weight" in rep.missing
    assert torch.equal(target.net.conv1.weight, src.net.conv1.weight)
    assert "unexpected in file (1" in rep.summary() and not rep.complete
    with pytest.raises(InputError, match="incomplete"):
        load_weights(target, tmp_path / "w.pth", strict=True)
    (tmp_path / "bad.pth").write_text("not weights")
    with pytest.raises(InputError, match="not a PyTorch weights file"):
        load_weights(target, tmp_path / "bad.pth")
    with pytest.raises(InputError, match="not found"):
        load_weights(target, tmp_path / "none.pth")
