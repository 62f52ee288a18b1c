import json
import subprocess
import sys

import numpy as np
import pytest

from test_metrics import independent_metrics
from weakpose.cli import main
from weakpose.training import train


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    train("supervised", out, overrides=["width=64", "blocks=1", "steps=5", "eval_every=0", "monitor_samples=128"],
          progress=False)
    return out


def test_help_for_every_command():
    for cmd in ([], ["train"], ["predict"], ["evaluate"], ["demo"], ["benchmark"]):
        r = subprocess.run([sys.executable, "-m", "weakpose.cli", *cmd, "--help"], capture_output=True, text=True)
        assert r.returncode == 0 and "usage: weakpose" in r.stdout


def test_predict_and_evaluate(run, tmp_path, gt2d_file, capsys):
    d = dict(np.load(gt2d_file))
    small = {k: (v[:64] if v.ndim and len(v) == len(d["keypoints_2d"]) else v) for k, v in d.items()}
    inp = tmp_path / "in.npz"
    np.savez(inp, **small)
    out = tmp_path / "pred.npz"
    assert main(["predict", "--checkpoint", str(run), "--input", str(inp), "--output", str(out)]) == 0
    pred = np.load(out)
    assert pred["positions_3d"].shape == (64, 17, 3) and np.allclose(pred["positions_3d"][:, 0], 0)
    assert np.array_equal(pred["frame_index"], small["frame_index"]) and str(pred["units"]) == "mm"
    assert main(["evaluate", "--pred", str(out), "--gt", str(inp), "--json", str(tmp_path / "r.json")]) == 0
    res = json.loads((tmp_path / "r.json").read_text())
    ref = independent_metrics(pred["positions_3d"], small["positions_3d"])
    for k, v in ref.items():
        assert abs(res[k] - v) < 0.01
    assert "ALL" in capsys.readouterr().out and set(res["per_action"]) == set(small["action"])


@pytest.mark.parametrize("case", ["joints", "nan", "missing", "truncated", "zero_conf", "keys"])
def test_bad_input_one_line_error_no_output(run, tmp_path, gt2d_file, case, capsys):
    d = {"keypoints_2d": np.load(gt2d_file)["keypoints_2d"][:8], "confidence": np.ones((8, 17), np.float32)}
    path = tmp_path / "in.npz"
    if case == "joints":
        d["keypoints_2d"] = d["keypoints_2d"][:, :15]
        d["confidence"] = d["confidence"][:, :15]
    elif case == "nan":
        d["keypoints_2d"][2, 2, 1] = np.nan
    elif case == "zero_conf":
        d["confidence"][0] = 0
    elif case == "keys":
        d = {"kp": d["keypoints_2d"]}
    if case != "missing":
        np.savez(path, **d)
    if case == "truncated":
        path.write_bytes(path.read_bytes()[:300])
    out = tmp_path / "out.npz"
    argv = ["predict", "--checkpoint", str(run), "--input", str(path), "--output", str(out)]
    if case == "nan":   # once as a real process: exit status and stderr as a user sees them
        r = subprocess.run([sys.executable, "-m", "weakpose.cli", *argv], capture_output=True, text=True)
        code, err = r.returncode, r.stderr
    else:
        code = main(argv)
        err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0], err
    assert "Traceback" not in err and not out.exists()
    assert list(tmp_path.glob(".*tmp*")) == []


def test_evaluate_length_mismatch(tmp_path, gt2d_file):
    pred = tmp_path / "p.npz"
    np.savez(pred, positions_3d=np.load(gt2d_file)["positions_3d"][:10])
    assert main(["evaluate", "--pred", str(pred), "--gt", str(gt2d_file)]) == 2


def test_benchmark_command_rebuilds_test_file(tmp_path, gt2d_file):
    out = tmp_path / "b.npz"
    assert main(["benchmark", "--subjects", "2", "9", "--rig", "h36m", "--noise", "gt", "--out", str(out)]) == 0
    assert np.allclose(np.load(out)["keypoints_2d"], np.load(gt2d_file)["keypoints_2d"], atol=1e-3)


def test_output_into_a_closed_pipe_stops_quietly(gt2d_file):
    """``weakpose evaluate … | head -1``: when the reader of stdout has gone, the command stops with
    the shell's SIGPIPE status and no traceback (it used to end in ``BrokenPipeError``)."""
    proc = subprocess.Popen([sys.executable, "-m", "weakpose.cli", "evaluate", "--pred", str(gt2d_file),
                             "--gt", str(gt2d_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()   # the reader exits before the command writes its table
    err = proc.stderr.read().decode()
    assert proc.wait() == 141 and err == ""


def test_a_file_the_system_refuses_during_the_work_is_one_line(gt2d_file, tmp_path, monkeypatch, capsys):
    """An OSError on a named file that the checks before the work cannot foresee (here: writing
    the --json file fails as on a full disk) ends in one ``error:`` line and exit code 1, not a
    traceback, and leaves no file."""
    import weakpose.atomic

    out = tmp_path / "r.json"

    def full_disk(path, text):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(weakpose.atomic, "write_text_atomic", full_disk)
    assert main(["evaluate", "--pred", str(gt2d_file), "--gt", str(gt2d_file), "--json", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {out}: No space left on device"] and not out.exists()
