"""Human3.6M converters on tiny synthetic files (CDF and VideoPose3D npz formats)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("cdflib")

from weakpose.camera import project  # noqa: E402
from weakpose.data.contracts import validate_keypoints_2d  # noqa: E402
from weakpose.data.converters import h36m  # noqa: E402
from weakpose.data.converters.h36m_cameras import (  # noqa: E402
    _EXTRINSICS,
    CAMERA_IDS,
    distort_normalized,
    h36m_cameras,
    project_h36m,
    undistort_normalized,
)
from weakpose.errors import InputError

from .h36m_fixtures import random_world_poses, write_pickled_npz, write_pose_cdf  # noqa: E402

# (subject, file stem as in the release, frames)
ORIGINAL = [
    ("S1", "Directions 1", 70),
    ("S1", "TakingPhoto", 40),
    ("S9", "WalkingDog 1", 130),
    ("S11", "Directions", 30),  # the corrupted take: skipped
    ("S11", "Directions 1", 66),
]


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    root = tmp_path_factory.mktemp("h36m")
    rng = np.random.default_rng(0)
    worlds = {}
    for subject, stem, T in ORIGINAL:
        w = random_world_poses(rng, T)
        worlds[(subject, stem)] = w
        write_pose_cdf(root / subject / "MyPoseFeatures" / "D3_Positions" / f"{stem}.cdf", w)
    return root, worlds


# ---------------------------------------------------------------------------- cameras


def test_cameras_match_published_centres_and_see_the_subject() -> None:
    for subject in ("S1", "S9", "S11"):
        for cam, (_, centre) in zip(h36m_cameras(subject), _EXTRINSICS[subject]):
            np.testing.assert_allclose(np.linalg.det(cam.R), 1.0, atol=1e-6)
            np.testing.assert_allclose(-cam.R.T @ cam.t, centre, atol=1e-6)
            x = cam.world_to_camera(np.array([[0.0, 0.0, 900.0]]))
            assert 3000 < x[0, 2] < 7000  # in front, a few metres away
            uv = cam.project(x)[0]
            assert 0 < uv[0] < cam.image_size[0] and 0 < uv[1] < cam.image_size[1]
            # world z is up: a point above is higher in the image (smaller v)
            up = cam.project(cam.world_to_camera(np.array([[0.0, 0.0, 1500.0]])))[0]
            assert up[1] < uv[1]


def test_distortion_hand_values_and_round_trip() -> None:
    d = np.array([0.1, 0.01, 0.001, 0.002, -0.003])
    xn = np.array([[0.2, -0.1]])
    r2 = 0.05
    radial = 1 + 0.1 * r2 + 0.01 * r2**2 + 0.001 * r2**3
    tan = 0.002 * 0.2 - 0.003 * -0.1
    expected = xn * (radial + tan) + np.array([0.002, -0.003]) * r2
    np.testing.assert_allclose(distort_normalized(xn, d), expected, rtol=1e-12)

    cam = h36m_cameras("S9")[2]
    rng = np.random.default_rng(1)
    pts = cam.world_to_camera(random_world_poses(rng, 5)[:, h36m.H36M32_TO_17])
    uv = cam.project(pts)  # with distortion
    pin = project(pts, cam.K)
    assert 0.1 < np.abs(uv - pin).max() < 60  # distortion matters, but mildly
    # invert: pixels -> normalised -> undistort -> back-project at the known depth
    xd = (uv - cam.K[:2, 2]) / np.diag(cam.K)[:2]
    xu = undistort_normalized(xd, cam.distortion)
    back = np.concatenate([xu * pts[..., 2:], pts[..., 2:]], -1)
    np.testing.assert_allclose(back, pts, atol=1e-6)
    # with zero distortion the model is the pinhole projection
    np.testing.assert_allclose(project_h36m(pts, cam.K, np.zeros(5)), pin, atol=1e-9)


# ---------------------------------------------------------------------------- original release


def test_original_release_projection(release) -> None:
    root, worlds = release
    out = h36m.convert_h36m_original(root, subjects=["S1", "S9", "S11"])
    seqs = sorted(set(out["sequence"].tolist()))
    assert seqs == ["S1/Directions 1", "S1/Photo", "S11/Directions 1", "S9/WalkDog 1"]
    assert set(out["action"].tolist()) == {"Directions", "Photo", "WalkDog"}
    n_frames = 70 + 40 + 130 + 66
    assert out["keypoints_2d"].shape == (4 * n_frames, 17, 2)
    # frame-major: 4 consecutive samples are the 4 cameras of one frame
    np.testing.assert_array_equal(out["camera_index"][:8], [0, 1, 2, 3, 0, 1, 2, 3])
    np.testing.assert_array_equal(out["frame_index"][:8], [0, 0, 0, 0, 1, 1, 1, 1])
    # values: sample of S9, frame 5, camera 3
    i = np.flatnonzero((out["sequence"] == "S9/WalkDog 1") & (out["frame_index"] == 5) & (out["camera_index"] == 3))[0]
    w17 = worlds[("S9", "WalkingDog 1")][5, list(h36m.H36M32_TO_17)].astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(out["positions_world"][i], w17, atol=1e-3)
    cam = h36m_cameras("S9")[3]
    np.testing.assert_allclose(out["positions_3d"][i], cam.world_to_camera(w17), atol=1e-2)
    np.testing.assert_allclose(out["keypoints_2d"][i], cam.project(cam.world_to_camera(w17)), atol=1e-3)
    np.testing.assert_allclose(out["intrinsics"][i], cam.K, atol=1e-4)
    assert out["subject"][i] == 9 and out["image_size"][i].tolist() == [1000, 1002]
    # the output is a valid weakpose 2D file
    k = validate_keypoints_2d(out, root / "x.npz")
    assert k.num_samples == 4 * n_frames
    proto = json.loads(str(out["protocol"]))
    assert proto["distortion"] is True and proto["subjects"] == ["S1", "S9", "S11"]


def test_splits_stride_multiview_and_no_distortion(release) -> None:
    root, _ = release
    test = h36m.convert_h36m_original(root, subjects=["S9", "S11"], stride=64, multiview=True, distortion=False)
    # stride 64 from frame 0 of each sequence: S9 130 frames -> 0, 64, 128; S11 66 -> 0, 64
    assert test["frame_index"].tolist() == [0, 64, 0, 64, 128] or test["frame_index"].tolist() == [0, 64, 128, 0, 64]
    assert test["keypoints_2d"].shape == (5, 4, 17, 2)
    assert test["positions_3d"].shape == (5, 4, 17, 3)
    assert test["positions_world"].shape == (5, 17, 3)
    np.testing.assert_array_equal(test["camera_index"][0], [0, 1, 2, 3])
    np.testing.assert_allclose(
        test["keypoints_2d"],
        project(test["positions_3d"].astype(np.float64), test["intrinsics"].astype(np.float64)),
        atol=1e-2,
    )
    assert not test["distortion"].any()
    # multi-view files satisfy the 2D contract with a view axis, and load as benchmark files
    from weakpose.data.contracts import load_benchmark
    from weakpose.data.converters._common import save_npz_atomic

    assert validate_keypoints_2d(test, root / "mv.npz").multiview
    single = h36m.convert_h36m_original(root, subjects=["S9"], stride=64)
    save_npz_atomic(root.parent / "s9.npz", **single)
    bench = load_benchmark(root.parent / "s9.npz")
    assert bench.positions_3d.shape == (12, 17, 3) and bench.action.tolist() == ["WalkDog"] * 12
    with pytest.raises(InputError, match="S5"):
        h36m.convert_h36m_original(root, split="train")  # S5 etc. are missing in the tiny release
    with pytest.raises(InputError, match="unknown split"):
        h36m.convert_h36m_original(root, split="val")


def test_keep_corrupted(release) -> None:
    root, _ = release
    out = h36m.convert_h36m_original(root, subjects=["S11"], keep_corrupted=True)
    assert "S11/Directions" in set(out["sequence"].tolist())


def test_d2_positions_source(release, tmp_path) -> None:
    root, worlds = release
    rng = np.random.default_rng(2)
    d2 = {}
    for subject, stem, T in ORIGINAL:
        if subject != "S1":
            continue
        for cam in CAMERA_IDS:
            kp = rng.uniform(0, 1000, (T + 2, 32, 2))  # the release's 2D can be a little longer
            d2[(stem, cam)] = kp
            write_pose_cdf(root / subject / "MyPoseFeatures" / "D2_Positions" / f"{stem}.{cam}.cdf", kp)
    out = h36m.convert_h36m_original(root, subjects=["S1"], source_2d="d2")
    i = np.flatnonzero((out["sequence"] == "S1/Photo") & (out["frame_index"] == 7) & (out["camera_index"] == 2))[0]
    np.testing.assert_allclose(
        out["keypoints_2d"][i], d2[("TakingPhoto", CAMERA_IDS[2])][7, list(h36m.H36M32_TO_17)], atol=1e-3
    )


def test_malformed_cdf(tmp_path) -> None:
    bad = tmp_path / "S9" / "MyPoseFeatures" / "D3_Positions" / "Eating 1.cdf"
    write_pose_cdf(bad, np.zeros((5, 95)))
    with pytest.raises(InputError, match=r"Eating 1\.cdf: key 'Pose': shape \(1, 5, 95\), expected \[1, T, 96\]"):
        h36m.convert_h36m_original(tmp_path, subjects=["S9"])
    bad.write_bytes(b"not a cdf file at all")
    with pytest.raises(InputError, match="not a readable CDF"):
        h36m.convert_h36m_original(tmp_path, subjects=["S9"])
    bad.unlink()
    write_pose_cdf(bad.with_name("Juggling 1.cdf"), np.zeros((5, 96)))
    with pytest.raises(InputError, match="'Juggling 1': not one of the actions"):
        h36m.convert_h36m_original(tmp_path, subjects=["S9"])


def test_canonical_names() -> None:
    assert h36m.canonical_sequence("TakingPhoto 1") == ("Photo 1", "Photo")
    assert h36m.canonical_sequence("WalkingDog") == ("WalkDog", "WalkDog")
    assert h36m.canonical_sequence("WalkTogether 2") == ("WalkTogether 2", "WalkTogether")
    assert h36m.canonical_sequence("SittingDown") == ("SittingDown", "SittingDown")


# ---------------------------------------------------------------------------- VideoPose3D files


@pytest.fixture(scope="module")
def vp3d(release, tmp_path_factory):
    root, worlds = release
    d = tmp_path_factory.mktemp("vp3d")
    pos3d: dict = {}
    for (subject, stem), w in worlds.items():
        name = stem.replace("TakingPhoto", "Photo").replace("WalkingDog", "WalkDog")
        pos3d.setdefault(subject, {})[name] = (w / 1000.0).astype(np.float32)
    write_pickled_npz(d / "data_3d_h36m.npz", positions_3d=pos3d)
    rng = np.random.default_rng(3)
    pos2d: dict = {}
    for subject, seqs in pos3d.items():
        for name, w in seqs.items():
            # detections are a few frames longer than the mocap (VideoPose3D trims them)
            pos2d.setdefault(subject, {})[name] = [
                rng.uniform(0, 1000, (len(w) + 3, 17, 2)).astype(np.float32) for _ in range(4)
            ]
    meta = {
        "layout_name": "h36m",
        "num_joints": 17,
        "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]],
    }
    write_pickled_npz(d / "data_2d_h36m_cpn_ft_h36m_dbb.npz", positions_2d=pos2d, metadata=meta)
    coco = {s: {n: [np.concatenate([rng.uniform(0, 1000, (len(v[0]), 17, 2)),
                                    rng.uniform(0.2, 1, (len(v[0]), 17, 1))], -1) for _ in range(4)]
                for n, v in seqs.items()} for s, seqs in pos2d.items()}  # fmt: skip
    write_pickled_npz(d / "data_2d_h36m_detectron_pt_coco.npz", positions_2d=coco,
                      metadata={"layout_name": "coco", "num_joints": 17})  # fmt: skip
    return d, pos2d, coco


def test_vp3d_3d_matches_original(release, vp3d) -> None:
    root, _ = release
    d, _, _ = vp3d
    a = h36m.convert_h36m_original(root, subjects=["S1", "S9", "S11"])
    b = h36m.convert_h36m_vp3d(d / "data_3d_h36m.npz", subjects=["S1", "S9", "S11"])
    for k in ("sequence", "frame_index", "camera_index", "action", "subject"):
        np.testing.assert_array_equal(np.sort(a[k]), np.sort(b[k]))
    # same order of sequences (sorted names) -> same arrays up to float32 metre rounding
    order_a = np.lexsort((a["camera_index"], a["frame_index"], a["sequence"]))
    order_b = np.lexsort((b["camera_index"], b["frame_index"], b["sequence"]))
    np.testing.assert_allclose(a["positions_3d"][order_a], b["positions_3d"][order_b], atol=0.05)
    np.testing.assert_allclose(a["keypoints_2d"][order_a], b["keypoints_2d"][order_b], atol=0.05)


def test_vp3d_detections(vp3d) -> None:
    d, pos2d, coco = vp3d
    out = h36m.convert_h36m_vp3d(d / "data_3d_h36m.npz", d / "data_2d_h36m_cpn_ft_h36m_dbb.npz", split="test")
    assert set(out["sequence"].tolist()) == {"S9/WalkDog 1", "S11/Directions 1"}
    i = np.flatnonzero((out["sequence"] == "S9/WalkDog 1") & (out["frame_index"] == 129) & (out["camera_index"] == 1))[
        0
    ]
    np.testing.assert_allclose(out["keypoints_2d"][i], pos2d["S9"]["WalkDog 1"][1][129])
    assert len(out["keypoints_2d"]) == 4 * (130 + 66)  # trimmed to the 3D length
    out = h36m.convert_h36m_vp3d(d / "data_3d_h36m.npz", d / "data_2d_h36m_detectron_pt_coco.npz", subjects=["S9"])
    src = coco["S9"]["WalkDog 1"][0][0]
    # COCO -> Human3.6M-17: r_hip is COCO 12, pelvis the mid-hip, confidences carried
    np.testing.assert_allclose(out["keypoints_2d"][0, 1], src[12, :2], rtol=1e-6)
    np.testing.assert_allclose(out["keypoints_2d"][0, 0], (src[11, :2] + src[12, :2]) / 2, rtol=1e-6)
    np.testing.assert_allclose(out["confidence"][0, 0], min(src[11, 2], src[12, 2]), rtol=1e-6)
    assert json.loads(str(out["protocol"]))["layout_2d"] == "coco"


def test_vp3d_bad_inputs(vp3d, tmp_path) -> None:
    d, pos2d, _ = vp3d
    with pytest.raises(InputError, match="key 'positions_3d': missing"):
        h36m.convert_h36m_vp3d(d / "data_2d_h36m_cpn_ft_h36m_dbb.npz", subjects=["S9"])
    with pytest.raises(InputError, match="no subject 'S5'"):
        h36m.convert_h36m_vp3d(d / "data_3d_h36m.npz", split="train")
    short = {s: {n: [v[:10] for v in views] for n, views in seqs.items()} for s, seqs in pos2d.items()}
    write_pickled_npz(tmp_path / "short.npz", positions_2d=short, metadata={"layout_name": "h36m"})
    with pytest.raises(InputError, match=r"10 2D frames but the 3D sequence has"):
        h36m.convert_h36m_vp3d(d / "data_3d_h36m.npz", tmp_path / "short.npz", subjects=["S9"])
    mm = {"S9": {"Eating 1": np.full((4, 32, 3), 1500.0, np.float32)}}
    write_pickled_npz(tmp_path / "mm.npz", positions_3d=mm)
    with pytest.raises(InputError, match="expected metres"):
        h36m.convert_h36m_vp3d(tmp_path / "mm.npz", subjects=["S9"])
    with pytest.raises(InputError, match="file not found"):
        h36m.convert_h36m_vp3d(tmp_path / "nope.npz", subjects=["S9"])
