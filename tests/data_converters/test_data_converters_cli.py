"""``weakpose data ...`` sub-commands through their argparse registration."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from weakpose.data import cli as data_cli
from weakpose.errors import InputError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="weakpose")
    sub = p.add_subparsers(dest="command", required=True)
    data_cli.register(sub)
    return p


def _run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    return args.func(args)


def test_every_command_has_help(capsys) -> None:
    p = _parser()
    with pytest.raises(SystemExit) as e:
        p.parse_args(["data", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    commands = [
        c
        for c in ("convert-cmu", "convert-h36m", "convert-h36m-vp3d", "convert-3dhp", "convert-mpii", "convert-coco")
        if c in text
    ]
    assert "convert-cmu" in commands
    for c in commands:
        with pytest.raises(SystemExit) as e:
            p.parse_args(["data", c, "--help"])
        assert e.value.code == 0
        assert "--out" in capsys.readouterr().out


def test_convert_cmu_command(tmp_path, cmu_root, capsys) -> None:
    out = tmp_path / "cmu.npz"
    code = _run(["data", "convert-cmu", "--bvh-root", str(cmu_root / "bvh"), "--index", str(cmu_root / "index.tsv"),
                 "--out", str(out), "--trials", "09_03,09_04", "--rotations", "--quiet"])  # fmt: skip
    assert code == 0
    assert "2 trials" in capsys.readouterr().out
    with np.load(out) as d:
        assert d["positions"].shape == (32 + 35, 17, 3)
        assert "rot_local" in d.files
    with np.load(cmu_root / "cmu_h36m17.npz") as ref:
        sel = np.isin(ref["seq_trial"][ref["seq_id"]], ["09_03", "09_04"])
        with np.load(out) as d:
            assert np.abs(d["positions"] - ref["positions"][sel]).max() < 1.0


def test_convert_cmu_bad_input_writes_nothing(tmp_path, cmu_root) -> None:
    bvh_root = tmp_path / "bvh"
    (bvh_root / "09").mkdir(parents=True)
    text = (cmu_root / "bvh" / "09" / "09_03.bvh").read_text().splitlines()
    (bvh_root / "09" / "09_03.bvh").write_text("\n".join(text[:-5]))  # truncated
    out = tmp_path / "out.npz"
    with pytest.raises(InputError, match=r"09_03\.bvh:\d+: truncated"):
        _run(["data", "convert-cmu", "--bvh-root", str(bvh_root), "--index", str(cmu_root / "index.tsv"),
              "--out", str(out), "--trials", "09_03", "--quiet"])  # fmt: skip
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [bvh_root]


def test_convert_h36m_commands(tmp_path, capsys) -> None:
    pytest.importorskip("cdflib")
    from .h36m_fixtures import random_world_poses, write_pickled_npz, write_pose_cdf

    rng = np.random.default_rng(0)
    w = random_world_poses(rng, 130)
    write_pose_cdf(tmp_path / "h36m" / "S9" / "MyPoseFeatures" / "D3_Positions" / "Eating 1.cdf", w)
    out = tmp_path / "test.npz"
    assert _run(["data", "convert-h36m", "--root", str(tmp_path / "h36m"), "--subjects", "S9", "--stride", "64",
                 "--multiview", "--out", str(out), "--quiet"]) == 0  # fmt: skip
    with np.load(out) as d:
        assert d["keypoints_2d"].shape == (3, 4, 17, 2)
        assert d["sequence"].tolist() == ["S9/Eating 1"] * 3
    write_pickled_npz(tmp_path / "data_3d_h36m.npz", positions_3d={"S9": {"Eating 1": w / 1000}})
    out2 = tmp_path / "vp3d.npz"
    assert _run(["data", "convert-h36m-vp3d", "--positions-3d", str(tmp_path / "data_3d_h36m.npz"), "--subjects", "S9",
                 "--out", str(out2), "--quiet"]) == 0  # fmt: skip
    with np.load(out2) as d:
        assert d["keypoints_2d"].shape == (4 * 130, 17, 2)
    # a CDF with a wrong shape: one-line error, no output file
    write_pose_cdf(tmp_path / "h36m" / "S9" / "MyPoseFeatures" / "D3_Positions" / "Eating 2.cdf", np.zeros((3, 90)))
    out3 = tmp_path / "bad.npz"
    with pytest.raises(InputError, match=r"Eating 2\.cdf: key 'Pose': shape"):
        _run(
            [
                "data",
                "convert-h36m",
                "--root",
                str(tmp_path / "h36m"),
                "--subjects",
                "S9",
                "--out",
                str(out3),
                "--quiet",
            ]
        )
    assert not out3.exists()


def test_convert_and_evaluate_3dhp(tmp_path, capsys) -> None:
    import json

    import scipy.io

    from .test_mpi_inf_3dhp import _test_arrays

    rng = np.random.default_rng(0)
    arrays, _ = _test_arrays(rng, 10)
    (tmp_path / "TS2").mkdir()
    scipy.io.savemat(tmp_path / "TS2" / "annot_data.mat", arrays)
    out = tmp_path / "3dhp_test.npz"
    assert _run(["data", "convert-3dhp", "--root", str(tmp_path), "--split", "test", "--subjects", "2",
                 "--out", str(out), "--quiet"]) == 0  # fmt: skip
    with np.load(out) as d:
        gt = d["positions_3d"]
    pred = tmp_path / "pred.npz"
    np.savez(pred, positions_3d=gt + np.array([0.0, 0.0, 10.0]))  # a global shift: perfect root-relative
    capsys.readouterr()
    assert (
        _run(["data", "evaluate-3dhp", "--pred", str(pred), "--gt", str(out), "--json", str(tmp_path / "r.json")]) == 0
    )
    assert "PCK@150 100.0" in capsys.readouterr().out
    # float32 rounding leaves ~1e-4 mm errors, which only the 0 mm threshold sees
    assert json.loads((tmp_path / "r.json").read_text())["auc"] >= 100.0 * 30 / 31


def test_convert_coco_and_mpii_commands(tmp_path, capsys) -> None:
    import json

    from .test_image2d_converters import _coco_file

    p, _, _ = _coco_file(tmp_path, np.random.default_rng(0))
    out = tmp_path / "coco.npz"
    assert _run(["data", "convert-coco", "--annotations", str(p), "--out", str(out), "--quiet"]) == 0
    assert "2 people from 1 images" in capsys.readouterr().out
    from weakpose.data.contracts import load_keypoints_2d

    assert load_keypoints_2d(out).num_samples == 2
    rows = [{"image": "x.jpg", "center": [1, 2], "scale": 1.0, "joints": [[5, 5]] * 16, "joints_vis": [1] * 16}]
    (tmp_path / "mpii.json").write_text(json.dumps(rows))
    assert (
        _run(
            [
                "data",
                "convert-mpii",
                "--annotations",
                str(tmp_path / "mpii.json"),
                "--out",
                str(tmp_path / "m.npz"),
                "--quiet",
            ]
        )
        == 0
    )
    # JSON missing keys: one-line error, no output
    rows[0].pop("joints")
    (tmp_path / "mpii.json").write_text(json.dumps(rows))
    with pytest.raises(InputError, match=r"key '\[0\]\.joints': missing"):
        _run(["data", "convert-mpii", "--annotations", str(tmp_path / "mpii.json"), "--out", str(tmp_path / "m2.npz")])
    assert not (tmp_path / "m2.npz").exists()


def test_through_weakpose_main(tmp_path, cmu_root, capsys) -> None:
    from weakpose.cli import main

    out = tmp_path / "c.npz"
    assert main(["data", "convert-cmu", "--bvh-root", str(cmu_root / "bvh"), "--index", str(cmu_root / "index.tsv"),
                 "--out", str(out), "--trials", "09_01", "--quiet"]) == 0  # fmt: skip
    assert out.exists()
    capsys.readouterr()
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": []}')
    assert main(["data", "convert-coco", "--annotations", str(bad), "--out", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "key 'annotations': missing" in err
    assert not (tmp_path / "x.npz").exists()
