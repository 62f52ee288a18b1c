"""`weakpose tracklets --video`: MediaPipe detection on a rendered video of a static person seen
by a moving camera (MannequinChallenge-style, Iqbal et al. §4.1), then tracking and filtering.
Needs the ``detect`` extra (skipped without MediaPipe)."""

from __future__ import annotations

import numpy as np
import pytest

mp = pytest.importorskip("mediapipe")
cv2 = pytest.importorskip("cv2")

from weakpose.camera import look_at  # noqa: E402
from weakpose.data.mocap import TEST_SUBJECTS, center_horizontally, load_cmu  # noqa: E402
from weakpose.data.paths import data_root  # noqa: E402
from weakpose.methods.multiview.tracklets import TrackletSet, main  # noqa: E402
from weakpose.rendering.scenes import render_scene  # noqa: E402

SIZE, FRAMES = 320, 12
LIMBS = [1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16]   # hips and limbs (the mapping's head joints differ)


def _write_video(tmp_path, frames: int = FRAMES, name: str = "mannequin.avi"):
    """12 frames of one test-subject pose, the camera on a 45-degree arc 4 m in front of it; the
    focal length (1.15 x the image side, principal point at the centre) is what the detector
    assumes, so the file's intrinsics are the true ones."""
    mocap = load_cmu(data_root(), TEST_SUBJECTS)
    pose = center_horizontally(mocap.positions[[40]]).astype(np.float64)
    target = pose[0, 0] + np.array([0.0, 150.0, 0.0])
    # the arc is in front of the person (the renderer's forward = (l_hip - r_hip) x (thorax - pelvis));
    # the rendered body has no face, and seen from behind MediaPipe swaps left and right arms
    fwd = np.cross(pose[0, 4] - pose[0, 1], pose[0, 8] - pose[0, 0])
    heading = np.arctan2(fwd[0], fwd[2])
    a = heading + np.deg2rad(np.linspace(-22.5, 22.5, frames))
    eyes = target + np.stack([4000 * np.sin(a), np.full(frames, 300.0), 4000 * np.cos(a)], -1)
    R, t = look_at(eyes, np.broadcast_to(target, eyes.shape))
    K = np.array([[1.15 * SIZE, 0, (SIZE - 1) / 2], [0, 1.15 * SIZE, (SIZE - 1) / 2], [0, 0, 1]])
    scene = render_scene(pose, np.broadcast_to(K, (frames, 3, 3)), R, t, np.full((frames, 2), SIZE),
                         subject=mocap.subject[[40]], seed=5)
    out = scene.render.numpy()
    rgb, j2d = out["rgb"][0], out["joints_2d"][0]          # [FRAMES, H, W, 3], [FRAMES, 17, 2]
    path = tmp_path / name
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (SIZE, SIZE))
    for im in rgb:
        writer.write(cv2.cvtColor((255 * im).round().astype(np.uint8), cv2.COLOR_RGB2BGR))
    writer.release()
    return path, j2d


def test_video_of_a_static_person_becomes_one_tracklet(tmp_path):
    video, j2d = _write_video(tmp_path)
    out = tmp_path / "tracklets.npz"
    assert main(["tracklets", "--video", str(video), "--output", str(out)]) == 0
    z = np.load(out)
    assert set(z["tracklet"].tolist()) == {0} and (z["video"] == 0).all()
    frames = z["frame_index"]
    assert len(frames) >= FRAMES - 2                       # MediaPipe finds the person in (almost) every frame
    err = np.linalg.norm(z["keypoints_2d"] - j2d[frames], axis=-1)[:, LIMBS]
    assert err.mean() < 0.03 * SIZE                        # the detections are of the rendered person (~3 px here)
    ts = TrackletSet.load(out)
    kp4, conf4, K4 = ts.sample(np.random.default_rng(0), 2, 4)
    assert kp4.shape == (2, 4, 17, 2) and np.allclose(K4[..., 0, 0], 1.15 * SIZE)


def test_video_without_a_person_is_an_input_error(tmp_path, capsys):
    path = tmp_path / "empty.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 64))
    for _ in range(6):
        writer.write(np.zeros((64, 64, 3), np.uint8))
    writer.release()
    out = tmp_path / "t.npz"
    assert main(["tracklets", "--video", str(path), "--output", str(out)]) == 2
    assert "no person found" in capsys.readouterr().out and not out.exists()


def test_videos_to_tracklets_to_multiview_training(tmp_path):
    """The documented path of docs/own-data.md: several videos (different numbers of frames, no
    intrinsics known) -> `weakpose tracklets --video` -> `weakpose train multiview --train-multiview`."""
    import json

    from weakpose.cli import main as weakpose

    a, _ = _write_video(tmp_path, 12, "a.avi")
    b, _ = _write_video(tmp_path, 8, "b.avi")
    out = tmp_path / "tracklets.npz"
    assert main(["tracklets", "--video", str(a), str(b), "--output", str(out)]) == 0
    z = np.load(out)
    assert set(z["video"].tolist()) == {0, 1} and len(set(z["tracklet"].tolist())) == 2
    run = tmp_path / "run"
    assert weakpose(["train", "multiview", "--out", str(run), "--train-multiview", str(out), "steps=3", "width=32",
                     "eval_every=0", "monitor_samples=16", "--no-progress"]) == 0
    (entry,) = json.loads((run / "config.json").read_text())["data_files"]
    assert entry["kind"] == "train_multiview" and entry["samples"] == 2       # one sample per tracklet
