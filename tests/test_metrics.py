import numpy as np
import pytest
import torch

from geometry_helpers import random_rotation
from weakpose.metrics import (
    auc,
    best_of_hypotheses,
    evaluate_predictions,
    format_table,
    mpjpe,
    n_mpjpe,
    pa_mpjpe,
    pa_mpjpe_with_reflections,
    pck,
)


def independent_metrics(pred, gt):
    """A separate numpy implementation of DESIGN.md §5, one sample at a time."""
    out = {k: [] for k in ("mpjpe", "n_mpjpe", "pa_mpjpe", "pa_mpjpe_refl", "pck150", "auc")}
    for p, g in zip(pred.astype(np.float64), gt.astype(np.float64)):
        p, g = p - p[0], g - g[0]
        err = np.linalg.norm(p - g, axis=1)
        out["mpjpe"].append(err.mean())
        s = np.sum(p * g) / np.sum(p * p)
        out["n_mpjpe"].append(np.linalg.norm(s * p - g, axis=1).mean())
        mp, mg = p.mean(0), g.mean(0)
        A, B = p - mp, g - mg
        U, S, Vt = np.linalg.svd(B.T @ A)
        D = np.diag([1, 1, np.sign(np.linalg.det(U @ Vt))])
        R = U @ D @ Vt
        scale = np.trace(np.diag(S) @ D) / np.sum(A * A)
        out["pa_mpjpe"].append(np.linalg.norm(scale * A @ R.T + mg - g, axis=1).mean())
        R = U @ Vt                                          # any orthogonal map (the papers' Procrustes)
        scale = np.sum(S) / np.sum(A * A)
        out["pa_mpjpe_refl"].append(np.linalg.norm(scale * A @ R.T + mg - g, axis=1).mean())
        e = err[1:]
        out["pck150"].append(100 * np.mean(e <= 150))
        out["auc"].append(100 * np.mean([np.mean(e <= t) for t in range(0, 151, 5)]))
    return {k: float(np.mean(v)) for k, v in out.items()}


def test_similarity_copy_has_zero_pa_mpjpe(rng):
    gt = torch.as_tensor(rng.normal(size=(6, 17, 3)) * 200)
    pred = 0.8 * gt @ random_rotation(rng, 6).transpose(-1, -2) + 55.0
    assert pa_mpjpe(pred, gt).max() < 1e-8
    assert mpjpe(pred, gt).min() > 1.0


def test_mirrored_copy_is_not_credited(rng):
    gt = rng.normal(size=(6, 17, 3)) * 200
    mirrored = gt * np.array([1.0, 1.0, -1.0])           # depth reflection
    assert pa_mpjpe(mirrored, gt).min() > 10.0


def test_table_shows_both_pa_columns(rng):
    gt = rng.normal(size=(6, 17, 3)) * 200
    res = evaluate_predictions(gt * np.array([1.0, 1.0, -1.0]), gt)
    assert res["pa_mpjpe"] > 10.0 and res["pa_mpjpe_refl"] < 1e-6
    header = format_table(res).splitlines()[1].split()
    assert header[:4] == ["MPJPE", "N-MPJPE", "PA-MPJPE", "PA-refl"]
    assert format_table(res).splitlines()[-1].split()[4] == "0.00"     # ALL row, PA-refl column


def test_translation_invariance_and_scale(rng):
    gt = rng.normal(size=(4, 17, 3)) * 200
    assert np.allclose(mpjpe(gt + 1000.0, gt), 0)
    assert np.allclose(n_mpjpe(gt * 0.5, gt), 0, atol=1e-9)


def test_pck_auc_hand_made():
    gt = np.zeros((1, 17, 3))
    pred = gt.copy()
    pred[0, 1:9, 0] = 100.0      # 8 joints 100 mm off
    pred[0, 9:, 0] = 200.0       # 8 joints 200 mm off
    assert pck(pred, gt)[0] == pytest.approx(50.0)
    thresholds = np.arange(0, 151, 5)
    expected = 100 * np.mean([(8 * (t >= 100)) / 16 for t in thresholds])
    assert auc(pred, gt)[0] == pytest.approx(expected)


def test_numpy_and_torch_identical(rng):
    gt, pred = rng.normal(size=(2, 10, 17, 3)) * 200
    for fn in (mpjpe, n_mpjpe, pa_mpjpe, pa_mpjpe_with_reflections, pck, auc):
        assert np.array_equal(fn(pred, gt), fn(torch.as_tensor(pred), torch.as_tensor(gt)).numpy())


def test_matches_independent_implementation(gt2d_file, rng):
    gt = np.load(gt2d_file)["positions_3d"][::8]
    pred = gt + rng.normal(size=gt.shape) * 40 + rng.normal(size=(len(gt), 1, 3)) * 500
    ours = evaluate_predictions(pred, gt)
    ref = independent_metrics(pred, gt)
    for k, v in ref.items():
        assert ours[k] == pytest.approx(v, abs=0.01)


def test_per_action_and_oracle(rng):
    gt = rng.normal(size=(6, 17, 3)) * 200
    off = rng.normal(size=gt.shape) * 50
    hyp = np.stack([gt + off, gt, gt - off], 1)
    res = evaluate_predictions(gt + off, gt, np.array(["a", "a", "b", "b", "b", "b"]), hyp)
    assert res["per_action"]["b"]["num_samples"] == 4
    assert res["oracle"]["mpjpe"] < 1e-9 and res["mpjpe"] > 1
    assert best_of_hypotheses(hyp, gt)["pck150"].min() == 100
    assert "ORACLE best-of-3" in format_table(res)


def test_depth_error_hand_made():
    from weakpose.metrics import depth_error

    gt = np.zeros((1, 17, 3))
    pred = gt.copy()
    pred[0, 1:, 2] = 17.0                  # every non-root joint 17 mm too far
    pred[0, :, 0] += 100.0                 # x offsets do not count
    assert depth_error(pred, gt)[0] == pytest.approx(16.0)


def test_pa_with_reflections_forgives_a_depth_mirror_and_the_primary_metric_does_not(rng):
    from weakpose.metrics import pa_mpjpe_with_reflections

    gt = rng.normal(size=(6, 17, 3)) * 200
    mirrored = gt * np.array([1.0, 1.0, -1.0])
    assert pa_mpjpe_with_reflections(mirrored, gt).max() < 1e-6
    assert pa_mpjpe(mirrored, gt).min() > 10.0
