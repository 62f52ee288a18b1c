"""MPI-INF-3DHP converters (annot.mat, camera.calibration, annot_data.mat v5 and v7.3) and PCK/AUC."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io

from weakpose.camera import project
from weakpose.data.converters import mpi_inf_3dhp as m3
from weakpose.errors import InputError

K_TRUE = np.array([[1497.7, 0.0, 1024.7], [0.0, 1497.1, 1051.4], [0.0, 0.0, 1.0]])


def _poses(rng, T: int, J: int) -> np.ndarray:
    """[T, J, 3] mm camera-frame points ~4 m in front of the camera."""
    return rng.normal(0, 300, (T, J, 3)) + np.array([0.0, 0.0, 4000.0])


def _write_train(folder, rng, T=12, cams=(0, 1, 2, 4)):
    folder.mkdir(parents=True, exist_ok=True)
    a2 = np.empty((len(cams), 1), dtype=object)
    a3 = np.empty((len(cams), 1), dtype=object)
    u3 = np.empty((len(cams), 1), dtype=object)
    p3s = {}
    for i, c in enumerate(cams):
        p3 = _poses(rng, T, 28)
        p3s[c] = p3
        a3[i, 0] = p3.reshape(T, 84)
        u3[i, 0] = (0.9 * p3).reshape(T, 84)
        a2[i, 0] = project(p3, K_TRUE + np.diag([c, c, 0])).reshape(T, 56)
    scipy.io.savemat(folder / "annot.mat", {"annot2": a2, "annot3": a3, "univ_annot3": u3,
                                             "cameras": np.array([list(cams)]),
                                             "frames": np.arange(T)[:, None]})  # fmt: skip
    lines = ["Skeletool Camera Calibration File V1.0"]
    for c in cams:
        K4 = np.eye(4)
        K4[:3, :3] = K_TRUE + np.diag([c, c, 0])
        E = np.eye(4)
        E[:3, 3] = [c, 2 * c, 3000]
        lines += [f"name          {c}", "  sensor      10 10", "  size        2048 2048", "  animated    0",
                  "  intrinsic   " + " ".join(f"{v:g}" for v in K4.ravel()),
                  "  extrinsic   " + " ".join(f"{v:g}" for v in E.ravel()), "  radial      0"]  # fmt: skip
    (folder / "camera.calibration").write_text("\n".join(lines) + "\n")
    return p3s


def _test_arrays(rng, T):
    p3 = _poses(rng, T, 17)  # 3DHP-17 order
    uv = project(p3, K_TRUE)
    valid = np.ones(T)
    valid[[i for i in (2, 5) if i < T]] = 0
    act = (np.arange(T) % 7) + 1
    # MATLAB order: 2 x 17 x 1 x T, 3 x 17 x 1 x T
    return {
        "annot2": uv.transpose(2, 1, 0)[:, :, None, :],
        "annot3": p3.transpose(2, 1, 0)[:, :, None, :],
        "univ_annot3": (0.95 * p3).transpose(2, 1, 0)[:, :, None, :],
        "valid_frame": valid[:, None],
        "activity_annotation": act[:, None].astype(float),
    }, p3


def _write_v73(path, arrays):
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w", userblock_size=512) as f:
        for k, v in arrays.items():
            f.create_dataset(k, data=np.asarray(v).T)  # HDF5 stores MATLAB arrays with reversed dims
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2018 HDF5 schema 1.00 ."
    with open(path, "r+b") as f:
        f.write(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM")


def test_joint_mappings() -> None:
    names = [m3.ALL28_NAMES[i] for i in m3.ALL28_TO_H36M]
    assert names == ["pelvis", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
                     "spine", "neck", "head", "head_top", "left_shoulder", "left_elbow", "left_wrist",
                     "right_shoulder", "right_elbow", "right_wrist"]  # fmt: skip
    assert len(m3.EVAL_JOINTS_H36M) == 14
    assert 0 not in m3.EVAL_JOINTS_H36M and 7 not in m3.EVAL_JOINTS_H36M and 9 not in m3.EVAL_JOINTS_H36M


def test_train_conversion(tmp_path) -> None:
    rng = np.random.default_rng(0)
    p3s = _write_train(tmp_path / "S2" / "Seq1", rng)
    out = m3.convert_3dhp_train(tmp_path, subjects=[2], sequences=[1], cameras=[0, 4], stride=5)
    assert out["keypoints_2d"].shape == (3 * 2, 17, 2)  # frames 0, 5, 10 x 2 cameras
    np.testing.assert_array_equal(out["camera_index"], [0, 4, 0, 4, 0, 4])
    np.testing.assert_array_equal(out["frame_index"], [0, 0, 5, 5, 10, 10])
    expected = p3s[4][5][list(m3.ALL28_TO_H36M)]
    np.testing.assert_allclose(out["positions_3d"][3], expected, rtol=1e-6)
    np.testing.assert_allclose(out["intrinsics"][3], K_TRUE + np.diag([4, 4, 0]), rtol=1e-6)
    np.testing.assert_allclose(out["keypoints_2d"][3], project(expected, K_TRUE + np.diag([4, 4, 0])), rtol=1e-5)
    assert out["sequence"][0] == "S2/Seq1" and out["subject"][0] == 2
    mv = m3.convert_3dhp_train(tmp_path, subjects=[2], sequences=[1], cameras=[0, 1, 2], multiview=True, universal=True)
    assert mv["keypoints_2d"].shape == (12, 3, 17, 2) and mv["positions_3d"].shape == (12, 3, 17, 3)
    np.testing.assert_allclose(mv["positions_3d"][7, 1], 0.9 * p3s[1][7][list(m3.ALL28_TO_H36M)], rtol=1e-5)
    with pytest.raises(InputError, match="no camera 9"):
        m3.convert_3dhp_train(tmp_path, subjects=[2], sequences=[1], cameras=[9])
    with pytest.raises(InputError, match="file not found"):
        m3.convert_3dhp_train(tmp_path, subjects=[3], sequences=[1])


@pytest.mark.parametrize("version", ["v5", "v7.3"])
def test_test_set_conversion(tmp_path, version) -> None:
    rng = np.random.default_rng(1)
    arrays, p3 = _test_arrays(rng, 9)
    path = tmp_path / "TS5" / "annot_data.mat"
    if version == "v5":
        path.parent.mkdir(parents=True)
        scipy.io.savemat(path, arrays)
    else:
        pytest.importorskip("h5py")
        _write_v73(path, arrays)
    out = m3.convert_3dhp_test(tmp_path, sequences=["TS5"])
    keep = [0, 1, 3, 4, 6, 7, 8]
    np.testing.assert_array_equal(out["frame_index"], keep)
    h = list(m3.MPI17_TO_H36M)
    np.testing.assert_allclose(out["positions_3d"], 0.95 * p3[keep][:, h], rtol=1e-6)
    np.testing.assert_allclose(out["positions_3d_camera"], p3[keep][:, h], rtol=1e-6)
    np.testing.assert_allclose(out["intrinsics"][0], K_TRUE, atol=1e-6)  # recovered by least squares
    proto = json.loads(str(out["protocol"]))
    assert proto["intrinsics_rms_px"]["TS5"] < 1e-6
    assert out["action"].tolist() == [m3.ACTIVITIES[i % 7] for i in keep]
    assert set(out["scene"].tolist()) == {"outdoor"} and out["image_size"][0].tolist() == [1920, 1080]
    assert out["subject"][0] == 5
    from weakpose.data.contracts import load_benchmark
    from weakpose.data.converters._common import save_npz_atomic

    save_npz_atomic(tmp_path / "t.npz", **out)
    assert load_benchmark(tmp_path / "t.npz").inputs.num_samples == len(keep)


def test_malformed_test_file(tmp_path) -> None:
    rng = np.random.default_rng(2)
    arrays, _ = _test_arrays(rng, 4)
    arrays["annot2"] = arrays["annot2"][:, :16]
    (tmp_path / "TS1").mkdir()
    scipy.io.savemat(tmp_path / "TS1" / "annot_data.mat", arrays)
    with pytest.raises(InputError, match=r"annot_data\.mat: key 'annot2': shape \(2, 16, 1, 4\)"):
        m3.convert_3dhp_test(tmp_path, sequences=["TS1"])
    arrays, _ = _test_arrays(rng, 4)
    del arrays["valid_frame"]
    scipy.io.savemat(tmp_path / "TS1" / "annot_data.mat", arrays)
    with pytest.raises(InputError, match="key 'valid_frame': missing"):
        m3.convert_3dhp_test(tmp_path, sequences=["TS1"])
    (tmp_path / "TS1" / "annot_data.mat").write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a readable"):
        m3.convert_3dhp_test(tmp_path, sequences=["TS1"])


def test_calibration_errors(tmp_path) -> None:
    p = tmp_path / "camera.calibration"
    p.write_text("name 0\n  intrinsic 1 0 0\n")
    with pytest.raises(InputError, match=r"camera\.calibration:2: 'intrinsic' needs 16 numbers"):
        m3.read_calibration(p)


def test_pck_auc_hand_values() -> None:
    gt = np.zeros((2, 17, 3))
    gt[:, :, 1] = np.arange(17) * 100.0
    pred = gt.copy()
    pred[0, list(m3.EVAL_JOINTS_H36M[:7]), 0] += 200.0  # 7 of 14 joints 200 mm off
    pred[1] += 50.0  # a global shift: root-relative error is zero
    pred[1, 7, 0] += 1000.0  # spine is not an evaluation joint
    pck, auc, err = m3.pck_auc_3dhp(pred, gt)
    np.testing.assert_allclose(pck, [50.0, 100.0])
    np.testing.assert_allclose(auc, [50.0, 100.0])  # 0 mm errors count at every threshold (<=)
    np.testing.assert_allclose(err, [100.0, 0.0])
    res = m3.evaluate_3dhp(pred, gt, actions=np.array(["sit", "sports"]), scenes=np.array(["gs", "gs"]))
    assert res["pck150"] == pytest.approx(75.0)
    assert res["per_action"]["sit"]["pck150"] == pytest.approx(50.0)
    assert res["per_scene"]["gs"]["n"] == 2
