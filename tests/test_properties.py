"""Property-based tests (hypothesis): whatever file or command line a user gives, ``weakpose``
ends in success or the one-line ``error: ...`` with exit code 2, never a traceback, and never
changes an input file. Commands run in-process through ``weakpose.cli.main``; examples are
few and small so that the file runs in seconds.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from weakpose import cli
from weakpose.data.contracts import InputError

EXAMPLES = int(os.environ.get("WEAKPOSE_HYPOTHESIS_EXAMPLES", "40"))   # raise it for a deeper search
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 40,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def run_main(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err


def assert_success_or_one_line_error(code, err: str) -> None:
    assert "Traceback" not in err, err
    if code != 0:
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)


# ------------------------------------------------------------------------------ file contents

KEYS = ["keypoints_2d", "confidence", "intrinsics", "positions_3d", "hypotheses", "action", "joint_names",
        "frame_index"]
N = st.sampled_from([0, 1, 3])
FLOATS = st.floats(allow_nan=True, allow_infinity=True, width=32) | st.sampled_from([0.0, 1.0, 200.0, -1.0, 1e9])


@st.composite
def arrays(draw):
    n = draw(N)
    shape = draw(st.sampled_from([(n, 17, 2), (n, 17), (n, 17, 3), (3, 3), (n, 3, 3), (n, 2, 17, 3), (n, 15, 2),
                                  (n, 4, 17, 2), (n,), (), (n, 17, 2, 1)]))
    dtype = draw(st.sampled_from(["f4", "f8", "i2", "u1", "?", "<U4"]))
    if dtype == "<U4":
        return draw(hnp.arrays(dtype, shape, elements=st.text(alphabet="abXY _", max_size=4)))
    if dtype in ("f4", "f8"):
        return draw(hnp.arrays(dtype, shape, elements=FLOATS))
    return draw(hnp.arrays(dtype, shape))


@st.composite
def npz_bytes(draw):
    """An npz with random keys and arrays, a truncated one, or random bytes."""
    kind = draw(st.sampled_from(["npz", "npz", "npz", "truncated", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    contents = draw(st.dictionaries(st.sampled_from(KEYS), arrays(), max_size=5))
    buf = io.BytesIO()
    np.savez(buf, **contents)
    data = buf.getvalue()
    if kind == "truncated":
        data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    return data


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from weakpose.training import train

    out = tmp_path_factory.mktemp("prop") / "run"
    train("supervised", out, overrides=["width=32", "blocks=1", "steps=2", "eval_every=0", "monitor_samples=16"],
          progress=False)
    return out


@SETTINGS
@given(data=npz_bytes(), other=npz_bytes())
def test_any_npz_input_ends_in_success_or_one_line_error(checkpoint, capsys, data, other):
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        inp, gt = d / "in.npz", d / "gt.npz"
        inp.write_bytes(data)
        gt.write_bytes(other)
        for argv, output in (
            (["predict", "--checkpoint", checkpoint, "--input", inp, "--output", d / "out.npz"], d / "out.npz"),
            (["evaluate", "--pred", inp, "--gt", gt, "--json", d / "r.json"], d / "r.json"),
            (["data", "evaluate-3dhp", "--pred", inp, "--gt", gt, "--json", d / "r3.json"], d / "r3.json"),
        ):
            code, err = run_main(argv, capsys)
            assert_success_or_one_line_error(code, err)
            assert output.exists() == (code == 0)
            assert inp.read_bytes() == data and gt.read_bytes() == other
        assert not list(d.glob(".*tmp*"))


EXTRA_KEYS = ["keypoints_2d", "confidence", "guessed", "hypotheses", "frame_index", "timestamp", "fps", "image_path"]


@pytest.fixture(scope="module")
def true_poses(gt2d_file):
    with np.load(gt2d_file) as z:
        return z["positions_3d"][:3]


@settings(SETTINGS, max_examples=min(EXAMPLES, 15))   # a page embeds plotly.js (~5 MB): ~1 s each
@given(extra=st.dictionaries(st.sampled_from(EXTRA_KEYS), arrays(), max_size=4), n=st.sampled_from([1, 3]))
def test_any_prediction_file_is_viewed_exported_or_refused(true_poses, capsys, extra, n):
    """``view`` and ``export`` read the optional keys of a prediction file (2D, confidence,
    frame times, hypotheses): plausible poses with random extra keys end in success or the
    one-line error, and an existing output is never half-written."""
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        inp = d / "pred.npz"
        np.savez(inp, positions_3d=true_poses[:n], **extra)
        data = inp.read_bytes()
        for argv, outputs in (
            (["view", inp, "--out", d / "v.html"], [d / "v.html"]),
            (["export", inp, "--bvh", d / "o.bvh", "--json", d / "o.json"], [d / "o.bvh", d / "o.json"]),
        ):
            code, err = run_main(argv, capsys)
            assert_success_or_one_line_error(code, err)
            assert all(o.exists() == (code == 0) for o in outputs)
            assert inp.read_bytes() == data
        assert not list(d.glob(".*tmp*"))


@SETTINGS
@given(data=npz_bytes())
def test_any_pickled_npz_is_read_or_refused(data):
    from weakpose.data.converters.h36m import load_vp3d_3d

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "vp3d.npz"
        path.write_bytes(data)
        try:
            load_vp3d_3d(path, ["S1"])
        except InputError as e:
            assert "\n" not in str(e)
        assert path.read_bytes() == data


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats() | st.text(max_size=5),
                           lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=5), c, max_size=4),
                           max_leaves=20)


@st.composite
def rig_texts(draw):
    cam = {"K": draw(st.sampled_from([[[1000, 0, 500], [0, 1000, 500], [0, 0, 1]], [[-5, 0, 0], [0, 5, 0], [0, 0, 1]],
                                      [[0, 0, 0]], "x"])),
           "R": draw(st.sampled_from([[[1, 0, 0], [0, 0, -1], [0, 1, 0]], [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
                                      [[2, 0, 0]] * 3])),
           "t": draw(st.lists(FLOATS, min_size=2, max_size=4)),
           "image_size": draw(st.lists(st.integers(-5, 2000), min_size=1, max_size=3))}
    for key in draw(st.lists(st.sampled_from(list(cam)), max_size=2)):
        cam.pop(key, None)
    spec = draw(st.sampled_from([{"cameras": [cam]}, {"cameras": []}, {"cameras": cam}, [cam], None]))
    if spec is None:
        return draw(st.text(max_size=50))
    return json.dumps(spec)


@SETTINGS
@given(text=rig_texts() | JSON_VALUES.map(json.dumps))
def test_any_rig_file_is_read_or_refused(text):
    from weakpose.camera import load_rig

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "rig.json"
        path.write_text(text)
        try:
            cams = load_rig(path)
            assert cams and all(c.K[0, 0] > 0 for c in cams)
        except InputError as e:
            assert "\n" not in str(e)


# ------------------------------------------------------------------------------ settings and options


@SETTINGS
@given(values=st.dictionaries(st.sampled_from(["steps", "batch_size", "lr", "seed", "eval_every", "checkpoint_every",
                                               "log_every", "dropout", "width", "device", "noise_std", "unknown"]),
                              st.text(max_size=8) | st.integers(-3, 3).map(str) | FLOATS.map(repr)
                              | st.sampled_from(["nan", "inf", "-1", "0", "1e-3", "cpu", "cuda:7"]), max_size=4),
       as_file=st.booleans())
def test_any_config_values_are_accepted_in_range_or_refused(values, as_file):
    from weakpose.engine.config import resolve_config
    from weakpose.methods.registry import get_method

    cls = get_method("supervised").Config
    with tempfile.TemporaryDirectory() as d:
        if as_file:
            path = Path(d) / "c.json"
            path.write_text(json.dumps(values))
            args = (path, ())
        else:
            args = (None, [f"{k}={v}" for k, v in values.items()])
        try:
            config = resolve_config(cls, *args)
        except InputError as e:
            assert "\n" not in str(e)
            return
    assert config.steps >= 1 and config.batch_size >= 1 and config.lr > 0 and np.isfinite(config.lr)
    assert config.checkpoint_every >= 1 and config.log_every >= 1 and config.device == "cpu"


class _Parsed(Exception):
    """Raised in place of the command's work: the command line passed every check."""


NUMBERS = st.sampled_from(["0", "-1", "1", "3", "2.5", "nan", "inf", "-inf", "x", "", "1e9", "0.5"])
OPTIONS = {
    "benchmark": ["--stride", "--views", "--seed", "--subjects", "--noise", "--rig", "--drop-3d", "--truncate",
                  "--multiview", "--out"],
    "fit": ["--chunk", "--iterations", "--sigma-kp", "--w-ba", "--window", "--stage2-starts", "--prior", "--input",
            "--video", "--max-frames", "--output", "--masks"],
    "predict": ["--checkpoint", "--input", "--output", "--video", "--max-frames", "--smooth-min-cutoff",
                "--smooth-beta", "--figure"],
    "evaluate": ["--pred", "--gt", "--json"],
    "render": ["--num", "--views", "--size", "--seed", "--sheet", "--folder", "--output"],
    "view": ["PRED", "--out", "--image", "--video", "--max-frames", "--image-size"],
    "export": ["PRED", "--bvh", "--json", "--fps"],
    "train supervised": ["--out", "--config", "--val", "--train-paired", "--stop-after"],
    "train nrsfm": ["--out", "--train-2d", "--val"],
    "train multiview": ["--out", "--train-multiview", "--train-3d"],
    "train hypotheses": ["--out", "--train-2d", "--train-3d"],
    "detect": ["--min-confidence", "--max-frames", "--output"],
    "tracklets": ["--tau", "--min-length", "--min-confidence", "--max-frames", "--input", "--output"],
    "demo": ["--steps", "--out"],
}
PATHS = ["in.npz", "out.npz", "folder", "file.txt/x.npz", "missing/x.npz", "in.npz", "folder/in.npz"]
PATH_OPTIONS = {"--prior", "--input", "--output", "--checkpoint", "--pred", "--gt", "--json", "--sheet", "--out",
                "--rig", "--video", "--figure", "--masks", "--folder", "--image", "--bvh", "--config", "--val",
                "--train-2d", "--train-multiview", "--train-3d", "--train-paired", "PRED"}
FLAGS = {"--drop-3d", "--truncate", "--multiview"}


@st.composite
def command_lines(draw):
    command = draw(st.sampled_from(sorted(OPTIONS)))
    argv = command.split()
    for option in draw(st.lists(st.sampled_from(OPTIONS[command] + ["--threads", "--bogus"]), max_size=6)):
        if option != "PRED":      # a positional argument
            argv.append(option)
        if option in PATH_OPTIONS:
            argv.append(draw(st.sampled_from(PATHS)))
        elif option not in FLAGS:
            argv.append(draw(NUMBERS))
    return argv


@SETTINGS
@given(argv=command_lines())
def test_any_command_line_passes_its_checks_or_is_a_one_line_error(argv, capsys, monkeypatch):
    def stop(threads):   # configure_threads runs right after the checks, before the command's work
        raise _Parsed

    monkeypatch.setattr(cli, "configure_threads", stop)
    with tempfile.TemporaryDirectory() as d:
        monkeypatch.chdir(d)
        Path("in.npz").write_bytes(b"input")
        Path("folder").mkdir()
        Path("folder/in.npz").write_bytes(b"input")
        Path("file.txt").write_text("x")
        try:
            code, err = run_main(argv, capsys)
        except _Parsed:
            code, err = 0, capsys.readouterr().err
        assert_success_or_one_line_error(code, err)
        assert Path("in.npz").read_bytes() == b"input" and Path("file.txt").read_text() == "x"
        assert Path("folder/in.npz").read_bytes() == b"input"
        assert sorted(p.name for p in Path(".").iterdir()) == ["file.txt", "folder", "in.npz"]
        assert [p.name for p in Path("folder").iterdir()] == ["in.npz"]


def test_zip_members_that_are_not_arrays_are_refused(tmp_path, capsys):
    path = tmp_path / "odd.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("keypoints_2d.npy", b"\x93NUMPY garbage")
    code, err = run_main(["evaluate", "--pred", path, "--gt", path], capsys)
    assert code == 2 and err.startswith(f"error: {path}")
