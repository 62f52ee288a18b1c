"""``weakpose predict --video``: detection with tracking of one person, one-euro smoothing,
``frame_index``/``timestamp`` per frame, progress. On a rendered clip of a walking test subject
with one frame showing somebody else. Needs the ``detect`` extra (skipped without MediaPipe)."""

from __future__ import annotations

import numpy as np
import pytest

mp = pytest.importorskip("mediapipe")
cv2 = pytest.importorskip("cv2")

from weakpose.cli import main  # noqa: E402
from weakpose.data.paths import data_root  # noqa: E402

from .clips import FPS, FRAMES, INTRUDER, SIZE, render_clip  # noqa: E402

LIMBS = [1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16]


@pytest.fixture(scope="module")
def lifter(tmp_path_factory):
    from weakpose.training import train

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
    assert main(["predict", "--checkpoint", str(lifter), "--video", str(clip), "--output", str(out),
                 "--no-figure"]) == 0
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

    # the viewer embeds the tracked frames of the video (every one, or an even sample of them)
    page = tmp_path / "walk.html"
    assert main(["view", str(out), "--video", str(clip), "--out", str(page)]) == 0
    html = page.read_text()
    # one picture per animation frame, plus the first frame's in the initial view
    assert f'data-frames="{len(frames)}"' in html and html.count("jpeg;base64,") == len(frames) + 1
    assert main(["view", str(out), "--video", str(clip), "--out", str(page), "--max-frames", "5"]) == 0
    html = page.read_text()
    assert 'data-frames="5"' in html and html.count("jpeg;base64,") == 5 + 1

    plain = tmp_path / "plain.npz"
    assert main(["predict", "--checkpoint", str(lifter), "--video", str(clip), "--output", str(plain),
                 "--no-figure", "--smooth", "none"]) == 0
    p = np.load(plain)
    assert "positions_3d_unsmoothed" not in p.files and "keypoints_2d_detected" not in p.files
    np.testing.assert_allclose(p["keypoints_2d"], z["keypoints_2d_detected"], atol=1e-4)
    assert _jitter(p["positions_3d"][seg]) > _jitter(z["positions_3d"][seg])


def _grace_hopper():
    import matplotlib.cbook as cbook

    return cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)


def test_photo_marks_unseen_joints_as_guessed(lifter, tmp_path):
    from weakpose.inference.wild import draw_prediction
    from weakpose.skeleton import H36M17

    out = tmp_path / "gh.npz"
    assert main(["predict", "--checkpoint", str(lifter), "--image", str(_grace_hopper()), "--output", str(out)]) == 0
    z = np.load(out)
    assert z["guessed"][0, [1, 2, 3, 4, 5, 6]].all()          # hips and legs are below the picture
    assert not z["guessed"][0, [8, 9, 10, 11, 14]].any()       # thorax, neck, head, shoulders are seen
    fig = draw_prediction(np.zeros((10, 10, 3), np.uint8), z["keypoints_2d"][0], z["confidence"][0],
                          z["positions_3d"][0])
    legend = fig.axes[1].get_legend()
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == ["guessed (not seen)"]
    dashed = [ln for ln in fig.axes[1].get_lines() if ln.get_linestyle() == "--"]
    g = z["guessed"][0]
    assert len(dashed) == sum(1 for p, c in H36M17.bones if g[p] or g[c]) >= 6    # every bone touching a guessed joint


@pytest.mark.slow
def test_photos_get_human_bone_lengths_with_a_truncation_trained_lifter(tmp_path):
    """The reference lifter trained with truncation (default config, 3000 steps) on
    the two upper-body photos: every bone within 25 % of the training subjects' mean."""
    skdata = pytest.importorskip("skimage.data")
    from PIL import Image

    from weakpose.data.statistics import training_bone_lengths
    from weakpose.skeleton import H36M17
    from weakpose.training import train

    train("supervised", tmp_path / "run", overrides=["steps=3000", "truncate_fraction=0.3"], progress=False)
    astronaut = tmp_path / "astronaut.png"
    Image.fromarray(skdata.astronaut()).save(astronaut)
    out = tmp_path / "photos.npz"
    assert main(["predict", "--checkpoint", str(tmp_path / "run"), "--image", str(astronaut), str(_grace_hopper()),
                 "--output", str(out)]) == 0
    z = np.load(out)
    ratio = H36M17.bone_lengths(z["positions_3d"]) / training_bone_lengths(data_root())
    assert (np.abs(ratio - 1) <= 0.25).all(), ratio.round(2)
    assert z["guessed"][:, [2, 3, 5, 6]].all()
