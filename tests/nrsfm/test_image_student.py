"""Image-input student (Wang et al. 2019 §4.4): integral read-out, shapes, Eq. 15 wiring on a
hand-made case, units of the rendered labels, and a tiny end-to-end run."""

import numpy as np
import pytest
import torch

from weakpose.camera import complete_rotation
from weakpose.data.mocap import TEST_SUBJECTS
from weakpose.data.paths import data_root
from weakpose.engine.checkpoint import load_checkpoint
from weakpose.errors import InputError
from weakpose.geometry.scale import bone_length_scale
from weakpose.methods.nrsfm.distill import student_loss
from weakpose.methods.nrsfm.distill_image import ImageBatch, image_batch, render_image_set, student_xyz
from weakpose.methods.nrsfm.distill_loss import DistillationOperator
from weakpose.methods.nrsfm.image_student import ImageStudent, integral_readout
from weakpose.methods.nrsfm.network import gauge_matrix, reduced_gauge_basis
from weakpose.methods.registry import get_method
from weakpose.metrics import pa_mpjpe
from weakpose.rendering.scenes import RenderedMotion
from weakpose.training import train


def test_integral_readout_exact_on_hand_made_maps():
    h = torch.full((1, 2, 4, 4), -1e4)
    d = torch.arange(32, dtype=torch.float32).view(1, 2, 4, 4)
    h[0, 0, 1, 2] = h[0, 0, 3, 0] = 5.0          # joint 0: two equal peaks → weights ½, ½
    h[0, 1] = 0.0                                 # joint 1: flat map → uniform weights
    out = integral_readout(h, d, lam=1.0, stride=4)
    # cell (x, y) is centred on pixel 4x + 1.5
    assert torch.allclose(out[0, 0], torch.tensor([0.5 * (9.5 + 1.5), 0.5 * (5.5 + 13.5), 0.5 * (6 + 12)]))
    assert torch.allclose(out[0, 1], torch.tensor([7.5, 7.5, d[0, 1].mean()]))
    with pytest.raises(ValueError):
        integral_readout(h, d[..., :3])


def test_image_student_shapes_and_gradients():
    torch.manual_seed(0)
    net = ImageStudent("resnet-tiny", 17)
    x = torch.randn(2, 3, 64, 64)
    out = net(x)
    assert out.shape == (2, 17, 3)
    assert ((out[..., :2] >= 0) & (out[..., :2] <= 63)).all()      # soft-argmax stays on the map
    out[..., 2].sum().backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)
    with pytest.raises(ValueError):
        net(torch.randn(2, 3, 60, 60))


def test_rendered_labels_map_to_the_teachers_input_exactly():
    # crops with random zoom and rotation: the student's f_xy of the true labels is w itself,
    # and w is the normalised camera-frame projection of the true 3D (the crop is undone)
    src = RenderedMotion(data_root(), TEST_SUBJECTS, seed=3)
    b = image_batch(src.sample(3, 1, 32, augment=True), 0)
    f = student_xyz(torch.cat([b.uv, torch.zeros(3, 17, 1)], -1), b)
    assert torch.allclose(f[..., :2], b.w, atol=1e-5)
    nc = b.joints_cam[..., :2] / b.joints_cam[..., 2:]
    w = nc - nc[:, :1]
    assert torch.allclose(b.w, w / w.flatten(1).norm(dim=-1)[:, None, None], atol=1e-5)
    assert b.images.shape == (3, 3, 32, 32) and torch.allclose(b.mask, torch.ones(3, 17))


def test_eq15_wiring_on_a_hand_made_case():
    """x, y: L1 in the teacher's units (pixel error / focal / scale), outside-crop joints left out;
    z: Eq. 14 of the teacher's own depth (φ̃ = φ) on an exactly explained w is β‖φ‖₁; Weaksup-bs
    is the L1 of the depth offset."""
    g = torch.Generator().manual_seed(0)
    p, k = 17, 40
    dictionary = torch.randn(p, 3, k, generator=g, dtype=torch.float64)
    dictionary = dictionary - dictionary[:1]                      # root-relative shapes (gauge 0)
    code = torch.rand(1, k, generator=g, dtype=torch.float64)
    m = torch.linalg.qr(torch.randn(3, 3, generator=g, dtype=torch.float64))[0][:, :2][None]   # [1, 3, 2]
    rot = complete_rotation(m.mT).mT
    shape = torch.einsum("pck,bk->bpc", dictionary, code) @ rot   # camera frame
    scale = shape[..., :2].flatten(1).norm(dim=-1)
    w = shape[..., :2] / scale
    depth = shape[..., 2] / scale
    code = code / scale
    focal, c0 = 100.0, 16.0
    a_inv = torch.tensor([[1 / focal, 0, -c0 / focal], [0, 1 / focal, -c0 / focal], [0, 0, 1]], dtype=torch.float64)[
        None
    ]
    origin = torch.tensor([[0.01, -0.02]], dtype=torch.float64)
    s = 0.5
    uv = (w * s + origin) * focal + c0                            # the labels in crop pixels
    inside = torch.ones(1, p, dtype=torch.float64)
    inside[0, 5] = 0
    batch = ImageBatch(torch.zeros(1, 3, 32, 32), uv, a_inv, w, torch.ones(1, p, dtype=torch.float64), origin,
                       torch.tensor([s], dtype=torch.float64), inside, torch.zeros(1, p, 3))
    pred_uv = uv.clone()
    pred_uv[0, 3, 0] += 2.0                                       # 2 px off in u at joint 3
    pred_uv[0, 5, 1] += 50.0                                      # joint 5 is outside the crop: ignored
    f = student_xyz(torch.cat([pred_uv, depth[..., None] + 7.0], -1), batch)   # + a free root offset
    op = DistillationOperator(dictionary, reduced_gauge_basis(p, 0))
    gauge = gauge_matrix(p, 0).double()
    terms = student_loss(f, w, batch.mask, mode="distill", gauge=gauge, code=code, rotation=rot, operator=op,
                         reg_weight=0.3, xy_mask=inside)
    assert terms["xy_l1"].item() == pytest.approx(2.0 / focal / s, rel=1e-9)
    assert terms["depth"].item() == pytest.approx(0.3 * code.abs().sum().item(), rel=1e-9)
    assert terms["loss"].item() == pytest.approx(terms["xy_l1"].item() + terms["depth"].item(), rel=1e-12)
    f2 = f.clone()
    f2[0, 4, 2] += 0.25
    weak = student_loss(f2, w, batch.mask, mode="weaksup", gauge=gauge, teacher_depth=depth, xy_mask=inside)
    assert weak["depth"].item() == pytest.approx(0.25, rel=1e-9)
    # a depth hypothesis away from the teacher's costs more than the teacher's own (w is exact)
    worse = student_loss(f2, w, batch.mask, mode="distill", gauge=gauge, code=code, rotation=rot, operator=op,
                         reg_weight=0.3, xy_mask=inside)
    assert worse["depth"].item() > terms["depth"].item()


def test_image_student_config_errors(tiny_teacher, tmp_path):
    with pytest.raises(InputError, match="key 'variant': 'video'"):
        train(
            "distill", tmp_path / "a", overrides=[f"teacher={tiny_teacher}", "variant=video", "steps=1"], progress=False
        )
    with pytest.raises(InputError, match="crop_size"):
        train("distill", tmp_path / "b", overrides=[f"teacher={tiny_teacher}", "variant=image", "crop_size=48",
                                                    "steps=1"], progress=False)


@pytest.fixture(scope="module")
def image_runs(tiny_teacher, tmp_path_factory):
    """Image students after 1 and 160 steps of Eq. 15 on 32-px rendered crops of the training
    subjects, and fixed crops of the test subjects with their ground truth."""
    tmp_path = tmp_path_factory.mktemp("image_student")
    common = [f"teacher={tiny_teacher}", "variant=image", "crop_size=32", "batch_size=16", "lr=3e-3",
              "eval_every=0", "checkpoint_every=100000", "image_samples=32", "monitor_samples=32"]
    preds = {}
    for steps in (1, 160):
        run = tmp_path / f"s{steps}"
        train(
            "distill",
            run,
            overrides=common + [f"steps={steps}", "lr_final=3e-3" if steps == 1 else "lr_final=1e-4"],
            progress=False,
        )
        preds[steps] = get_method("distill").load_predictor(load_checkpoint(run))
    batch = render_image_set(data_root(), TEST_SUBJECTS, 48, 32, seed=7)
    gt = (batch.joints_cam - batch.joints_cam[:, :1]).numpy()
    return preds, batch, gt


def _depthless(poses: np.ndarray, mean_bone_lengths) -> np.ndarray:
    """The depth-less baseline (DESIGN.md §5) on a prediction's own 2D: depth removed, bone scale."""
    flat = poses.astype(np.float64) - poses[:, :1]
    flat[..., 2] = 0.0
    return flat * bone_length_scale(flat, mean_bone_lengths)[:, None, None]


def test_tiny_image_run_lowers_its_error(image_runs):
    """On fixed crops of the test subjects the 3D error (own 2D) drops by at least 30 mm
    PA-MPJPE from the initial network (measured: 234 → 164 mm), and `weakpose predict` on a
    keypoint file is refused with a clear error."""
    preds, batch, gt = image_runs
    err = {steps: float(pa_mpjpe(p.predict_images(batch)["positions_3d"], gt).mean()) for steps, p in preds.items()}
    assert err[160] < err[1] - 30.0, err
    from weakpose.data.contracts import Keypoints2D

    with pytest.raises(InputError, match="image-input student"):
        preds[160].predict(Keypoints2D(np.zeros((1, 17, 2)), np.ones((1, 17)), None))


@pytest.mark.xfail(strict=True, reason="measured: at test size the image student learns no depth: PA-MPJPE 164.4 mm "
                   "vs 164.9 mm for its own 2D with the depth removed (99.0 vs 98.9 mm on the true 2D); 600 steps: "
                   "160.2 vs 161.1 mm. The 30 mm drop above is 2D. Remove this mark when it beats the baseline.")
def test_tiny_image_student_learns_depth(image_runs):
    preds, batch, gt = image_runs
    pred = preds[160]
    for true_2d in (False, True):
        own = pred.predict_images(batch, true_2d=true_2d)["positions_3d"]
        err = float(pa_mpjpe(own, gt).mean())
        depthless = float(pa_mpjpe(_depthless(own, pred.mean_bone_lengths), gt).mean())
        assert err < depthless - 5.0, (true_2d, err, depthless)


def test_image_student_trains_from_image_files(tiny_teacher, tmp_path):
    """`images=FILE` (a 2D file with image_path, here written by `weakpose render --folder`):
    the student's training crops are cut from the photos on disk, the teacher gets their 2D
    labels, and a checkpoint of the run predicts from photos."""
    from weakpose.cli import main
    from weakpose.engine.config import resolve_config
    from weakpose.methods.nrsfm.distill import METHOD as DISTILL
    from weakpose.methods.nrsfm.distill import DistillConfig

    folder = tmp_path / "photos"
    assert main(["render", "--rig", "wild", "--num", "8", "--views", "1", "--size", "64", "--seed", "2",
                 "--folder", str(folder)]) == 0
    common = [f"teacher={tiny_teacher}", "variant=image", "crop_size=32", "batch_size=8", "image_samples=8",
              "eval_every=0", "checkpoint_every=100000", "monitor_samples=8", f"images={folder / '2d.npz'}"]
    m = DISTILL(resolve_config(DistillConfig, None, common + ["steps=2"]), data_root())
    steps = [m.train_step(i) for i in range(2)]
    assert 0 < m.image_files.reads <= 8 and all(np.isfinite(v) for s in steps for v in s.values())
    cal = m.calibration_images()  # the raw scale comes from the photos too: all 8 read by now
    assert len(cal.images) == 8 and torch.isnan(cal.joints_cam).all() and m.image_files.reads == 8
    assert main(["train", "distill", "--out", str(tmp_path / "run"), "--no-progress", *common, "steps=2"]) == 0
    assert main(["predict", "--checkpoint", str(tmp_path / "run"), "--input", str(folder / "2d.npz"),
                 "--output", str(tmp_path / "p.npz")]) == 0
    assert np.load(tmp_path / "p.npz")["positions_3d"].shape == (8, 17, 3)
    with pytest.raises(InputError, match="images"):
        DISTILL(resolve_config(DistillConfig, None, [f"teacher={tiny_teacher}", f"images={folder / '2d.npz'}"]),
                data_root())
