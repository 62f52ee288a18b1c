"""``weakpose predict --video``: detection with tracking of one person, one-euro smoothing,
``frame_index``/``timestamp`` per frame, progress. On a rendered clip of a walking test subject
with one frame showing somebody else. Needs the ``detect`` extra (skipped without MediaPipe)."""

from __future__ import annotations

import numpy as np
import pytest

mp = pytest.importorskip("mediapipe")
cv2 = pytest.importorskip("cv2")

from weakpose.camera import look_at  # noqa: E402
from weakpose.cli import main  # noqa: E402
from weakpose.data.mocap import TEST_SUBJECTS, center_horizontally, load_cmu  # noqa: E402
from weakpose.data.paths import data_root  # noqa: E402
from weakpose.rendering.scenes import render_scene  # noqa: E402

SIZE, FRAMES, FPS = 320, 24, 30.0
INTRUDER = [11, 12, 13, 14]   # frames that show somebody else
LIMBS = [1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16]


def render_clip(path, frames=FRAMES, intruder: list[int] | None = INTRUDER):
    """A walking test subject (30 fps) seen by a still camera 5 m away; frames ``intruder``
    show another person instead, nearer and off to the side. Returns the true 2D joints."""
    mocap = load_cmu(data_root(), TEST_SUBJECTS)
    walk = center_horizontally(mocap.positions[:frames]).astype(np.float64)
    target = walk[:, 0].mean(0) + np.array([0.0, 150.0, 0.0])
    fwd = np.cross(walk[0, 4] - walk[0, 1], walk[0, 8] - walk[0, 0])
    heading = np.arctan2(fwd[0], fwd[2]) + np.deg2rad(30)
    eye = target + np.array([5000 * np.sin(heading), 300.0, 5000 * np.cos(heading)])
    R, t = look_at(eye[None], target[None])
    K = np.array([[[1.15 * SIZE, 0, (SIZE - 1) / 2], [0, 1.15 * SIZE, (SIZE - 1) / 2], [0, 0, 1]]])
    scene = render_scene(walk, K, R, t, np.array([[SIZE, SIZE]]), subject=mocap.subject[:frames], seed=3)
    out = scene.render.numpy()
    rgb, j2d = out["rgb"][:, 0], out["joints_2d"][:, 0]
    if intruder is not None:
        ground = np.array([1.0, 0.0, 1.0])   # the other person stands 1 m to the camera's right and 1.5 m nearer
        other = walk[[0]] - walk[0, 0] * ground + target * ground + (1000.0 * R[0, 0] - 1500.0 * R[0, 2]) * ground
        rgb[intruder] = render_scene(other, K, R, t, np.array([[SIZE, SIZE]]), subject=mocap.subject[[-1]],
                                     seed=11).render.numpy()["rgb"][0, 0]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (SIZE, SIZE))
    for im in rgb:
        writer.write(cv2.cvtColor((255 * im).round().astype(np.uint8), cv2.COLOR_RGB2BGR))
    writer.release()
    return j2d


@pytest.fixture(scope="module")
def lifter(tmp_path_factory):
    from weakpose.engine.trainer import train

    out = tmp_path_factory.mktemp("lifter")
    train("supervised", out, overrides=["steps=600", "width=128", "batch_size=128", "eval_every=600",
                                        "checkpoint_every=600"], progress=False)
    return out


def _jitter(x):
    """Mean size of the second difference over time (acceleration per frame²)."""
    return float(np.linalg.norm(np.diff(x, 2, axis=0), axis=-1).mean())


def test_video_is_tracked_smoothed_and_timed(lifter, tmp_path, capfd):
    clip = tmp_path / "walk.avi"
    j2d = render_clip(clip)
    out = tmp_path / "walk3d.npz"
    assert main(["predict", "--checkpoint", str(lifter), "--video", str(clip), "--output", str(out), "--no-figure"]) == 0
    captured = capfd.readouterr()
    assert f"{FRAMES}/{FRAMES}" in captured.err and "frame/s" in captured.err      # progress bar with rate
    z = np.load(out)
    frames = z["frame_index"]
    # the other person's frames are left out by the tracker and reported; the walker is kept
    assert not set(INTRUDER) & set(frames.tolist())
    assert len(z["frames_other_person"]) >= 1 and set(z["frames_other_person"].tolist()) <= set(INTRUDER)
    assert set(z["frames_other_person"].tolist()) <= set(z["frames_without_person"].tolist())
    assert len(frames) >= FRAMES - len(INTRUDER) - 4
    np.testing.assert_allclose(z["timestamp"], frames / FPS, rtol=1e-6)
    assert not (tmp_path / "walk3d.gif").exists()
    # smoothing: less frame-to-frame jitter in 3D, and the 2D keypoints stay on the person
    run = np.flatnonzero(np.diff(frames) == 1)[:8]            # 9 consecutive frames before the intruder
    seg = np.arange(run[0], run[-1] + 2)
    assert _jitter(z["positions_3d"][seg]) < 0.7 * _jitter(z["positions_3d_unsmoothed"][seg])
    err_smooth = np.linalg.norm(z["keypoints_2d"] - j2d[frames], axis=-1)[:, LIMBS].mean()
    err_raw = np.linalg.norm(z["keypoints_2d_detected"] - j2d[frames], axis=-1)[:, LIMBS].mean()
    assert err_smooth < 1.15 * err_raw + 0.5 and err_smooth < 0.04 * SIZE

    plain = tmp_path / "plain.npz"
    assert main(["predict", "--checkpoint", str(lifter), "--video", str(clip), "--output", str(plain),
                 "--no-figure", "--smooth", "none"]) == 0
    p = np.load(plain)
    assert "positions_3d_unsmoothed" not in p.files and "keypoints_2d_detected" not in p.files
    np.testing.assert_allclose(p["keypoints_2d"], z["keypoints_2d_detected"], atol=1e-4)
    assert _jitter(p["positions_3d"][seg]) > _jitter(z["positions_3d"][seg])
