"""Typed data sources of `weakpose train` (weakpose.data.sources): loading, layout conversion,
memory mapping, recording, and the one-line errors for bad files (before any training)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from weakpose.cli import main
from weakpose.data.benchmark import make_split
from weakpose.data.contracts import save_npz_atomic
from weakpose.data.paths import data_root
from weakpose.data.sources import MultiViewSet, load_sources, read_2d, read_3d, sha256
from weakpose.skeleton import COCO17_NAMES, LAYOUTS, from_h36m17, to_h36m17

pytestmark = pytest.mark.skipif(not (data_root() / "cmu").is_dir(), reason="shared data not available")


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    """Own-domain files: training subjects, wild cameras, detector noise (stride 40)."""
    d = tmp_path_factory.mktemp("own")
    root = data_root()
    single = make_split(root, (1, 3, 5, 6, 7, 8), "wild", "detector", seed=3, stride=40)
    multi = make_split(root, (1, 3, 5, 6, 7, 8), "wild", "detector", seed=3, stride=40, multiview=True)
    paths = {"2d": d / "own_2d.npz", "mv": d / "own_mv.npz", "paired": d / "own_paired.npz", "3d": d / "own_3d.npz"}
    save_npz_atomic(paths["2d"], **{k: v for k, v in single.items() if k != "positions_3d"})
    save_npz_atomic(paths["mv"], **{k: v for k, v in multi.items()
                                     if k not in ("positions_3d", "rotations", "translations")})
    save_npz_atomic(paths["paired"], **single)
    save_npz_atomic(paths["3d"], positions_3d=single["positions_3d"])
    return paths, single, multi


def test_2d_file_is_memory_mapped_and_recorded(own, tmp_path):
    paths, single, _ = own
    big = tmp_path / "big.npz"
    reps = 1 + (1 << 20) // single["keypoints_2d"].nbytes
    kp = np.tile(single["keypoints_2d"], (reps, 1, 1))
    save_npz_atomic(big, keypoints_2d=kp, confidence=np.tile(single["confidence"], (reps, 1)))
    s = load_sources(train_2d=[big])
    assert isinstance(s.train_2d.keypoints_2d, np.memmap)          # not read into memory
    assert np.array_equal(np.asarray(s.train_2d.keypoints_2d[:5]), kp[:5])
    (rec,) = s.config_entry()
    assert rec["kind"] == "train_2d" and rec["samples"] == len(kp) and rec["sha256"] == sha256(big)


def test_coco_layout_is_converted(own, tmp_path):
    paths, single, _ = own
    # a COCO-17 file made from the Human3.6M joints that COCO shares (eyes, nose: reuse head joints)
    coco = np.zeros((len(single["keypoints_2d"]), 17, 2), np.float32)
    names = {n: i for i, n in enumerate(COCO17_NAMES)}
    h36 = {n: i for i, n in enumerate(LAYOUTS["h36m17"].names)}
    for n in ("l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist", "l_hip", "r_hip",
              "l_knee", "r_knee", "l_ankle", "r_ankle"):
        coco[:, names[n]] = single["keypoints_2d"][:, h36[n]]
    for n in ("nose", "l_eye", "r_eye", "l_ear", "r_ear"):
        coco[:, names[n]] = single["keypoints_2d"][:, h36["head"]]
    f = tmp_path / "coco.npz"
    save_npz_atomic(f, keypoints_2d=coco, joint_names=np.array(COCO17_NAMES))
    kp = read_2d(f)
    expected, _ = to_h36m17(coco, np.ones(coco.shape[:2], np.float32), "coco17")
    assert kp.keypoints_2d.shape[1] == 17 and np.allclose(kp.keypoints_2d, expected)
    assert np.allclose(from_h36m17(kp.keypoints_2d, "lilee16")[:, 0], single["keypoints_2d"][:, 3])  # r_ankle kept


def test_multiview_views_without_confidence_are_absent(own, tmp_path):
    _, _, multi = own
    conf = multi["confidence"].copy()
    conf[0, 1:] = 0            # sample 0: only view 0 present -> no multi-view information, left out
    conf[1, 2] = 0             # sample 1: view 2 absent
    f = tmp_path / "mv.npz"
    save_npz_atomic(f, keypoints_2d=multi["keypoints_2d"], confidence=conf, intrinsics=multi["intrinsics"])
    mv = load_sources(train_multiview=[f]).train_multiview
    assert isinstance(mv, MultiViewSet)
    assert mv.num_samples == len(conf) - 1
    assert sorted(mv.groups[0] % 4) == [0, 1, 3]
    kp, c, K = mv.sample(np.random.default_rng(0), 32, 4)
    assert kp.shape == (32, 4, 17, 2) and (c.reshape(32, 4, -1).max(-1) > 0).all() and K.shape == (32, 4, 3, 3)


def test_convert_cmu_positions_are_accepted_as_3d(tmp_path):
    f = tmp_path / "cmu.npz"
    z = np.load(data_root() / "cmu" / "cmu_h36m17.npz")
    save_npz_atomic(f, positions=z["positions"][:100], subject=z["subject"][:100])
    assert read_3d(f).shape == (100, 17, 3)


def _bad_files(tmp_path, single, multi):
    kp, conf = single["keypoints_2d"][:20].copy(), single["confidence"][:20].copy()
    nan = kp.copy()
    nan[3, 4] = np.nan
    nan_conf = conf.copy()
    nan_conf[3, 4] = 0.9
    zero = conf.copy()
    zero[5] = 0
    mv_kp = multi["keypoints_2d"][:5]
    return {
        "nan": ("--train-2d", dict(keypoints_2d=nan, confidence=nan_conf), "NaN or inf at an observed joint"),
        "empty": ("--train-2d", dict(keypoints_2d=np.zeros((0, 17, 2), np.float32)), "no samples"),
        "shape": ("--train-2d", dict(keypoints_2d=np.zeros((4, 17, 3), np.float32)), "expected [N, J, 2]"),
        "joints": ("--train-2d", dict(keypoints_2d=np.zeros((4, 15, 2), np.float32)), "15 joints and no 'joint_names'"),
        "multi_as_single": ("--train-2d", dict(keypoints_2d=mv_kp), "pass it with --train-multiview"),
        "single_as_multi": ("--train-multiview", dict(keypoints_2d=kp, confidence=conf), "pass it with --train-2d"),
        "unusable": ("--train-2d", dict(keypoints_2d=kp, confidence=zero), "sample 5 has no observed joint"),
        "no_intrinsics": ("--train-multiview", dict(keypoints_2d=mv_kp), "key 'intrinsics': missing"),
        "no_3d": ("--train-3d", dict(keypoints_2d=kp), "key 'positions_3d': missing"),
        "metres": ("--train-3d", dict(positions_3d=single["positions_3d"][:20] / 1000), "metres?"),
    }


@pytest.mark.parametrize("case", ["nan", "empty", "shape", "joints", "multi_as_single", "single_as_multi",
                                  "unusable", "no_intrinsics", "no_3d", "metres"])
def test_bad_files_are_one_line_errors_before_training(own, tmp_path, capsys, case):
    _, single, multi = own
    option, arrays, message = _bad_files(tmp_path, single, multi)[case]
    f = tmp_path / f"{case}.npz"
    save_npz_atomic(f, **arrays)
    before = f.read_bytes()
    method = {"--train-multiview": "multiview", "--train-3d": "hypotheses"}.get(option, "nrsfm")
    run = tmp_path / "run"
    assert main(["train", method, "--out", str(run), option, str(f), "steps=2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {f}") and message in err[0], err
    assert not run.exists() and f.read_bytes() == before


@pytest.mark.parametrize("method,option,accepts", [
    ("supervised", "--train-2d", "--train-paired, --val"),
    ("nrsfm", "--train-3d", "--train-2d, --val"),
    ("multiview", "--train-2d", "--train-multiview, --train-3d, --val"),
    ("hypotheses", "--train-paired", "--train-2d, --train-3d, --val"),
    ("prior", "--val", "no data files"),
    ("flows-ws", "--train-2d", "it accepts --val"),
])
def test_a_kind_the_method_cannot_use_names_the_kinds_it_can(own, tmp_path, capsys, method, option, accepts):
    paths, _, _ = own
    run = tmp_path / "run"
    assert main(["train", method, "--out", str(run), option, str(paths["paired"]), "steps=2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and option in err[0] and accepts in err[0], err
    assert not run.exists()


@pytest.mark.parametrize("method,option,accepts", [
    ("multiview", "--train-multiview", "it accepts --train-3d"),
    ("multiview", "--val", "it accepts --train-3d"),
    ("distill", "--train-2d", "no data files"),
    ("flows-ws", "--val", "no data files"),
])
def test_image_variants_refuse_files_they_would_not_read(own, tmp_path, capsys, method, option, accepts):
    """The kinds are the variant class's (``METHOD.method_class(config).data_kinds``): the image
    variants train on rendered crops and monitor rendered training-subject crops, so a 2D file or
    a --val file would go unread (multiview's image variant reads --train-3d bone lengths)."""
    paths, _, _ = own
    run = tmp_path / "run"
    assert main(["train", method, "--out", str(run), option, str(paths["paired"]), "variant=image", "steps=2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"`{method} variant=image`" in err[0] and accepts in err[0], err
    assert not run.exists()


def test_a_method_built_directly_refuses_files_it_would_not_read(own, tmp_path):
    """Method.__init__ checks the sources against data_kinds too (not only the trainer)."""
    from weakpose.engine.config import resolve_config
    from weakpose.errors import InputError
    from weakpose.methods.registry import get_method

    paths, _, _ = own
    family = get_method("multiview")
    config = resolve_config(family.Config, None, ["variant=image"])
    with pytest.raises(InputError, match="--train-multiview: `multiview variant=image` cannot train"):
        family(config, data_root(), "cpu", sources=load_sources(train_multiview=[paths["mv"]]))


def test_resume_refuses_changed_files(own, tmp_path, capsys):
    paths, single, _ = own
    f = tmp_path / "mine.npz"
    save_npz_atomic(f, keypoints_2d=single["keypoints_2d"], confidence=single["confidence"])
    run = tmp_path / "run"
    assert main(["train", "nrsfm", "--out", str(run), "--train-2d", str(f), "steps=4", "eval_every=0",
                 "monitor_samples=16", "calibration_samples=64", "--stop-after", "2", "--no-progress"]) == 0
    recorded = json.loads((run / "config.json").read_text())["data_files"]
    assert recorded[0]["sha256"] == sha256(f)
    save_npz_atomic(f, keypoints_2d=single["keypoints_2d"][::-1].copy(), confidence=single["confidence"])
    assert main(["train", "nrsfm", "--out", str(run), "--resume", "--no-progress"]) == 2
    assert "data files differ" in capsys.readouterr().err
