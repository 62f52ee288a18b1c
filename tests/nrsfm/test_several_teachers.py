"""Distillation from several Deep NRSfM teachers (not in the paper; docs/nrsfm.md "Issue 16, fourth
pass"): Eq. 15 averaged over the teachers, Weaksup-bs on their mean depth; one teacher is the
paper's loss; teachers with another normalisation/gauge are refused."""

import json

import pytest
import torch

from weakpose.cli import main
from weakpose.engine.checkpoint import load_checkpoint, save_checkpoint
from weakpose.methods.nrsfm.distill import DistillConfig, DistillMethod, FrozenTeacher, student_loss
from weakpose.methods.nrsfm.network import DeepNRSfM, gauge_matrix

TINY = ["stride=24", "eval_every=0", "checkpoint_every=100000", "monitor_samples=64", "calibration_samples=1024"]


def _teacher(seed: int, sign: float) -> FrozenTeacher:
    torch.manual_seed(seed)
    return FrozenTeacher.from_model(DeepNRSfM(17, (24, 12), center=0), sign, 0, 1e-6, run=f"t{seed}")


def _method(teachers: list[FrozenTeacher], loss: str) -> DistillMethod:
    method = object.__new__(DistillMethod)          # only the teachers, the gauge and the config are needed
    method.teachers, method.gauge, method.config = teachers, gauge_matrix(17, 0), DistillConfig(loss=loss)
    return method


def _batch():
    g = torch.Generator().manual_seed(3)
    w = torch.randn(8, 17, 2, generator=g) * 0.2
    mask = (torch.rand(8, 17, generator=g) > 0.1).float()
    return torch.randn(8, 17, 3, generator=g) * 0.2, w, mask


@pytest.mark.parametrize("loss", ["distill", "weaksup"])
def test_identical_teachers_give_exactly_the_single_teacher_loss(loss):
    pred, w, mask = _batch()
    t = _teacher(0, -1.0)
    one = _method([t], loss).batch_loss(pred, w, mask, None)
    two = _method([t, t], loss).batch_loss(pred, w, mask, None)
    for k in one:
        assert torch.equal(one[k], two[k]), k
    # the single teacher is the paper's Eq. 15 of that teacher (student_loss as before)
    b = t.batch(w)
    ref = student_loss(pred, w, mask, mode=loss, gauge=gauge_matrix(17, 0), code=b["code"], rotation=b["rotation"],
                       operator=t.operator, teacher_depth=b["depth"], reg_weight=0.3)
    assert all(torch.equal(one[k], ref[k]) for k in one)


def test_two_teachers_average_eq15_and_weaksup_takes_their_mean_depth():
    pred, w, mask = _batch()
    a, b = _teacher(0, 1.0), _teacher(1, -1.0)       # own dictionary, code, rotation and depth sign each
    la, lb = (_method([t], "distill").batch_loss(pred, w, mask, None)["loss"] for t in (a, b))
    assert not torch.allclose(la, lb)
    assert torch.allclose(_method([a, b], "distill").batch_loss(pred, w, mask, None)["loss"], 0.5 * (la + lb))
    depth = 0.5 * (a.batch(w)["depth"] + b.batch(w)["depth"])
    ws = student_loss(pred, w, mask, mode="weaksup", gauge=gauge_matrix(17, 0), teacher_depth=depth)["loss"]
    assert torch.allclose(_method([a, b], "weaksup").batch_loss(pred, w, mask, None)["loss"], ws)


def _copy(run, path, **config):
    """A copy of a teacher checkpoint with ``config`` changed (and the knee check passed: no warning)."""
    ckpt = load_checkpoint(run)
    ckpt["config"] = {**ckpt["config"], **config}
    ckpt["predictor_state"]["backward_knees"] = 0.0
    return save_checkpoint(path, {k: v for k, v in ckpt.items() if k not in ("format", "version", "weakpose_version")})


def test_cli_round_trip_of_repeated_teachers(tiny_teacher, tmp_path, capsys):
    a = _copy(tiny_teacher, tmp_path / "a.pt")
    out = tmp_path / "student"
    assert main(["train", "distill", "--teacher", str(a), "--teacher", str(a), "--out", str(out), "--no-progress",
                 *TINY, "steps=2", "width=32"]) == 0
    saved = json.loads((out / "config.json").read_text())["config"]["teacher"]
    assert saved == f"{a},{a}"
    assert load_checkpoint(out)["config"]["teacher"] == saved
    capsys.readouterr()


def test_teachers_with_another_gauge_are_refused_in_one_line(tiny_teacher, tmp_path, capsys):
    a = _copy(tiny_teacher, tmp_path / "a.pt")
    b = _copy(tiny_teacher, tmp_path / "b.pt", center="mean")
    out = tmp_path / "student"
    capsys.readouterr()
    try:
        code = main(["train", "distill", "--teacher", str(a), "--teacher", str(b), "--out", str(out),
                     "--no-progress", *TINY, "steps=2"])
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith(f"error: {b}: key 'center': ") and str(a) in lines[0], err
    assert not out.exists()
