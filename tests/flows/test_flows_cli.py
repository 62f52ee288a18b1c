"""`weakpose fit` end to end on a tiny prior run, and its input errors."""

import numpy as np
import pytest
import torch

from weakpose.cli import main
from weakpose.engine.checkpoint import save_checkpoint
from weakpose.engine.config import config_to_dict
from weakpose.methods.flows.body import cmu_tree
from weakpose.methods.flows.prior import PriorConfig, PriorMethod, load_prior_run
from weakpose.rendering import render_batch


@pytest.fixture(scope="module")
def prior_run(tmp_path_factory, body):
    cfg = PriorConfig(representations=("aa",), flow_steps=1, flow_hidden=8, prelu_steps=1, vae_latent=4,
                      num_betas=2, gmm_modes=2, fit_iterations=10)
    nets = PriorMethod.build_modules(cfg)
    nets["body"].load_state_dict(body.state_dict())
    gen = torch.Generator().manual_seed(0)
    data = torch.randn(200, len(cmu_tree.POSED_SEGMENTS) * 3, generator=gen) * 0.3
    nets["nf_aa"].standardize.set_statistics(data)
    nets["gmm_aa"].fit(data, iterations=3)
    run = tmp_path_factory.mktemp("prior_run")
    save_checkpoint(run / "model.pt", {"method": "prior", "config": config_to_dict(cfg), "skeleton": {},
                                       "modules": {k: v.state_dict() for k, v in nets.items()}, "step": 0})
    return run


def _inputs(tmp_path, body):
    out = body(torch.eye(3).expand(2, body.num_pose_joints, 3, 3),
               global_rot=torch.diag(torch.tensor([1.0, -1.0, -1.0])).expand(2, 3, 3))
    joints = out.joints - out.joints[:, :1] + torch.tensor([[0.0, 0.0, 5000.0], [200.0, 0.0, 4000.0]])[:, None]
    K = np.array([[1000.0, 0, 500], [0, 1000.0, 500], [0, 0, 1]], np.float32)
    kp = (joints @ torch.from_numpy(K).T)
    kp = (kp[..., :2] / kp[..., 2:]).numpy().astype(np.float32)
    np.savez(tmp_path / "2d.npz", keypoints_2d=kp, intrinsics=K, frame_index=np.arange(2), positions_3d=joints.numpy())
    parts = render_batch(
        joints, torch.from_numpy(K) @ torch.diag(torch.tensor([0.25, 0.25, 1.0])), 250, 250
    ).parts.numpy()
    np.savez(tmp_path / "masks.npz", parts=parts, mask_scale=np.float32(4.0))
    return joints.numpy()


def test_fit_cli_writes_predictions(tmp_path, prior_run, body):
    gt = _inputs(tmp_path, body)
    bundle, cfg = load_prior_run(prior_run)
    assert cfg.representations == ("aa",) and bundle.get("nf", "aa").dim == 39
    rc = main(
        [
            "fit",
            "--prior",
            str(prior_run),
            "--input",
            str(tmp_path / "2d.npz"),
            "--output",
            str(tmp_path / "3d.npz"),
            "--masks",
            str(tmp_path / "masks.npz"),
            "--iterations",
            "10",
            "--stage2-starts",
            "2",
        ]
    )
    assert rc == 0
    pred = np.load(tmp_path / "3d.npz")
    assert pred["positions_3d"].shape == (2, 17, 3)
    assert np.allclose(pred["positions_3d"][:, 0], 0.0)
    assert pred["frame_index"].tolist() == [0, 1]
    # the rest pose is the truth: the fit stays close to it
    err = np.linalg.norm(pred["positions_3d"] - (gt - gt[:, :1]), axis=-1).mean()
    assert err < 40.0


def test_fit_cli_input_errors(tmp_path, prior_run, body, capsys):
    _inputs(tmp_path, body)
    np.savez(tmp_path / "bad_masks.npz", parts=np.zeros((3, 10, 10), np.uint8))
    rc = main(
        [
            "fit",
            "--prior",
            str(prior_run),
            "--input",
            str(tmp_path / "2d.npz"),
            "--output",
            str(tmp_path / "o.npz"),
            "--masks",
            str(tmp_path / "bad_masks.npz"),
        ]
    )
    assert rc == 2 and "key 'parts'" in capsys.readouterr().err
    rc = main(
        [
            "fit",
            "--prior",
            str(prior_run),
            "--input",
            str(tmp_path / "2d.npz"),
            "--output",
            str(tmp_path / "o.npz"),
            "--prior-kind",
            "gmm",
            "--space",
            "latent",
        ]
    )
    assert rc == 2 and "latent" in capsys.readouterr().err
    rc = main(
        [
            "fit",
            "--prior",
            str(tmp_path / "nothing"),
            "--input",
            str(tmp_path / "2d.npz"),
            "--output",
            str(tmp_path / "o.npz"),
        ]
    )
    assert rc == 2


def test_fit_video_tracks_one_person_and_smooths_with_eq12(tmp_path, prior_run):
    """``fit --video``: detection + tracking as in ``predict --video``, then Eq. 12 windows
    (never across the gap the tracker leaves); the latent smoothness term makes the fitted
    motion steadier than per-frame fits."""
    pytest.importorskip("mediapipe")
    pytest.importorskip("cv2")
    from viewer.clips import FPS, INTRUDER, render_clip

    clip = tmp_path / "walk.avi"
    render_clip(clip)
    outs = {}
    for window in (1, 4):
        out = tmp_path / f"fit{window}.npz"
        assert main(["fit", "--prior", str(prior_run), "--video", str(clip), "--output", str(out), "--iterations", "10",
                     "--stage2-starts", "1", "--window", str(window)]) == 0
        outs[window] = np.load(out)
    z = outs[4]
    frames = z["frame_index"]
    assert not set(INTRUDER) & set(frames.tolist()) and np.allclose(z["timestamp"], frames / FPS)
    assert z["positions_3d"].shape == (len(frames), 17, 3)
    seg = np.arange(0, np.flatnonzero(np.diff(frames) > 1)[0] + 1)       # frames before the gap
    jitter = {w: np.linalg.norm(np.diff(outs[w]["positions_3d"][seg], 2, axis=0), axis=-1).mean() for w in outs}
    assert jitter[4] < jitter[1]
