"""`weakpose train composite` from the user's typed data files (issues 13, 17): each kind given
replaces the CMU-WS default of its kind and the run reads exactly that file (the in-phase
teacher, the flow prior, the multi-view and paired batches, the monitor), a file no active term
reads is refused in one line, and the plain command (no files) trains: it crashed when the
trainer began to pass its ``DataSources`` to every method."""

from __future__ import annotations

import json

import numpy as np
import pytest

from weakpose.cli import main
from weakpose.data.benchmark import make_split
from weakpose.data.mocap import TRAIN_SUBJECTS, load_cmu
from weakpose.data.paths import data_root
from weakpose.data.sources import read_paired, sha256
from weakpose.inference_api import load_predictor
from weakpose.methods.composite import method as composite_method
from weakpose.methods.composite.data import Keypoints
from weakpose.metrics import mpjpe

TINY = ["steps=2", "stride=40", "width=64", "blocks=1", "batch_size=8", "mv_batch_size=2", "teacher_steps=3",
        "flow_fit_steps=3", "flow_hidden=16", "flow_steps=2", "critic_pose_width=16", "critic_kcs_width=16",
        "monitor_samples=64", "eval_every=0", "checkpoint_every=2"]
#: sample counts of the files, all different, so each shows where it went
N2D, NMV, N3D, NPAIRED, NVAL = 37, 23, 41, 29, 19


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("files")
    root = data_root()
    single = make_split(root, TRAIN_SUBJECTS, rig="wild", noise="detector", seed=3, stride=97)
    multi = make_split(root, TRAIN_SUBJECTS, rig="wild", noise="detector", seed=4, stride=97, multiview=True)
    conf = np.ones(multi["keypoints_2d"].shape[:3], np.float32)[:NMV]
    conf[::3, 3] = 0.0                      # the 4th view of every 3rd sample is absent
    paths = {k: d / f"{k}.npz" for k in ("train_2d", "train_multiview", "train_3d", "train_paired", "val")}
    # 2D only, no intrinsics (the default camera is assumed) and no positions_3d
    np.savez(paths["train_2d"], keypoints_2d=single["keypoints_2d"][:N2D], confidence=single["confidence"][:N2D])
    np.savez(paths["train_multiview"], keypoints_2d=multi["keypoints_2d"][:NMV], confidence=conf,
             intrinsics=multi["intrinsics"][:NMV])
    np.savez(paths["train_3d"], positions_3d=load_cmu(root, TRAIN_SUBJECTS).positions[::500][:N3D])
    paired = slice(N2D, N2D + NPAIRED)
    np.savez(paths["train_paired"], **{k: single[k][paired] for k in ("keypoints_2d", "confidence", "intrinsics",
                                                                        "positions_3d")})
    val = slice(N2D + NPAIRED, N2D + NPAIRED + NVAL)
    np.savez(paths["val"], **{k: single[k][val] for k in ("keypoints_2d", "confidence", "intrinsics", "positions_3d")})
    return paths


def option_args(paths: dict) -> list[str]:
    return [a for k, p in paths.items() for a in ("--" + k.replace("_", "-"), str(p))]


def test_every_kind_given_as_a_file_is_what_the_run_trains_on(files, tmp_path, monkeypatch, capsys):
    seen = {}
    real_sources = composite_method.training_sources

    def spy_sources(root, cfg, given):
        seen["data"] = real_sources(root, cfg, given)
        return seen["data"]

    class SpyFit(composite_method.FlowFit):
        def __init__(self, flow, data, *args):
            seen["flow_samples"] = len(data)
            super().__init__(flow, data, *args)

    monkeypatch.setattr(composite_method, "training_sources", spy_sources)
    monkeypatch.setattr(composite_method, "FlowFit", SpyFit)
    out = tmp_path / "run"
    assert main(["train", "composite", "--out", str(out), *option_args(files), "w_sup=5", *TINY]) == 0
    printed = capsys.readouterr().out
    data = seen["data"]
    # single-view 2D: the file's samples, no 3D, the default camera where the file has none
    assert isinstance(data.single_2d, Keypoints) and len(data.single_2d) == N2D and data.single_2d.positions_3d is None
    assert np.isfinite(data.single_2d.intrinsics).all() and (data.single_2d.intrinsics[:, 0, 0] > 0).all()
    # the in-phase NRSfM teacher trained on that same 2D, not on reloaded CMU-WS data
    assert f"teacher phase: Deep NRSfM on {N2D} single-view 2D samples" in printed
    # multi-view: the file's samples as groups; an absent view (confidence 0 everywhere) is left out
    assert data.multiview_2d.num_samples == NMV
    assert [len(g) for g in data.multiview_2d.groups[:3]] == [3, 4, 4]
    # unpaired 3D: the file's poses are what the flow prior was fitted on
    assert len(data.unpaired_3d) == N3D and seen["flow_samples"] == N3D
    assert len(data.paired) == NPAIRED and data.paired.positions_3d.shape == (NPAIRED, 17, 3)
    assert "single_2d (--train-2d)" in printed and "multiview_2d (--train-multiview)" in printed
    # config.json records every file with its content hash and sample count
    recorded = {e["kind"]: e for e in json.loads((out / "config.json").read_text())["data_files"]}
    counts = {"train_2d": N2D, "train_multiview": NMV, "train_3d": N3D, "train_paired": NPAIRED, "val": NVAL}
    for kind, path in files.items():
        assert recorded[kind]["sha256"] == sha256(path) and recorded[kind]["samples"] == counts[kind]
    # --val replaced the composite's own monitor: the final monitor scores are those of the val file

    val = read_paired(files["val"], "val")
    final = json.loads(printed[printed.rindex("{"):])
    pred = load_predictor(str(out)).predict(val.inputs)["positions_3d"]
    assert final["monitor/mpjpe"] == pytest.approx(float(mpjpe(pred, val.positions_3d).mean()), rel=1e-4)


def test_a_file_that_no_active_term_reads_is_refused_in_one_line(files, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "composite", "--out", str(out), "--train-paired", str(files["train_paired"]), "w2d=0",
               "w_sup=0", *TINY])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and not out.exists()
    assert err[0].startswith("error: command line: --train-paired: no active term of composite reads it")


def test_the_plain_command_without_files_trains(tmp_path, capsys):
    """`weakpose train composite --out X steps=2 stride=40 width=64` crashed (the composite took
    the trainer's DataSources for its own source kinds)."""
    out = tmp_path / "run"
    assert main(["train", "composite", "--out", str(out), *TINY]) == 0
    assert "sources: multiview_2d (CMU-WS), single_2d (CMU-WS), unpaired_3d (CMU-WS)" in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["data_files"] == []


def test_a_missing_detection_never_pulls_the_2d_estimate_towards_the_origin():
    """Detection files mark a missing joint with confidence 0 and any coordinates (0, 0 here):
    the composite's 2D term must not train the lifter's 2D estimate towards them."""
    import torch

    from weakpose.methods.composite.data import Views
    from weakpose.methods.composite.objective import lift
    from weakpose.methods.multiview.method import KeypointTwoPointFive

    torch.manual_seed(0)
    net = KeypointTwoPointFive(32, 1, 0.0, (0, 8), 0.75)
    s = make_split(data_root(), TRAIN_SUBJECTS, rig="wild", noise="gt", seed=0, stride=400)
    kp, K = torch.from_numpy(s["keypoints_2d"][:8]), torch.from_numpy(s["intrinsics"][:8])
    conf = torch.ones(kp.shape[:2])
    conf[:, 3] = 0.0
    moved = kp.clone()
    moved[:, 3] = 0.0
    a = lift(net, Views(kp, conf, kp, conf, K), (0, 8)).l2d
    b = lift(net, Views(kp, conf, moved, conf, K), (0, 8)).l2d
    assert torch.allclose(a, b)
