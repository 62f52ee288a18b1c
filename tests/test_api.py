"""The Python API (DESIGN.md §4): ``weakpose.load(...).lift(...)``, run as written in the README,
with the CLI's validation and exactly the CLI's output."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import weakpose
from weakpose.cli import main
from weakpose.data.contracts import load_keypoints_2d
from weakpose.skeleton import LAYOUTS, to_h36m17
from weakpose.training import train

README = Path(__file__).resolve().parents[1] / "README.md"
TINY_SUPERVISED = ["steps=20", "width=64", "batch_size=64", "eval_every=0", "checkpoint_every=100000",
                   "monitor_samples=64"]
TINY_HYPOTHESES = ["width=128", "latent_dim=8", "critic_pose_width=64", "critic_kcs_width=128", "batch_size=64",
                   "stride=20", "monitor_every=0", "steps=20", "eval_every=0", "monitor_samples=64"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("api_runs")
    train("supervised", base / "supervised", overrides=TINY_SUPERVISED, progress=False)
    train("hypotheses", base / "hypotheses", overrides=TINY_HYPOTHESES, progress=False)
    return base


@pytest.fixture(scope="module")
def test_2d(gt2d_file):
    z = np.load(gt2d_file)
    idx = np.arange(0, len(z["keypoints_2d"]), 500)[:12]
    return {k: z[k][idx] for k in ("keypoints_2d", "confidence", "intrinsics", "frame_index", "subject")}


def python_blocks(section: str) -> list[str]:
    """The ```python blocks of a README section (from its heading to the next one)."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {section}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start:end if end > 0 else None], re.DOTALL)


def test_import_weakpose_stays_cheap():
    code = "import sys, weakpose; print('torch' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
    assert {"load", "detect", "Model", "InputError"} <= set(dir(weakpose))


def test_readme_python_blocks_run_as_written(runs, test_2d, tmp_path, monkeypatch):
    blocks = python_blocks("Python API")
    assert len(blocks) == 2 and 'weakpose.load("runs/reference")' in blocks[0]
    shutil.copytree(runs / "supervised", tmp_path / "runs" / "reference")
    np.savez(tmp_path / "2d.npz", keypoints_2d=test_2d["keypoints_2d"])
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(blocks[0], "README.md", "exec"), scope)  # noqa: S102 (the README, as written)
    assert scope["out"]["positions_3d"].shape == (len(test_2d["keypoints_2d"]), 17, 3)
    assert scope["one"]["positions_3d"].shape == (17, 3)
    # mm; batch vs single float32 sums
    np.testing.assert_allclose(scope["one"]["positions_3d"], scope["out"]["positions_3d"][0], atol=1e-2)
    try:
        import mediapipe  # noqa: F401
    except ImportError:
        return  # the detector block needs the `detect` extra
    from matplotlib import cbook

    shutil.copy(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False), tmp_path / "photo.jpg")
    exec(compile(blocks[1], "README.md", "exec"), scope)  # noqa: S102
    assert scope["out"]["positions_3d"].shape == (17, 3) and np.isfinite(scope["out"]["positions_3d"]).all()
    assert scope["d"]["keypoints_2d"].shape == (17, 2) and scope["d"]["intrinsics"].shape == (3, 3)


@pytest.mark.parametrize("method", ["supervised", "hypotheses"])
def test_lift_gives_exactly_what_predict_writes(method, runs, test_2d, tmp_path):
    """float64 input through the CLI file and the API: every array identical; the
    multi-hypothesis model returns its hypotheses [N, H, 17, 3] too."""
    arrays = {k: v.astype(np.float64) if v.dtype.kind == "f" else v for k, v in test_2d.items()}
    np.savez(tmp_path / "in.npz", **arrays)
    assert main(["predict", "--checkpoint", str(runs / method), "--input", str(tmp_path / "in.npz"),
                 "--output", str(tmp_path / "out.npz")]) == 0
    cli = dict(np.load(tmp_path / "out.npz"))
    model = weakpose.load(runs / method)
    api = model.lift(arrays["keypoints_2d"], arrays["confidence"], arrays["intrinsics"])
    api_file = model.predict(load_keypoints_2d(tmp_path / "in.npz"))
    assert set(api) <= set(cli) and set(api_file) == set(cli)
    for k, v in cli.items():
        np.testing.assert_array_equal(api_file[k], v, err_msg=k)
    for k in api:
        np.testing.assert_array_equal(api[k], cli[k], err_msg=k)
    N = len(arrays["keypoints_2d"])
    assert api["positions_3d"].shape == (N, 17, 3) and api["positions_3d"].dtype == np.float32
    if method == "hypotheses":
        assert api["hypotheses"].shape[0] == N and api["hypotheses"].shape[2:] == (17, 3)
        assert api["hypotheses"].shape[1] > 1
    else:
        assert "hypotheses" not in api
    # a single pose [17, 2] gives single-pose arrays, the same as its row of the batch (the
    # hypotheses' random codes are drawn per call, so compare their deterministic zero-code pose)
    one = model.lift(arrays["keypoints_2d"][3], arrays["confidence"][3], arrays["intrinsics"][3])
    assert one["positions_3d"].shape == (17, 3)
    key = "positions_3d_zero_code" if method == "hypotheses" else "positions_3d"
    np.testing.assert_allclose(one[key], api[key][3], atol=1e-2)
    if method == "hypotheses":
        assert one["hypotheses"].shape == api["hypotheses"].shape[1:]


def test_bad_input_raises_input_error_like_the_cli(runs, test_2d, tmp_path, capsys):
    model = weakpose.load(runs / "supervised")
    kp = test_2d["keypoints_2d"].copy()
    kp[2, 5, 1] = np.nan
    nan_message = r"^lift\(\): key 'keypoints_2d': contains NaN or inf \(first at index \[2, 5, 1\]\)"
    with pytest.raises(weakpose.InputError, match=nan_message):
        model.lift(kp)
    np.savez(tmp_path / "nan.npz", keypoints_2d=kp)
    assert main(["predict", "--checkpoint", str(runs / "supervised"), "--input", str(tmp_path / "nan.npz"),
                 "--output", str(tmp_path / "o.npz")]) == 2
    assert "key 'keypoints_2d': contains NaN or inf (first at index [2, 5, 1])" in capsys.readouterr().err
    # a missing joint (confidence 0) may hold NaN: it carries no information
    conf = np.ones(kp.shape[:2], np.float32)
    conf[2, 5] = 0
    assert np.isfinite(model.lift(kp, conf)["positions_3d"]).all()
    with pytest.raises(weakpose.InputError, match="16 joints, expected 17"):
        model.lift(np.zeros((3, 16, 2)))
    with pytest.raises(weakpose.InputError, match="16 joints, expected 17"):
        model.lift(np.zeros((16, 2)))
    with pytest.raises(weakpose.InputError, match="key 'confidence': shape"):
        model.lift(test_2d["keypoints_2d"], np.ones((2, 17)))
    with pytest.raises(weakpose.InputError, match="key 'intrinsics'"):
        model.lift(test_2d["keypoints_2d"], intrinsics=np.eye(4))
    with pytest.raises(weakpose.InputError, match="not numeric"):
        model.lift(np.full((17, 2), "a"))
    with pytest.raises(weakpose.InputError, match="reads no images"):
        model.lift(test_2d["keypoints_2d"], images=[np.zeros((8, 8, 3), np.uint8)] * len(test_2d["keypoints_2d"]))
    with pytest.raises(weakpose.InputError, match="unknown layout 'openpose'"):
        model.lift(np.zeros((17, 2)), joint_names="openpose")
    with pytest.raises(weakpose.InputError, match="file not found"):
        weakpose.load(tmp_path / "no_such_run")


def _as_layout(kp17: np.ndarray, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints of ``layout`` whose limb joints are the Human3.6M ones (face joints missing)."""
    names = LAYOUTS[layout].names
    h36m = {"l_hip": 4, "r_hip": 1, "l_knee": 5, "r_knee": 2, "l_ankle": 6, "r_ankle": 3, "l_shoulder": 11,
            "r_shoulder": 14, "l_elbow": 12, "r_elbow": 15, "l_wrist": 13, "r_wrist": 16}
    kp = np.zeros(kp17.shape[:-2] + (len(names), 2))
    conf = np.zeros(kp17.shape[:-2] + (len(names),))
    for i, n in enumerate(names):
        if n in h36m:
            kp[..., i, :] = kp17[..., h36m[n], :]
            conf[..., i] = 1
        elif n in ("l_ear", "r_ear", "nose"):
            kp[..., i, :] = kp17[..., 10, :]
            conf[..., i] = 1
    return kp, conf


@pytest.mark.parametrize("layout", ["coco17", "mediapipe33"])
def test_other_layouts_are_converted_by_joint_names(layout, runs, test_2d, tmp_path):
    model = weakpose.load(runs / "supervised")
    kp, conf = _as_layout(test_2d["keypoints_2d"].astype(np.float64), layout)
    kp[:, 1] = np.nan if layout == "mediapipe33" else kp[:, 1]   # a missing (confidence 0) eye may be NaN
    out = model.lift(kp, conf, joint_names=layout)
    ref17, ref_conf = to_h36m17(np.where(conf[..., None] > 0, kp, 0), conf, layout)
    np.testing.assert_allclose(out["keypoints_2d"], ref17, atol=1e-3)
    np.testing.assert_array_equal(out["confidence"], ref_conf)
    direct = model.lift(ref17, ref_conf)
    np.testing.assert_allclose(out["positions_3d"], direct["positions_3d"], atol=1e-2)  # float32 vs float64 means
    # the same through a file with joint_names, on the command line
    np.savez(tmp_path / "l.npz", keypoints_2d=kp, confidence=conf, joint_names=np.array(LAYOUTS[layout].names))
    assert main(["predict", "--checkpoint", str(runs / "supervised"), "--input", str(tmp_path / "l.npz"),
                 "--output", str(tmp_path / "o.npz")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "o.npz")["positions_3d"], out["positions_3d"])
    named = model.lift(kp, conf, joint_names=list(LAYOUTS[layout].names))
    assert named["positions_3d"].shape == out["positions_3d"].shape


def test_detect_without_the_extra_is_a_clear_error(tmp_path):
    """With mediapipe hidden, weakpose.detect names the extra to install."""
    code = ("import sys; sys.modules['mediapipe'] = None\nimport numpy as np, weakpose\n"
            "try:\n    weakpose.detect(np.zeros((64, 64, 3), np.uint8))\n"
            "except weakpose.InputError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1"}).stdout
    assert "pip install 'weakpose[detect]'" in out
