"""Every method trains from files written here (tiny size): the file is recorded in config.json
(sha256) and measurably used; the monitor reads --val or training subjects, never test files."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from weakpose.cli import main
from weakpose.data.benchmark import make_split
from weakpose.data.contracts import save_npz_atomic
from weakpose.data.paths import data_root
from weakpose.data.sources import load_sources, sha256
from weakpose.engine.config import resolve_config
from weakpose.methods.registry import get_method

pytestmark = pytest.mark.skipif(not (data_root() / "cmu").is_dir(), reason="shared data not available")
TRAIN = (1, 3, 5, 6, 7, 8)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("files")
    single = make_split(data_root(), TRAIN, "wild", "detector", seed=5, stride=60)
    multi = make_split(data_root(), TRAIN, "wild", "detector", seed=5, stride=60, multiview=True)
    out = {"2d": d / "own_2d.npz", "mv": d / "own_mv.npz", "paired": d / "paired.npz", "3d": d / "mocap.npz"}
    save_npz_atomic(out["2d"], **{k: v for k, v in single.items() if k != "positions_3d"})
    save_npz_atomic(out["mv"], **{k: v for k, v in multi.items()
                                     if k not in ("positions_3d", "rotations", "translations")})
    save_npz_atomic(out["paired"], **single)
    save_npz_atomic(out["3d"], positions_3d=single["positions_3d"] * 1.2)    # a bigger "person"
    return out, single, multi


def _method(name, overrides=(), **files):
    cls = get_method(name)
    return cls(resolve_config(cls.Config, None, list(overrides)), data_root(), "cpu", sources=load_sources(**files))


def _recorded(run, kind, path):
    entries = json.loads((run / "config.json").read_text())["data_files"]
    return any(e["kind"] == kind and e["sha256"] == sha256(path) for e in entries)


def test_nrsfm_and_distill_train_on_the_2d_file(files, tmp_path):
    paths, single, _ = files
    teacher = tmp_path / "teacher"
    assert main(["train", "nrsfm", "--out", str(teacher), "--train-2d", str(paths["2d"]), "steps=3", "eval_every=0",
                 "monitor_samples=16", "calibration_samples=64", "--no-progress"]) == 0
    assert _recorded(teacher, "train_2d", paths["2d"])
    m = _method("nrsfm", train_2d=[paths["2d"]])
    assert len(m.w) == len(single["keypoints_2d"])              # the file's samples, not CMU-WS's
    assert torch.equal(m.mask, torch.from_numpy(single["confidence"] > 0).float())
    student = tmp_path / "student"
    assert main(["train", "distill", "--out", str(student), "--teacher", str(teacher), "--train-2d", str(paths["2d"]),
                 "steps=3", "eval_every=0", "monitor_samples=16", "calibration_samples=64", "--no-progress"]) == 0
    assert _recorded(student, "train_2d", paths["2d"])
    d = _method("distill", [f"teacher={teacher}", "calibration_samples=64"], train_2d=[paths["2d"]])
    assert len(d.w) == len(single["keypoints_2d"])


def test_hypotheses_uses_2d_and_unpaired_3d_files(files, tmp_path):
    paths, single, _ = files
    run = tmp_path / "run"
    assert main(["train", "hypotheses", "--out", str(run), "--train-2d", str(paths["2d"]),
                 "--train-3d", str(paths["3d"]), "steps=2", "eval_every=0", "monitor_samples=16",
                 "meanshift_samples=4", "--no-progress"]) == 0
    assert _recorded(run, "train_2d", paths["2d"]) and _recorded(run, "train_3d", paths["3d"])
    m = _method("hypotheses", train_2d=[paths["2d"]], train_3d=[paths["3d"]])
    default = _method("hypotheses", train_2d=[paths["2d"]])
    assert len(m.core.x2d) == len(single["keypoints_2d"]) and len(m.core.real3d) == len(single["positions_3d"])
    # the critic's template and bone lengths come from the 3D file: 1.2x the training subjects'
    assert np.isclose(float(m.core.mean_bones.sum() / default.core.mean_bones.sum()), 1.2, atol=0.01)


def test_multiview_trains_on_the_multiview_file_alone(files, tmp_path):
    paths, _, multi = files
    run = tmp_path / "run"
    assert main(["train", "multiview", "--out", str(run), "--train-multiview", str(paths["mv"]), "--train-3d",
                 str(paths["3d"]), "steps=3", "eval_every=0", "monitor_samples=16", "width=32", "--no-progress"]) == 0
    assert _recorded(run, "train_multiview", paths["mv"]) and _recorded(run, "train_3d", paths["3d"])
    m = _method("multiview", ["width=32"], train_multiview=[paths["mv"]])
    assert m.sampler is None                                     # no CMU-WS multi-view samples at all
    rows = m.views_file.sample(np.random.default_rng(0), 4, 4)[0]
    flat = multi["keypoints_2d"].reshape(-1, 17, 2)
    assert all((np.abs(flat - r).sum((-1, -2)) == 0).any() for r in rows.reshape(-1, 17, 2))


def test_supervised_trains_on_the_paired_file(files, tmp_path):
    paths, single, _ = files
    run = tmp_path / "run"
    assert main(["train", "supervised", "--out", str(run), "--train-paired", str(paths["paired"]), "steps=2",
                 "eval_every=0", "monitor_samples=16", "width=64", "--no-progress"]) == 0
    assert _recorded(run, "train_paired", paths["paired"])
    m = _method("supervised", ["width=64"], train_paired=[paths["paired"]])
    b = m.sampler.sample(np.random.default_rng(0), 8, 0.3, 0.5, True)
    assert np.array_equal(b.positions_3d, single["positions_3d"][b.frame])


def test_val_file_is_the_monitor(files):
    paths, single, _ = files
    m = _method("nrsfm", ["monitor_samples=32"], train_2d=[paths["2d"]], val=paths["paired"])
    inputs, gt = m.monitor_set()
    rows = [int(np.flatnonzero((single["positions_3d"] == g).all((1, 2)))[0]) for g in gt]
    assert len(gt) == 32 and np.array_equal(inputs.keypoints_2d, single["keypoints_2d"][rows])


def test_default_monitor_never_reads_test_files(tmp_path):
    """Old code: Method.monitor_set read cmu_test_h36mrig_gt2d.npz (fails here: it is absent)."""
    root = tmp_path / "data"
    (root / "benchmark").mkdir(parents=True)
    (root / "cmu").symlink_to(data_root() / "cmu")
    shutil.copy(data_root() / "benchmark" / "rig_h36m.json", root / "benchmark")
    cls = get_method("supervised")
    m = cls(resolve_config(cls.Config, None, ["width=32", "monitor_samples=64"]), root, "cpu")
    metrics = m.evaluate()
    assert np.isfinite(metrics["monitor/mpjpe"]) and len(m.monitor_set()[1]) == 64
