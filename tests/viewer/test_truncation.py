"""Bodies cut by the image border (issue 18): the shared augmentation, the truncated benchmark
file with seen/unseen metrics, and a small lifter that learns from it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from weakpose.cli import main
from weakpose.data.benchmark import truncate_split
from weakpose.data.noise import MIN_SEEN_JOINTS, border_truncation
from weakpose.data.paths import data_root
from weakpose.data.sampling import ViewSampler
from weakpose.metrics import seen_unseen_errors

LEGS, WRISTS = [1, 2, 3, 4, 5, 6], [13, 16]


@pytest.fixture(scope="module")
def test_file():
    z = np.load(data_root() / "benchmark" / "cmu_test_h36mrig_gt2d.npz")
    return {k: z[k] for k in z.files}


def test_border_truncation_cuts_like_photos(test_file):
    rng = np.random.default_rng(0)
    kp, conf, size = test_file["keypoints_2d"][:3000], test_file["confidence"][:3000], test_file["image_size"][:3000]
    out_kp, out_conf, cut = border_truncation(kp, conf, size, rng, 1.0)
    assert ((out_conf == 0) == cut).all() and (out_kp[cut] == 0).all() and (out_kp[~cut] == kp[~cut]).all()
    assert ((~cut).sum(-1) >= MIN_SEEN_JOINTS).all()
    # a cut is an image border: every missing joint lies beyond every seen one along some axis
    y = kp[..., 1]
    lower = cut[:, LEGS].all(1)
    assert 0.3 < lower.mean() < 0.8                      # whole lower bodies are the common case
    lowest_seen = np.where(cut, -np.inf, y).max(1)
    highest_cut = np.where(cut, y, np.inf).min(1)
    assert (highest_cut[lower] >= lowest_seen[lower]).all()    # cut by a bottom border
    assert (~cut[:, [8, 9, 10]]).all()                   # thorax and head stay in the picture
    one_side = cut.any(1) & ~lower
    assert one_side.any() and cut[:, WRISTS].any()
    # deterministic for a seed, untouched at fraction 0
    again = border_truncation(kp, conf, size, np.random.default_rng(0), 1.0)[2]
    assert (again == cut).all()
    assert not border_truncation(kp, conf, size, rng, 0.0)[2].any()
    # joints outside the original image are cut as well
    far = kp.copy()
    far[:, 3, 0] = size[:, 0] + 50
    assert border_truncation(far, conf, size, rng, 1e-9)[2][:, 3].all()


def test_sampler_truncates_the_requested_share():
    sampler = ViewSampler(data_root())
    b = sampler.sample(np.random.default_rng(1), 1000, wild_fraction=0.5, truncate_fraction=0.3)
    truncated = (b.confidence == 0).any(1)
    assert 0.2 < truncated.mean() < 0.35
    assert (b.positions_3d[truncated] != 0).all()        # the 3D target stays whole


def test_truncated_benchmark_file_and_seen_unseen_report(tmp_path, test_file, capsys):
    out = tmp_path / "trunc.npz"
    assert main(["benchmark", "--subjects", "2", "--stride", "20", "--truncate", "--out", str(out)]) == 0
    z = np.load(out)
    assert z["truncated"].shape == z["confidence"].shape and (z["confidence"][z["truncated"]] == 0).all()
    assert json.loads(str(z["protocol"]))["truncation"]["fraction"] == 1.0
    gt = z["positions_3d"]
    # a prediction that is exact on the seen joints and collapses the unseen ones onto the pelvis
    pred = np.where(z["truncated"][..., None], gt[:, :1], gt)
    np.savez(tmp_path / "pred.npz", positions_3d=pred)
    assert main(["evaluate", "--pred", str(tmp_path / "pred.npz"), "--gt", str(out),
                 "--json", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())["truncation"]
    assert report["mpjpe_seen"] < 1e-3 and report["mpjpe_unseen"] > 200
    assert report["unseen_bones_within_tolerance"] < 50
    assert "unseen joints" in capsys.readouterr().out
    r = seen_unseen_errors(gt, gt, z["truncated"])
    assert r["mpjpe_unseen"] < 1e-6 and r["unseen_bones_within_tolerance"] == 100.0


def test_lifter_trained_with_truncation_keeps_unseen_limbs_human(tmp_path, test_file):
    """Two small reference lifters, the same budget and seed, with and without truncation: on
    truncated test-subject samples the truncation-trained one places unseen joints better and
    gives more of the unseen bones a human length."""
    from weakpose.data.contracts import validate_keypoints_2d
    from weakpose.inference_api import load_predictor
    from weakpose.training import train

    rows = np.arange(0, len(test_file["keypoints_2d"]), 8)
    sub = {k: v[rows] for k, v in test_file.items() if np.ndim(v) and len(v) == len(test_file["keypoints_2d"])}
    sub["protocol"] = test_file["protocol"]
    trunc = truncate_split(sub, 0)
    results = {}
    for frac in (0.0, 0.5):
        run = tmp_path / f"run{frac}"
        train("supervised", run, overrides=["steps=600", "width=128", "batch_size=128", "eval_every=600",
                                            "checkpoint_every=600", f"truncate_fraction={frac}"], progress=False)
        pred = load_predictor(run).predict(validate_keypoints_2d(trunc, tmp_path / "t.npz"))["positions_3d"]
        results[frac] = seen_unseen_errors(pred, trunc["positions_3d"], trunc["truncated"])
    assert results[0.5]["mpjpe_unseen"] < 0.9 * results[0.0]["mpjpe_unseen"], results
    assert results[0.5]["unseen_bones_within_tolerance"] > results[0.0]["unseen_bones_within_tolerance"] + 10, results
