"""Remedies for depth mirrors (not in the paper; issue 16): the camera on the other side of the
torso plane, two-sided training, the test-time flip choice and the input's x, y."""

import numpy as np
import pytest
import torch

from weakpose.camera import weak_perspective_project
from weakpose.data.contracts import load_benchmark
from weakpose.data.mocap import TRAIN_SUBJECTS, load_cmu
from weakpose.errors import InputError
from weakpose.methods.hypotheses import losses as L
from weakpose.methods.hypotheses.core import (
    HypothesesCore,
    HypothesesPredictor,
    HypothesesSettings,
    build_networks,
    other_side,
    with_input_xy,
    zero_code_fit,
)
from weakpose.methods.hypotheses.data import joint_weights, normalise_2d, torso_template
from weakpose.skeleton import H36M17

TINY = dict(width=32, latent_dim=4, critic_pose_width=16, critic_kcs_width=16, batch_size=8, monitor_every=0)


def test_the_other_side_projects_the_planar_torso_as_m_and_a_pose_as_m_its_depth_mirror(root):
    g = torch.Generator().manual_seed(0)
    M = torch.randn(5, 2, 3, generator=g)
    template = torch.from_numpy(torso_template(load_cmu(root, TRAIN_SUBJECTS).positions[:50]))
    assert torch.all(template[:, 2] == 0)  # the template is planar: z = 0
    t = template.expand(5, 4, 3)
    assert torch.allclose(weak_perspective_project(other_side(M), t), weak_perspective_project(M, t))
    y = torch.randn(5, 17, 3, generator=g)
    mirror = y * torch.tensor([1.0, 1.0, -1.0])
    assert torch.allclose(weak_perspective_project(other_side(M), y), weak_perspective_project(M, mirror))
    # a genuine pose is not projected alike by the two sides (they differ off the torso plane)
    assert not torch.allclose(weak_perspective_project(other_side(M), y), weak_perspective_project(M, y))


def test_with_input_xy_keeps_depth_and_missing_joints_and_takes_the_scaled_input_xy():
    g = torch.Generator().manual_seed(1)
    x2d = torch.randn(3, 17, 2, generator=g)
    x2d[:, 0] = 0
    depth = torch.randn(3, 17, 1, generator=g)
    consistent = torch.cat([2.5 * x2d, depth], -1)
    assert torch.allclose(with_input_xy(consistent, x2d, torch.ones(3, 17)), consistent, atol=1e-6)
    # a pose whose x, y stray from the input: visible joints snap to the least-squares-scaled input
    stray = consistent.clone()
    stray[:, 5, :2] += 0.3
    visible = torch.ones(3, 17)
    visible[:, 13] = 0  # a missing joint keeps the pose's own x, y
    out = with_input_xy(stray, x2d, visible)
    w = visible[..., None]
    a = (w * x2d * stray[..., :2]).sum((1, 2)) / (w * x2d * x2d).sum((1, 2))
    assert torch.allclose(out[:, 5, :2], a[:, None] * x2d[:, 5])
    assert torch.equal(out[:, 13], stray[:, 13]) and torch.equal(out[..., 2], stray[..., 2])
    # hypotheses [B, H, J, 3] use their own scale each, the same input x, y
    hyp = torch.stack([consistent, 3.0 * consistent], 1)
    assert torch.allclose(with_input_xy(hyp, x2d, torch.ones(3, 17)), hyp, atol=1e-5)


def _predictor(sides: int) -> HypothesesPredictor:
    torch.manual_seed(2)
    cfg = HypothesesSettings(camera_sides=sides, **TINY)
    net, _ = build_networks(cfg)
    # larger outputs than the tiny initial ones, so that poses, cameras and fits differ clearly
    for head in (net.gen_out, net.camera_head[-1]):
        head.weight.data.mul_(100.0)
    return HypothesesPredictor(cfg, net, {"mean_bone_lengths": torch.full((16,), 250.0)})


@pytest.mark.parametrize("sides", [1, 2])
def test_flip_choice_is_mirror_equivariant_and_never_fits_the_2d_worse(gt2d_file, sides):
    """The mirrored 2D input must give the mirror image of every output (the choice between a
    2D pose and its mirror does not depend on which of the two comes in), and the kept
    zero-code pose reprojects at least as closely as the unflipped one."""
    pred = _predictor(sides)
    bench = load_benchmark(gt2d_file)
    kp = bench.inputs.keypoints_2d[::97].astype(np.float32)
    conf = bench.inputs.confidence[::97].astype(np.float32)
    conf[3, 13] = 0  # a missing joint swaps sides with the mirror as well
    kp_m, conf_m = H36M17.flip(kp, center=500.0), conf[:, H36M17.flip_permutation]
    opts = dict(num_hypotheses=3, meanshift_samples=8, input_xy="never")
    out = pred.predict_arrays(kp, conf, flip_choice=True, **opts)
    out_m = pred.predict_arrays(kp_m, conf_m, flip_choice=True, **opts)
    plain = pred.predict_arrays(kp, conf, flip_choice=False, **opts)
    assert 0 < out["flip_chosen"].mean() < 1  # both branches are used
    assert np.array_equal(out_m["flip_chosen"], ~out["flip_chosen"])
    scale = np.abs(out["positions_3d_template"]).max()  # float32 rounding of the 100x outputs
    for key in ("positions_3d_zero_code", "positions_3d_template", "positions_3d_meanshift", "hypotheses"):
        assert np.allclose(out_m[key], H36M17.flip(out[key]), rtol=0, atol=1e-6 * scale), key
    sign = np.array([[1.0, -1.0, -1.0], [-1.0, 1.0, 1.0]], np.float32)
    assert np.allclose(out_m["camera_2x3"], out["camera_2x3"] * sign, atol=1e-5)
    assert np.array_equal(plain["positions_3d_zero_code"][~out["flip_chosen"]],
                          out["positions_3d_zero_code"][~out["flip_chosen"]])

    x, vis = normalise_2d(torch.from_numpy(kp), torch.from_numpy(conf))
    w = joint_weights(vis)

    def fit(o):  # L_2D of the zero-code pose (template frame) under its camera, per sample
        y = torch.from_numpy(o["positions_3d_template"]) / 1000.0
        return L.reprojection_errors(torch.from_numpy(o["camera_2x3"]), y, x, w)

    assert torch.all(fit(out) <= fit(plain) + 1e-5)
    assert torch.any(fit(out) < fit(plain) - 1e-3)


def test_zero_code_fit_keeps_the_better_side_with_its_own_camera():
    pred = _predictor(2)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(16, 17, 2, generator=g)
    w = torch.ones(16, 17)
    h = pred.net.features(x)
    y0, M, side, err = zero_code_fit(pred.net, h, x, w)
    with torch.no_grad():
        z = torch.zeros(16, pred.cfg.latent_dim)
        e_plus = L.reprojection_errors(pred.net.camera_from_features(h),
                                       pred.net.generate_from_features(h, z, torch.ones(16)), x, w)
        e_minus = L.reprojection_errors(other_side(pred.net.camera_from_features(h)),
                                        pred.net.generate_from_features(h, z, -torch.ones(16)), x, w)
    assert torch.allclose(err, torch.minimum(e_plus, e_minus))
    assert torch.equal(side < 0, e_minus < e_plus) and 0 < (side < 0).sum() < 16
    assert torch.allclose(L.reprojection_errors(M, y0, x, w), err, atol=1e-6)


def test_two_sided_step_trains_the_side_that_fits_each_2d_pose_better(root, data):
    core = HypothesesCore(HypothesesSettings(camera_sides=2, **TINY), root, data=data)
    for head in (core.net.gen_out, core.net.camera_head[-1]):
        head.weight.data.mul_(100.0)
    x, vis, _ = core._batch(0)
    b = x.shape[0] // 2
    z = torch.randn(2 * b, core.cfg.latent_dim, generator=torch.Generator().manual_seed(4))
    w = joint_weights(vis)
    h = core.net.features(x)
    M = core.net.camera_from_features(h)
    y, M_side, l2d, (y_lose, l2d_lose), share_minus = core._two_sided(h, z, M, x, w)
    ones = torch.ones(2 * b)
    one_side = {s: L.reprojection_loss(M if s > 0 else other_side(M),
                                       core.net.generate_from_features(h, z, s * ones), x, w) for s in (1, -1)}
    # winner-takes-all per 2D pose: never worse than either side alone, the loser worse
    assert l2d <= min(one_side.values()) + 1e-6 and l2d_lose >= max(l2d, 0)
    assert torch.allclose(L.reprojection_loss(M_side, y, x, w), l2d)
    # the two codes of one 2D pose (rows i and i + b) share their side
    same = (M_side[:b] == M[:b]).all((1, 2))
    assert torch.equal(same, (M_side[b:] == M[b:]).all((1, 2)))
    assert 0 < share_minus < 1
    logs = core.step(0)
    assert 0 <= logs["side_minus"] <= 1


def test_two_sided_settings_are_checked():
    with pytest.raises(InputError, match="camera_sides"):
        HypothesesSettings(camera_sides=3).validate()
    with pytest.raises(InputError, match="side_loser_weight"):
        HypothesesSettings(side_loser_weight=-1).validate()


def test_a_checkpoint_from_before_two_sided_training_loads_as_one_sided():
    from weakpose.engine.config import config_to_dict
    from weakpose.inference_api import predictor_from_payload
    from weakpose.methods.hypotheses.method import HypothesesConfig, HypothesesMethod

    cfg = HypothesesConfig(camera_sides=1, **TINY)
    nets = HypothesesMethod.build_modules(cfg)
    stored = {k: v for k, v in config_to_dict(cfg).items() if k != "camera_sides"}  # written before the key
    payload = {"method": "hypotheses", "config": stored, "modules": {k: n.state_dict() for k, n in nets.items()},
               "predictor_state": {"mean_bone_lengths": torch.full((16,), 250.0)}}
    pred = predictor_from_payload(payload, "old.pt")
    assert pred.net.camera_sides == 1 and pred.cfg.camera_sides == 1
    assert HypothesesConfig().camera_sides == 2  # new runs are two-sided


@pytest.mark.parametrize("setting", ["camera_sides=3", "input_xy=sometimes", "generator_blocks=0", "width=0"])
def test_a_bad_setting_is_one_line_exit_2_and_no_run_folder(setting, tmp_path, capsys):
    from weakpose.cli import main

    assert main(["train", "hypotheses", "--out", str(tmp_path / "run"), setting, "steps=1", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and f"key '{setting.split('=')[0]}'" in err and "\n" not in err, err
    assert not (tmp_path / "run").exists()
