import numpy as np
import pytest

from weakpose.data.benchmark import make_split
from weakpose.data.contracts import load_benchmark, load_keypoints_2d, save_npz_atomic
from weakpose.data.mocap import TEST_SUBJECTS, TRAIN_SUBJECTS, load_cmu
from weakpose.data.statistics import training_bone_lengths
from weakpose.errors import InputError


def test_regenerates_gt2d_test_file_exactly(root, gt2d_file):
    ref = np.load(gt2d_file)
    ours = make_split(root, TEST_SUBJECTS, "h36m", "gt", seed=0)
    assert set(ref.files) <= set(ours)
    for k in ref.files:
        if ref[k].dtype.kind == "f":
            assert np.allclose(ours[k], ref[k], atol=1e-3, rtol=0), k     # float32 rounding
        else:
            assert np.array_equal(ours[k], ref[k]), k


def test_detector_noise_matches_det2d_statistically(root, gt2d_file):
    gt = np.load(gt2d_file)["keypoints_2d"]
    ref = np.load(root / "benchmark" / "cmu_test_h36mrig_det2d.npz")
    ours = make_split(root, TEST_SUBJECTS, "h36m", "detector", seed=7)

    def stats(d):
        seen = d["confidence"] > 0
        err = np.linalg.norm(d["keypoints_2d"] - gt, axis=-1)[seen]
        return err.mean(), np.percentile(err, 50), np.percentile(err, 99), 1 - seen.mean(), d["confidence"][seen].mean()

    a, b = stats(ours), stats(ref)
    assert a[0] == pytest.approx(b[0], rel=0.03)          # mean error (~5 px)
    assert a[1] == pytest.approx(b[1], rel=0.03)          # median
    assert a[2] == pytest.approx(b[2], rel=0.10)          # tail (outliers)
    assert a[3] == pytest.approx(b[3], abs=0.002)         # missing rate
    assert a[4] == pytest.approx(b[4], abs=0.01)          # mean confidence


def test_multiview_split_shapes(root):
    mv = make_split(root, (9,), "h36m", "gt", multiview=True, stride=10)
    n = len(mv["frame_index"])
    assert mv["keypoints_2d"].shape == (n, 4, 17, 2) and mv["rotations"].shape == (n, 4, 3, 3)
    wild = make_split(root, (9,), "wild", "detector", multiview=True, stride=10, num_views=3)
    assert wild["keypoints_2d"].shape == (n, 3, 17, 2)
    # the views of one sample show the same instant: same root-relative pose up to rotation
    p = wild["positions_3d"][0]
    lengths = np.linalg.norm(p[:, 1] - p[:, 0], axis=-1)
    assert np.allclose(lengths, lengths[0], atol=1e-2)


def test_subject_split_and_bone_lengths(root):
    train = load_cmu(root, TRAIN_SUBJECTS)
    assert set(np.unique(train.subject)) == set(TRAIN_SUBJECTS)
    mu = training_bone_lengths(root)
    assert mu.shape == (16,) and 300 < mu[1] < 500      # thigh length in mm


def _write(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("case, message", [
    ("joints", "16 joints, expected 17"),
    ("nan", "NaN or inf"),
    ("zero_conf", "all-zero confidence for sample 1"),
    ("keys", "key 'keypoints_2d': missing"),
    ("shape", "expected [N, J, 2]"),
    ("conf_range", "outside [0, 1]"),
])
def test_bad_2d_files(tmp_path, case, message):
    kp = np.random.default_rng(0).uniform(0, 1000, (3, 17, 2)).astype(np.float32)
    conf = np.ones((3, 17), np.float32)
    arrays = {"keypoints_2d": kp, "confidence": conf}
    if case == "joints":
        arrays = {"keypoints_2d": kp[:, :16]}
    elif case == "nan":
        kp[1, 3, 0] = np.nan
    elif case == "zero_conf":
        conf[1] = 0
    elif case == "keys":
        arrays = {"points": kp}
    elif case == "shape":
        arrays = {"keypoints_2d": kp[..., :1]}
    elif case == "conf_range":
        conf[0, 0] = 2.0
    path = _write(tmp_path / f"{case}.npz", **arrays)
    with pytest.raises(InputError) as e:
        load_keypoints_2d(path)
    assert str(path) in str(e.value) and message in str(e.value) and "\n" not in str(e.value)


def test_missing_and_truncated_files(tmp_path, gt2d_file):
    with pytest.raises(InputError, match="file not found"):
        load_keypoints_2d(tmp_path / "nope.npz")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(gt2d_file.read_bytes()[:5000])
    with pytest.raises(InputError, match="not a readable npz"):
        load_keypoints_2d(truncated)


def test_nan_in_missing_joint_is_allowed(tmp_path):
    kp = np.ones((2, 17, 2), np.float32) * 100
    conf = np.ones((2, 17), np.float32)
    kp[0, 3] = np.nan
    conf[0, 3] = 0
    k = load_keypoints_2d(_write(tmp_path / "ok.npz", keypoints_2d=kp, confidence=conf))
    assert np.isfinite(k.keypoints_2d).all() and k.keypoints_2d[0, 3].tolist() == [0, 0]


def test_metres_rejected(tmp_path, gt2d_file):
    d = dict(np.load(gt2d_file))
    d["positions_3d"] = d["positions_3d"] / 1000
    path = _write(tmp_path / "metres.npz", **d)
    with pytest.raises(InputError, match="metres"):
        load_benchmark(path)


def test_atomic_save_leaves_nothing_on_failure(tmp_path):
    class Boom:
        def __array__(self, *a, **k):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        save_npz_atomic(tmp_path / "out.npz", a=np.zeros(3), b=Boom())
    assert list(tmp_path.iterdir()) == []
    save_npz_atomic(tmp_path / "out.npz", a=np.zeros(3))
    assert [p.name for p in tmp_path.iterdir()] == ["out.npz"]
