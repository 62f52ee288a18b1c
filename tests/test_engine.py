import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from weakpose.data.contracts import load_benchmark
from weakpose.engine.checkpoint import load_checkpoint
from weakpose.engine.config import TrainConfig, resolve_config
from weakpose.errors import InputError
from weakpose.inference_api import load_predictor
from weakpose.training import train

TINY = ["width=64", "blocks=1", "batch_size=64", "eval_every=0", "checkpoint_every=10", "monitor_samples=256"]


@dataclass
class _Cfg(TrainConfig):
    views: tuple[int, ...] = (1, 2)
    name: str | None = None
    flag: bool = False


def test_config_resolution(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('lr = 0.5\nviews = [3, 4]\nmethod = "x"\n')
    c = resolve_config(_Cfg, f, ["steps=7", "flag=true", "name=none", "views=5,6"])
    assert (c.lr, c.steps, c.flag, c.name, c.views) == (0.5, 7, True, None, (5, 6))
    with pytest.raises(InputError, match="key 'stepz': unknown setting"):
        resolve_config(_Cfg, None, ["stepz=3"])
    with pytest.raises(InputError, match="key 'steps': 'many' is not a valid int"):
        resolve_config(_Cfg, None, ["steps=many"])
    with pytest.raises(InputError, match="expected key=value"):
        resolve_config(_Cfg, None, ["steps"])


def _weights(run):
    return load_checkpoint(run)["modules"]["lifter"]


def test_resume_reaches_the_same_result(tmp_path):
    train("supervised", tmp_path / "a", overrides=TINY + ["steps=20"], progress=False)
    assert train("supervised", tmp_path / "b", overrides=TINY + ["steps=20"], progress=False, stop_after=7) == {
        "stopped_at_step": 7
    }
    assert not (tmp_path / "b" / "model.pt").exists()
    train("supervised", tmp_path / "b", resume=True, progress=False)
    wa, wb = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    saved = json.loads((tmp_path / "b" / "config.json").read_text())
    assert saved["method"] == "supervised" and saved["config"]["width"] == 64
    assert (tmp_path / "a" / "metrics.jsonl").exists() and list((tmp_path / "a" / "logs").iterdir())
    with pytest.raises(InputError, match="already holds a run"):
        train("supervised", tmp_path / "a", overrides=TINY, progress=False)
    with pytest.raises(InputError, match="nothing to resume"):
        train("supervised", tmp_path / "c", resume=True, progress=False)


def test_checkpoint_round_trip_rebuilds_predictor(tmp_path, gt2d_file):
    train("supervised", tmp_path / "r", overrides=TINY + ["steps=5"], progress=False)
    bench = load_benchmark(gt2d_file)
    from weakpose.data.contracts import Keypoints2D

    inp = Keypoints2D(bench.inputs.keypoints_2d[:50], bench.inputs.confidence[:50], bench.inputs.intrinsics[:50])
    p1 = load_predictor(tmp_path / "r").predict(inp)["positions_3d"]
    p2 = load_predictor(tmp_path / "r" / "model.pt").predict(inp)["positions_3d"]
    assert np.array_equal(p1, p2) and p1.shape == (50, 17, 3) and np.allclose(p1[:, 0], 0)
    ckpt = load_checkpoint(tmp_path / "r")
    assert ckpt["skeleton"]["parents"][:3] == [-1, 0, 1] and ckpt["config"]["width"] == 64


def test_corrupt_checkpoints(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="not a readable checkpoint"):
        load_checkpoint(bad)
    torch.save({"hello": 1}, tmp_path / "foreign.pt")
    with pytest.raises(InputError, match="not a weakpose checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    with pytest.raises(InputError, match="has no model.pt"):
        load_checkpoint(tmp_path)


def test_empty_or_truncated_checkpoint_is_a_one_line_input_error(tmp_path):
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty.pt: not a readable checkpoint \(empty file, 0 bytes\)"):
        load_checkpoint(empty)
    train("supervised", tmp_path / "r", overrides=TINY + ["steps=2"], progress=False)
    cut = tmp_path / "cut.pt"
    cut.write_bytes((tmp_path / "r" / "model.pt").read_bytes()[:300])
    with pytest.raises(InputError, match="cut.pt: not a readable checkpoint") as e:
        load_checkpoint(cut)
    assert "\n" not in str(e.value)


def test_checkpoints_are_synced_to_disk_before_the_rename(tmp_path, monkeypatch):
    import os

    from weakpose.engine.checkpoint import save_checkpoint

    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real(fd))
    save_checkpoint(tmp_path / "c.pt", {"method": "x", "config": {}, "modules": {}})
    assert any(".c.pt." in p and p.endswith(".tmp.pt") for p in synced)   # the file, before the rename
    assert str(tmp_path) in synced                                         # the folder, after it
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_resume_cleans_up_after_a_killed_run(tmp_path, capsys):
    """A kill can leave a checkpoint temporary and logged steps after the last checkpoint; the
    resumed run removes the one and cuts the other back, so every step is logged once."""
    run = tmp_path / "r"
    train("supervised", run, overrides=TINY + ["steps=12", "log_every=1"], progress=False, stop_after=6)
    stale = run / ".last.pt.k1ll3d.tmp.pt"
    stale.write_bytes(b"\0" * 1000)
    with open(run / "metrics.jsonl", "a") as f:   # logged by the killed run after its checkpoint
        f.write(json.dumps({"step": 7, "phase": "train", "train/loss": 1.0}) + "\n" + '{"step": 8, "pha')
    train("supervised", run, resume=True, progress=False)
    assert not stale.exists()
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()
             if "train/loss" in json.loads(line)]
    assert steps == list(range(1, 13))
    assert "warning" not in capsys.readouterr().err


def test_resume_warns_when_the_schedule_changes(tmp_path, capsys):
    run = tmp_path / "r"
    train("supervised", run, overrides=TINY + ["steps=8"], progress=False, stop_after=3)
    capsys.readouterr()
    train("supervised", run, overrides=["steps=10", "lr=0.01", "eval_every=5"], resume=True, progress=False)
    err = capsys.readouterr().err
    assert err.count("warning:") == 1
    assert "resuming with changed settings (steps 8 -> 10, lr 0.002 -> 0.01)" in err and "eval_every" not in err
